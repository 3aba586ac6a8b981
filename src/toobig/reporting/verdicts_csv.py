"""verdicts.csv: one row per study, hypothesis and reading, as report.md's verdicts give them, so
that scripts can follow a verdict as seeds come in without parsing the report."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from ..store import atomic_write_text
from .beyond import beyond_verdicts
from .runs import Cell

COLUMNS = ("study", "hypothesis", "reading", "outcome", "interim", "p", "p_holm", "family", "verdict")


def write_verdicts_csv(cells: Sequence[Cell], path: Path) -> Path | None:
    """The studies' verdicts; None when no study has runs, and then no file (an earlier report's is
    removed: it would contradict report.md). p is the test's two-sided
    p-value, p_holm the same Holm-adjusted over the study's family of family hypotheses; outcome is
    holds, opposite, does not hold or undecided, and verdict the report's words for it."""
    verdicts = beyond_verdicts(cells)
    if not verdicts:
        Path(path).unlink(missing_ok=True)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for v in verdicts:
        r = v.verdict
        writer.writerow((v.study, r.hypothesis, r.reading, r.outcome, v.interim, r.p.raw, r.p.adjusted, r.p.family, r.words))
    atomic_write_text(Path(path), buffer.getvalue())
    return Path(path)
