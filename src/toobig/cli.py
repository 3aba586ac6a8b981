"""The `toobig` command: thin subcommands over the package's functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from . import api
from .config import (
    REGULARIZATIONS, TASK_NAMES, ConfigError, RunConfig, parse_assignment, protocol_changes, read_toml, require_seeds, to_dict,
    to_toml,
)
from .metrics import heldout_accuracy
from .options import RunOptions
from .presets import MODEL_NAMES, SCHEDULES, resolve, schedule_note
from .tasks import held_out_label
from .store import StoreError
from .studies import STUDIES
from .version import __version__


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _seeds(args: argparse.Namespace, default: int) -> list[int]:
    if args.seeds and args.num_seeds:
        raise UsageError("--seeds and --num-seeds are mutually exclusive")
    if args.num_seeds is not None:
        if args.num_seeds < 1:
            raise UsageError(f"--num-seeds must be >= 1, got {args.num_seeds}")
        return list(range(args.num_seeds))
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
        return require_seeds(seeds, "--seeds")
    return [default]


def build_config(args: argparse.Namespace) -> RunConfig:
    """Preset (task, model, condition) <- config file <- --set key=value <- explicit flags, the
    preset chosen once from all of them (presets.resolve)."""
    file_data = read_toml(args.config) if args.config else {}
    flags: dict = {}
    if args.eval_interval is not None:
        flags.setdefault("eval", {})["interval"] = args.eval_interval
    if args.corpus is not None:
        # Absolute, so the run can be evaluated or resumed from anywhere (and by a Ray worker).
        flags.setdefault("task", {})["corpus_file"] = str(args.corpus.resolve())
    if args.pairs is not None:
        flags.setdefault("task", {})["pairs_file"] = str(args.pairs.resolve())
    if args.paper_eval_counts:
        flags.setdefault("eval", {})["paper_counts"] = True
    sets = [parse_assignment(a) for a in args.set or []]
    config = resolve(args.task, args.model, args.regularization, file_data, sets, flags, args.iters, args.schedule)
    if args.iters is not None and args.schedule == "scaled" and not getattr(args, "quiet", False):
        tr = config.train
        print(f"--iters {args.iters}: warmup {tr.warmup_iters} and cosine decay to iteration {tr.lr_decay_iters}, "
              f"scaled with the run's length (--schedule paper keeps the preset's)", file=sys.stderr)
    note = schedule_note(config.train, args.schedule)
    if note and not getattr(args, "quiet", False):
        print(f"toobig: note: {note}", file=sys.stderr)
    return config


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        given = [f for f in ("task", "model", "regularization", "config", "set", "iters", "eval_interval", "corpus", "pairs", "seeds", "num_seeds") if getattr(args, f)]
        if given or args.paper_eval_counts or args.overwrite:
            raise UsageError("--resume continues a run with its own config.toml; drop the other configuration flags")
        if args.compile is not None or args.batch_shards is not None:
            raise UsageError("--resume continues a run with the --compile/--batch-shards it was trained with; drop them")
        if args.max_members is not None:
            raise UsageError("--resume trains the run's whole population at once; drop --max-members")
        print(api.resume(args.resume, options=_run_options(args, progress=not args.quiet))[0].path)
        return 0
    options = _run_options(args, progress=not args.quiet, overwrite=args.overwrite)
    config = build_config(args)
    seeds = _seeds(args, config.seed)
    runs = api.train(config, seeds, args.out, options=options)
    for run in runs:
        best, held_out = run.best, held_out_label(run.config.task, run.config.seed)
        heldout_text = f"  {held_out} {best.get('heldout_correct', 0)}/{best.get('heldout_total', 0)}" if held_out else ""
        print(f"{run.path}  best combined {best.get('combined', 0):.4f} at iter {best.get('iter')}{heldout_text}")
    return 0


def scores_text(scores: dict) -> str:
    """An evaluation as a few readable lines (the parts of the task that have samples)."""
    lines = [f"iteration {scores['iter']:,}: combined score {scores['combined']:.4f}, exact loss {scores['loss']:.4f}"]
    for part, name in (("add", "addition"), ("sub", "subtraction"), ("facts", "facts"), ("heldout", "held-out pairs")):
        total = scores.get(f"{part}_total", 0)
        if total:
            correct = scores[f"{part}_correct"]
            lines.append(f"  {name:<15} {correct:>5}/{total:<5} {correct / total:7.1%}")
    # What each held-out prompt was answered, e.g. "    <5+7=  13> x6  12> x4".
    for prompt, counts in (scores.get("heldout_answers") or {}).items():
        lines.append(f"    {prompt:<7} " + "  ".join(f"{text or repr(text)} x{n}" for text, n in counts.items()))
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    scores = api.evaluate(args.run_dir, args.checkpoint, args.device)
    print(json.dumps(scores, indent=2) if args.json else scores_text(scores))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    texts = api.sample(args.run_dir, args.prompt, args.num_samples, args.max_new_tokens, args.temperature,
                       args.greedy, args.checkpoint, args.device)
    for text in texts:
        print(args.prompt + text.rstrip("\n"))
    return 0


def cmd_extrapolate(args: argparse.Namespace) -> int:
    from .extrapolation import extrapolate

    if args.max_operand < 1:
        raise UsageError(f"--max-operand must be >= 1, got {args.max_operand}")
    result = extrapolate(args.run_dir, args.max_operand, args.checkpoint, args.device)
    print(
        f"operands 0-{args.max_operand}, at least one above {result['trained_operand_max']} "
        f"({args.checkpoint} checkpoint, iteration {result['iteration']}): "
        f"addition {result['add_correct']}/{result['add_total']} ({result['add_acc']:.2%}), "
        f"subtraction {result['sub_correct']}/{result['sub_total']} ({result['sub_acc']:.2%})"
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    if args.num_seeds is not None and args.num_seeds < 1:
        raise UsageError(f"--num-seeds must be >= 1, got {args.num_seeds}")
    if args.max_iters is not None and args.max_iters < 1:
        raise UsageError(f"--max-iters must be >= 1, got {args.max_iters}")
    # api.reproduce splits and strips the names; only a flag that names none is a usage error here.
    if args.models is not None and not args.models.replace(",", "").strip():
        raise UsageError(f"--models expects comma-separated model names (e.g. n28,n56), got {args.models!r}")
    result = api.reproduce(
        args.experiments,
        num_seeds=args.num_seeds,
        models=args.models,
        out=args.out,
        max_iters=args.max_iters,
        include_mlt=args.include_mlt,
        write_report=not args.no_report,
        dry_run=args.dry_run,
        executor=args.executor,
        address=args.address,
        workers=args.workers,
        options=_run_options(args),
    )
    return 1 if result.failed else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .store import run_dir_name
    from .sweep_file import load_sweep

    configs = load_sweep(args.file)
    for note in dict.fromkeys(schedule_note(c.train) for c in configs):
        if note:
            print(f"toobig: note: {note}", file=sys.stderr)
    outcome = api.sweep(
        configs, out=args.out, executor=args.executor, address=args.address, workers=args.workers, dry_run=args.dry_run,
        options=_run_options(args),
    )
    if args.dry_run:
        return 0
    paths = sorted({args.out / run_dir_name(c) for c in configs})
    runs = [api.load_run(p) for p in paths if (p / "config.toml").is_file()]
    if runs:
        print("\n" + runs_table(runs))
    return 1 if outcome.failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    report = api.report(args.runs_dir, args.out)
    print("\n".join(str(report.parent / name) for name in (report.name, "results.csv", "verdicts.csv")))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.than is None and not args.trend and len(args.folders) < 2:
        raise UsageError("compare needs two configuration folders, or one or more with --than FOLDER")
    if args.planned is not None and args.planned < 1:
        raise UsageError(f"--planned must be >= 1, got {args.planned}")
    names = None if args.names is None else args.names.split(",")
    asked = dict(than=args.than, trend=args.trend, planned=args.planned, names=names)
    if args.csv:
        from .reporting.verdicts_csv import verdicts_csv

        print(verdicts_csv(api.compare_verdicts(*args.folders, **asked)), end="")
    else:
        print(api.compare(*args.folders, **asked))
    return 0


def runs_table(runs: Sequence[api.Run]) -> str:
    """One row per configuration (a folder of seed<N> runs): seeds, how many are complete, and
    the means over seeds of the best evaluation's combined score and held-out accuracy."""
    groups: dict[Path, list[api.Run]] = {}
    for run in runs:
        groups.setdefault(run.path.parent, []).append(run)
    header = ("configuration", "seeds", "complete", "iterations", "best combined", "held-out at best")
    rows = []
    for folder, members in groups.items():
        bests = [r.best for r in members if r.best]
        combined = [b.get("combined", 0.0) for b in bests]
        heldout = [h for h in map(heldout_accuracy, bests) if h is not None]
        rows.append((
            folder.name,
            ",".join(str(r.seed) for r in sorted(members, key=lambda r: r.seed)),
            f"{sum(r.complete for r in members)}/{len(members)}",
            f"{members[0].config.train.max_iters:,}",
            f"{sum(combined) / len(combined):.3f}" if combined else "-",
            f"{sum(heldout) / len(heldout):.1%}" if heldout else "-",
        ))
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows))


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run

    print(export_run(args.run_dir, args.out, args.format, args.checkpoint))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    unreadable = []

    def skip(path: Path, exc: Exception) -> None:  # as the report does: named, not dropped silently
        unreadable.append(path)
        print(f"toobig: warning: {path}: unreadable, left out ({exc})", file=sys.stderr)

    runs = api.load_runs(args.runs_dir, on_unreadable=skip)
    print(runs_table(runs) if runs else f"no {'readable ' if unreadable else ''}runs below {args.runs_dir}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .training import Prepared
    from .model import describe

    config = build_config(args)
    if args.toml:
        print(to_toml(config), end="")
        return 0
    prepared = Prepared.from_config(config)
    tr = config.train
    print(f"{config.label}: corpus {len(prepared.text):,} characters, vocabulary {prepared.tokenizer.vocab_size}")
    print(f"training: {tr.max_iters:,} iterations, batch {tr.batch_size}, learning rate {tr.learning_rate:g} after "
          f"{tr.warmup_iters:,} warmup iterations, cosine decay to {tr.min_lr:g} at iteration {tr.lr_decay_iters:,}, "
          f"weight decay {tr.weight_decay:g}, dropout {config.model.dropout:g}")
    held_out = held_out_label(config.task)
    changes = ", ".join(f"{k}={v}" for k, v in protocol_changes(to_dict(config)).items())
    print(f"protocol: {changes or 'the paper'}{'; held out ' + held_out if held_out else ''} (--toml: the whole configuration)")
    print(describe(config.model, prepared.tokenizer.vocab_size))
    return 0


def _run_options(args: argparse.Namespace, **extra) -> RunOptions:
    """The flags of _add_run_flags as the options object every layer below takes."""
    return RunOptions(
        device=args.device,
        compile=bool(args.compile),
        batch_shards=1 if args.batch_shards is None else args.batch_shards,
        max_members=args.max_members,
        tensorboard=args.tensorboard,
        **extra,
    )


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """How runs train (toobig.RunOptions); train, sweep and reproduce share them."""
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None,
        help="torch.compile the training step (default: no; a resumed run keeps what it was trained with)",
    )
    p.add_argument(
        "--batch-shards", type=int, default=None, metavar="S",
        help="split each batch into S shards trained on S threads (default 1; CPU: faster for one seed, "
        "different rounding; a resumed run keeps what it was trained with)",
    )
    p.add_argument(
        "--max-members", type=int,
        help="largest population trained at once (default: on a GPU what fits its memory; on a CPU 2 for train, "
        "1 per process for sweep and reproduce)",
    )
    p.add_argument("--tensorboard", action="store_true", help="also log each run's metrics to RUN_DIR/tensorboard/")


