"""A task of your own: prompt/answer pairs from a file, some of them held out.

The file is UTF-8 text, one pair per line: the prompt, a tab, the answer, and optionally a tab
and the word `held_out` (the pair is kept out of the training corpus and scored as held out).
Blank lines and lines starting with `#` are ignored. Unless task.corpus_file names a corpus of
its own, the model trains on the lines prompt + answer of the pairs not held out, shuffled with
task.data_seed (or each run's seed, with task.line_order = "seed").

Each pair is one evaluation prompt; a completion is right when its first line is the answer
(spaces and a trailing '.' stripped, case ignored: the rule of the capitals facts). Its scores
are logged as the facts_* fields of metrics.jsonl, the held-out pairs' as heldout_*.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..config import ConfigError, EvalConfig, TaskConfig
from .base import Prompt

HELD_OUT_MARK = "held_out"
# Characters generated after a prompt: the answer, the newline that ends it, one spare.
_SPARE_TOKENS = 2


@dataclass(frozen=True)
class Pair:
    prompt: str
    answer: str
    held_out: bool


@lru_cache(maxsize=16)
def _read_pairs(path: str, mtime_ns: int, size: int) -> tuple[Pair, ...]:
    del mtime_ns, size  # part of the cache key only: an edited file is read again
    where = f"task.pairs_file {path!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2] != HELD_OUT_MARK):
            raise ConfigError(
                f"{where}, line {number}: expected 'prompt<TAB>answer' or 'prompt<TAB>answer<TAB>{HELD_OUT_MARK}', "
                f"got {line[:60]!r}"
            )
        prompt, answer = fields[0], fields[1]
        if not prompt or not answer.strip():
            raise ConfigError(f"{where}, line {number}: the prompt and the answer must not be empty")
        if prompt in seen:
            raise ConfigError(f"{where}, line {number}: the prompt {prompt!r} is already on line {seen[prompt]}")
        seen[prompt] = number
        pairs.append(Pair(prompt, answer, len(fields) == 3))
    if not pairs:
        raise ConfigError(f"{where}: no prompt/answer pairs in it")
    return tuple(pairs)


def read_pairs(config: TaskConfig) -> tuple[Pair, ...]:
    """The pairs of task.pairs_file, checked line by line (ConfigError naming the line)."""
    if not config.pairs_file:
        raise ConfigError("task.name=pairs needs task.pairs_file (a file of prompt<TAB>answer lines)")
    try:
        stat = Path(config.pairs_file).stat()
    except OSError:
        raise ConfigError(f"task.pairs_file: no such file {config.pairs_file!r}") from None
    pairs = _read_pairs(config.pairs_file, stat.st_mtime_ns, stat.st_size)
    if not config.corpus_file and all(p.held_out for p in pairs):
        raise ConfigError(f"task.pairs_file {config.pairs_file!r}: every pair is held out, so nothing is left to train on")
    return pairs


@dataclass(frozen=True)
class PairsTask:
    config: TaskConfig
    name: str = "pairs"

    def lines(self) -> list[str]:
        return [f"{p.prompt}{p.answer}\n" for p in read_pairs(self.config) if not p.held_out]

    def prompts(self, eval_config: EvalConfig) -> list[Prompt]:
        del eval_config  # every pair is asked as written
        return [
            Prompt(p.prompt, "fact", p.answer, p.held_out, len(p.answer) + _SPARE_TOKENS)
            for p in read_pairs(self.config)
        ]
