"""verdicts.csv: one row per hypothesis and reading, as the verdicts in words give them, so that
scripts can follow a verdict (by its key) as seeds come in without parsing the report (the
studies') or the output of compare."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

from .beyond import StudyReading, beyond_verdicts
from .verdicts import Verdict

# key: the hypothesis's short name, stable as runs come in; outcome: holds, opposite, does not
# hold or undecided; interim: empty where no plan was given; p: the test's two-sided p-value;
# p_holm: the same Holm-adjusted over the family's `family` hypotheses; verdict: the words.
COLUMNS = ("key", "hypothesis", "reading", "outcome", "interim", "p", "p_holm", "family", "verdict")


def _row(v: Verdict) -> tuple[Any, ...]:
    interim = "" if v.interim is None else v.interim
    return (v.key, v.hypothesis, v.reading, v.outcome, interim, v.p.raw, v.p.adjusted, v.p.family, v.words)


def _text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def verdicts_csv(verdicts: Sequence[Verdict]) -> str:
    """CSV text, a row per verdict (compare's)."""
    return _text(COLUMNS, (_row(v) for v in verdicts))


def studies_verdicts_csv(studies: Sequence[StudyReading]) -> str:
    """CSV text of the studies' verdicts (the report's), a row per verdict with its study named
    first; the header alone while no study has any, so that a script finds the file."""
    return _text(("study", *COLUMNS), ((study, *_row(v)) for study, v in beyond_verdicts(studies)))
