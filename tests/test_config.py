"""Configuration: presets follow the paper, TOML round-trips, overrides and validation."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from toobig.config import ConfigError, apply_overrides, from_dict, parse_assignment, read_toml, to_dict, to_toml, validate
from toobig.presets import grokking_config, make_config


def test_paper_condition_matches_table_1():
    mini = make_config("arithmetic", "n28")
    assert (mini.model.n_layer, mini.model.n_head, mini.model.n_embd, mini.model.mlp_ratio) == (1, 1, 28, 1)
    assert (mini.train.learning_rate, mini.train.min_lr, mini.model.dropout, mini.train.weight_decay) == (1e-2, 1e-4, 0.0, 0.0)
    assert (mini.model.block_size, mini.train.batch_size) == (9, 882)
    mlt = make_config("capitals", "mlt")
    assert (mlt.model.n_layer, mlt.model.n_head, mlt.model.n_embd, mlt.model.mlp_ratio) == (6, 6, 384, 4)
    assert (mlt.train.learning_rate, mlt.train.min_lr, mlt.model.dropout, mlt.train.weight_decay) == (1e-5, 1e-6, 0.2, 0.1)
    assert (mlt.model.block_size, mlt.train.batch_size) == (24, 576)
    for c in (mini, mlt):
        t = c.train
        assert (t.max_iters, t.warmup_iters, t.lr_decay_iters, t.beta1, t.beta2, t.grad_clip) == (30_000, 2_000, 25_000, 0.9, 0.99, 1.0)
        assert (c.eval.interval, c.eval.num_samples, c.eval.temperature, c.eval.top_k) == (250, 10, 0.01, 10)


def test_controlled_condition_sets_dropout_0_and_weight_decay_01():
    for model in ("n14", "mlt"):
        c = make_config("combined", model, "controlled")
        assert (c.model.dropout, c.train.weight_decay) == (0.0, 0.1)
    assert make_config("combined", "mlt", "controlled").train.learning_rate == 1e-5


def test_grokking_preset():
    c = grokking_config()
    assert (c.train.learning_rate, c.train.min_lr, c.train.lr_decay_iters, c.train.max_iters) == (1e-6, 1e-7, 10_000_000, 1_500_000)
    assert c.model.dropout == 0.2 and c.eval.schedule == "log"


def test_toml_round_trip(tmp_path):
    config = replace(make_config("capitals", "n56", "controlled", seed=9), task=replace(make_config("capitals", "n56").task, held_out=((1, 2), (3, 4))))
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert from_dict(read_toml(path)) == config


def test_set_assignments_are_typed():
    assert parse_assignment("train.learning_rate=3e-3") == {"train": {"learning_rate": 0.003}}
    assert parse_assignment("eval.greedy=true") == {"eval": {"greedy": True}}
    assert parse_assignment("task.name=capitals") == {"task": {"name": "capitals"}}
    config = apply_overrides(make_config("arithmetic", "n14"), parse_assignment("model.n_embd=20"))
    assert config.model.n_embd == 20
    assert config.digest() != make_config("arithmetic", "n14").digest()


@pytest.mark.parametrize(
    "data,message",
    [
        ({"train": {"learning_rat": 1}}, "unknown config key 'train.learning_rat'"),
        ({"bogus": 1}, "unknown config key 'bogus'"),
        ({"train": {"max_iters": "ten"}}, "train.max_iters: expected an integer"),
        ({"version": 99}, "config version 99 is not supported"),
    ],
)
def test_bad_overrides_name_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(make_config("arithmetic", "n14"), data)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda c: replace(c, model=replace(c.model, n_embd=15, n_head=2)), "must be divisible by model.n_head"),
        (lambda c: replace(c, train=replace(c.train, learning_rate=0.0)), "train.learning_rate must be > 0"),
        (lambda c: replace(c, train=replace(c.train, max_iters=0)), "train.max_iters must be >= 1"),
        (lambda c: replace(c, task=replace(c.task, held_out=((5, 12),))), "outside the operand range 0..9"),
        (lambda c: replace(c, task=replace(c.task, name="poetry")), "unknown task 'poetry'"),
        (lambda c: replace(c, model=replace(c.model, block_size=4)), "model.block_size \\(4\\) is shorter than the arithmetic prompt"),
        (lambda c: replace(c, train=replace(c.train, precision="fp8")), "train.precision: unknown precision 'fp8'"),
    ],
)
def test_validation_names_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        validate(change(make_config("arithmetic", "n14")))


def test_any_width_of_the_one_layer_family():
    c = make_config("arithmetic", "n5")
    assert (c.model.n_layer, c.model.n_head, c.model.n_embd, c.model.mlp_ratio, c.model_name) == (1, 1, 5, 1, "n5")
    assert c.train.learning_rate == 1e-2


def test_unknown_preset_names():
    with pytest.raises(ConfigError, match="unknown model 'm15'"):
        make_config("arithmetic", "m15")
    with pytest.raises(ConfigError, match="unknown condition 'none'"):
        make_config("arithmetic", "n14", "none")


def test_malformed_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train\nmax_iters = 3")
    with pytest.raises(ConfigError, match="malformed TOML"):
        read_toml(path)


def test_to_dict_has_version_and_sections():
    data = to_dict(make_config("arithmetic", "n14"))
    assert data["version"] == 1 and set(data) >= {"task", "model", "train", "eval", "seed"}


def test_resolution_chooses_the_preset_once_from_every_source():
    from toobig.config import parse_assignment
    from toobig.presets import resolve

    controlled = resolve(sets=[parse_assignment("regularization=controlled")])
    assert controlled.label == "arithmetic-n14-controlled" and controlled.train.weight_decay == 0.1
    capitals = resolve(sets=[parse_assignment("task.name=capitals")])
    assert (capitals.label, capitals.model.block_size, capitals.train.batch_size) == ("capitals-n14-paper", 24, 576)
    # Explicit arguments win over --set, which wins over the file; a later --set over an earlier one.
    assert resolve("arithmetic", file_data={"task": {"name": "capitals"}}).model.block_size == 9
    assert resolve(file_data={"regularization": "controlled"}, sets=[{"regularization": "paper"}]).train.weight_decay == 0.0
    assert resolve(sets=[{"regularization": "controlled"}, {"regularization": "paper"}]).regularization == "paper"
    # A stored config.toml resolves to itself.
    from toobig.config import to_dict

    assert resolve(file_data=to_dict(controlled)) == controlled


def test_the_model_name_follows_the_architecture():
    from toobig.config import parse_assignment
    from toobig.presets import resolve

    assert resolve(model="n14", sets=[parse_assignment("model.n_embd=20")]).model_name == "n20"
    assert resolve(model="mlt", sets=[parse_assignment("model.n_layer=2")]).model_name == "L2H6C384R4"
    assert resolve(model="n28").model_name == "n28"


def test_a_stored_config_with_another_preset_keeps_only_its_own_changes():
    from toobig.config import to_dict
    from toobig.presets import make_config, resolve

    stored = to_dict(make_config("arithmetic", "n14"))
    stored["train"]["learning_rate"] = 3e-3
    controlled = resolve(file_data=stored, sets=[{"regularization": "controlled"}])
    assert (controlled.regularization, controlled.train.weight_decay, controlled.train.learning_rate) == ("controlled", 0.1, 3e-3)
    capitals = resolve(file_data=stored, sets=[{"task": {"name": "capitals"}}])
    assert (capitals.model.block_size, capitals.train.batch_size) == (24, 576)
    # Derived names of other architectures are names resolve accepts back.
    two_layers = resolve(sets=[{"model": {"n_layer": 2}}])
    assert two_layers.model_name == "L2H1C14R1" and resolve(file_data=to_dict(two_layers)) == two_layers


def test_iters_scales_the_schedule_unless_asked_to_keep_the_papers():
    from toobig.presets import make_config, resolve

    paper = make_config("arithmetic", "n14").train  # warmup 2,000, decay to 25,000 of 30,000
    scaled = resolve("arithmetic", "n14", max_iters=1500).train
    assert (scaled.max_iters, scaled.warmup_iters, scaled.lr_decay_iters) == (1500, 100, 1250)
    kept = resolve("arithmetic", "n14", max_iters=1500, schedule="paper").train
    assert (kept.max_iters, kept.warmup_iters, kept.lr_decay_iters) == (1500, paper.warmup_iters, paper.lr_decay_iters)
    # A value the user gives wins over the scaling.
    mine = resolve("arithmetic", "n14", sets=[{"train": {"warmup_iters": 7}}], max_iters=1500).train
    assert (mine.warmup_iters, mine.lr_decay_iters) == (7, 1250)
    assert resolve("arithmetic", "n14", max_iters=30_000) == make_config("arithmetic", "n14")


def test_iters_and_a_length_given_elsewhere_are_refused_unless_they_agree():
    """--iters against train.max_iters in the file, a --set or the values given: neither silently wins."""
    from toobig.config import to_dict
    from toobig.presets import make_config, resolve

    short = to_dict(resolve("arithmetic", "n14", max_iters=300))  # a stored config.toml of a 300-iteration run
    for kwargs, where in (
        ({"file_data": short}, "in the config file"),
        ({"sets": [{"train": {"max_iters": 5000}}]}, "among the --set values"),
        ({"overrides": {"train": {"max_iters": 3000}}}, "among the values given"),
    ):
        with pytest.raises(ConfigError, match=rf"iters 100 \(--iters\) and train.max_iters \d+ {re.escape(where)}"):
            resolve("arithmetic", "n14", max_iters=100, **kwargs)
    assert resolve("arithmetic", "n14", file_data=short, max_iters=300).train.max_iters == 300
    # A stored config at the preset's length does not set it: --iters scales it as usual.
    paper = resolve("arithmetic", "n14", file_data=to_dict(make_config("arithmetic", "n14")), max_iters=100).train
    assert (paper.max_iters, paper.warmup_iters) == (100, 7)
    # A file written by hand sets what it names, the preset's own length included.
    with pytest.raises(ConfigError, match="iters 100 .* and train.max_iters 30000 in the config file"):
        resolve(file_data={"task": {"name": "arithmetic"}, "train": {"max_iters": 30_000}}, max_iters=100)


@pytest.mark.parametrize("values,message", [
    ({"held_out": [(5.5, 7)]}, "task.held_out: expected a list of \\[a, b\\] pairs of integers"),
    ({"held_out": [(True, 7)]}, "task.held_out: expected a list of \\[a, b\\] pairs of integers"),
    ({"held_out": [(5, 7), (7, 5)]}, "task.held_out: a pair is given twice"),
    ({"held_out": [(3, 8)], "held_out_random": 2}, "a random held-out set replaces task.held_out"),
])
def test_held_out_pairs_are_integers_each_given_once_and_not_beside_a_random_set(values, message):
    import toobig

    with pytest.raises(ConfigError, match=message):
        toobig.config(**values)
    assert toobig.config(held_out=[(3.0, 8)]).task.held_out == ((3, 8),)


def test_require_seeds_takes_distinct_integers_in_range_only():
    from toobig.config import require_seeds

    assert require_seeds((3, 0, 7)) == [3, 0, 7]
    for bad in ([], [1, 1], [-1], [True], [1.0], "01", 5, [2**63]):
        with pytest.raises(ConfigError, match="seeds must be a non-empty list of distinct integers"):
            require_seeds(bad)
