"""The training loop: a population in lockstep, evaluated on schedule, written to run directories."""

from __future__ import annotations

import json
import hashlib
import platform
import re
import subprocess
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .. import __version__
from .. import model as gpt
from ..config import ADDED_FIELDS, ConfigError, RunConfig, validate
from ..evaluate import Evaluator
from ..metrics import extrapolated, heldout_summary, is_improvement
from ..store import RunDir, RunExists, StoreError, run_dir_name
from .chunking import members_per_population, split
from .corpus import Prepared, population_evaluator
from .memory import keep_freed_memory
from .population import Population, check_batch_shards
from .sampling import BatchSampler, check_streams
from .schedule import eval_points

# Fields of a metrics record that are measured in wall-clock time (excluded from determinism checks).
TIMING_FIELDS = ("elapsed_s",)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"--device: unknown device {device!r} (allowed: auto, cpu, cuda)")
    return torch.device(device)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass
class MemberRecord:
    """Bookkeeping of one member's run directory while it trains."""

    run: RunDir
    config: RunConfig
    prepared: Prepared
    best: dict | None = None
    last: dict | None = None
    first_extrapolation: int | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)
    train_s: float = 0.0
    eval_s: float = 0.0

    def observe(self, metrics: dict) -> bool:
        self.last = metrics
        if self.first_extrapolation is None and extrapolated(metrics):
            self.first_extrapolation = metrics["iter"]
        if is_improvement(metrics, self.best, self.config.eval.selection):
            self.best = metrics
            return True
        return False


def _environment(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "toobig": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }


@dataclass(frozen=True)
class PopulationFacts:
    """What every member's summary.json states about the population it trained in."""

    parameters: int
    vocab_size: int
    environment: dict


def protocol(config: RunConfig) -> dict:
    """The protocol knobs of a run that differ from the paper's ({} under the paper's protocol)."""
    return {
        f"{section}.{name}": getattr(getattr(config, section), name)
        for (section, name), default in ADDED_FIELDS.items()
        if getattr(getattr(config, section), name) != default
    }


def _data_summary(rec: MemberRecord, status: str) -> dict:
    """The run's own data (held-out pairs, protocol) and, once complete, its loss floors."""
    out: dict = {"held_out": [list(p) for p in rec.prepared.held_out], "protocol": protocol(rec.config)}
    out["heldout"] = heldout_summary(rec.run.read_metrics(), rec.config.eval.selection)
    if status == "complete":
        floors = rec.prepared.floors(rec.config.model.block_size)
        out["loss_floors"] = floors.as_dict()
        final = (rec.last or {}).get("loss")
        fraction = floors.order_fraction(final) if final is not None else None
        out["order_fraction"] = None if fraction is None else round(fraction, 6)
    return out


def _summary(rec: MemberRecord, facts: PopulationFacts, status: str, iteration: int) -> dict:
    return {
        "status": status,
        "label": rec.config.label,
        "task": rec.config.task.name,
        "model": rec.config.model_name,
        "regularization": rec.config.regularization,
        "seed": rec.config.seed,
        "config_digest": rec.config.digest(),
        "parameters": facts.parameters,
        "vocab_size": facts.vocab_size,
        "corpus_sha256": rec.prepared.text_sha256,
        "iteration": iteration,
        "max_iters": rec.config.train.max_iters,
        "best": rec.best,
        "final": rec.last if status == "complete" else None,
        "extrapolated": rec.first_extrapolation is not None,
        "first_extrapolation_iter": rec.first_extrapolation,
        "timings": {"train_s": round(rec.train_s, 3), "eval_s": round(rec.eval_s, 3), "total_s": round(rec.train_s + rec.eval_s, 3)},
        "environment": facts.environment,
        "checkpoints": dict(rec.checkpoints),
        **_data_summary(rec, status),
    }


@dataclass(frozen=True)
class EngineOptions:
    """How to run, as opposed to what to compute (none of these enter the config digest)."""

    progress: bool = True
    resume: bool = False
    compile: bool = False
    # Write each member's metrics as TensorBoard scalars to RUN_DIR/tensorboard/.
    tensorboard: bool = False
    # Split every batch into this many shards trained on as many threads (CPU, one intra-op
    # thread each): faster for one member on several cores, with different rounding.
    batch_shards: int = 1
    # A fresh (not resumed) start may delete what an earlier attempt left in its directories.
    overwrite: bool = False


