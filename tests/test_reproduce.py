"""`reproduce` trains what is missing, runs the out-of-range test, writes the report, and skips
complete runs when run again."""

from __future__ import annotations

import json

from toobig.reproduce import ReproduceOptions, reproduce


def _snapshot(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


def test_reproduce_runs_then_skips(tmp_path):
    messages: list[str] = []
    options = ReproduceOptions(experiments=("table2",), seeds=(0,), out=tmp_path, device="cpu", max_iters=20)
    report_dir = reproduce(options, say=messages.append)
    runs = sorted(p.parent for p in (tmp_path / "runs").glob("*/seed0/summary.json"))
    assert [r.parent.name.split("-")[1] for r in runs] == ["n14", "n28", "n56"]  # no MLT on a CPU
    assert any("MLT rows skipped" in m for m in messages)
    assert all(json.loads((r / "summary.json").read_text())["status"] == "complete" for r in runs)
    n14 = next(r for r in runs if "-n14-" in r.parent.name)
    assert json.loads((n14 / "extrapolation.json").read_text())["max_operand"] == 19
    report = (report_dir / "report.md").read_text()
    assert "Table 2" in report and "n14" in report
    before = _snapshot(tmp_path / "runs")

    messages.clear()
    reproduce(options, say=messages.append)
    assert _snapshot(tmp_path / "runs") == before  # nothing retrained, nothing rewritten
    assert any("skipped 3" in m or "3 skipped" in m for m in messages), messages
