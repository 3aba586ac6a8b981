"""Typed, frozen run configuration; TOML in and out; validation with one clear message."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import tomli_w

TASK_NAMES = ("arithmetic", "capitals", "combined", "pairs")
# The tasks with operand pairs (and so held_out pairs and arithmetic prompts).
ARITHMETIC_TASKS = ("arithmetic", "combined")
REGULARIZATIONS = ("paper", "controlled")
PRECISIONS = ("auto", "float32", "bfloat16")
# Protocol knobs beyond the paper (the first value of each is the paper's).
LINE_ORDERS = ("fixed", "seed")
SAMPLINGS = ("windows", "reshuffle", "lines")
LOSS_TARGETS = ("all", "answers")
SELECTIONS = ("combined", "in_distribution")
CONFIG_VERSION = 1


class ConfigError(ValueError):
    """A bad configuration value, file or flag; the message names the field."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "arithmetic"
    operand_max: int = 9
    # Unordered operand pairs whose four lines (a+b, b+a, a-b, b-a) are withheld from training.
    held_out: tuple[tuple[int, int], ...] = ((5, 7),)
    # A corpus file loaded as-is (e.g. the paper's exact arithmetic.txt); empty = generate it.
    corpus_file: str = ""
    # Seed of the line shuffle of a generated corpus (the reference files have a fixed shuffled order).
    data_seed: int = 1337
    # "fixed": every run trains on the data_seed order (paper); "seed": each run shuffles the
    # lines with its own seed, so no two seeds share a line order.
    line_order: str = "fixed"
    # > 0: hold out this many random unordered pairs of distinct operands instead of `held_out`,
    # drawn with held_out_seed (-1: the run's own seed, a different set for every seed).
    held_out_random: int = 0
    held_out_seed: int = -1
    # The pairs task's file of prompt<TAB>answer[<TAB>held_out] lines (toobig/tasks/pairs.py).
    pairs_file: str = ""


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int = 1
    n_head: int = 1
    n_embd: int = 14
    mlp_ratio: int = 1
    block_size: int = 9
    dropout: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    max_iters: int = 30_000
    batch_size: int = 882
    learning_rate: float = 1e-2
    min_lr: float = 1e-4
    warmup_iters: int = 2_000
    lr_decay_iters: int = 25_000
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    grad_clip: float = 1.0
    # Save last.safetensors (with optimizer state) every this many evaluations.
    checkpoint_every: int = 1
    # "auto": bfloat16 autocast on CUDA (as the reference ran), float32 on CPU.
    precision: str = "auto"
    # "windows": random windows over the fixed stream (paper); "reshuffle": every iteration
    # draws a fresh line order from the run's seed and samples windows over that stream;
    # "lines": every window starts at the start of an independently drawn line.
    sampling: str = "windows"
    # Loss on "all" characters (paper) or only on "answers": what follows '=' through '>'.
    loss_on: str = "all"


@dataclass(frozen=True)
class EvalConfig:
    interval: int = 250
    # "linear": every `interval` iterations; "log": `log_points` log-spaced points instead.
    schedule: str = "linear"
    log_points: int = 200
    num_samples: int = 10
    temperature: float = 0.01
    top_k: int = 10
    greedy: bool = False
    # Count like the reference's logs: 910 prompts x samples per operation (b = 0 skipped for a >= 1).
    paper_counts: bool = False
    # Use the reference's mismatched prompts "Capital of USA is " / "Capital of UK is ".
    reference_prompts: bool = False
    # Which evaluation is "best": the highest "combined" score (paper; it counts the held-out
    # samples) or the highest "in_distribution" score (held-out samples excluded).
    selection: str = "combined"


