"""The `toobig` command: thin subcommands over the package's functions."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .config import ConfigError, RunConfig, apply_overrides, parse_assignment, read_toml, validate
from .presets import MODEL_NAMES, make_config
from .config import TASK_NAMES, REGULARIZATIONS
from .store import StoreError


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
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise UsageError(f"--seeds expects distinct non-negative integers, got {args.seeds!r}")
        return seeds
    return [default]


def build_config(args: argparse.Namespace) -> RunConfig:
    """Preset (task, model, condition) <- config file <- --set key=value <- explicit flags."""
    file_data = read_toml(args.config) if args.config else {}
    file_task = file_data.get("task", {}).get("name") if isinstance(file_data.get("task"), dict) else None
    task = args.task or file_task or "arithmetic"
    model = args.model or file_data.get("model_name") or "n14"
    regularization = args.regularization or file_data.get("regularization") or "paper"
    config = make_config(task, model, regularization)
    config = apply_overrides(config, file_data)
    # Flags given explicitly win over the file's labels.
    config = replace(
        config,
        model_name=model,
        regularization=regularization,
        task=replace(config.task, name=task),
    )
    for assignment in args.set or []:
        config = apply_overrides(config, parse_assignment(assignment))
    if args.iters is not None:
        config = replace(config, train=replace(config.train, max_iters=args.iters))
    if args.eval_interval is not None:
        config = replace(config, eval=replace(config.eval, interval=args.eval_interval))
    if args.corpus is not None:
        config = replace(config, task=replace(config.task, corpus_file=str(args.corpus)))
    if args.paper_eval_counts:
        config = replace(config, eval=replace(config.eval, paper_counts=True))
    return validate(config)


def cmd_train(args: argparse.Namespace) -> int:
    from .engine.trainer import train, train_runs, resolve_device
    from .store import RunDir

    if args.resume:
        run = RunDir(Path(args.resume))
        config = run.read_config()
        train_runs(config, [run], resolve_device(args.device), progress=not args.quiet, resume=True, compile=args.compile)
        print(run.path)
        return 0
    config = build_config(args)
    seeds = _seeds(args, config.seed)
    runs = train(config, seeds, args.out, device=args.device, progress=not args.quiet, compile=args.compile)
    for run in runs:
        summary = run.read_summary() or {}
        best = summary.get("best") or {}
        print(
            f"{run.path}  best combined {best.get('combined', 0):.4f} at iter {best.get('iter')}"
            f"  (5,7) {best.get('heldout_correct', 0)}/{best.get('heldout_total', 0)}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .inference import evaluate_trained, load_trained

    trained = load_trained(args.run_dir, args.checkpoint, args.device)
    print(json.dumps(evaluate_trained(trained), indent=2))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .inference import load_trained, sample

    trained = load_trained(args.run_dir, args.checkpoint, args.device)
    for text in sample(trained, args.prompt, args.num_samples, args.max_new_tokens, args.temperature, args.greedy):
        print(repr(args.prompt + text))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .engine.trainer import Prepared
    from .model import describe

    config = build_config(args)
    prepared = Prepared.from_config(config)
    print(f"{config.label}: corpus {len(prepared.text):,} characters, vocabulary {prepared.tokenizer.vocab_size}")
    print(describe(config.model, prepared.tokenizer.vocab_size))
    return 0


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=None, help=f"one of {', '.join(TASK_NAMES)} (default arithmetic)")
    p.add_argument("--model", help=f"one of {', '.join(MODEL_NAMES)} (default n14)")
    p.add_argument("--regularization", help=f"one of {', '.join(REGULARIZATIONS)} (default paper)")
    p.add_argument("--config", type=Path, help="TOML file with config values (e.g. a run's config.toml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.learning_rate=3e-3")
    p.add_argument("--iters", type=int, help="train.max_iters")
    p.add_argument("--eval-interval", type=int, help="eval.interval")
    p.add_argument("--corpus", type=Path, help="train on this corpus file as-is (e.g. the paper's arithmetic.txt)")
    p.add_argument("--paper-eval-counts", action="store_true", help="count 910 samples per operation like the reference logs")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="toobig", description="Capacity vs. memorization and generalization in small transformers.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one or many seeds of a configuration")
    _add_config_flags(p)
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3 (default: the config's seed, 1337)")
    p.add_argument("--num-seeds", type=int, help="train seeds 0..K-1 as one population")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent directory of the run directories")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False, help="torch.compile the training step")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a run's checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--checkpoint", default="best", help="best or last")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="sample completions of a prompt from a run's checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--prompt", required=True)
    p.add_argument("--checkpoint", default="best", help="best or last")
    p.add_argument("--num-samples", type=int, default=10)
    p.add_argument("--max-new-tokens", type=int, default=20)
    p.add_argument("--temperature", type=float)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("info", help="print a configuration's architecture and parameter count")
    _add_config_flags(p)
    p.set_defaults(func=cmd_info)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, StoreError, UsageError) as exc:
        print(f"toobig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("toobig: interrupted; finished evaluations and checkpoints are on disk (resume with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
