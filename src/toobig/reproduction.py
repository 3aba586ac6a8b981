"""`toobig reproduce`: run whatever the requested experiments still miss, then write the report
(unless told not to)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import ConfigError, RunConfig
from .engine.device import resolve_device
from .engine.population import check_batch_shards
from .executors import Failure, SweepOutcome, check_execution, execute, plan_jobs
from .executors.plan import is_complete, require_plannable
from .experiments import TABLES, capacity_config, experiment_configs
from .presets import make_config, with_max_iters
from .studies import STUDIES
from .extrapolation import extrapolate
from .metrics import in_distribution_perfect
from .options import RunOptions
from .store import EXTRAPOLATION_FILE, RunDir, StoreError, require_folder, run_dir_name

# The capacity search stops at the first width whose seeds mostly learn the task.
CAPACITY_MAX_N = 14


@dataclass(frozen=True)
class ReproduceOptions:
    experiments: tuple[str, ...] = ("table2",)
    # None: each experiment's own default (3 seeds for the paper's, what a study asks for).
    seeds: tuple[int, ...] | None = None
    # None: every model of the experiments; else only these (e.g. ("n28", "n56")), for a study
    # asked of some of its models. The capacity search picks its own widths and takes none.
    models: tuple[str, ...] | None = None
    out: Path = Path("results")
    max_iters: int | None = None
    include_mlt: bool = False
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    # How each run trains (device, compile, batch shards, population size, TensorBoard).
    run_options: RunOptions = RunOptions()
    # Say what would train, train nothing, write no report.
    dry_run: bool = False
    # False: train and test only. A queue that trains into a folder holding a committed report
    # writes the report once, from the runs it means to show, with `toobig report`.
    write_report: bool = True

    def seeds_for(self, experiment: str) -> list[int]:
        if self.seeds is not None:
            return list(self.seeds)
        return list(range(STUDIES[experiment].seeds if experiment in STUDIES else 3))

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    @property
    def report_dir(self) -> Path:
        return self.out / "report"


@dataclass(frozen=True)
class ReproduceResult:
    # None where no report was written (a dry run, or write_report=False).
    report_dir: Path | None
    # Runs that failed to train and runs whose out-of-range test failed; the rest went on.
    failed: tuple[Failure, ...] = ()


def reproduce(options: ReproduceOptions, say: Callable[[str], None] = print) -> ReproduceResult:
    """Train what is missing (complete runs are skipped), run the extras, write the report
    (unless options.write_report is False).

    A failed run or out-of-range test does not stop the others or the report; it is listed in
    the result (and its directory holds error.json where training failed)."""
    require_folder(Path(options.out), holds="the runs and the report go")
    if options.write_report and not options.dry_run:
        from .reporting import require_report_folder

        require_report_folder(options.report_dir)  # refused now, not after hours of training
    require_plannable(options.run_options)
    check_execution(options.executor, options.address, options.workers, options=[options.run_options])
    include_mlt = options.include_mlt or resolve_device(options.run_options.device).type == "cuda"
    configs = []
    for name in options.experiments:
        configs += experiment_configs(name, options.seeds_for(name), include_mlt, options.max_iters)
    # Studies share configurations with each other and with Table 2 (e.g. n14 under the paper's
    # protocol): each run is planned once.
    configs = list({run_dir_name(c): c for c in configs}.values())
    if options.models is not None:
        configs = _of_models(configs, options)
    # The capacity search plans its widths one by one, after the rest has trained: a
    # --batch-shards that does not suit one of them fails now, not hours in.
    searched = range(1, CAPACITY_MAX_N + 1) if "capacity" in options.experiments else ()
    for config in [*configs, *(c for n in searched for c in _capacity_configs(n, options))]:
        check_batch_shards(config, options.run_options.batch_shards)
    # Said once the input has passed every check, so that bad input gets its one line alone (and
    # not where --models leaves the MLT out: naming it without a GPU or --include-mlt fails above).
    if not include_mlt and options.models is None and any(e in options.experiments for e in (*TABLES, "grokking")):
        what = "MLT rows and the grokking run (an MLT)" if "grokking" in options.experiments else "MLT rows"
        say(f"{what} skipped: on a CPU they take hours each (pass --include-mlt to run them anyway)")
    if options.dry_run:
        _dry_run(configs, options, say)
        return ReproduceResult(None)
    failed = list(_run(configs, options, say).failed)
    if "capacity" in options.experiments:
        failed += _capacity_search(options, say)
    if "table2" in options.experiments:
        failed += _out_of_range(configs, options, say)
    report_dir = None
    if options.write_report:
        from .reporting import write_report

        paths = write_report(options.runs_dir, options.report_dir)
        say(f"report: {options.report_dir / 'report.md'} ({len(paths)} files)")
        report_dir = options.report_dir
    else:
        say(f"report: not written (toobig report {options.runs_dir} --out {options.report_dir} writes it)")
    if failed:
        say(f"{len(failed)} failure(s); re-run the same command to retry them:")
        for failure in failed:
            say(f"  {failure.path}: {failure.error}")
    return ReproduceResult(report_dir, tuple(failed))


def _of_models(configs: list[RunConfig], options: ReproduceOptions) -> list[RunConfig]:
    """The configurations of options.models; each one named must be a model of the experiments."""
    assert options.models is not None
    if "capacity" in options.experiments:
        raise ConfigError(
            "--models does not apply to the capacity search (the experiment capacity, which all includes): "
            "it picks its widths itself"
        )
    have = list(dict.fromkeys(c.model_name for c in configs))
    of = ", ".join(have) or "none"
    if not options.models:
        raise ConfigError(f"--models: no model named (the experiments' models: {of})")
    unknown = [m for m in options.models if m not in have]
    if unknown:
        mlt = "; the MLT's runs are planned on a GPU or with --include-mlt" if "mlt" in unknown else ""
        raise ConfigError(f"--models: {', '.join(unknown)}: not a model of these experiments (theirs: {of}{mlt})")
    return [c for c in configs if c.model_name in options.models]


def _run(configs, options: ReproduceOptions, say: Callable[[str], None]) -> SweepOutcome:
    jobs = plan_jobs(configs, options.runs_dir, options.run_options)
    outcome = execute(jobs, options.executor, options.address, options.workers, progress=options.run_options.progress)
    say(outcome.describe())
    return outcome


def _dry_run(configs, options: ReproduceOptions, say: Callable[[str], None]) -> None:
    """Say what reproduce would do, in its order, changing nothing."""
    say(plan_jobs(configs, options.runs_dir, options.run_options).describe())
    if "capacity" in options.experiments:
        say(_capacity_search_position(options))
    if "table2" in options.experiments and _table2_n14(configs, options):  # (not where --models leaves n14 out)
        lacking = [c for c in _table2_n14(configs, options) if not (options.runs_dir / run_dir_name(c) / EXTRAPOLATION_FILE).is_file()]
        say(f"out-of-range test (0-19): on the Table 2 n14 runs without one once complete ({len(lacking)} of them now)")
    say(f"report: {options.report_dir / 'report.md'}" if options.write_report else "report: not written")


def _learners(paths: list[Path]) -> int:
    """Seeds that learned arithmetic (the report's definition: every in-distribution sample
    right at some evaluation)."""
    return sum(any(in_distribution_perfect(m) for m in RunDir(path).read_metrics()) for path in paths)


def _capacity_search_position(options: ReproduceOptions) -> str:
    """Where the capacity search stands: the width it would train next, or where it ended."""
    for n in range(1, CAPACITY_MAX_N + 1):
        paths = [options.runs_dir / run_dir_name(c) for c in _capacity_configs(n, options)]
        done = sum(is_complete(p) for p in paths)
        if done < len(paths):
            return (f"capacity search: then width n={n} ({done} of {len(paths)} seeds complete), "
                    f"and wider ones up to n={CAPACITY_MAX_N} until one learns arithmetic in most seeds")
        if _learners(paths) * 2 > len(paths):
            return f"capacity search: done, the smallest width that learns is n={n}"
    return f"capacity search: done, no width up to n={CAPACITY_MAX_N} learns in most seeds"


def _capacity_search(options: ReproduceOptions, say: Callable[[str], None]) -> list[Failure]:
    failed: list[Failure] = []
    for n in range(1, CAPACITY_MAX_N + 1):
        configs = _capacity_configs(n, options)
        failed += _run(configs, options, say).failed
        learners = _learners([options.runs_dir / run_dir_name(c) for c in configs])
        say(f"capacity search: n={n} learns arithmetic in {learners}/{len(configs)} seeds")
        if learners * 2 > len(configs):
            say(f"capacity search: smallest width that learns is n={n}")
            return failed
    say(f"capacity search: no width up to n={CAPACITY_MAX_N} learns in most seeds")
    return failed


def _capacity_configs(n: int, options: ReproduceOptions) -> list:
    return [with_max_iters(capacity_config(n, s), options.max_iters) for s in options.seeds_for("capacity")]


def _table2_n14(configs, options: ReproduceOptions) -> list:
    """Table 2's n14 runs (at the requested length) among configs, not the studies' n14 variants."""
    return [c for c in configs if c.digest() == with_max_iters(make_config("arithmetic", "n14", "paper", c.seed), options.max_iters).digest()]


def _out_of_range(configs, options: ReproduceOptions, say: Callable[[str], None]) -> list[Failure]:
    """Section 5.1 on every complete n14 arithmetic run of Table 2 (skipped where already done)."""
    failed: list[Failure] = []
    for config in _table2_n14(configs, options):
        run = RunDir(options.runs_dir / run_dir_name(config))
        if run.is_complete() and not (run.path / EXTRAPOLATION_FILE).is_file():
            try:
                result = extrapolate(run.path, max_operand=19, device="cpu")
            except StoreError as exc:  # e.g. a corrupted checkpoint: the other runs and the report go on
                failed.append(Failure(run.path, f"out-of-range test: {exc}"))
                continue
            say(
                f"out-of-range (0-19) {run.path.parent.name}/{run.path.name}: "
                f"addition {result['add_acc']:.1%}, subtraction {result['sub_acc']:.1%}"
            )
    return failed
