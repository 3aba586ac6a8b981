"""The paper's models, data shapes and regularization conditions (Table 1, reference README)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import (
    ARITHMETIC_TASKS, TASK_NAMES, ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig, apply_overrides, to_dict, validate,
)

MODEL_NAMES = ("n14", "n28", "n56", "mlt")

# Architecture only; block_size comes from the task below.
_ARCHITECTURES = {
    "n14": dict(n_layer=1, n_head=1, n_embd=14, mlp_ratio=1),
    "n28": dict(n_layer=1, n_head=1, n_embd=28, mlp_ratio=1),
    "n56": dict(n_layer=1, n_head=1, n_embd=56, mlp_ratio=1),
    "mlt": dict(n_layer=6, n_head=6, n_embd=384, mlp_ratio=4),
}

# (block_size, batch_size): 882 x 9 for arithmetic, 576 x 24 for capitals and combined (Section 3.1).
# (block size, batch size): the paper's per task; a pairs task starts from the capitals shape.
_DATA_SHAPES = {"arithmetic": (9, 882), "capitals": (24, 576), "combined": (24, 576), "pairs": (24, 576)}

# Table 1: the "paper" condition. Mini models: lr 1e-2 -> 1e-4, no dropout, no weight decay.
# MLT: lr 1e-5 -> 1e-6, dropout 0.2, weight decay 0.1.
_PAPER_HYPERS = {
    "mini": dict(learning_rate=1e-2, min_lr=1e-4, dropout=0.0, weight_decay=0.0),
    "mlt": dict(learning_rate=1e-5, min_lr=1e-6, dropout=0.2, weight_decay=0.1),
}


def _family(model: str) -> str:
    return "mlt" if model == "mlt" else "mini"


def architecture(model: str) -> dict[str, int]:
    """n14/n28/n56/mlt, or any width n<N> of the one-layer, one-head family (the capacity search)."""
    if model in _ARCHITECTURES:
        return dict(_ARCHITECTURES[model])
    match = re.fullmatch(r"n([1-9]\d*)", model)
    if match is not None:
        return dict(n_layer=1, n_head=1, n_embd=int(match.group(1)), mlp_ratio=1)
    # The names derived_model_name gives other architectures, e.g. L2H1C14R1.
    match = re.fullmatch(r"L([1-9]\d*)H([1-9]\d*)C([1-9]\d*)R([1-9]\d*)", model)
    if match is not None:
        return dict(zip(("n_layer", "n_head", "n_embd", "mlp_ratio"), map(int, match.groups())))
    raise ConfigError(
        f"--model: unknown model {model!r} (allowed: {', '.join(MODEL_NAMES)}, n<N> for width N, or L<layers>H<heads>C<width>R<MLP ratio>)"
    )


def make_config(task: str, model: str, regularization: str = "paper", seed: int = 1337) -> RunConfig:
    """The fully resolved configuration of one of the paper's runs."""
    if task not in TASK_NAMES:
        raise ConfigError(f"--task: unknown task {task!r} (allowed: {', '.join(TASK_NAMES)})")
    arch = architecture(model)
    hypers = dict(_PAPER_HYPERS[_family(model)])
    if regularization == "controlled":
        # Appendix A: every model gets dropout 0.0 and weight decay 0.1.
        hypers.update(dropout=0.0, weight_decay=0.1)
    elif regularization != "paper":
        raise ConfigError(
            f"--regularization: unknown condition {regularization!r} (allowed: paper, controlled)"
        )
    block_size, batch_size = _DATA_SHAPES[task]
    config = RunConfig(
        model_name=model,
        regularization=regularization,
        seed=seed,
        task=TaskConfig(name=task),
        model=ModelConfig(**arch, block_size=block_size, dropout=hypers["dropout"]),
        train=TrainConfig(
            batch_size=batch_size,
            learning_rate=hypers["learning_rate"],
            min_lr=hypers["min_lr"],
            weight_decay=hypers["weight_decay"],
        ),
    )
    return validate(config)


# How --iters treats the learning-rate schedule's milestones (see resolve).
SCHEDULES = ("scaled", "paper")


def with_max_iters(config: RunConfig, max_iters: int | None) -> RunConfig:
    """The run at another length (shorter for a quick look); the schedule's milestones (warmup,
    end of the cosine decay) move in proportion."""
    if max_iters is None or max_iters == config.train.max_iters:
        return config
    scale = max_iters / config.train.max_iters
    train = replace(
        config.train,
        max_iters=max_iters,
        warmup_iters=round(config.train.warmup_iters * scale),
        lr_decay_iters=max(1, round(config.train.lr_decay_iters * scale)),
    )
    return validate(replace(config, train=train))


def _require_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ConfigError(f"--schedule: unknown schedule {schedule!r} (allowed: {', '.join(SCHEDULES)})")


