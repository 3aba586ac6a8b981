"""verdicts.csv: one row per hypothesis and reading, as the verdicts in words give them, so that
scripts can follow a verdict as seeds come in without parsing the report (the studies') or the
output of compare."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from ..store import atomic_write_text
from .beyond import beyond_verdicts
from .runs import Cell
from .verdicts import Verdict

# p: the test's two-sided p-value; p_holm: the same Holm-adjusted over the family's `family`
# hypotheses; outcome: holds, opposite, does not hold or undecided; verdict: the words for it.
COLUMNS = ("hypothesis", "reading", "outcome", "interim", "p", "p_holm", "family", "verdict")


def verdicts_csv(verdicts: Sequence[Verdict], studies: Sequence[str] | None = None) -> str:
    """CSV text, a row per verdict; with studies (one per verdict), a first column naming its study."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS if studies is None else ("study", *COLUMNS))
    for i, v in enumerate(verdicts):
        row = (v.hypothesis, v.reading, v.outcome, v.interim, v.p.raw, v.p.adjusted, v.p.family, v.words)
        writer.writerow(row if studies is None else (studies[i], *row))
    return buffer.getvalue()


def write_verdicts_csv(cells: Sequence[Cell], path: Path) -> Path | None:
    """The studies' verdicts; None when no study has runs, and then no file (an earlier report's is
    removed: it would contradict report.md)."""
    named = beyond_verdicts(cells)
    if not named:
        Path(path).unlink(missing_ok=True)
        return None
    atomic_write_text(Path(path), verdicts_csv([v for _, v in named], [study for study, _ in named]))
    return Path(path)
