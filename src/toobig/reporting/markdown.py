"""Small text formatters shared by the report's sections: percentages, intervals, markdown tables,
image links."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .stats import Estimate

NOT_RUN = "not run"
DASH = "—"


def pct(value: float, decimals: int = 1) -> str:
    return f"{100.0 * value:.{decimals}f}%"


def format_estimate(est: Estimate | None, decimals: int = 1, clip: bool = True) -> str:
    """'97.9% [97.6, 98.2]' over several seeds, '97.9% (n=1)' for one; with clip, the interval is
    clipped to [0, 100] for display since an accuracy cannot leave that range (Estimate keeps the
    raw one); a fraction that can (e.g. of the line order learned) is shown unclipped."""
    if est is None:
        return DASH
    if est.n == 1:
        return f"{pct(est.mean, decimals)} (n=1)"
    low, high = (max(0.0, est.low), min(1.0, est.high)) if clip else (est.low, est.high)
    return f"{pct(est.mean, decimals)} [{100 * low:.{decimals}f}, {100 * high:.{decimals}f}]"


def format_count(est: Estimate | None, total: int) -> str:
    """Mean held-out count over seeds, e.g. '24.0/40'; one seed shows the integer count."""
    if est is None:
        return DASH
    if est.n == 1:
        return f"{est.mean:.0f}/{total}"
    return f"{est.mean:.1f}/{total}"


def thousands(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; '|' inside cells is escaped."""
    def cell(x: object) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def unfinished_text(unfinished: int, failed: int) -> str:
    """"2 unfinished" or "2 unfinished, 1 failed" (unfinished: running, interrupted or failed)."""
    return f"{unfinished} unfinished" + (f", {failed} failed" if failed else "")


def image_links(paths: Sequence[Path], out_dir: Path) -> str:
    """Markdown images of the files, relative to the report's folder, one paragraph each."""
    return "\n\n".join(f"![{p.stem}]({Path(os.path.relpath(p, out_dir)).as_posix()})" for p in paths)
