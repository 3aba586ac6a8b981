"""The toobig command end to end, in real subprocesses and temporary directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .test_bad_input import CASES as BAD_INPUT

TINY = ["--iters", "40", "--eval-interval", "20", "--set", "train.warmup_iters=5", "--set", "eval.num_samples=2"]


def toobig(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "toobig.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    result = toobig("train", "--task", "arithmetic", "--model", "n14", "--seeds", "1,2", *TINY, "--out", "runs", "--quiet", cwd=out)
    assert result.returncode == 0, result.stderr
    runs = sorted((out / "runs").glob("*/seed*"))
    assert [r.name for r in runs] == ["seed1", "seed2"]
    return runs[0]


def test_train_writes_run_directories(trained):
    assert (trained / "config.toml").is_file() and (trained / "summary.json").is_file()
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [0, 20, 40]


def test_train_names_each_run_s_own_random_held_out_pairs(tmp_path):
    args = ["--set", "task.held_out_random=3"]
    result = toobig("train", "--seeds", "1,2", *TINY, *args, "--out", "runs", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, seed in zip(lines, (1, 2)):
        summary = json.loads((tmp_path / line.split()[0] / "summary.json").read_text())
        pairs = ",".join(f"({a},{b})" for a, b in summary["held_out"])
        assert summary["seed"] == seed and f"  3 random pairs {pairs} " in line
    assert lines[0].split("pairs ")[1] != lines[1].split("pairs ")[1]  # each seed draws its own


def test_train_with_batch_shards_records_them(tmp_path):
    result = toobig("train", "--seeds", "3", *TINY, "--batch-shards", "2", "--out", "runs", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").glob("*/seed3")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["environment"]["batch_shards"] == 2
    assert summary["final"]["loss"] < 2.5


def test_eval_reproduces_the_logged_record(trained):
    result = toobig("eval", str(trained), "--checkpoint", "last", "--json", cwd=trained)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    readable = toobig("eval", str(trained), "--checkpoint", "last", cwd=trained).stdout.splitlines()
    assert readable[0].startswith(f"iteration {metrics['iter']:,}: combined score {metrics['combined']:.4f}")
    assert readable[1].split()[:2] == ["addition", f"{metrics['add_correct']}/{metrics['add_total']}"]
    logged = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()][-1]
    for key in ("add_correct", "sub_correct", "heldout_correct", "combined"):
        assert metrics[key] == logged[key]
    assert metrics["loss"] == pytest.approx(logged["loss"], rel=1e-5)
    # What each held-out prompt was answered, as logged, one line per prompt below the count.
    assert metrics["heldout_answers"] == logged["heldout_answers"]
    held = readable.index(next(line for line in readable if "held-out pairs" in line))
    answered = readable[held + 1:]
    assert len(answered) == len(logged["heldout_answers"]) == 4
    for line, (prompt, counts) in zip(answered, logged["heldout_answers"].items()):
        assert line.split() == [prompt] + [part for text, n in counts.items() for part in (text or "''", f"x{n}")]


def test_sample_prints_completions(trained):
    result = toobig("sample", str(trained), "--prompt", "<5+7=", "--num-samples", "3", "--max-new-tokens", "4", cwd=trained)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("<5+7=") and "'" not in line for line in lines)


def test_config_file_reproduces_a_run(trained, tmp_path):
    # The same population (seeds 1 and 2) from the saved config gives the identical log.
    result = toobig("train", "--config", str(trained / "config.toml"), "--seeds", "1,2", "--out", "again", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (again,) = (tmp_path / "again").glob("*/seed1")
    assert again.parent.name == trained.parent.name  # same config digest
    strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "elapsed_s"} for l in (p / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert strip(again) == strip(trained)


def test_info_prints_parameter_count(tmp_path):
    result = toobig("info", "--task", "capitals", "--model", "n28", cwd=tmp_path)
    assert result.returncode == 0 and "6,216" in result.stdout and "vocabulary 51" in result.stdout


# A sample of tests/test_bad_input.py's table (which runs in-process), through real processes.
SUBPROCESS_CASES = [
    (a, m) for a, m in (c for c in BAD_INPUT[::4] if not hasattr(c, "marks")) if a and a[0] == "train" and not any("{" in x for x in a)
]


@pytest.mark.parametrize("args,message", SUBPROCESS_CASES)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, args, message):
    result = toobig(*args, "--out", "runs", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "runs").exists()


def test_training_again_into_a_complete_run_is_refused_and_keeps_it(trained):
    out = trained.parent.parent
    before = sorted((p, p.stat().st_mtime_ns) for p in trained.rglob("*") if p.name != ".lock")
    args = ["train", "--task", "arithmetic", "--model", "n14", "--seeds", "1", *TINY, "--out", str(out), "--quiet"]
    result = toobig(*args, cwd=out)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"run directory {trained} already holds a complete run; pass --overwrite" in result.stderr
    assert sorted((p, p.stat().st_mtime_ns) for p in trained.rglob("*") if p.name != ".lock") == before


def test_malformed_toml_config_is_refused(tmp_path):
    (tmp_path / "bad.toml").write_text("[train\nmax_iters = 3\n")
    result = toobig("train", "--config", "bad.toml", "--out", "runs", cwd=tmp_path)
    assert result.returncode == 2 and "malformed TOML in bad.toml" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_run_directory_from_an_incompatible_version_is_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "old-run"
    shutil.copytree(trained, copy)
    config = copy / "config.toml"
    config.write_text(config.read_text().replace("version = 1", "version = 99"))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in copy.rglob("*"))
    for args in (["eval", str(copy)], ["train", "--resume", str(copy)]):
        result = toobig(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert "config version 99 is not supported" in result.stderr and result.stderr.count("\n") == 1
    assert sorted((p.name, p.stat().st_mtime_ns) for p in copy.rglob("*")) == before


def test_corrupted_checkpoint_is_named(trained, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    ckpt = copy / "checkpoints" / "best.safetensors"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.write_bytes(bytes(data))
    result = toobig("eval", str(copy), cwd=tmp_path)
    assert result.returncode == 2 and "best.safetensors is corrupted" in result.stderr


def test_set_regularization_resolves_the_controlled_preset(tmp_path):
    result = toobig("info", "--set", "regularization=controlled", "--set", "model.n_embd=20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "arithmetic-n20-controlled" in result.stdout


def test_iters_says_in_one_line_that_the_schedule_scales(tmp_path):
    result = toobig("info", "--iters", "1500", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        "--iters 1500: warmup 100 and cosine decay to iteration 1250, scaled with the run's length "
        "(--schedule paper keeps the preset's)"
    )
    kept = toobig("info", "--iters", "1500", "--schedule", "paper", cwd=tmp_path)
    assert kept.returncode == 0 and kept.stderr == ""


def test_runs_lists_each_configuration_with_its_seeds_and_scores(trained):
    result = toobig("runs", "runs", cwd=trained.parent.parent.parent)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    assert header.split()[:4] == ["configuration", "seeds", "complete", "iterations"]
    assert row.split()[:4] == [trained.parent.name, "1,2", "2/2", "40"]


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path):
    """`toobig info | head -0`: the closed pipe ends the command quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "toobig.cli", "info"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "Traceback" not in err, err