def _add_executor_flags(p: argparse.ArgumentParser) -> None:
    _add_run_flags(p)
    p.add_argument("--executor", default="local", choices=("local", "ray"), help="where runs execute")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    p.add_argument("--workers", type=int, help="parallel populations (default: sized to the cores)")
    p.add_argument("--dry-run", action="store_true", help="list the runs that would train (new, resumed, failed before) and stop")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=None, help=f"one of {', '.join(TASK_NAMES)} (default arithmetic)")
    p.add_argument("--model", help=f"one of {', '.join(MODEL_NAMES)} (default n14)")
    p.add_argument("--regularization", help=f"one of {', '.join(REGULARIZATIONS)} (default paper)")
    p.add_argument("--config", type=Path, help="TOML file with config values (e.g. a run's config.toml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.learning_rate=3e-3")
    p.add_argument("--iters", type=int, help="train.max_iters; the schedule scales with it (see --schedule)")
    p.add_argument("--schedule", choices=SCHEDULES, default="scaled",
                   help="with --iters: 'scaled' moves warmup and decay in proportion, 'paper' keeps them (default: %(default)s)")
    p.add_argument("--eval-interval", type=int, help="eval.interval")
    p.add_argument("--corpus", type=Path, help="train on this corpus file as-is (e.g. the paper's arithmetic.txt)")
    p.add_argument("--pairs", type=Path, metavar="FILE",
                   help="with --task pairs: prompt<TAB>answer[<TAB>held_out] lines, a task of your own (README)")
    p.add_argument("--paper-eval-counts", action="store_true", help="count 910 samples per operation like the reference logs")