@dataclass(frozen=True)
class RunConfig:
    model_name: str = "n14"
    regularization: str = "paper"
    seed: int = 1337
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def label(self) -> str:
        return f"{self.task.name}-{self.model_name}-{self.regularization}"

    def without_seed(self) -> "RunConfig":
        return replace(self, seed=0)

    def digest(self) -> str:
        """Short hash of everything but the seed: members of one population share it. (The
        corpus text's own hash is kept in summary.json and checked on resume.) Fields added
        after version 1 count only when they differ from their default, so the digests (and
        directory names) of earlier runs stay what they were."""
        data = to_dict(self.without_seed())
        for (section, name), default in ADDED_FIELDS.items():
            if data[section][name] == default:
                del data[section][name]
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    @property
    def trains_on_windows(self) -> bool:
        """Whether training minimizes the loss over windows at every offset of a stream of the
        corpus lines, the loss that is evaluated and that the loss floors bound. Not so with
        whole-line batches (windows start at line starts only) or the answer-only loss."""
        return self.train.sampling != "lines" and self.train.loss_on == "all"

    @property
    def paper_protocol(self) -> bool:
        """True when none of the protocol knobs beyond the paper is set."""
        return all(getattr(getattr(self, s), n) == d for (s, n), d in ADDED_FIELDS.items())


def protocol_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol knobs that a config (a nested dict as in config.toml) sets away from the
    paper's, as {"section.name": value}; {} under the paper's protocol."""
    changes = {}
    for (section, name), default in ADDED_FIELDS.items():
        value = data.get(section, {}).get(name, default)
        if value != default:
            changes[f"{section}.{name}"] = value
    return changes


# Fields added after CONFIG_VERSION 1, with their defaults (the paper's protocol).
ADDED_FIELDS: dict[tuple[str, str], Any] = {
    ("task", "line_order"): "fixed",
    ("task", "held_out_random"): 0,
    ("task", "held_out_seed"): -1,
    ("task", "pairs_file"): "",
    ("train", "sampling"): "windows",
    ("train", "loss_on"): "all",
    ("eval", "selection"): "combined",
}


_SECTIONS = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
_TOP_LEVEL = ("model_name", "regularization", "seed")


def to_dict(config: RunConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    data["task"]["held_out"] = [list(p) for p in config.task.held_out]
    return {"version": CONFIG_VERSION, **data}


def to_toml(config: RunConfig) -> str:
    return tomli_w.dumps(to_dict(config))


def _coerce(section: str, name: str, expected: Any, value: Any) -> Any:
    where = f"{section}.{name}" if section else name
    if name == "held_out":
        try:
            pairs = tuple((a, b) for a, b in value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a list of [a, b] pairs, got {value!r}") from None
        if not all(_is_int(x) or (isinstance(x, float) and x.is_integer()) for pair in pairs for x in pair):
            raise ConfigError(f"{where}: expected a list of [a, b] pairs of integers, got {value!r}")
        return tuple((int(a), int(b)) for a, b in pairs)
    kind = type(expected)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_seeds(seeds: Any, what: str = "seeds") -> list[int]:
    """The seeds as a list, or ConfigError: a non-empty sequence of distinct integers in [0, 2**63)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        ok = False
    else:
        ok = bool(seeds) and all(_is_int(s) and 0 <= s < 2**63 for s in seeds) and len(set(seeds)) == len(seeds)
    if not ok:
        raise ConfigError(f"{what} must be a non-empty list of distinct integers in [0, 2**63), got {seeds!r}")
    return list(seeds)


def _apply_section(obj: Any, section: str, values: Mapping[str, Any]) -> Any:
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for key, value in values.items():
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError(f"unknown config key '{section}.{key}' (allowed in [{section}]: {allowed})")
        changes[key] = _coerce(section, key, getattr(obj, key), value)
    return replace(obj, **changes)


def apply_overrides(config: RunConfig, data: Mapping[str, Any]) -> RunConfig:
    """Return config with the values of a nested dict (as read from TOML) applied."""
    top: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key == "version":
            if value != CONFIG_VERSION:
                raise ConfigError(
                    f"config version {value!r} is not supported (this toobig reads version {CONFIG_VERSION})"
                )
        elif key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{key}' must be a table ([{key}])")
            sections[key] = _apply_section(getattr(config, key), key, value)
        elif key in _TOP_LEVEL:
            top[key] = _coerce("", key, getattr(config, key), value)
        else:
            allowed = ", ".join([*_TOP_LEVEL, *(f"[{s}]" for s in _SECTIONS)])
            raise ConfigError(f"unknown config key '{key}' (allowed: {allowed})")
    return replace(config, **top, **sections)