def schedule_note(train: TrainConfig, schedule: str = "scaled") -> str | None:
    """A sentence where the learning-rate schedule does not fit the run's length (the peak is never
    reached, or the decay never ends), as when train.max_iters alone shortens a preset; else None.
    None with schedule="paper": whoever asked for the preset's schedule kept it on purpose."""
    _require_schedule(schedule)
    if schedule == "paper":
        return None
    if train.warmup_iters >= train.max_iters:
        return (f"train.warmup_iters {train.warmup_iters:,} >= train.max_iters {train.max_iters:,}: the learning rate "
                "never reaches its peak (--iters, or a sweep file's iters, scales the warmup with the length)")
    if train.lr_decay_iters > train.max_iters:
        return (f"train.lr_decay_iters {train.lr_decay_iters:,} > train.max_iters {train.max_iters:,}: the run ends "
                "before its learning rate has decayed (--iters, or a sweep file's iters, scales the decay with the length)")
    return None


def grokking_config(seed: int = 1337, max_iters: int = 1_500_000) -> RunConfig:
    """Appendix B: MLT on arithmetic, lr 1e-6 -> 1e-7 over 1e7 iterations, log-spaced evaluation."""
    base = make_config("arithmetic", "mlt", "paper", seed)
    return validate(
        replace(
            base,
            train=replace(base.train, learning_rate=1e-6, min_lr=1e-7, lr_decay_iters=10_000_000, max_iters=max_iters),
            eval=replace(base.eval, schedule="log"),
        )
    )


def variant_tag(config: RunConfig) -> str:
    """A readable tag of how a run departs from its preset's protocol ("" for the paper's):
    e.g. "order-seed", "heldout-3x8", "wd1.0-100000it". Only for names: the digest beside it
    keeps every configuration apart."""
    parts = []
    t, tr = config.task, config.train
    if t.name == "pairs" and t.pairs_file:
        parts.append(re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(t.pairs_file).stem).strip("._") or "pairs")
    if t.line_order != "fixed":
        parts.append(f"order-{t.line_order}")
    if tr.sampling != "windows":
        parts.append(tr.sampling)
    if tr.loss_on != "all":
        parts.append(f"loss-{tr.loss_on}")
    if config.eval.selection != "combined":
        parts.append("select-id" if config.eval.selection == "in_distribution" else f"select-{config.eval.selection}")
    if t.held_out_random:
        parts.append(f"heldout-random{t.held_out_random}" + (f"-s{t.held_out_seed}" if t.held_out_seed >= 0 else ""))
    elif t.held_out != TaskConfig().held_out and t.name in ARITHMETIC_TASKS:
        pairs = "+".join(f"{a}x{b}" for a, b in t.held_out) if len(t.held_out) <= 3 else f"{len(t.held_out)}pairs"
        parts.append(f"heldout-{pairs or 'none'}")
    try:
        preset = make_config(t.name, config.model_name, config.regularization)
    except ConfigError:
        preset = None
    if preset is not None:
        # The values a sweep most often varies, readable in the name (e.g. lr0.003-bs256).
        for short, value, preset_value in (
            ("lr", tr.learning_rate, preset.train.learning_rate),
            ("minlr", tr.min_lr, preset.train.min_lr),
            ("wd", tr.weight_decay, preset.train.weight_decay),
            ("dropout", config.model.dropout, preset.model.dropout),
            ("bs", tr.batch_size, preset.train.batch_size),
            ("block", config.model.block_size, preset.model.block_size),
            ("data", t.data_seed, preset.task.data_seed),
        ):
            if value != preset_value:
                parts.append(f"{short}{value:g}")
        if tr.max_iters != preset.train.max_iters:
            parts.append(f"{tr.max_iters}it")
    return "-".join(parts)


# The configuration keys that choose a preset: resolved first, from every source at once.
PRESET_KEYS = (("task", "name"), ("", "model_name"), ("", "regularization"))


def _preset_key(data: Mapping[str, Any], section: str, name: str) -> Any:
    table = data.get(section) if section else data
    return table.get(name) if isinstance(table, Mapping) else None


def _without_preset_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for section, name in PRESET_KEYS:
        table = out.get(section) if section else out
        if isinstance(table, dict):
            table.pop(name, None)
    return out


