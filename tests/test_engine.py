"""Population training: members are independent, runs are deterministic, loss goes down."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from toobig.config import TrainConfig
from toobig.engine import rng
from toobig.engine.schedule import eval_points, learning_rate
from toobig.options import RunOptions
from toobig.training import TIMING_FIELDS, train
from toobig.store import LOCK_FILE, RunExists
from toobig.config import EvalConfig

from .conftest import tiny


def _records(run):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in run.read_metrics()]


def _weights(run, name="last"):
    return {k: v for k, v in run.load_checkpoint(name).items() if not k.startswith("optimizer.")}


def test_member_alone_equals_member_in_population(tmp_path):
    config = tiny(iters=40, interval=20)
    (alone,) = train(config, [7], tmp_path / "solo", RunOptions(device="cpu", progress=False))
    population = train(config, [3, 7, 11, 12], tmp_path / "pop", RunOptions(device="cpu", progress=False))
    inside = population[1]
    assert inside.path.name == "seed7"
    a, b = _records(alone), _records(inside)
    assert [r["iter"] for r in a] == [r["iter"] for r in b] == [0, 20, 40]
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)
        assert ra["combined"] == rb["combined"]
    wa, wb = _weights(alone), _weights(inside)
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-4, atol=1e-5)
    # and the other members really are different models
    assert _records(population[0])[-1]["loss"] != a[-1]["loss"]


def test_same_seed_same_metrics(tmp_path):
    config = tiny(iters=40, interval=20)
    (first,) = train(config, [5], tmp_path / "a", RunOptions(device="cpu", progress=False))
    (second,) = train(config, [5], tmp_path / "b", RunOptions(device="cpu", progress=False))
    assert _records(first) == _records(second)
    assert first.metrics_path.read_text() != ""  # guards against comparing two empty logs


def test_short_training_drives_loss_down(tmp_path):
    config = tiny(iters=300, interval=100)
    (run,) = train(config, [1], tmp_path, RunOptions(device="cpu", progress=False))
    losses = [r["loss"] for r in run.read_metrics()]
    assert losses[0] > 2.5  # about ln(17) at initialization
    assert losses[-1] < 1.2
    summary = run.read_summary()
    assert summary["status"] == "complete" and summary["parameters"] == 1456


def test_dropout_members_are_independent_of_population(tmp_path):
    config = tiny(iters=20, interval=10)
    config = replace(config, model=replace(config.model, dropout=0.2))
    (alone,) = train(config, [2], tmp_path / "solo", RunOptions(device="cpu", progress=False))
    pop = train(config, [9, 2], tmp_path / "pop", RunOptions(device="cpu", progress=False))
    for ra, rb in zip(_records(alone), _records(pop[1])):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)


def test_run_directory_contents(tmp_path):
    (run,) = train(tiny(iters=40, interval=20), [4], tmp_path, RunOptions(device="cpu", progress=False))
    assert (run.path / "config.toml").is_file()
    assert run.checkpoint_path("best").is_file() and run.checkpoint_path("last").is_file()
    summary = json.loads(run.summary_path.read_text())
    for key in ("parameters", "best", "final", "timings", "environment", "checkpoints", "first_extrapolation_iter"):
        assert key in summary
    assert summary["environment"]["torch"] == torch.__version__
    assert summary["best"]["combined"] == max(r["combined"] for r in run.read_metrics())
    assert summary["final"]["iter"] == 40
    assert run.read_config().seed == 4


def test_a_fresh_start_refuses_to_delete_earlier_results_unless_told(tmp_path):
    config = tiny(iters=20, interval=20)
    (run,) = train(config, [4], tmp_path, RunOptions(device="cpu", progress=False))
    files = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    with pytest.raises(RunExists, match=r"already holds a complete run; pass --overwrite"):
        train(config, [3, 4], tmp_path, RunOptions(device="cpu", progress=False))
    assert {p: p.read_bytes() for p in files} == files  # nothing of the complete run was touched
    assert not (tmp_path / run.path.parent.name / "seed3" / "metrics.jsonl").exists()  # nor anything started

    summary = json.loads(run.summary_path.read_text())
    run.write_summary({**summary, "status": "running"})  # as if killed after a checkpoint
    with pytest.raises(RunExists, match=rf"interrupted run with a checkpoint; continue it with `toobig train --resume {run.path}`"):
        train(config, [4], tmp_path, RunOptions(device="cpu", progress=False))

    (again,) = train(config, [4], tmp_path, RunOptions(device="cpu", progress=False, overwrite=True))
    assert again.is_complete() and _records(again) == [
        {k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS}
        for line in files[run.metrics_path].decode().splitlines()
    ]


def test_window_sampling_is_uniform_and_member_local():
    keys = rng.member_keys([1, 2])
    draws = rng.randint(keys, rng.STREAM_BATCH, 1755, torch.arange(2000).view(1, -1, 1), torch.arange(882).view(1, 1, -1))
    counts = torch.bincount(draws[0].flatten(), minlength=1755).float()
    expected = 2000 * 882 / 1755
    assert abs(counts.mean() - expected) < 1e-6
    assert counts.std() / expected < 0.05  # Poisson noise is about 0.045
    solo = rng.randint(rng.member_keys([2]), rng.STREAM_BATCH, 1755, torch.arange(5).view(1, -1, 1), torch.arange(882).view(1, 1, -1))
    assert torch.equal(draws[1, :5], solo[0])


def test_learning_rate_schedule_matches_nanogpt():
    cfg = TrainConfig()
    assert learning_rate(0, cfg) == pytest.approx(1e-2 / 2001)
    assert learning_rate(1999, cfg) == pytest.approx(1e-2 * 2000 / 2001)
    assert learning_rate(2000, cfg) == pytest.approx(1e-2)
    assert learning_rate(13_500, cfg) == pytest.approx((1e-2 + 1e-4) / 2)
    assert learning_rate(25_000, cfg) == pytest.approx(1e-4)
    assert learning_rate(29_999, cfg) == 1e-4


def test_eval_points_linear_and_log():
    assert eval_points(30_000, EvalConfig()) == list(range(0, 30_001, 250))
    log = eval_points(1_500_000, EvalConfig(schedule="log", log_points=200))
    assert log[0] == 0 and log[-1] == 1_500_000 and len(log) < 200
    assert all(b > a for a, b in zip(log, log[1:]))


def test_clipping_equals_torch_clip_grad_norm_per_member():
    from toobig.engine.population import Population
    from toobig.presets import make_config

    config = make_config("arithmetic", "n14")
    pop = Population(config, [1, 2, 3], 17, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    scales = (0.001, 1.0, 50.0)  # one member far below the clip norm, two above it
    for p in pop.params.values():
        p.grad = torch.randn(p.shape, generator=gen) * torch.tensor(scales).view(-1, *([1] * (p.dim() - 1)))
    expected = []
    for k in range(3):
        alone = [p.grad[k].clone().requires_grad_(False) for p in pop.params.values()]
        holders = [torch.nn.Parameter(torch.zeros_like(g)) for g in alone]
        for h, g in zip(holders, alone):
            h.grad = g
        torch.nn.utils.clip_grad_norm_(holders, 1.0)
        expected.append([h.grad for h in holders])
    pop._clip_gradients(1.0)
    for k in range(3):
        for p, e in zip(pop.params.values(), expected[k]):
            assert torch.equal(p.grad[k], e)


def test_tensorboard_logging_writes_each_members_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = train(tiny(iters=40, interval=20), [1, 2], tmp_path, RunOptions(device="cpu", progress=False, tensorboard=True))
    for run in runs:
        events = EventAccumulator(str(run.path / "tensorboard"))
        events.Reload()
        losses = events.Scalars("eval/loss")
        assert [e.step for e in losses] == [0, 20, 40]
        logged = [r["loss"] for r in run.read_metrics()]
        assert [e.value for e in losses] == pytest.approx(logged)


def test_tensorboard_off_by_default(tmp_path):
    (run,) = train(tiny(iters=20, interval=20), [1], tmp_path, RunOptions(device="cpu", progress=False))
    assert not (run.path / "tensorboard").exists()


def _step_once(config, shards: int, compile: bool = False) -> tuple[dict, torch.Tensor]:
    from toobig.training import Prepared
    from toobig.engine.population import Population
    from toobig.engine.sampling import BatchSampler

    prepared = Prepared.from_config(config)
    pop = Population(config, [3, 8], prepared.tokenizer.vocab_size, torch.device("cpu"), batch_shards=shards, compile=compile)
    assert pop.compiled == compile
    sampler = BatchSampler(config, [prepared.stream()] * 2, pop.keys, torch.device("cpu"))
    for j, batch in sampler.batches(0, 3):  # the first step runs the shards in turn, the others on threads
        losses = pop.train_step(j, batch.x, batch.y)
    return {n: p.detach().clone() for n, p in pop.params.items()}, losses


def test_batch_shards_train_the_same_model_up_to_rounding():
    config = tiny(iters=10, interval=5)
    whole, whole_loss = _step_once(config, 1)
    sharded, sharded_loss = _step_once(config, 2)
    again, again_loss = _step_once(config, 2)
    torch.testing.assert_close(sharded_loss, whole_loss, rtol=1e-5, atol=1e-6)
    for name in whole:
        torch.testing.assert_close(sharded[name], whole[name], rtol=1e-4, atol=1e-5)
        assert torch.equal(sharded[name], again[name])  # threads never change the sum order
    assert torch.equal(sharded_loss, again_loss)


def test_sharded_dropout_masks_are_the_whole_batchs():
    from toobig.engine.population import MemberDropout

    keys = rng.member_keys([1, 2], torch.device("cpu"))
    ones = torch.ones(2, 6, 5)
    whole = MemberDropout(keys, 4, 0.5)(ones)
    halves = [MemberDropout(keys, 4, 0.5, shard=s)(ones[:, 3 * s : 3 * s + 3]) for s in range(2)]
    assert torch.equal(torch.cat(halves, dim=1), whole)


def test_dropout_traces_into_one_graph_for_every_iteration():
    """On CUDA dropout runs inside the compiled graph (the MLT trains with dropout 0.2). Traced
    here without the CPU's slow C++ build (aot_eager): one graph for three iterations, no
    break, and the eager masks (another iteration's masks would move the loss far off)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from toobig.training import Prepared
    from toobig.engine.population import Population, step_losses
    from toobig.engine.sampling import BatchSampler

    config = tiny(iters=10, interval=5)
    config = replace(config, model=replace(config.model, dropout=0.3))
    prepared = Prepared.from_config(config)
    pop = Population(config, [3, 8], prepared.tokenizer.vocab_size, torch.device("cpu"))
    batches = [b for _, b in BatchSampler(config, [prepared.stream()] * 2, pop.keys, torch.device("cpu")).batches(0, 3)]
    torch._dynamo.reset()
    counters.clear()
    traced = torch.compile(step_losses, backend="aot_eager", dynamic=False, fullgraph=True)
    losses = []
    for j, b in enumerate(batches):
        args = (pop.params, b.x, b.y, config.model, pop.keys, torch.tensor(j), 0)
        expected, got = step_losses(*args), traced(*args)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
        losses.append(expected)
    assert counters["stats"]["unique_graphs"] == 1
    assert not torch.equal(losses[0], step_losses(pop.params, batches[0].x, batches[0].y, config.model, pop.keys, torch.tensor(1), 0))
    # The CPU keeps dropout eager (its compiled graph takes minutes to build).
    assert not Population(config, [3], prepared.tokenizer.vocab_size, torch.device("cpu"), compile=True).compiled


def test_batch_shards_must_divide_the_batch(tmp_path):
    from toobig.config import ConfigError

    config = tiny(iters=10, interval=5)
    with pytest.raises(ConfigError, match="--batch-shards must divide train.batch_size"):
        train(config, [1], tmp_path, RunOptions(device="cpu", progress=False, batch_shards=config.train.batch_size + 1))
    assert not any(tmp_path.iterdir())


def test_compiled_training_follows_eager_training():
    config = tiny(iters=10, interval=5)
    eager, eager_loss = _step_once(config, 1)
    compiled, compiled_loss = _step_once(config, 2, compile=True)
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-4, atol=1e-5)
    for name in eager:
        torch.testing.assert_close(compiled[name], eager[name], rtol=1e-3, atol=1e-4)


def test_batch_shards_average_the_shard_gradients():
    from toobig.training import Prepared
    from toobig.engine.population import Population
    from toobig.engine.sampling import BatchSampler

    config = tiny(iters=10, interval=5)
    prepared = Prepared.from_config(config)
    grads = []
    for shards in (1, 2):
        pop = Population(config, [3, 8], prepared.tokenizer.vocab_size, torch.device("cpu"), batch_shards=shards)
        ((_, batch),) = BatchSampler(config, [prepared.stream()] * 2, pop.keys, torch.device("cpu")).batches(0, 1)
        x, y = batch.x, batch.y
        if shards == 1:
            pop._shard_losses(0, x, y, None, 0, pop.params)
        else:
            pop._sharded_losses(0, x, y, None)
        grads.append({n: p.grad.clone() for n, p in pop.params.items()})
    for name in grads[0]:  # the mean of the shard gradients, not their sum
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-7)