RUN_DIR_HELP = "a run directory: the seed<N> folder holding config.toml"
RUNS_DIR_HELP = "a folder of run directories (searched at any depth)"
DEVICE_HELP = "auto, cpu, cuda or cuda:N"


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if action.option_strings and default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (exit 2) instead of the whole usage text, and
    every option's default in its help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="toobig", description="Capacity vs. memorization and generalization in small transformers.")
    ap.add_argument("--version", action="version", version=f"toobig {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one or many seeds of a configuration")
    _add_config_flags(p)
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3 (default: the config's seed, 1337)")
    p.add_argument("--num-seeds", type=int, help="train seeds 0..K-1 (in populations of up to --max-members)")
    _add_run_flags(p)
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent directory of the run directories")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument(
        "--overwrite", action="store_true",
        help="delete what earlier runs left in the run directories and train afresh (default: refuse)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("extrapolate", help="Section 5.1: score a run on operands beyond its training range")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--max-operand", type=int, default=19, help="score every pair with an operand above the training range, up to this")
    p.add_argument("--checkpoint", default="best", help="best or last")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.set_defaults(func=cmd_extrapolate)

    p = sub.add_parser("eval", help="re-evaluate a run's checkpoint")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--checkpoint", default="best", help="best or last")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="the scores as JSON (the keys of metrics.jsonl)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="sample completions of a prompt from a run's checkpoint")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--prompt", required=True, help="the text to continue, e.g. '<5+7='")
    p.add_argument("--checkpoint", default="best", help="best or last")
    p.add_argument("--num-samples", type=int, default=10, help="completions to draw")
    p.add_argument("--max-new-tokens", type=int, default=20, help="characters generated per completion")
    p.add_argument("--temperature", type=float, help="softmax temperature (default: the run's eval.temperature)")
    p.add_argument("--greedy", action="store_true", help="take the most likely character at each step")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("reproduce", help="run the paper's experiments that are missing, then write the report (unless --no-report)")
    p.add_argument(
        "--experiments", default="table2",
        help="comma-separated: the paper's table2..table7, grokking, capacity (all: every one), and the studies "
        f"beyond it: {', '.join(STUDIES)} (beyond: every one)",
    )
    p.add_argument(
        "--num-seeds", type=int,
        help="seeds 0..K-1 per configuration (default: 3 for the paper's experiments; for the studies, what each "
        f"plans: {', '.join(f'{s.seeds} for {s.name}' for s in STUDIES.values())})",
    )
    p.add_argument(
        "--models", metavar="M[,M...]",
        help="only the runs of these models, e.g. n28,n56 (default: every model of the experiments; not with capacity)",
    )
    p.add_argument("--out", type=Path, default=Path("results"), help="runs go to OUT/runs, the report to OUT/report")
    p.add_argument("--max-iters", type=int, help="shorten every run (the schedule shrinks in proportion)")
    p.add_argument("--include-mlt", action="store_true", help="also train the MLT rows and the grokking run (10.6M parameters) on a CPU")
    p.add_argument("--no-report", action="store_true", help="train and test only; `toobig report OUT/runs` writes the report later")
    _add_executor_flags(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("sweep", help="train a grid of configurations described in a TOML file")
    p.add_argument("file", type=Path, help="the sweep's TOML file ([sweep] lists, [set] values; README)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="the run directories go below this folder")
    _add_executor_flags(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="tables, figures, results.csv and verdicts.csv from run directories, beside the paper's numbers")
    p.add_argument("runs_dir", type=Path, help=RUNS_DIR_HELP)
    p.add_argument("--out", type=Path, help="output directory (default: RUNS_DIR/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "compare", help="does configuration A extrapolate more than B (and than C, ...)? the studies' two tests on their seeds",
    )
    p.add_argument(
        "folders", type=Path, nargs="+", metavar="FOLDER",
        help="configuration folders (each holds its seed<N> runs): the first is tested against each of the others",
    )
    p.add_argument(
        "--than", type=Path, metavar="FOLDER",
        help="test instead whether each FOLDER extrapolates more than this one (e.g. ablations against their control)",
    )
    p.add_argument(
        "--trend", action="store_true",
        help="test instead whether extrapolation falls steadily along the FOLDERs in the order given "
        "(e.g. widths from the expected peak to the widest; the order is the hypothesis)",
    )
    p.add_argument(
        "--planned", type=int, metavar="K",
        help="the seeds meant for each folder: a hypothesis read while a folder has fewer is marked interim",
    )
    p.add_argument(
        "--names", metavar="NAME,NAME...",
        help="what to call the folders in the table and verdicts, one each in order, --than's last (default: folder names)",
    )
    p.add_argument(
        "--csv", action="store_true",
        help="print the verdicts as CSV instead (the columns of a report's verdicts.csv, without its study)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("export", help="write a run's checkpoint for HF transformers (GPT-2) or nanoGPT")
    p.add_argument("run_dir", type=Path, help=RUN_DIR_HELP)
    p.add_argument("--format", choices=("hf", "nanogpt"), default="hf", help="HF transformers GPT-2 or nanoGPT")
    p.add_argument("--out", type=Path, required=True, help="new folder for the exported files")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="best or last")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("runs", help="list the runs below a folder: configuration, seeds, status, best scores")
    p.add_argument("runs_dir", type=Path, help=RUNS_DIR_HELP)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("info", help="print a configuration's schedule, protocol, architecture and parameter count")
    _add_config_flags(p)
    p.add_argument("--toml", action="store_true", help="print the resolved configuration as config.toml instead")
    p.set_defaults(func=cmd_info)
    return ap


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a handler keeps the stream it was made with)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _show_warnings() -> None:
    """toobig's library warnings (e.g. a run left out of a report) as lines on stderr."""
    logger = logging.getLogger("toobig")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("toobig: warning: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _show_warnings()
    try:
        return args.func(args)
    except (ConfigError, StoreError, UsageError) as exc:
        print(f"toobig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "toobig: interrupted; finished evaluations and checkpoints are on disk "
            "(train --resume RUN_DIR, or run the same reproduce/sweep command again, continues)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        # The reader went away (`toobig runs DIR | head -1`): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
