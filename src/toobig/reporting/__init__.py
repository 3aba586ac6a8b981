"""The report: our runs beside the paper's Tables 2-7 and Figures 1-7, from run directories on disk."""

from __future__ import annotations

from pathlib import Path

from ..store import StoreError, atomic_write_text, require_folder
from .beyond import read_studies
from .beyond_figures import beyond_figures
from .document import render_report
from .figures import write_figures
from .other import sweep_figures
from .results_csv import write_results_csv
from .runs import load_runs
from .verdicts_csv import studies_verdicts_csv

REPORT_FILE, RESULTS_FILE, VERDICTS_FILE, FIGURES_DIR = "report.md", "results.csv", "verdicts.csv", "figures"


def write_report(runs_dir: Path, out_dir: Path) -> list[Path]:
    """Write report.md, results.csv, verdicts.csv (the studies' verdicts) and figures/*.png for the
    runs below runs_dir; return their paths."""
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    require_report_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    collection = load_runs(runs_dir)
    cells = collection.cells()
    # The studies are read once: report.md's verdicts and verdicts.csv's are the same records.
    studies = read_studies(cells)
    # Then the figures, so that report.md links only the ones actually written.
    figures = (
        write_figures(cells, out_dir / FIGURES_DIR)
        + beyond_figures(cells, out_dir / FIGURES_DIR)
        + sweep_figures(cells, out_dir / FIGURES_DIR)
    )
    report = out_dir / REPORT_FILE
    atomic_write_text(report, render_report(collection, studies, figures, out_dir))
    results = write_results_csv(cells, runs_dir, out_dir / RESULTS_FILE)
    atomic_write_text(out_dir / VERDICTS_FILE, studies_verdicts_csv(studies))
    return [report, results, out_dir / VERDICTS_FILE, *figures]


def require_report_folder(out_dir: Path) -> None:
    """Refuse a report folder that is, or lies below, a file, or whose figures/ is a file (StoreError)."""
    require_folder(Path(out_dir), holds="the report goes")
    if (Path(out_dir) / FIGURES_DIR).is_file():
        raise StoreError(f"{Path(out_dir) / FIGURES_DIR} is a file; the report's figures go into a folder of that name")


__all__ = ["require_report_folder", "write_report", "REPORT_FILE", "RESULTS_FILE", "VERDICTS_FILE", "FIGURES_DIR"]
