"""toobig compare: two configuration folders, the studies' two tests, refusals in one line."""

from __future__ import annotations

import csv
import io

import pytest

import toobig
from toobig.cli import main
from toobig.store import StoreError

from .synthetic import record, write_run, config_for


def _seeds(root, model: str, stable: int, seeds: int = 5) -> None:
    """seeds runs of one configuration; the first `stable` get every held-out sample right over their last 10 evaluations."""
    for seed in range(seeds):
        held = 40 if seed < stable else 0
        metrics = [record("arithmetic", 250 * i, 1.0, 1.0, heldout=held if i >= 2 else 0) for i in range(12)]
        write_run(root, config_for("arithmetic", model, seed=seed), metrics)


def test_compare_gives_both_verdicts_on_the_seeds_of_two_folders(tmp_path):
    _seeds(tmp_path / "a", "n14", stable=5)
    _seeds(tmp_path / "b", "n28", stable=0)
    (a,), (b,) = (tmp_path / "a").iterdir(), (tmp_path / "b").iterdir()
    table, verdicts = toobig.compare(a, b).split("\n\n")
    # The studies' table of both folders first: seeds, learned, the three strengths, held-out.
    rows = table.splitlines()
    assert rows[0].startswith("| Configuration | Parameters | Seeds | Learned | Extrapolates at some evaluation |")
    cells = [row.strip("| ").split(" | ") for row in rows[2:]]
    # Name, parameters, seeds; extrapolates at some evaluation and stably; held-out over the last 10.
    assert [c[:3] + [c[4], c[6], c[9]] for c in cells] == [
        [a.name, "1,456", "5", "5/5 [48, 100]", "5/5 [48, 100]", "100.0% [100.0, 100.0]"],
        [b.name, "5,264", "5", "0/5 [0, 52]", "0/5 [0, 52]", "0.0% [0.0, 0.0]"],
    ]
    lines = verdicts.splitlines()
    assert lines[0] == f"- {a.name} extrapolates more than {b.name}:"
    # 5/5 against 0/5: Fisher's two-sided p = 2 / C(10, 5) = 0.00794; held-out 100% against 0%.
    assert "**holds**" in lines[1] and f"{a.name} 5/5 vs {b.name} 0/5" in lines[1] and "p = 0.00794" in lines[1]
    assert "**holds**" in lines[2] and "mean 100.0% (n=5)" in lines[2] and "Cliff's delta +1.00" in lines[2]
    # The other way round, the opposite is significant.
    assert "does not hold (the opposite is significant)" in toobig.compare(b, a).split("\n\n")[1].splitlines()[1]


def test_compare_refuses_a_folder_of_several_configurations(tmp_path):
    _seeds(tmp_path, "n14", stable=1, seeds=2)
    _seeds(tmp_path, "n28", stable=0, seeds=2)
    with pytest.raises(StoreError, match="holds 2 configurations; pass the folder of one configuration"):
        toobig.compare(tmp_path, next(tmp_path.iterdir()))


