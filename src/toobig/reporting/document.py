"""Assemble report.md from its sections."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..version import __version__
from .beyond import StudyReading, beyond_section
from .beyond_figures import studies_showing
from .capacity import capacity_section
from .findings import findings_section
from .grokking import grokking_section
from .markdown import DASH, image_links, md_table, unfinished_text
from .other import other_section
from .out_of_range import out_of_range_section
from .paper import citation, paper_notes
from .runs import Cell, RunCollection
from .tables import tables_section


def _header(collection: RunCollection, cells: Sequence[Cell]) -> str:
    runs = collection.runs
    unfinished = unfinished_text(sum(not r.complete for r in runs), sum(r.failed for r in runs))
    lines = [
        "# toobig report",
        "",
        f"Runs from `{collection.root}`: {len(runs)} run directories ({unfinished}) in {len(cells)} "
        f"configurations; report by toobig {__version__}.",
        "",
        f"Paper: {citation()}",
    ]
    totals = sorted({int(r.best["add_total"]) for r in runs if r.best and r.best.get("add_total")})
    if totals:
        lines += [
            "",
            f"Arithmetic samples per operation in our evaluations: {', '.join(f'{t:,}' for t in totals)}. The paper's "
            "CSVs and curves count 910; its printed tables are consistent with 1,000 (see the notes at the end).",
        ]
    return "\n".join(lines)


def _environment(collection: RunCollection) -> str | None:
    # One row per software and numerics setup; the commit of each run is in results.csv, so
    # docs-only commits between runs do not split the table.
    runs_by_setup: dict[tuple[str, ...], list[str]] = {}
    for run in collection.runs:
        env = run.environment
        setup = (*(str(env.get(k) or DASH) for k in ("device", "device_name", "torch", "toobig")), run.numerics)
        runs_by_setup.setdefault(setup, []).append(str(env.get("git_commit") or ""))
    if not runs_by_setup:
        return None
    rows = [[*setup, len(set(filter(None, commits))), len(commits)] for setup, commits in sorted(runs_by_setup.items())]
    headers = ["Device", "Device name", "torch", "toobig", "Numerics", "git commits", "Runs"]
    note = "Each run's commit is in results.csv (`git_commit`)."
    return "## Environments\n\n" + md_table(headers, rows) + "\n\n" + note


def _figures(figures: Sequence[Path], out_dir: Path) -> str | None:
    if not figures:
        return None
    return "## Figures\n\nThin lines: one seed each; thick: mean over seeds; dashed: the paper's run; red dots: addition and subtraction both 100% (held-out included).\n\n" + image_links(figures, out_dir)


def _skipped(collection: RunCollection) -> str | None:
    if not collection.skipped and not collection.warnings:
        return None
    lines = ["## Not included"]
    lines += [f"- `{path}`: {reason}" for path, reason in collection.skipped]
    lines += [f"- {w}" for w in collection.warnings]
    return "\n".join(lines)


def _paper_notes() -> str:
    return "## Notes on the paper's own numbers\n\n" + "\n".join(f"- {n}" for n in paper_notes())


def render_report(
    collection: RunCollection, studies: Sequence[StudyReading], figures: Sequence[Path], out_dir: Path,
) -> str:
    """report.md's text: the collection's runs against the paper, then the studies, which must be
    read_studies(collection.cells()) (write_report reads them once for verdicts.csv too)."""
    cells = collection.cells()
    sections = [
        _header(collection, cells),
        tables_section(cells),
        findings_section(cells),
        grokking_section(cells),
        out_of_range_section(cells),
        capacity_section(cells),
        beyond_section(studies, figures, out_dir),
        other_section(cells),
        _figures([f for f in figures if not studies_showing(f.name)], out_dir),  # the studies place their own
        _environment(collection),
        _skipped(collection),
        _paper_notes(),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