def resolve(
    task: str | None = None,
    model: str | None = None,
    regularization: str | None = None,
    file_data: Mapping[str, Any] | None = None,
    sets: Sequence[Mapping[str, Any]] = (),
    overrides: Mapping[str, Any] | None = None,
    max_iters: int | None = None,
    schedule: str = "scaled",
) -> RunConfig:
    """The one way a configuration is put together (CLI, sweeps and the Python API).

    `max_iters` (the CLI's --iters) sets the run's length; with schedule "scaled" the preset's
    warmup and end of decay move in proportion (as `reproduce --max-iters` does), so a short run
    still reaches its peak rate; with "paper" they keep their absolute iterations. Warmup and
    decay given in the file, `sets` or `overrides` win over both; a train.max_iters given there
    as well as `max_iters` is refused (ConfigError), unless they agree (a run's stored config.toml
    gives one only where it is not its preset's).

    The preset is chosen once, from the task, model and regularization given anywhere (explicit
    arguments win over `sets`, which win over the file); then the file's values, each `--set`
    and the explicit `overrides` (nested dicts as in config.toml) are applied in that order. So
    `--set regularization=controlled` gets the controlled preset's weight decay, and
    `--set task.name=capitals` the capitals block size. The model's name is then derived from
    its architecture: `--set model.n_embd=20` on n14 is named n20."""
    file_data = dict(file_data or {})
    sources = [*reversed(list(sets)), file_data]  # later --set wins over earlier ones
    chosen: dict[tuple[str, str], Any] = {}
    for (section, name), explicit in zip(PRESET_KEYS, (task, model, regularization)):
        value = explicit
        for source in sources:
            if value is None:
                value = _preset_key(source, section, name)
        chosen[section, name] = value
    config = make_config(
        str(chosen["task", "name"] or "arithmetic"),
        str(chosen["", "model_name"] or "n14"),
        str(chosen["", "regularization"] or "paper"),
    )
    _require_schedule(schedule)
    if max_iters is not None:
        if max_iters < 1:
            raise ConfigError(f"--iters must be >= 1, got {max_iters}")
        if schedule == "scaled":
            config = with_max_iters(config, max_iters)
        else:
            config = replace(config, train=replace(config.train, max_iters=max_iters))
    file_changes = _deviations(file_data)
    if max_iters is not None:
        sources = {
            # A run's stored config.toml (it has a version) holds every value: its length counts
            # only where it is not its preset's. A file written by hand sets what it names.
            "in the config file": file_changes if "version" in file_data else file_data,
            "among the --set values (a sweep file's [set] and [grid])": _merged(sets),
            "among the values given": overrides or {},
        }
        for where, data in sources.items():
            length = data.get("train", {}).get("max_iters") if isinstance(data.get("train"), Mapping) else None
            if length is not None and length != max_iters:
                # Each sets the run's length, and which should win is not for us to guess.
                raise ConfigError(f"iters {max_iters} (--iters) and train.max_iters {length} {where} both set the "
                                  "run's length: give one")
    for data in (file_changes, *sets, overrides or {}):
        config = apply_overrides(config, _without_preset_keys(data))
    # A relative file is stored as the absolute path it names from the current folder (resolved as
    # the CLI's --corpus and --pairs are), so that the run can be evaluated or resumed from
    # anywhere, and by a Ray worker. An absolute one is kept as given: its digest stays.
    files = {
        k: str(Path(v).resolve())
        for k in ("corpus_file", "pairs_file")
        if (v := getattr(config.task, k)) and not os.path.isabs(v)
    }
    config = replace(config, task=replace(config.task, **files))
    return validate(replace(config, model_name=derived_model_name(config)))


def _merged(sets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The --set values as one nested dict, a later one winning."""
    merged: dict[str, Any] = {}
    for data in sets:
        for key, value in data.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def _deviations(file_data: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a config file that differ from the file's own preset. A stored config.toml
    holds every value; applied as such, they would undo a preset chosen by --set or a flag."""
    keys = [_preset_key(file_data, section, name) for section, name in PRESET_KEYS]
    if not any(keys):
        return dict(file_data)
    try:
        own = to_dict(make_config(*(str(k or d) for k, d in zip(keys, ("arithmetic", "n14", "paper")))))
    except ConfigError:
        return dict(file_data)
    out: dict[str, Any] = {}
    for key, value in file_data.items():
        if isinstance(value, Mapping) and isinstance(own.get(key), Mapping):
            changed = {k: v for k, v in value.items() if own[key].get(k) != _plain(v)}
            if changed:
                out[key] = changed
        elif own.get(key) != value or key in ("model_name", "regularization"):
            out[key] = value
    return out


def _plain(value: Any) -> Any:
    """TOML gives lists where to_dict gives lists too; tuples (from Python callers) compare as lists."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def derived_model_name(config: RunConfig) -> str:
    """The configuration's model name if its architecture is that model's; otherwise a name
    derived from the architecture (n<N> for the one-layer family, else L<layers>H<heads>C<width>R<ratio>)."""
    m = config.model
    arch = dict(n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd, mlp_ratio=m.mlp_ratio)
    try:
        if architecture(config.model_name) == arch:
            return config.model_name
    except ConfigError:
        pass
    if (m.n_layer, m.n_head, m.mlp_ratio) == (1, 1, 1):
        return f"n{m.n_embd}"
    named = next((name for name in MODEL_NAMES if architecture(name) == arch), None)
    return named or f"L{m.n_layer}H{m.n_head}C{m.n_embd}R{m.mlp_ratio}"