def train(
    config: RunConfig,
    seeds: Sequence[int],
    out_root: str | Path,
    device: str = "auto",
    progress: bool = True,
    resume: bool = False,
    compile: bool = False,
    max_members: int | None = None,
    tensorboard: bool = False,
    batch_shards: int = 1,
    overwrite: bool = False,
) -> list[RunDir]:
    """Train every seed of `config` as populations of at most `max_members` members (by default
    what fits the GPU's memory, or what suits the CPU); return the run directories.

    With resume=True, members whose directory holds a last checkpoint continue from it and
    members already complete are skipped. Otherwise a directory holding results of an earlier
    run is refused (RunExists) unless overwrite=True.
    """
    validate(config)
    check_batch_shards(config, batch_shards)
    dev = resolve_device(device)
    if tensorboard:
        require_tensorboard()  # before any directory is touched
    out_root = Path(out_root)
    first = Prepared.from_config(replace(config, seed=seeds[0] if seeds else config.seed))
    check_streams(config, [first.stream()])  # before any directory is touched
    vocab_size = first.tokenizer.vocab_size
    size = members_per_population(config, vocab_size, dev, max_members)
    options = EngineOptions(progress, resume, compile, tensorboard, batch_shards, overwrite)
    runs: list[RunDir] = []
    for chunk in split(list(seeds), size):
        chunk_runs = [RunDir(out_root / run_dir_name(replace(config, seed=s))) for s in chunk]
        runs += train_runs(config, chunk_runs, dev, options)
    return runs


def train_runs(
    config: RunConfig,
    runs: Sequence[RunDir],
    device: torch.device,
    options: EngineOptions = EngineOptions(),
) -> list[RunDir]:
    """Train the given run directories (named seed<N>) as one population; members at different
    resume points (or, rarely, with corpora of different lengths) train as separate
    populations. Every directory is locked for the duration."""
    if device.type == "cpu":
        keep_freed_memory()
    with ExitStack() as locks:
        for run in runs:
            locks.enter_context(run.lock())
        _train_locked(config, runs, device, options)
    return list(runs)