def test_several_hypotheses_are_one_family_adjusted_together(tmp_path, capsys):
    _seeds(tmp_path / "small", "n14", stable=5)
    _seeds(tmp_path / "mid", "n28", stable=0)
    _seeds(tmp_path / "big", "n56", stable=0)
    (small,), (mid,), (big,) = ((tmp_path / name).iterdir() for name in ("small", "mid", "big"))
    lines = toobig.compare(small, mid, big).split("\n\n")[1].splitlines()
    assert [line for line in lines if not line.startswith("  ")] == [
        f"- {small.name} extrapolates more than {mid.name}:", f"- {small.name} extrapolates more than {big.name}:",
    ]
    # Both p = 0.00794 (5/5 against 0/5); Holm over two: 2 x 0.00794 = 0.0159 for both.
    assert "p = 0.00794 (Holm-adjusted over these 2 hypotheses: 0.0159)" in lines[1]
    # With --than, every folder named is tested against that one: ablations against their control.
    output = toobig.compare(small, mid, than=big)
    table, verdicts = output.split("\n\n")
    assert [row.split(" | ")[0] for row in table.splitlines()[2:]] == [f"| {small.name}", f"| {mid.name}", f"| {big.name}"]
    lines = verdicts.splitlines()
    assert [line for line in lines if not line.startswith("  ")] == [
        f"- {small.name} extrapolates more than {big.name}:", f"- {mid.name} extrapolates more than {big.name}:",
    ]
    assert "**holds**" in lines[1] and "Holm-adjusted over these 2 hypotheses: 0.0159" in lines[1]
    assert f"{mid.name} 0/5 vs {big.name} 0/5" in lines[4]
    assert "**undecided at this many seeds (no difference in the expected direction so far" in lines[4]
    # The command line says the same.
    assert main(["compare", str(small), str(mid), "--than", str(big)]) == 0
    assert capsys.readouterr().out == output + "\n"
    # As records and as CSV: the same verdicts, words and adjusted p-values.
    records = toobig.compare_verdicts(small, mid, than=big)
    assert [(r.hypothesis, r.reading, r.outcome) for r in records] == [
        (f"{small.name} extrapolates more than {big.name}", "counted", "holds"),
        (f"{small.name} extrapolates more than {big.name}", "graded", "holds"),
        (f"{mid.name} extrapolates more than {big.name}", "counted", "undecided"),
        (f"{mid.name} extrapolates more than {big.name}", "graded", "undecided"),
    ]
    assert all(f"**{r.words}**" in output for r in records) and records[0].p.adjusted == pytest.approx(2 * 2 / 252)
    assert main(["compare", str(small), str(mid), "--than", str(big), "--csv", "--planned", "6"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["key"], r["hypothesis"], r["reading"], r["outcome"], r["interim"], r["family"]) for r in rows] == [
        (r.key, r.hypothesis, r.reading, r.outcome, "True", "2") for r in records
    ]
    assert rows[0]["key"] == f"{small.name}>{big.name}"
    assert float(rows[0]["p_holm"]) == pytest.approx(4 / 252) and rows[0]["verdict"] == records[0].words
    # At the planned seeds, not interim; without a plan, not said.
    assert {r.interim for r in toobig.compare_verdicts(small, mid, than=big, planned=5)} == {False}
    assert main(["compare", str(small), str(mid), "--than", str(big), "--csv"]) == 0
    assert {r["interim"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))} == {""}
    # One folder and its control: one hypothesis, A against THAN, nothing to adjust for.
    verdicts = toobig.compare(small, than=big).split("\n\n")[1].splitlines()
    assert [line for line in verdicts if not line.startswith("  ")] == [f"- {small.name} extrapolates more than {big.name}:"]
    assert "p = 0.00794" in verdicts[1] and "Holm" not in verdicts[1]


def test_folders_are_named_so_that_they_can_be_told_apart(tmp_path, monkeypatch):
    _seeds(tmp_path / "one", "n14", stable=2)
    _seeds(tmp_path / "two", "n14", stable=0)
    (a,), (b,) = (tmp_path / "one").iterdir(), (tmp_path / "two").iterdir()
    assert a.name == b.name  # one configuration in two folders of runs
    verdicts = toobig.compare(a, b).split("\n\n")[1]
    assert verdicts.splitlines()[0] == f"- one/{a.name} extrapolates more than two/{b.name}:"
    monkeypatch.chdir(a)
    assert toobig.compare(".", b).split("\n\n")[1].splitlines()[0] == f"- one/{a.name} extrapolates more than two/{b.name}:"


def test_names_call_the_folders_so_in_the_table_and_the_verdicts(tmp_path, capsys):
    for name, stable in (("a", 5), ("b", 0), ("control", 0)):
        _seeds(tmp_path / name, "n14", stable=stable)
    a, b, control = (next((tmp_path / n).iterdir()) for n in ("a", "b", "control"))
    text = toobig.compare(a, b, than=control, names=["low lr", "high lr", "paper"])
    assert "| low lr |" in text and "| paper |" in text and a.name not in text
    assert "- low lr extrapolates more than paper:" in text and "- high lr extrapolates more than paper:" in text
    keys = [v.key for v in toobig.compare_verdicts(a, b, than=control, names=("low lr", "high lr", "paper"))]
    assert keys == ["low lr>paper", "low lr>paper", "high lr>paper", "high lr>paper"]
    assert main(["compare", str(a), str(b), "--names", "x,y"]) == 0 and "- x extrapolates more than y:" in capsys.readouterr().out
    for names, message in ((["x"], "1 given for 2 configuration folders"), (["x", "x"], "distinct and not empty"),
                           (["x", " "], "distinct and not empty")):
        with pytest.raises(StoreError, match=message):
            toobig.compare(a, b, names=names)
    assert main(["compare", str(a), str(b), "--names", "x"]) == 2
    assert "names: 1 given for 2 configuration folders" in capsys.readouterr().err


