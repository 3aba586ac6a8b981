"""The public Python API: what the `toobig` command does, as functions (the CLI calls these).

    import toobig
    cfg = toobig.config("arithmetic", "n28", iters=3000, learning_rate=3e-3)
    runs = toobig.train(cfg, seeds=[0, 1, 2], out="runs", device="cpu")
    for run in runs:
        iters, heldout = run.curve("heldout_acc")
        print(run.seed, heldout[-1])
    toobig.report("runs")
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .config import ConfigError, RunConfig, require_seeds
from .options import RunOptions, require_options
from .presets import resolve, schedule_note

if TYPE_CHECKING:
    from .executors import SweepOutcome
    from .reporting.verdicts import Verdict
    from .reproduction import ReproduceResult

# Only config and presets load with `import toobig` (no torch); the rest loads on first use.


def config(
    task: str = "arithmetic",
    model: str = "n14",
    regularization: str = "paper",
    *,
    iters: int | None = None,
    schedule: str = "scaled",
    **values: Any,
) -> RunConfig:
    """A run's configuration: the paper's preset for (task, model, regularization), then `iters`
    (warmup and decay scaled with it unless schedule="paper"), then any config value by its
    field name, e.g. learning_rate=3e-3, n_embd=20, seed=4, held_out=[(3, 8)] (each name belongs
    to one section of config.toml; <section>_<name> works too, as in eval_schedule). Checked on
    return (ConfigError names the bad value); a relative corpus_file or pairs_file is made
    absolute, and the files are read when its runs are planned or trained."""
    overrides: dict[str, Any] = {}
    for keyword, value in values.items():
        if keyword not in _FIELDS:
            raise ConfigError(f"toobig.config: unknown config value {keyword!r} (the task, model and "
                              f"regularization are the first three arguments)")
        section, name = _FIELDS[keyword]
        (overrides.setdefault(section, {}) if section else overrides)[name] = value
    config = resolve(task, model, regularization, overrides=overrides, max_iters=iters, schedule=schedule)
    note = schedule_note(config.train, schedule)
    if note:
        logging.getLogger("toobig").warning(note)
    return config


_SECTIONS = ("task", "model", "train", "eval")


def _field_names() -> dict[str, tuple[str, str]]:
    """Keyword -> (section, field) for config(): each field by its own name and as
    <section>_<field> (eval_schedule: `schedule` is the learning-rate schedule's keyword)."""
    import dataclasses

    defaults = RunConfig()
    out: dict[str, tuple[str, str]] = {"seed": ("", "seed")}
    for section in _SECTIONS:
        for f in dataclasses.fields(getattr(defaults, section)):
            if f.name != "name":  # task.name is the first argument
                out.setdefault(f.name, (section, f.name))
                out[f"{section}_{f.name}"] = (section, f.name)
    return out


@dataclass(frozen=True)
class Run:
    """One trained seed, read from its directory: config, summary and the logged evaluations."""

    path: Path
    config: RunConfig
    summary: dict[str, Any]
    metrics: list[dict[str, Any]] = field(repr=False)

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def complete(self) -> bool:
        return self.summary.get("status") == "complete"

    @property
    def best(self) -> dict[str, Any]:
        """The best checkpoint's scores (summary.json's "best")."""
        return dict(self.summary.get("best") or {})

    def curve(self, key: str) -> tuple[list[int], list[float]]:
        """(iterations, values) of one logged metric, e.g. "add_acc", "loss"; "heldout_acc" is
        heldout_correct / heldout_total (the held-out pairs' accuracy)."""
        if key == "heldout_acc":
            from .metrics import heldout_accuracy

            values = [heldout_accuracy(r) or 0.0 for r in self.metrics]
        else:
            if self.metrics and key not in self.metrics[0]:
                raise KeyError(f"{key!r} is not logged (logged: heldout_acc, {', '.join(self.metrics[0])})")
            values = [r[key] for r in self.metrics]
        return [r["iter"] for r in self.metrics], values

    def dataframe(self):  # -> pandas.DataFrame
        """The metrics as a pandas DataFrame, one row per evaluation (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Run.dataframe() needs pandas: pip install pandas (run.metrics is the same data as dicts)") from None
        return pd.DataFrame(self.metrics)


def load_run(path: str | Path) -> Run:
    """A run directory (the seed<N> folder holding config.toml and summary.json)."""
    from .integrity import check_run
    from .store import RunDir, StoreError

    run_dir = RunDir(Path(path))
    if not run_dir.config_path.is_file():
        raise StoreError(f"{path}: not a run directory (no {run_dir.config_path.name}); a seed<N> folder is")
    checked = check_run(run_dir)
    return Run(run_dir.path, checked.config, checked.summary or {}, checked.metrics)


def load_runs(root: str | Path, on_unreadable: Callable[[Path, Exception], None] | None = None) -> list[Run]:
    """Every run directory below root, in path order. A run that cannot be read raises
    (StoreError or ConfigError naming it), unless on_unreadable is given: then it is called with
    the run's path and the error, and the others are read on."""
    from .reporting.runs import discover_run_dirs
    from .store import StoreError

    if not Path(root).is_dir():
        raise StoreError(f"no such runs directory: {root}")
    runs = []
    for path in discover_run_dirs(Path(root)):
        try:
            runs.append(load_run(path))
        except (StoreError, ConfigError) as exc:
            if on_unreadable is None:
                raise
            on_unreadable(path, exc)
    return runs


def train(
    configs: RunConfig | Sequence[RunConfig],
    seeds: Sequence[int] = (0,),
    out: str | Path = "runs",
    *,
    options: RunOptions | None = None,
    **how: Any,
) -> list[Run]:
    """Train every seed of each configuration (seeds of one configuration share a population);
    return the runs. How they train is `options` (a toobig.RunOptions), with any of its fields
    given as keywords instead or on top: device="cpu", compile=True, resume=True,
    overwrite=True, progress=False, max_members=2, tensorboard=True, batch_shards=2."""
    from .executors import require_not_importing_main
    from .training import Prepared, train as train_population

    # A script that trains, then sweeps, at its top level would train again in every worker.
    require_not_importing_main()
    options = _how("train", options, how)
    configs = _configs("train", configs)
    seeds = require_seeds(seeds, "train(): seeds")
    for cfg in configs:  # every file read before the first run is written
        Prepared.check(replace(cfg, seed=seeds[0]))
    dirs = []
    for cfg in configs:
        dirs += train_population(cfg, list(seeds), out, options)
    return [load_run(d.path) for d in dirs]


def resume(run: Run | str | Path, *, options: RunOptions | None = None, **how: Any) -> list[Run]:
    """Continue an interrupted run from its last checkpoint, with the unfinished seeds that trained
    in its population (resumed together they keep its float rounding; a line on stderr names
    them); return them, this run first. Its own config.toml says what it trains, and a checkpoint
    its numerics (compile, batch_shards). How: device, tensorboard, progress, as in train()."""
    from .executors import require_not_importing_main
    from .store import RunDir
    from .training import require_tensorboard, train_runs
    from .training.resume import population_siblings

    require_not_importing_main()
    options = _how("resume", options, how)
    defaults = RunOptions()
    given = [f"{name}={getattr(options, name)!r}" for name in ("overwrite", "compile", "batch_shards", "max_members")
             if getattr(options, name) != getattr(defaults, name)]
    if given:
        raise ConfigError(f"resume(): {', '.join(given)} does not apply: a run resumes with the numerics it was "
                          "trained with, its whole population at once, from its checkpoints")
    if options.tensorboard:
        require_tensorboard()  # before anything is written
    first = RunDir(_path(run))
    config = first.read_config()
    dirs = [first, *population_siblings(first, config)]
    if len(dirs) > 1:  # said even without progress: other folders than the one named will change
        print(f"resuming {first.path} with the rest of its population: {', '.join(d.path.name for d in dirs[1:])}",
              file=sys.stderr)
    train_runs([d.read_config() for d in dirs], dirs, replace(options, resume=True))
    return [load_run(d.path) for d in dirs]


def _configs(caller: str, given: Any, alternatives: str = "") -> list[RunConfig]:
    """One RunConfig or an iterable of them as a non-empty list; TypeError or ConfigError otherwise."""
    if isinstance(given, RunConfig):
        return [given]
    configs = list(given) if isinstance(given, Iterable) and not isinstance(given, (str, bytes, Mapping)) else [given]
    bad = [c for c in configs if not isinstance(c, RunConfig)]
    if bad:
        raise TypeError(f"{caller}() takes {alternatives}RunConfigs (toobig.config), got {bad[0]!r}")
    if not configs:
        raise ConfigError(f"{caller}(): no configurations to train")
    return configs


def _path(run: Run | str | Path) -> Path:
    return run.path if isinstance(run, Run) else Path(run)


def evaluate(run: Run | str | Path, checkpoint: str = "best", device: str = "cpu") -> dict[str, Any]:
    """Score a checkpoint again (with the run's own prompts it equals the logged record)."""
    from .inference import evaluate_trained, load_trained

    return evaluate_trained(load_trained(_path(run), checkpoint, device))


def sample(
    run: Run | str | Path,
    prompt: str,
    num_samples: int = 10,
    max_new_tokens: int = 20,
    temperature: float | None = None,
    greedy: bool = False,
    checkpoint: str = "best",
    device: str = "cpu",
) -> list[str]:
    """Completions of a prompt (without the prompt), each cut after its first newline."""
    from .inference import load_trained, sample as sample_trained

    trained = load_trained(_path(run), checkpoint, device)
    return sample_trained(trained, prompt, num_samples, max_new_tokens, temperature, greedy)


def _how(function: str, options: RunOptions | None, how: dict[str, Any]) -> RunOptions:
    """options (default RunOptions()) with any of its fields given as keywords on top."""
    unknown = sorted(set(how) - {f.name for f in fields(RunOptions)})
    if unknown:
        raise TypeError(f"{function}() got unknown option(s) {', '.join(unknown)} (the fields of toobig.RunOptions)")
    return replace(require_options(options if options is not None else RunOptions()), **how)


def sweep(
    grid: str | os.PathLike | RunConfig | Iterable[RunConfig],
    *,
    seeds: Sequence[int] | None = None,
    out: str | Path = "runs",
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    options: RunOptions | None = None,
    **how: Any,
) -> SweepOutcome:
    """`toobig sweep`: train configurations side by side, one population per configuration (its
    seeds), on local processes (one per core) or on Ray, skipping complete runs and resuming
    interrupted ones. grid: a sweep file (TOML, see toobig.sweep_file) or configurations, e.g.
    [toobig.config("arithmetic", "n28", learning_rate=lr) for lr in ...]; seeds: each
    configuration at each of these seeds (None: at its own seed, config.seed). How runs train is
    `options` or its fields as keywords, as in train(), except that runs always resume. A run that
    fails does not stop the others: the outcome lists completed, skipped and failed run
    directories. A line per finished job goes to stderr (progress=False: none), the outcome's
    summary to stdout. dry_run prints the plan instead and trains nothing: the outcome's `planned`
    lists the runs it would train, `skipped` those already complete. Worker processes import the calling script again: call this
    under `if __name__ == "__main__":`."""
    from .executors import SweepOutcome, check_execution, execute, plan_jobs
    from .sweep_file import load_sweep

    run_options = _how("sweep", options, how)
    if isinstance(grid, (str, os.PathLike)):
        configs = load_sweep(Path(grid))
    else:
        configs = _configs("sweep", grid, "a sweep file or ")
    if seeds is not None:
        seeds = require_seeds(seeds, "sweep(): seeds")
        configs = [replace(c, seed=s) for c in configs for s in seeds]
    check_execution(executor, address, workers, options=[run_options])
    plan = plan_jobs(configs, out, run_options)
    if dry_run:
        print(plan.describe())
        return SweepOutcome(skipped=plan.skipped, planned=tuple(run for job in plan.jobs for run in job.runs))
    outcome = execute(plan, executor, address, workers, progress=run_options.progress)
    print(outcome.describe())
    return outcome


def reproduce(
    experiments: str | Sequence[str] = "table2",
    *,
    num_seeds: int | None = None,
    models: Sequence[str] | None = None,
    out: str | Path = "results",
    max_iters: int | None = None,
    include_mlt: bool = False,
    write_report: bool = True,
    dry_run: bool = False,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    options: RunOptions | None = None,
    **how: Any,
) -> ReproduceResult:
    """`toobig reproduce`: train what the experiments still miss into OUT/runs (complete runs are
    skipped, interrupted ones resume), then write the report to OUT/report (not with
    write_report=False or dry_run=True: the result's report_dir is then None). experiments: names,
    or one comma-separated string, as --experiments takes them (the paper's table2..table7,
    grokking, capacity, "all"; the studies, e.g. "order-ablation", "beyond"); num_seeds: seeds
    0..K-1 (None: each experiment's plan); models: only these models' runs, e.g. ("n28", "n56").
    How runs train is `options` or its fields as keywords, as in train(), except that runs always
    resume (overwrite=True is refused). What it does goes to stdout, a line per finished job to
    stderr. Failed runs are in the result's `failed`: they do not stop the others or the report.
    Bad input raises ConfigError (a value), StoreError (a folder) or TypeError (an unknown
    keyword). Worker processes import the calling script again: call this under
    `if __name__ == "__main__":`."""
    from .experiments import parse_experiments
    from .reproduction import ReproduceOptions, reproduce as reproduce_experiments

    run_options = _how("reproduce", options, how)
    if num_seeds is not None and num_seeds < 1:
        raise ConfigError(f"num_seeds must be >= 1, got {num_seeds}")
    if max_iters is not None and max_iters < 1:
        raise ConfigError(f"max_iters must be >= 1, got {max_iters}")
    if isinstance(models, str):  # one name, or several comma-separated, as on the command line
        models = models.split(",")
    names = experiments if isinstance(experiments, str) else ",".join(experiments)
    return reproduce_experiments(ReproduceOptions(
        experiments=tuple(parse_experiments(names)),
        seeds=None if num_seeds is None else tuple(range(num_seeds)),
        models=None if models is None else tuple(dict.fromkeys(m.strip() for m in models if m.strip())),
        out=Path(out),
        max_iters=max_iters,
        include_mlt=include_mlt,
        executor=executor,
        address=address,
        workers=workers,
        run_options=run_options,
        dry_run=dry_run,
        write_report=write_report,
    ))


def report(runs_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write report.md, results.csv, verdicts.csv (the studies' verdicts; the header alone without
    them) and figures for the runs below runs_dir; return report.md."""
    from .reporting import write_report
    from .store import StoreError

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise StoreError(f"no such runs directory: {runs_dir}")
    return write_report(runs_dir, Path(out) if out is not None else runs_dir / "report")[0]


def compare(
    a: str | Path, *others: str | Path, than: str | Path | None = None, trend: bool = False, planned: int | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """Does configuration A extrapolate more than B (and than C, ...)? Or, with `than`, does each
    of A, B, ... extrapolate more than it? Or, with `trend`, does extrapolation fall along A, B,
    C, ... in that order? The report's two tests on the complete seeds of configuration folders,
    Holm-adjusted over the hypotheses, as plain-words verdicts (markdown); with `planned` (seeds
    meant per folder), those read while a folder has fewer are marked interim; `names` calls the
    folders so (one each, in order, than's last; default: their folder names)."""
    from .reporting.compare import compare as compare_configurations

    return compare_configurations(a, *others, than=than, trend=trend, planned=planned, names=names)


def compare_verdicts(
    a: str | Path, *others: str | Path, than: str | Path | None = None, trend: bool = False, planned: int | None = None,
    names: Sequence[str] | None = None,
) -> list[Verdict]:
    """compare's verdicts as records (hypothesis, reading, outcome, words, p with its Holm
    adjustment, interim), one per hypothesis and reading: for scripts that act on them."""
    from .reporting.compare import compare_verdicts as verdicts

    return verdicts(a, *others, than=than, trend=trend, planned=planned, names=names)


_FIELDS = _field_names()

__all__ = [
    "Run", "RunOptions", "compare", "compare_verdicts", "config", "evaluate", "load_run", "load_runs", "report", "reproduce",
    "sample", "sweep", "train",
]