def test_version(tmp_path):
    from toobig import __version__

    result = toobig("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"toobig {__version__}"


def test_sweep_ends_with_a_table_of_its_runs_and_passes_run_options_on(tmp_path):
    (tmp_path / "grid.toml").write_text(
        '[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14"]\nseeds = [0]\n'
        '[grid]\n"train.learning_rate" = [1e-2, 3e-3]\n'
        '[set]\n"train.max_iters" = 20\n"eval.interval" = 10\n"eval.num_samples" = 1\n'
    )
    result = toobig(
        "sweep", "grid.toml", "--out", "runs", "--device", "cpu", "--workers", "1", "--batch-shards", "2", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # train.max_iters alone keeps the preset's warmup: said once, for both configurations.
    assert result.stderr.count("toobig: note: train.warmup_iters 2,000 >= train.max_iters 20: the learning rate never") == 1
    table = result.stdout[result.stdout.index("configuration"):].strip().splitlines()
    assert len(table) == 3 and all(row.split()[1:3] == ["0", "1/1"] for row in table[1:])
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/seed0/summary.json")]
    assert [s["environment"]["batch_shards"] for s in summaries] == [2, 2]


def test_dry_runs_list_the_runs_and_write_nothing(tmp_path):
    (tmp_path / "grid.toml").write_text('[sweep]\ntasks = ["arithmetic"]\nmodels = ["n14", "n28"]\nnum_seeds = 2\n')
    swept = toobig("sweep", "grid.toml", "--out", "runs", "--device", "cpu", "--dry-run", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    lines = swept.stdout.splitlines()
    assert lines[0] == "4 jobs (4 runs) to train, 0 complete runs skipped" and all(line.endswith(": new") for line in lines[1:])
    reproduced = toobig("reproduce", "--experiments", "table2,capacity", "--out", "out", "--device", "cpu", "--dry-run", cwd=tmp_path)
    assert reproduced.returncode == 0, reproduced.stderr
    lines = reproduced.stdout.splitlines()
    assert lines[0].startswith("MLT rows skipped") and lines[1] == "9 jobs (9 runs) to train, 0 complete runs skipped"
    assert lines[11:] == [
        "capacity search: then width n=1 (0 of 3 seeds complete), and wider ones up to n=14 until one learns arithmetic in most seeds",
        "out-of-range test (0-19): on the Table 2 n14 runs without one once complete (3 of them now)",
        f"report: {Path('out/report/report.md')}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml"]


def test_every_argument_has_help_and_every_default_is_shown():
    import argparse

    from toobig.cli import parser

    (subcommands,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in subcommands.choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"toobig {name} {action.dest}: no help"
            if action.option_strings and action.default not in (None, False):
                assert "default" in sub._get_formatter()._get_help_string(action), f"toobig {name} {action.dest}"
        assert "(default: runs)" in text or name not in ("train", "sweep")
    # reproduce's default seeds are the studies' plans, whatever they are today.
    from toobig.studies import STUDIES

    text = " ".join(subcommands.choices["reproduce"].format_help().split())
    assert all(f"{study.seeds} for {study.name}" in text for study in STUDIES.values())


def test_runs_lists_the_readable_runs_and_names_each_unreadable_one(tmp_path, capsys):
    import toobig as api
    from toobig import cli
    from toobig.store import StoreError

    from .reporting.synthetic import config_for, record, write_run

    write_run(tmp_path / "runs", config_for("arithmetic", seed=1), [record("arithmetic", 0), record("arithmetic", 250, 0.5, 0.5)])
    broken = write_run(tmp_path / "runs", config_for("arithmetic", "n28", seed=1), [record("arithmetic", 0)])
    text = broken.config_path.read_text()
    broken.config_path.write_text(text.replace("version = 1", "version = 99"))
    assert cli.main(["runs", str(tmp_path / "runs")]) == 0
    out, err = capsys.readouterr()
    assert "arithmetic-n14-paper" in out and "arithmetic-n28-paper" not in out
    assert err.count("\n") == 1 and f"{broken.path}: unreadable, left out" in err and "version 99" in err
    with pytest.raises(StoreError, match="version 99"):
        api.load_runs(tmp_path / "runs")


def test_info_shows_the_resolved_schedule_and_protocol_and_toml_the_whole_configuration(capsys):
    import tomllib

    from toobig import cli
    from toobig.config import from_dict

    argv = ["info", "--model", "n28", "--iters", "300", "--set", "train.sampling=lines"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "training: 300 iterations, batch 882, learning rate 0.01 after 20 warmup iterations, cosine decay to 0.0001 at iteration 250" in out
    assert "protocol: train.sampling=lines; held out (5,7)" in out
    assert cli.main([*argv, "--toml"]) == 0
    config = from_dict(tomllib.loads(capsys.readouterr().out))
    assert (config.model_name, config.train.max_iters, config.train.warmup_iters, config.train.sampling) == ("n28", 300, 20, "lines")
