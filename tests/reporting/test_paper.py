"""The paper's numbers shipped as package data: printed tables, exact CSV fractions, curves, notes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from toobig.model import count_parameters
from toobig.presets import MODEL_NAMES, make_config
from toobig.reporting import paper

ROOT = Path(__file__).resolve().parents[2]
VOCAB = {"arithmetic": 17, "capitals": 51, "combined": 66}


def test_tables_hold_the_printed_values():
    t2 = paper.paper_table(2)
    assert (t2.task, t2.condition) == ("arithmetic", "paper")
    assert t2.row("n14").heldout.printed == "40/40" and t2.row("n28").heldout.correct == 0
    assert t2.row("mlt").addition.printed == "98%" and t2.row("mlt").addition.value == pytest.approx(0.98)
    assert paper.paper_table(3).row("n14").facts.printed == "8.2%"
    t4 = paper.paper_table(4)
    assert [t4.row("n14").addition.printed, t4.row("n14").subtraction.printed, t4.row("n14").combined.printed] == ["31.2%", "39.4%", "28.6%"]
    assert t4.row("n28").subtraction.printed == "97%"
    assert paper.paper_table(6).row("n14").facts.value == pytest.approx(0.124)
    t7 = paper.paper_table(("combined", "controlled"))
    assert t7.number == 7 and t7.row("n28").subtraction.printed == "88.7%"
    assert paper.paper_table(3).row("mlt").parameters_printed == "10.64M"
    assert [t.number for t in paper.paper_tables()] == [2, 3, 4, 5, 6, 7]
    assert paper.table_number("capitals", "controlled") == 6 and paper.table_number("capitals", "other") is None


def test_exact_csv_fractions_ship_beside_the_printed_table():
    n14 = paper.paper_table(4).row("n14")
    assert n14.csv.addition == pytest.approx(0.3263736263736264)
    assert n14.csv.source == "results/results_final.csv"
    assert paper.paper_table(5).row("n28").csv.addition == pytest.approx(890 / 910)
    assert paper.paper_table(7).row("mlt").csv.combined == pytest.approx(0.9827586206896551)


def test_printed_values_rounding_range():
    assert paper.PaperValue.parse("98%").half_unit == pytest.approx(0.005)
    assert paper.PaperValue.parse("97.9%").half_unit == pytest.approx(0.0005)


def test_every_table_vs_csv_disagreement_is_in_the_notes():
    notes = "\n".join(paper.paper_notes())
    disagreeing = []
    for table in paper.paper_tables():
        for row in table.rows:
            for column in ("addition", "subtraction", "facts", "combined"):
                printed = getattr(row, column)
                if printed is None:
                    continue
                decimals = len(printed.printed.rstrip("%").split(".")[1]) if "." in printed.printed else 0
                if round(getattr(row.csv, column) * 100, decimals) != pytest.approx(printed.value * 100):
                    disagreeing.append(f"Table {table.number} {row.model} {column}:")
    assert "Table 4 n14 addition:" in disagreeing and "Table 7 n28 subtraction:" in disagreeing
    for key in disagreeing:
        assert key in notes
    assert "4.75%" in notes and "195/3000" in notes


@pytest.mark.parametrize("task", sorted(VOCAB))
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_exact_parameter_counts_match_the_model(task, model):
    assert paper.paper_parameters(task, model) == count_parameters(make_config(task, model).model, VOCAB[task])


def test_out_of_range_and_grokking_facts():
    oor = paper.paper_out_of_range()
    assert (oor.model, oor.operand_max, oor.addition.value, oor.subtraction.value) == ("n14", 19, 0.0, pytest.approx(0.0475))
    assert oor.reference_sub == (195, 3000)
    grok = paper.paper_grokking()
    assert (grok.lowest_val_loss, grok.heldout_correct, grok.heldout_total, grok.iterations) == (0.5306, 0, 40, 1_500_000)


def test_curves_give_accuracies_from_counts():
    curve = paper.paper_curve("arithmetic", "n14", "paper")
    assert len(curve) == 121 and curve[0]["iter"] == 0 and curve[-1]["iter"] == 30_000
    assert curve[1]["sub_correct"] == 90 and curve[1]["sub_acc"] == pytest.approx(90 / 910)
    assert curve[1]["facts_acc"] is None  # arithmetic has no facts part
    facts = paper.paper_curve("capitals", "mlt", "controlled")
    assert facts[-1]["add_acc"] is None and facts[-1]["facts_total"] == 500
    assert paper.curve_file_name("combined", "n56", "controlled") == "both_mini_56_wd_final.csv"
    assert paper.paper_curve("arithmetic", "n7", "paper") is None


@pytest.mark.parametrize("condition", ["paper", "controlled"])
@pytest.mark.parametrize("task", sorted(VOCAB))
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_curve_of_the_paper_ships(task, model, condition):
    curve = paper.paper_curve(task, model, condition)
    assert curve is not None and len(curve) == 121


def test_grokking_curve_ships():
    curve = paper.paper_curve("arithmetic", "mlt", "paper", grokking=True)
    assert len(curve) == 6001 and curve[-1]["iter"] == 1_500_000
    assert paper.paper_curve("arithmetic", "n14", "paper", grokking=True) is None


def test_curves_are_declared_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "data/paper_curves/*.csv" in data["tool"]["setuptools"]["package-data"]["toobig"]
    assert len(list((ROOT / "src/toobig/data/paper_curves").glob("*.csv"))) == 25


def test_shipped_curves_are_the_reference_files(reference_dir):
    for source in sorted((reference_dir / "results" / "curves").glob("*.csv")):
        shipped = ROOT / "src/toobig/data/paper_curves" / source.name
        assert shipped.read_bytes() == source.read_bytes(), source.name