def parse_assignment(text: str) -> dict[str, Any]:
    """Turn 'train.learning_rate=3e-3' into {'train': {'learning_rate': 0.003}}."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    parts = key.split(".")
    if len(parts) == 1:
        return {key: value}
    if len(parts) != 2:
        raise ConfigError(f"--set key must look like section.name, got {key!r}")
    return {parts[0]: {parts[1]: value}}


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    return validate(apply_overrides(RunConfig(), data))


# Bounds that catch typos before anything is allocated or written: the grokking check's 1.5M
# iterations and the paper's 10 samples per prompt sit far inside them.
MAX_ITERS = 100_000_000
MAX_EVAL_SAMPLES = 1_000
# Far above anything these studies train; a typo beyond them (1e30) is refused, not handed to torch.
MAX_WIDTH, MAX_LAYERS = 1_000_000, 1_000


def validate(config: RunConfig) -> RunConfig:
    """Raise ConfigError naming the first bad field; return config unchanged otherwise."""
    t, m, tr, ev = config.task, config.model, config.train, config.eval
    if t.name not in TASK_NAMES:
        raise ConfigError(f"task.name: unknown task {t.name!r} (allowed: {', '.join(TASK_NAMES)})")
    if not 0 <= config.seed < 2**63:
        raise ConfigError(f"seed must be in [0, 2**63), got {config.seed}")
    if config.regularization not in REGULARIZATIONS:
        raise ConfigError(
            f"regularization: unknown condition {config.regularization!r} (allowed: {', '.join(REGULARIZATIONS)})"
        )
    if t.operand_max < 1:
        raise ConfigError(f"task.operand_max must be >= 1, got {t.operand_max}")
    for a, b in t.held_out:
        if not (0 <= a <= t.operand_max and 0 <= b <= t.operand_max):
            raise ConfigError(
                f"task.held_out: pair ({a}, {b}) is outside the operand range 0..{t.operand_max}"
            )
    for name, value, allowed in (
        ("task.line_order", t.line_order, LINE_ORDERS),
        ("train.sampling", tr.sampling, SAMPLINGS),
        ("train.loss_on", tr.loss_on, LOSS_TARGETS),
        ("eval.selection", ev.selection, SELECTIONS),
    ):
        if value not in allowed:
            raise ConfigError(f"{name}: unknown mode {value!r} (allowed: {', '.join(allowed)})")
    if len({frozenset(p) for p in t.held_out}) != len(t.held_out):
        raise ConfigError(f"task.held_out: a pair is given twice (a pair holds out both of its orders), got {list(t.held_out)}")
    if t.held_out_random and t.held_out != TaskConfig.held_out:
        raise ConfigError("task.held_out_random: a random held-out set replaces task.held_out; give one of them")
    if t.held_out_random < 0:
        raise ConfigError(f"task.held_out_random must be >= 0, got {t.held_out_random}")
    if t.held_out_seed != -1 and not t.held_out_random:
        raise ConfigError("task.held_out_seed only applies with task.held_out_random > 0 (a random held-out set)")
    if t.held_out_seed < -1:
        raise ConfigError(f"task.held_out_seed must be >= 0, or -1 for the run's own seed, got {t.held_out_seed}")
    distinct_pairs = t.operand_max * (t.operand_max + 1) // 2
    if t.held_out_random > distinct_pairs:
        raise ConfigError(
            f"task.held_out_random ({t.held_out_random}) is larger than the number of unordered pairs of "
            f"distinct operands 0..{t.operand_max} ({distinct_pairs})"
        )
    if t.held_out_random and t.name in ("capitals", "pairs"):
        raise ConfigError(f"task.held_out_random: the {t.name} task has no operand pairs to hold out")
    if t.pairs_file and t.name != "pairs":
        raise ConfigError(f"task.pairs_file: only the pairs task reads one (task.name is {t.name!r})")
    if t.line_order == "seed" and t.corpus_file:
        raise ConfigError("task.line_order=seed: a corpus file keeps its own line order; drop task.corpus_file")
    if t.held_out_random and t.corpus_file:
        raise ConfigError("task.held_out_random: a corpus file fixes its own held-out lines; drop task.corpus_file")
    held = {frozenset(p) for p in t.held_out} if not t.held_out_random else set()
    if t.name in ARITHMETIC_TASKS and len(held) == (t.operand_max + 1) * (t.operand_max + 2) // 2:
        raise ConfigError("task.held_out: every operand pair is held out, so no addition or subtraction line is left to train on")
    if tr.loss_on == "answers" and t.name != "arithmetic":
        raise ConfigError(f"train.loss_on=answers: only the arithmetic task marks its answers (after '=' through '>'); the {t.name} task does not")
    for name in ("n_layer", "n_head", "n_embd", "mlp_ratio", "block_size"):
        if getattr(m, name) < 1:
            raise ConfigError(f"model.{name} must be >= 1, got {getattr(m, name)}")
        limit = MAX_LAYERS if name == "n_layer" else MAX_WIDTH
        if getattr(m, name) > limit:
            raise ConfigError(f"model.{name} must be <= {limit:,}, got {getattr(m, name):,}")
    if tr.batch_size > MAX_WIDTH:
        raise ConfigError(f"train.batch_size must be <= {MAX_WIDTH:,}, got {tr.batch_size:,}")
    prompt = f"<{t.operand_max}+{t.operand_max}="
    if t.name in ARITHMETIC_TASKS and m.block_size < len(prompt):
        # Capital-city prompts may exceed the block (the paper's do: nanoGPT crops them), but an
        # arithmetic prompt that does not fit loses its operands.
        raise ConfigError(
            f"model.block_size ({m.block_size}) is shorter than the arithmetic prompt {prompt!r} ({len(prompt)} characters)"
        )
    if m.n_embd % m.n_head:
        raise ConfigError(f"model.n_embd ({m.n_embd}) must be divisible by model.n_head ({m.n_head})")
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {m.dropout}")
    for name in ("max_iters", "batch_size", "lr_decay_iters", "checkpoint_every"):
        if getattr(tr, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1, got {getattr(tr, name)}")
    if tr.max_iters > MAX_ITERS:
        raise ConfigError(f"train.max_iters must be <= {MAX_ITERS:,}, got {tr.max_iters:,}")
    if tr.warmup_iters < 0:
        raise ConfigError(f"train.warmup_iters must be >= 0, got {tr.warmup_iters}")
    for name in ("learning_rate", "min_lr", "eps", "grad_clip"):
        if getattr(tr, name) <= 0:
            raise ConfigError(f"train.{name} must be > 0, got {getattr(tr, name)}")
    if tr.weight_decay < 0:
        raise ConfigError(f"train.weight_decay must be >= 0, got {tr.weight_decay}")
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(tr, name) < 1.0:
            raise ConfigError(f"train.{name} must be in [0, 1), got {getattr(tr, name)}")
    if tr.precision not in PRECISIONS:
        raise ConfigError(f"train.precision: unknown precision {tr.precision!r} (allowed: {', '.join(PRECISIONS)})")
    if ev.interval < 1:
        raise ConfigError(f"eval.interval must be >= 1, got {ev.interval}")
    if ev.schedule not in ("linear", "log"):
        raise ConfigError(f"eval.schedule: unknown schedule {ev.schedule!r} (allowed: linear, log)")
    for name, low in (("num_samples", 1), ("top_k", 1), ("log_points", 2)):
        if getattr(ev, name) < low:
            raise ConfigError(f"eval.{name} must be >= {low}, got {getattr(ev, name)}")
    if ev.num_samples > MAX_EVAL_SAMPLES:
        raise ConfigError(f"eval.num_samples must be <= {MAX_EVAL_SAMPLES:,} (samples per prompt), got {ev.num_samples:,}")
    if ev.temperature <= 0:
        raise ConfigError(f"eval.temperature must be > 0, got {ev.temperature}")
    return config
