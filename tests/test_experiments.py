"""Experiment presets: each table is the paper's configuration, field by field."""

from __future__ import annotations

import pytest

from toobig.config import ConfigError
from toobig.experiments import EXPERIMENTS, capacity_config, experiment_configs, parse_experiments, with_max_iters
from toobig.presets import make_config

TABLES = {
    "table2": ("arithmetic", "paper"), "table3": ("capitals", "paper"), "table4": ("combined", "paper"),
    "table5": ("arithmetic", "controlled"), "table6": ("capitals", "controlled"), "table7": ("combined", "controlled"),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_are_the_papers_configurations(name):
    task, condition = TABLES[name]
    configs = experiment_configs(name, [0, 1], include_mlt=True)
    assert [(c.model_name, c.seed) for c in configs] == [(m, s) for m in ("n14", "n28", "n56", "mlt") for s in (0, 1)]
    for c in configs:
        assert c == make_config(task, c.model_name, condition, c.seed)
        dropout, wd = (c.model.dropout, c.train.weight_decay)
        if condition == "controlled":
            assert (dropout, wd) == (0.0, 0.1)
        elif c.model_name == "mlt":
            assert (dropout, wd, c.train.learning_rate, c.train.min_lr) == (0.2, 0.1, 1e-5, 1e-6)
        else:
            assert (dropout, wd, c.train.learning_rate, c.train.min_lr) == (0.0, 0.0, 1e-2, 1e-4)


def test_mlt_rows_only_when_asked():
    assert {c.model_name for c in experiment_configs("table2", [0])} == {"n14", "n28", "n56"}
    assert experiment_configs("grokking", [0]) == []  # the grokking run is an MLT too
    assert [c.model_name for c in experiment_configs("grokking", [0, 1], include_mlt=True)] == ["mlt", "mlt"]


def test_grokking_is_appendix_b():
    (c,) = experiment_configs("grokking", [3], include_mlt=True)
    assert (c.train.max_iters, c.train.learning_rate, c.train.min_lr, c.train.lr_decay_iters) == (1_500_000, 1e-6, 1e-7, 10_000_000)
    assert (c.model.dropout, c.train.weight_decay, c.eval.schedule, c.task.name) == (0.2, 0.1, "log", "arithmetic")


def test_capacity_search_widths():
    c = capacity_config(3, seed=2)
    assert (c.model_name, c.model.n_embd, c.model.n_layer, c.model.n_head, c.model.mlp_ratio, c.seed) == ("n3", 3, 1, 1, 1, 2)
    assert EXPERIMENTS["capacity"].task == "arithmetic"


def test_shortened_runs_scale_the_schedule():
    c = with_max_iters(make_config("arithmetic", "n14"), 3000)
    assert (c.train.max_iters, c.train.warmup_iters, c.train.lr_decay_iters) == (3000, 200, 2500)
    assert with_max_iters(make_config("arithmetic", "n14"), None) == make_config("arithmetic", "n14")


def test_parse_experiments():
    assert parse_experiments("table2, table5") == ["table2", "table5"]
    assert parse_experiments("all") == list(EXPERIMENTS)
    with pytest.raises(ConfigError, match="unknown experiment 'table9'"):
        parse_experiments("table9")
