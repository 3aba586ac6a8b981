"""The training loop: a population in lockstep, evaluated on schedule, written to run directories."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .. import model as gpt
from ..config import RunConfig, validate
from ..engine.chunking import members_per_population, split
from ..engine.device import resolve_device
from ..engine.memory import keep_freed_memory
from ..engine.population import Population, check_batch_shards
from ..engine.sampling import BatchSampler, check_streams
from ..engine.schedule import eval_points
from ..evaluation import Evaluator
from ..options import RunOptions, require_options
from ..store import RunDir, StoreError, require_folder, run_dir_name
from .corpus import Prepared, population_evaluator
from .monitor import log_scalars, postfix, progress_bar, require_tensorboard, tensorboard_writers
from .records import MemberRecord
from .resume import last_iteration, numerics_of, refuse_earlier_results, restore, settle_staged_checkpoints
from .summary import PopulationFacts, environment, summary


def train(
    config: RunConfig,
    seeds: Sequence[int],
    out_root: str | Path,
    options: RunOptions = RunOptions(),
) -> list[RunDir]:
    """Train every seed of `config` as populations of at most `options.max_members` members (by
    default what fits the GPU's memory, or what suits the CPU); return the run directories.

    With options.resume, members whose directory holds a last checkpoint continue from it and
    members already complete are skipped. Otherwise a directory holding results of an earlier
    run is refused (RunExists) unless options.overwrite.
    """
    validate(config)
    require_options(options)
    check_batch_shards(config, options.batch_shards)
    dev = resolve_device(options.device)
    if options.tensorboard:
        require_tensorboard()  # before any directory is touched
    out_root = Path(out_root)
    require_folder(out_root)
    first = Prepared.from_config(replace(config, seed=seeds[0] if seeds else config.seed))
    check_streams(config, [first.stream()])  # before any directory is touched
    vocab_size = first.tokenizer.vocab_size
    size = members_per_population(config, vocab_size, dev, options.max_members)
    runs: list[RunDir] = []
    for chunk in split(list(seeds), size):
        members = [replace(config, seed=s) for s in chunk]
        runs += train_runs(members, [RunDir(out_root / run_dir_name(m)) for m in members], options)
    return runs


def train_runs(
    configs: Sequence[RunConfig],
    runs: Sequence[RunDir],
    options: RunOptions = RunOptions(),
) -> list[RunDir]:
    """Train run directory runs[i] with configs[i] (which carries its seed); runs that differ
    only in their seed train as one population, and members at different resume points (or,
    rarely, with corpora of different lengths) as separate populations. Every directory is
    locked for the duration. options.max_members does not apply here: the runs given are one
    population."""
    if len(configs) != len(runs) or len({c.digest() for c in configs}) > 1:
        raise ValueError("train_runs needs one configuration per run, differing in their seed only")
    require_options(options)
    device = resolve_device(options.device)
    if device.type == "cpu":
        keep_freed_memory()
    with ExitStack() as locks:
        for run in runs:
            locks.enter_context(run.lock())
        _train_locked(configs, runs, device, options)
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


def _stored_matches(run: RunDir, member: RunConfig) -> None:
    """A resumed directory must hold the requested configuration and seed."""
    stored = run.read_config()
    if stored.digest() != member.digest() or stored.seed != member.seed:
        raise StoreError(
            f"{run.config_path} differs from the requested configuration "
            f"(digest {stored.digest()} seed {stored.seed} vs {member.digest()} seed {member.seed}); "
            "resume it with its own config"
        )


def _train_locked(
    configs: Sequence[RunConfig],
    runs: Sequence[RunDir],
    device: torch.device,
    options: RunOptions,
) -> None:
    resume = options.resume
    if not (resume or options.overwrite):
        refuse_earlier_results(runs)
    groups: dict[tuple, list[MemberRecord]] = {}
    states: dict[int, dict] = {}
    if resume:
        settle_staged_checkpoints([r for r in runs if not r.is_complete()])
    for member, run in zip(configs, runs):
        if resume and run.is_complete():
            continue
        if resume and run.config_path.is_file():
            _stored_matches(run, member)
        run.remove_temp_files()
        rec = MemberRecord(run, member, Prepared.from_config(member))
        iteration, member_options = 0, options
        # From a checkpoint at iteration 0 starting afresh is the same run (and does not log
        # iteration 0 a second time).
        if resume and last_iteration(run) > 0:
            iteration, states[id(rec)] = restore(rec)
            member_options = numerics_of(rec.run, options)
        else:
            # A fresh start: nothing of an earlier attempt may survive to be mistaken for this one.
            run.clear_outputs()
            run.write_config(rec.config)
            run.write_vocab(rec.prepared.tokenizer.chars)
            run.write_metrics([])
        # Batched members need one vocabulary and streams of one length.
        data_shape = (rec.prepared.tokenizer.chars, len(rec.prepared.text), len(rec.prepared.text.splitlines()))
        groups.setdefault((iteration, member_options, data_shape), []).append(rec)
    # Members at different iterations (a kill between two saves) train as separate populations.
    for (iteration, group_options, _), group in sorted(groups.items(), key=lambda item: item[0][0]):
        member_states = [states.get(id(r)) for r in group]
        _train_population(configs[0], group, device, iteration, member_states, group_options)


def _train_population(
    config: RunConfig,
    records: list[MemberRecord],
    device: torch.device,
    start: int,
    states: list[dict | None],
    options: RunOptions,
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
        # population_seeds: whom a resume of one member brings along (training.resume.population_siblings).
        environment={**environment(device), "compiled": pop.compiled, "population_size": pop.size,
                     "population_seeds": seeds, "batch_shards": pop.batch_shards},
    )
    if start == config.train.max_iters:
        # Killed after its last checkpoint, before its final summary: nothing trains in this
        # process, so the run keeps the environment (population, numerics) it trained in.
        for rec in records:
            rec.trained_in = (rec.run.read_summary() or {}).get("environment")
    schedule = eval_points(config.train.max_iters, config.eval)
    points = [p for p in schedule if p >= start]
    bar = progress_bar(config, len(seeds), start, options.progress)
    boards = tensorboard_writers(records, start) if options.tensorboard else None
    t_begin = time.perf_counter()
    loss = None
    for i, point in enumerate(points):
        if i > 0 or start == 0:  # a resumed run evaluated its start point before the interruption
            # The checkpoint cadence follows the evaluation's index, so a resume keeps it.
            save_last = schedule.index(point) % config.train.checkpoint_every == 0
            _evaluate(records, pop, evaluator, point, facts, t_begin, save_last, bar)
            if boards is not None:
                log_scalars(boards, records, point)
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
            bar.set_postfix_str(postfix(loss, records), refresh=False)
    if bar is not None:
        bar.close()
    for board in boards or []:
        board.close()
    for rec in records:
        rec.run.write_summary(summary(rec, facts, "complete", config.train.max_iters))
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
        # Wall-clock time since the run started, a resumed run's earlier processes included.
        since_start = rec.elapsed_before + time.perf_counter() - t_begin
        record = {"iter": point, **m, "lr": lr, "elapsed_s": round(since_start, 3)}
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
                # Staged, then committed for all members once every one is written: a kill in
                # between never leaves members of one population at different iterations.
                rec.checkpoints["last"] = rec.run.save_checkpoint("last", state, meta, staged=True)
    if save_last:
        for rec in records:
            rec.run.commit_staged("last")
        for rec in records:
            rec.run.write_summary(summary(rec, facts, "running", point))
    if bar is not None:
        bar.set_postfix_str(postfix(None, records), refresh=False)
