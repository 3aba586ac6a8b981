"""Sweep files: the grid they describe, and one clear line for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from toobig.config import ConfigError, validate
from toobig.presets import make_config
from toobig.sweep_file import load_sweep

EXAMPLE = """
[sweep]
tasks = ["arithmetic", "capitals"]
models = ["n14", "n28"]
regularizations = ["paper", "controlled"]
seeds = [0, 1, 2]

[grid]
"train.learning_rate" = [1e-2, 3e-3]

[set]
"train.max_iters" = 2000
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_example_expands_to_the_full_grid(tmp_path):
    configs = load_sweep(_write(tmp_path, EXAMPLE))
    assert len(configs) == 2 * 2 * 2 * 2 * 3
    assert all(validate(c) is c for c in configs)
    assert {c.task.name for c in configs} == {"arithmetic", "capitals"}
    assert {c.model_name for c in configs} == {"n14", "n28"}
    assert {c.regularization for c in configs} == {"paper", "controlled"}
    assert {c.seed for c in configs} == {0, 1, 2}
    assert {c.train.learning_rate for c in configs} == {1e-2, 3e-3}
    assert {c.train.max_iters for c in configs} == {2000}
    # seeds of one grid point share a digest (one population); grid points never do
    assert len({c.digest() for c in configs}) == 2 * 2 * 2 * 2
    # everything else comes from the preset
    one = next(c for c in configs if c.label == "capitals-n28-controlled" and c.train.learning_rate == 3e-3 and c.seed == 2)
    preset = make_config("capitals", "n28", "controlled", seed=2)
    assert one.model == preset.model and one.eval == preset.eval
    assert one.train.weight_decay == preset.train.weight_decay == 0.1
    assert one.train.batch_size == preset.train.batch_size


def test_sub_tables_equal_quoted_keys_and_defaults(tmp_path):
    quoted = load_sweep(_write(tmp_path, '[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nnum_seeds = 2\n'
                                         '[grid]\n"eval.interval" = [50, 100]\n[set]\n"train.max_iters" = 300\n'))
    tables = load_sweep(_write(tmp_path, '[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nseeds = [0, 1]\n'
                                         '[grid.eval]\ninterval = [50, 100]\n[set.train]\nmax_iters = 300\n'))
    assert quoted == tables
    assert [(c.regularization, c.eval.interval, c.seed) for c in quoted] == [
        ("paper", 50, 0), ("paper", 50, 1), ("paper", 100, 0), ("paper", 100, 1)
    ]
    minimal = load_sweep(_write(tmp_path, '[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n'))
    assert minimal == [make_config("arithmetic", "n14")]  # seed 1337, like `toobig train`


def test_repeated_values_do_not_train_a_run_twice(tmp_path):
    configs = load_sweep(_write(tmp_path, '[sweep]\ntasks = ["arithmetic", "arithmetic"]\nmodels = ["n14"]\n'
                                          'seeds = [4]\n[grid]\n"train.min_lr" = [1e-4, 1e-4, 1e-5]\n'))
    assert [c.train.min_lr for c in configs] == [1e-4, 1e-5]


@pytest.mark.parametrize(
    "text, message",
    [
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[set]\n"train.learnin_rate" = 1\n', "unknown config key 'train.learnin_rate'"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[set]\n"train.max_iters" = "many"\n', "train.max_iters: expected an integer"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[grid]\n"train.max_iters" = [100, 0]\n', "train.max_iters must be >= 1, got 0"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[grid]\n"train.max_iters" = 100\n', "grid 'train.max_iters' must be a non-empty list"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[grid]\n"model.n_embd" = [14]\n[set]\n"model.n_embd" = 14\n', "'model.n_embd' is in both [grid] and [set]"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[set]\nseed = 3\n', "cannot set 'seed'; use [sweep] seeds"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[grid]\n"task.name" = ["capitals"]\n', "cannot set 'task.name'; use [sweep] tasks"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n[set]\n"train.a.b" = 1\n', "must look like section.name"),
        ('[sweep]\ntasks = ["algebra"]\nmodels = ["n14"]\n', "sweep.tasks: unknown name 'algebra'"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = "n14"\n', "sweep.models must be a non-empty list"),
        ('[sweep]\ntasks = ["arithmetic"]\n', "sweep.models is required"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nregularizations = ["none"]\n', "sweep.regularizations: unknown name 'none'"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nseeds = [1, 1]\n', "sweep.seeds must be a non-empty list of distinct"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nseeds = [1]\nnum_seeds = 2\n', "mutually exclusive"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nnum_seeds = 0\n', "sweep.num_seeds must be an integer >= 1"),
        ('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nworkers = 4\n', "unknown key 'sweep.workers'"),
        ('[sweeps]\ntasks = ["arithmetic"]\n', "unknown table [sweeps]"),
        ('[grid]\n"train.max_iters" = [1]\n', "missing table [sweep]"),
        ('[sweep]\ntasks = ["arithmetic"\n', "malformed TOML"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_sweep(tmp_path / "nope.toml")


def test_iters_sets_each_runs_length_with_the_schedule_scaled_and_max_iters_keeps_it(tmp_path):
    head = '[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\n'
    (scaled,) = load_sweep(_write(tmp_path, head + "iters = 300\n"))
    assert (scaled.train.max_iters, scaled.train.warmup_iters, scaled.train.lr_decay_iters) == (300, 20, 250)
    (kept,) = load_sweep(_write(tmp_path, head + '[set]\n"train.max_iters" = 300\n'))
    assert (kept.train.max_iters, kept.train.warmup_iters, kept.train.lr_decay_iters) == (300, 2000, 25000)
    with pytest.raises(ConfigError, match="iters 300 .* and train.max_iters 400 .* both set the run's length"):
        load_sweep(_write(tmp_path, head + 'iters = 300\n[grid]\n"train.max_iters" = [300, 400]\n'))
    for bad in ("0", "1.5", "true", '"300"'):
        with pytest.raises(ConfigError, match="sweep.iters must be an integer >= 1"):
            load_sweep(_write(tmp_path, head + f"iters = {bad}\n"))