def test_a_folder_without_held_out_samples_is_refused_by_name(tmp_path):
    _seeds(tmp_path / "a", "n14", stable=1)
    for seed in range(2):
        write_run(tmp_path / "facts", config_for("capitals", "n14", seed=seed), [record("capitals", 250 * i, facts=1.0) for i in range(12)])
    (a,), (facts,) = (tmp_path / "a").iterdir(), (tmp_path / "facts").iterdir()
    with pytest.raises(StoreError, match=f"^{facts}: no complete run with held-out samples to compare$"):
        toobig.compare(a, facts)


def test_a_trend_along_the_folders_in_the_order_given(tmp_path, capsys):
    for name, model, stable in (("narrow", "n14", 5), ("mid", "n28", 2), ("wide", "n56", 0)):
        _seeds(tmp_path / name, model, stable=stable)
    narrow, mid, wide = (next((tmp_path / name).iterdir()) for name in ("narrow", "mid", "wide"))
    table, verdicts = toobig.compare(narrow, mid, wide, trend=True).split("\n\n")
    assert [row.split(" | ")[0] for row in table.splitlines()[2:]] == [f"| {f.name}" for f in (narrow, mid, wide)]
    lines = verdicts.splitlines()
    assert lines[0] == f"- Extrapolation falls along {narrow.name}, {mid.name}, {wide.name} (3 configurations; every seed counts):"
    # One hypothesis, no family: Spearman's rho of the order with the 0/1 outcome, exact. Counted
    # outside toobig (scipy.stats.spearmanr over every subset of 7 seeds of 15): rho -0.818, and
    # 20 of the C(15, 7) = 6435 subsets lie as far out.
    assert "**holds**" in lines[1] and f"{narrow.name} 5/5, {mid.name} 2/5, {wide.name} 0/5" in lines[1]
    assert "Spearman's rho of the folders' order and extrapolating -0.82 over 15 seeds" in lines[1]
    assert f"exact permutation test, two-sided p = {20 / 6435:.3g}." in lines[1]
    assert "Holm" not in verdicts
    # The order is the hypothesis: wide to narrow, the opposite is significant.
    reverse = toobig.compare(wide, mid, narrow, trend=True).split("\n\n")[1].splitlines()
    assert "does not hold (the opposite is significant)" in reverse[1]
    # The command line says the same, and refuses a trend of two folders or against a control in one line.
    assert main(["compare", "--trend", str(narrow), str(mid), str(wide)]) == 0
    assert capsys.readouterr().out == f"{table}\n\n{verdicts}\n"
    for args, message in (
        ([str(narrow)], "a trend needs three configuration folders or more"),
        ([str(narrow), str(mid)], "a trend needs three configuration folders or more"),
        ([str(narrow), str(mid), "--than", str(wide)], "compare takes --trend or --than, not both"),
    ):
        assert main(["compare", "--trend", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1



def test_comparisons_read_before_their_planned_seeds_are_interim(tmp_path, capsys):
    _seeds(tmp_path / "a", "n14", stable=5)
    _seeds(tmp_path / "b", "n28", stable=0, seeds=3)
    _seeds(tmp_path / "c", "n56", stable=0, seeds=5)
    (a,), (b,), (c,) = ((tmp_path / n).iterdir() for n in "abc")
    table, note, verdicts = toobig.compare(a, b, c, planned=5).split("\n\n")
    assert note == (
        f"Interim (complete seeds of those planned: {b.name} 3/5): every verdict below, 'holds' included, can still "
        "change as those seeds come in; Holm's adjustment ties these 2 hypotheses together."
    )
    assert verdicts.startswith(f"- {a.name} extrapolates more than {b.name}:")
    # At the plan (or with none) the output is the table and the verdicts only; a trend too.
    assert len(toobig.compare(a, b, c, planned=3).split("\n\n")) == 2 and len(toobig.compare(a, b, c).split("\n\n")) == 2
    assert f"{b.name} 3/10; {c.name} 5/10): every verdict below" in toobig.compare(a, b, c, trend=True, planned=10)
    assert main(["compare", str(a), str(b), "--planned", "5"]) == 0
    assert f"{b.name} 3/5)" in capsys.readouterr().out
    # A plan of no seeds is refused in one line, naming the flag (the API names its argument).
    assert main(["compare", str(a), str(b), "--planned", "0"]) == 2
    err = capsys.readouterr().err
    assert "--planned must be >= 1, got 0" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(StoreError, match="planned"):
        toobig.compare(a, b, planned=-1)
