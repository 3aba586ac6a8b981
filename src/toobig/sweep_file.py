"""Sweep files: a TOML grid over tasks, models, conditions, seeds and any config field.

```toml
[sweep]
tasks = ["arithmetic", "capitals"]
models = ["n14", "n28"]
regularizations = ["paper", "controlled"]   # optional, default ["paper"]
seeds = [0, 1, 2]                            # or num_seeds = 5 (seeds 0..4); default [1337]
iters = 2000                                 # optional: each run's length, warmup and decay scaled
[grid]                                       # optional: each key a list; the cartesian product
"train.learning_rate" = [1e-2, 3e-3]
[set]                                        # optional: fixed overrides for every run
"train.weight_decay" = 0.1
```

Each run starts from the preset of its (task, model, regularization) at `iters` iterations (as
`toobig train --iters`: the warmup and the end of the decay move in proportion), then gets [set],
then its point of [grid]. "train.max_iters" in [set] or [grid] changes the length alone, keeping
the preset's warmup and decay iterations. Keys of [grid] and [set] are the `section.name` fields of `toobig.config`,
written quoted ("train.max_iters") or as sub-tables ([set.train]). A relative task.corpus_file or
task.pairs_file names a file from the current folder (as on the command line), not from the
sweep file's. Runs that differ only in their seed form one population (see
`toobig.executors.plan_jobs`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Mapping

from .config import REGULARIZATIONS, TASK_NAMES, ConfigError, RunConfig, apply_overrides, read_toml, require_seeds, validate
from .presets import MODEL_NAMES, resolve

_TABLES = ("sweep", "grid", "set")
_SWEEP_KEYS = ("tasks", "models", "regularizations", "seeds", "num_seeds", "iters")
# Chosen in [sweep]: a preset depends on them, so overriding them afterwards would mix presets.
_RESERVED = {
    "seed": "[sweep] seeds",
    "model_name": "[sweep] models",
    "regularization": "[sweep] regularizations",
    "task.name": "[sweep] tasks",
}
DEFAULT_SEED = RunConfig().seed


def load_sweep(path: str | Path) -> list[RunConfig]:
    """Every run of the sweep file at `path`, validated; ConfigError names the bad field."""
    return parse_sweep(read_toml(path), source=str(path))


def parse_sweep(data: Mapping[str, Any], source: str = "sweep") -> list[RunConfig]:
    """Every run described by a parsed sweep file (a nested dict), in a stable order."""
    try:
        return _expand(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _expand(data: Mapping[str, Any]) -> list[RunConfig]:
    for key, value in data.items():
        if key not in _TABLES:
            raise ConfigError(f"unknown table [{key}] (allowed: {', '.join(f'[{t}]' for t in _TABLES)})")
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{key}' must be a table ([{key}])")
    if "sweep" not in data:
        raise ConfigError("missing table [sweep] (with tasks = [...] and models = [...])")
    head = data["sweep"]
    for key in head:
        if key not in _SWEEP_KEYS:
            raise ConfigError(f"unknown key 'sweep.{key}' (allowed: {', '.join(_SWEEP_KEYS)})")
    tasks = _names(head, "tasks", TASK_NAMES)
    models = _names(head, "models", MODEL_NAMES, any_width=True)
    regularizations = _names(head, "regularizations", REGULARIZATIONS, default=["paper"])
    seeds = _seeds(head)
    iters = head.get("iters")
    if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int) or iters < 1):
        raise ConfigError(f"sweep.iters must be an integer >= 1, got {iters!r}")
    fixed = _flatten(data.get("set", {}), "set")
    grid = _flatten(data.get("grid", {}), "grid")
    for key in sorted(fixed.keys() & grid.keys()):
        raise ConfigError(f"'{key}' is in both [grid] and [set]; keep it in one")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid '{key}' must be a non-empty list of values, got {values!r}")
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]

    configs: list[RunConfig] = []
    seen: set[tuple[str, int]] = set()
    for task, model, regularization in itertools.product(tasks, models, regularizations):
        for point in points:
            config = resolve(task, model, regularization, sets=[_nest(fixed), _nest(point)], max_iters=iters)
            for seed in seeds:
                member = validate(apply_overrides(config, {"seed": seed}))
                key = (member.digest(), seed)
                if key not in seen:  # a grid with repeated values would train a run twice
                    seen.add(key)
                    configs.append(member)
    return configs


def _names(
    head: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: list[str] | None = None, any_width: bool = False
) -> list[str]:
    choices = ", ".join(allowed) + (", n<N> for width N" if any_width else "")
    if key not in head:
        if default is None:
            raise ConfigError(f"sweep.{key} is required (a list of: {choices})")
        return default
    value = head[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"sweep.{key} must be a non-empty list of names ({choices}), got {value!r}")
    for name in value:
        if any_width and re.fullmatch(r"n[1-9]\d*", name):
            continue
        if name not in allowed:
            raise ConfigError(f"sweep.{key}: unknown name {name!r} (allowed: {choices})")
    return list(dict.fromkeys(value))


def _seeds(head: Mapping[str, Any]) -> list[int]:
    if "seeds" in head and "num_seeds" in head:
        raise ConfigError("sweep.seeds and sweep.num_seeds are mutually exclusive")
    if "num_seeds" in head:
        k = head["num_seeds"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"sweep.num_seeds must be an integer >= 1, got {k!r}")
        return list(range(k))
    return require_seeds(head.get("seeds", [DEFAULT_SEED]), "sweep.seeds")


def _flatten(table: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": x}} and {"train.lr": x} both become {"train.lr": x}."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, where, prefix=f"{name}."))
            continue
        if name in _RESERVED:
            raise ConfigError(f"[{where}] cannot set '{name}'; use {_RESERVED[name]}")
        if name.count(".") > 1:
            raise ConfigError(f"[{where}] key '{name}' must look like section.name (e.g. train.max_iters)")
        if name in out:
            raise ConfigError(f"[{where}] sets '{name}' twice")
        out[name] = value
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"train.lr": x, "seed": 1} -> {"train": {"lr": x}, "seed": 1}, the shape apply_overrides reads."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, name = key.rpartition(".")
        if section:
            nested.setdefault(section, {})[name] = value
        else:
            nested[key] = value
    return nested