@contextmanager
def shard_threads(pop: Population) -> Iterator[None]:
    """While batch shards train on their own threads, each gets 1/S of torch's intra-op threads
    (shards x threads stays within the cores); evaluation in between keeps all of them."""
    before = torch.get_num_threads()
    if pop.batch_shards > 1 and pop.device.type == "cpu":
        torch.set_num_threads(max(1, before // pop.batch_shards))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _member_seed(run: RunDir, config: RunConfig, resume: bool) -> int:
    """The seed of a run directory: its stored config's when resuming, else its name's."""
    if resume and run.config_path.is_file():
        stored = run.read_config()
        if stored.digest() != config.digest():
            raise StoreError(
                f"{run.config_path} differs from the requested configuration "
                f"(digest {stored.digest()} vs {config.digest()}); resume it with its own config"
            )
        return stored.seed
    match = re.fullmatch(r"seed(\d+)", run.path.name)
    if match is None:
        raise StoreError(f"run directory {run.path} must be named seed<N> (N = the member's seed)")
    return int(match.group(1))


def _train_locked(
    config: RunConfig,
    runs: Sequence[RunDir],
    device: torch.device,
    options: EngineOptions,
) -> None:
    resume = options.resume
    if not (resume or options.overwrite):
        _refuse_earlier_results(runs)
    groups: dict[tuple, list[MemberRecord]] = {}
    states: dict[int, dict] = {}
    for run in runs:
        if resume and run.is_complete():
            continue
        member = replace(config, seed=_member_seed(run, config, resume))
        rec = MemberRecord(run, member, Prepared.from_config(member))
        iteration, member_options = 0, options
        if resume and run.checkpoint_path("last").is_file():
            iteration, states[id(rec)] = _restore(rec)
            member_options = _numerics_of(rec.run, options)
        else:
            # A fresh start: nothing of an earlier attempt may survive to be mistaken for this one.
            run.clear_outputs()
            run.write_config(rec.config)
            run.write_metrics([])
        # Batched members need one vocabulary and streams of one length.
        data_shape = (rec.prepared.tokenizer.chars, len(rec.prepared.text), len(rec.prepared.text.splitlines()))
        groups.setdefault((iteration, member_options, data_shape), []).append(rec)
    # Members at different iterations (a kill between two saves) train as separate populations.
    for (iteration, group_options, _), group in sorted(groups.items(), key=lambda item: item[0][0]):
        member_states = [states.get(id(r)) for r in group]
        _train_population(config, group, device, iteration, member_states, group_options)


def _refuse_earlier_results(runs: Sequence[RunDir]) -> None:
    """A fresh start deletes a directory's results, so it needs --resume or --overwrite to go on."""
    for run in runs:
        found = run.earlier_results()
        if found is None:
            continue
        how = "" if found == "a complete run" else f"continue it with `toobig train --resume {run.path}`, or "
        raise RunExists(
            f"run directory {run.path} already holds {found}; {how}pass --overwrite to delete it and train afresh"
        )


def _numerics_of(run: RunDir, options: EngineOptions) -> EngineOptions:
    """A resumed run continues with the numerics it started with (compiled or eager, batch
    shards), whatever the resuming command asks: its float rounding stays one path throughout.
    (A run killed before its first checkpoint has no state to keep and starts afresh with the
    resuming command's options.)"""
    trained_with = (run.read_summary() or {}).get("environment", {})
    return replace(
        options,
        compile=bool(trained_with.get("compiled", options.compile)),
        batch_shards=int(trained_with.get("batch_shards", 1)),
    )


def _restore(rec: MemberRecord) -> tuple[int, dict]:
    summary = rec.run.read_summary() or {}
    recorded = summary.get("corpus_sha256")
    if recorded is not None and recorded != rec.prepared.text_sha256:
        raise StoreError(
            f"{rec.run.path}: the training corpus changed since this run started "
            f"(task.corpus_file {rec.config.task.corpus_file!r}); restore it or start a new run"
        )
    expected = summary.get("checkpoints", {}).get("last")
    state = rec.run.load_checkpoint("last", expected)
    meta = rec.run.checkpoint_metadata("last")
    iteration = int(meta["iteration"])
    # Metrics logged after the checkpoint are recomputed identically on the way.
    history = [m for m in rec.run.read_metrics() if m["iter"] <= iteration]
    rec.run.write_metrics(history)
    for m in history:
        rec.observe(m)
    rec.checkpoints = dict(summary.get("checkpoints", {}))
    timings = summary.get("timings", {})
    rec.train_s, rec.eval_s = float(timings.get("train_s", 0.0)), float(timings.get("eval_s", 0.0))
    return iteration, {"tensors": state, "steps": int(meta.get("optimizer_steps", 0))}


def _train_population(
    config: RunConfig,
    records: list[MemberRecord],
    device: torch.device,
    start: int,
    states: list[dict | None],
    options: EngineOptions,
) -> None:
    seeds = [r.config.seed for r in records]
    prepared = [r.prepared for r in records]
    vocab = prepared[0].tokenizer.vocab_size
    pop = Population(config, seeds, vocab, device, compile=options.compile, batch_shards=options.batch_shards)
    if start > 0:
        pop.load_member_states([s["tensors"] for s in states], states[0]["steps"])  # type: ignore[index]
    evaluator = population_evaluator(prepared, config, device)
    sampler = BatchSampler(config, [p.stream() for p in prepared], pop.keys, device)
    facts = PopulationFacts(
        parameters=gpt.count_parameters(config.model, vocab),
        vocab_size=vocab,
        environment={**_environment(device), "compiled": pop.compiled, "population_size": pop.size,
                     "batch_shards": pop.batch_shards},
    )
    schedule = eval_points(config.train.max_iters, config.eval)
    points = [p for p in schedule if p >= start]
    bar = _progress_bar(config, len(seeds), start, options.progress)
    boards = _tensorboard_writers(records) if options.tensorboard else None
    t_begin = time.perf_counter()
    loss = None
    for i, point in enumerate(points):
        if i > 0 or start == 0:  # a resumed run evaluated its start point before the interruption
            # The checkpoint cadence follows the evaluation's index, so a resume keeps it.
            save_last = schedule.index(point) % config.train.checkpoint_every == 0
            _evaluate(records, pop, evaluator, point, facts, t_begin, save_last, bar)
            if boards is not None:
                _log_scalars(boards, records, point)
        if point == config.train.max_iters:
            break
        stop = points[i + 1]
        t0 = time.perf_counter()
        with shard_threads(pop):
            for a, b in sampler.chunks(point, stop):
                for it, batch in sampler.batches(a, b):
                    loss = pop.train_step(it, batch.x, batch.y, batch.weights)
                if bar is not None:
                    bar.update(b - a)
        elapsed = time.perf_counter() - t0
        for rec in records:
            rec.train_s += elapsed
        if bar is not None and loss is not None:
            bar.set_postfix_str(_postfix(loss, records), refresh=False)
    if bar is not None:
        bar.close()
    for board in boards or []:
        board.close()
    for rec in records:
        rec.run.write_summary(_summary(rec, facts, "complete", config.train.max_iters))
        rec.run.clear_failure()


def _evaluate(
    records: list[MemberRecord],
    pop: Population,
    evaluator: Evaluator,
    point: int,
    facts: PopulationFacts,
    t_begin: float,
    save_last: bool,
    bar,
) -> None:
    """Evaluate every member at `point`; log, keep the best and (if due) the last checkpoint."""
    config = pop.config
    t0 = time.perf_counter()
    metrics = evaluator(pop.params, pop.keys, point, config.train.precision)
    elapsed = time.perf_counter() - t0
    save_last = save_last or point == config.train.max_iters
    steps = str(pop.optimizer_steps())
    # The rate of the step that follows this evaluation, as the optimizer holds it.
    lr = pop.set_learning_rate(point)
    for k, (rec, m) in enumerate(zip(records, metrics)):
        record = {"iter": point, **m, "lr": lr, "elapsed_s": round(time.perf_counter() - t_begin, 3)}
        rec.eval_s += elapsed
        rec.run.append_metrics(record)
        improved = rec.observe(record)
        meta = {"iteration": str(point), "optimizer_steps": steps, "metrics": json.dumps(record)}
        if improved or save_last:
            state = pop.member_state(k)
            weights = {n: t for n, t in state.items() if not n.startswith("optimizer.")}
            if improved:
                rec.checkpoints["best"] = rec.run.save_checkpoint("best", weights, meta)
            if save_last:
                rec.checkpoints["last"] = rec.run.save_checkpoint("last", state, meta)
        if save_last:
            rec.run.write_summary(_summary(rec, facts, "running", point))
    if bar is not None:
        bar.set_postfix_str(_postfix(None, records), refresh=False)


TENSORBOARD_DIR = "tensorboard"
_SCALARS = ("loss", "add_acc", "sub_acc", "facts_acc", "combined", "heldout_correct", "lr")


def require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install toobig[tensorboard]") from None


def _tensorboard_writers(records: list[MemberRecord]) -> list:
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    return [SummaryWriter(log_dir=str(rec.run.path / TENSORBOARD_DIR)) for rec in records]


def _log_scalars(boards: list, records: list[MemberRecord], point: int) -> None:
    for board, rec in zip(boards, records):
        for key in _SCALARS:
            board.add_scalar(f"eval/{key}", rec.last[key], point)  # type: ignore[index]
        board.flush()


def _postfix(loss: torch.Tensor | None, records: list[MemberRecord]) -> str:
    parts = []
    if loss is not None:
        parts.append(f"loss {loss.mean().item():.3f}")
    last = [r.last for r in records if r.last]
    if last:
        mean = lambda key: sum(m[key] for m in last) / len(last)  # noqa: E731
        if last[0]["add_total"]:
            parts.append(f"add {mean('add_acc'):.0%} sub {mean('sub_acc'):.0%}")
            parts.append(f"held-out {mean('heldout_correct'):.0f}/{last[0]['heldout_total']}")
        if last[0]["facts_total"]:
            parts.append(f"facts {mean('facts_acc'):.0%}")
    return " ".join(parts)


def _progress_bar(config: RunConfig, k: int, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=config.train.max_iters,
        initial=start,
        desc=f"{config.label} x{k}",
        unit="it",
        dynamic_ncols=True,
    )
