"""benchmarks/mutants.py stays runnable: every mutant's line is in today's source, once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutant_finds_its_line_once_and_names_tests_that_exist(monkeypatch):
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "benchmarks" / "mutants.py")
    mutants = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "mutants", mutants)  # its dataclass looks itself up there
    spec.loader.exec_module(mutants)
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))
    for m in mutants.MUTANTS:
        text = (ROOT / "src" / "toobig" / m.path).read_text()
        assert text.count(m.old) == 1, f"{m.name}: its line is in {m.path} {text.count(m.old)} times"
        assert m.old != m.new and m.tests
        assert all((ROOT / t.split("::")[0]).is_file() for t in m.tests), m.name
