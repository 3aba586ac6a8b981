"""Corruption of every file of a run directory: each damaged file is refused by name, with the way
to recover, by everything that reads it (eval, train --resume, the Python API, runs and report),
with exit code 2, one line, no traceback and nothing on disk changed; or, where the damage is
one toobig itself can leave (a kill mid-line), it is handled."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import toobig
from toobig import cli
from toobig.integrity import RECOVER
from toobig.store import KILL_AT_WRITE_ENV, StoreError

ARGS = ["--task", "arithmetic", "--model", "n14", "--iters", "40", "--eval-interval", "10",
        "--set", "eval.num_samples=2", "--quiet"]


def _run(cwd: Path, *args: str, kill_at: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_WRITE_ENV}
    if kill_at is not None:
        env[KILL_AT_WRITE_ENV] = str(kill_at)
    return subprocess.run([sys.executable, "-m", "toobig.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300).returncode


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    """A complete run and one killed after its third evaluation (checkpoint at iteration 20)."""
    root = tmp_path_factory.mktemp("pristine")
    assert _run(root, "train", *ARGS, "--seeds", "1", "--out", "complete") == 0
    # Write points per evaluation: metrics line, best (2), last (2) and the manifest writes...;
    # 34 lands after the evaluation at iteration 20 has been checkpointed and its summary renamed.
    assert _run(root, "train", *ARGS, "--seeds", "1", "--out", "interrupted", kill_at=34) == -9
    runs = {name: next((root / name).glob("*/seed1")) for name in ("complete", "interrupted")}
    summary = json.loads((runs["interrupted"] / "summary.json").read_text())
    assert summary["status"] == "running" and 0 < summary["iteration"] < 40
    leftovers = [*runs["interrupted"].rglob("*.tmp"), *runs["interrupted"].rglob("*.staged.safetensors")]
    assert not leftovers, "the kill should fall between two whole writes"
    return runs


def test_a_run_directory_keeps_its_vocabulary(pristine):
    from toobig.training import Prepared
    from toobig.store import RunDir

    run = RunDir(pristine["complete"])
    assert run.read_vocab() == Prepared.from_config(run.read_config()).tokenizer.chars == "\n +-0123456789<=>"


@pytest.fixture
def runs(pristine, tmp_path) -> dict[str, Path]:
    copies = {}
    for name, path in pristine.items():
        target = tmp_path / name / path.parent.name / path.name
        shutil.copytree(path, target)
        copies[name] = target
    return copies


# -- corruptions -------------------------------------------------------------------------------
def _edit_text(name: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def corrupt(run: Path) -> None:
        text = (run / name).read_text()
        assert old in text, f"{old!r} not in {name}"
        (run / name).write_text(text.replace(old, new, count))
    return corrupt


def _edit_toml(key: str, value: str) -> Callable[[Path], None]:
    def corrupt(run: Path) -> None:
        path = run / "config.toml"
        path.write_text(re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", path.read_text(), count=1))
    return corrupt


def _edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def corrupt(run: Path) -> None:
        data = json.loads((run / name).read_text())
        change(data)
        (run / name).write_text(json.dumps(data, indent=2))
    return corrupt


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(data)


def _append(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes((run / name).read_bytes() + data)


def _lines(name: str, change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def corrupt(run: Path) -> None:
        lines = (run / name).read_text().splitlines(keepends=True)
        (run / name).write_text("".join(change(lines)))
    return corrupt


def _flip_byte(name: str) -> Callable[[Path], None]:
    def corrupt(run: Path) -> None:
        data = bytearray((run / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (run / name).write_bytes(bytes(data))
    return corrupt


def _truncate(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes((run / name).read_bytes()[:-7])


def _delete(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda data: data.__setitem__(key, value)


def _score(record: str, value: float) -> Callable[[dict], None]:
    return lambda data: data[record].__setitem__("add_acc", value)


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    corrupt: Callable[[Path], None]
    message: str  # a regular expression the one line must match
    readers: tuple[str, ...] = ("eval", "api", "report", "resume")
    recovery: bool = True  # the message says how to recover


CASES = [
    # config.toml
    Case("config: learning rate edited", "config.toml", _edit_toml("learning_rate", "0.5"), r"not the one the run trained"),
    Case("config: width edited", "config.toml", _edit_toml("n_embd", "28"), r"not the one the run trained"),
    Case("config: seed edited", "config.toml", _edit_toml("seed", "2"), r"seed 2 is not the run's seed \(1"),
    Case("config: not TOML", "config.toml", _append("config.toml", b"[train\n"), r"malformed TOML"),
    Case("config: not UTF-8", "config.toml", _append("config.toml", b"# \xff\xfe\n"), r"not UTF-8"),
    # (without config.toml a folder is no run directory: nothing to recover from)
    Case("config: deleted", "config.toml", _delete("config.toml"), r"no config\.toml", ("eval", "api", "resume"), recovery=False),
    # metrics.jsonl
    Case("metrics: a line lost", "metrics.jsonl", _lines("metrics.jsonl", lambda ls: ls[:1] + ls[2:]),
         r"line 2 holds iteration 20 where the run evaluated iteration 10"),
    Case("metrics: a line not JSON", "metrics.jsonl", _lines("metrics.jsonl", lambda ls: [ls[0], "{oops\n", *ls[1:]]),
         r"line 2 is not an evaluation record"),
    Case("metrics: a line not a record", "metrics.jsonl", _lines("metrics.jsonl", lambda ls: [ls[0], "[1, 2]\n", *ls[1:]]),
         r"line 2 is not an evaluation record"),
    Case("metrics: a score edited", "metrics.jsonl", _edit_text("metrics.jsonl", '"loss": ', '"loss": 1', 1),
         r"changed after summary\.json recorded its SHA-256"),
    Case("metrics: not UTF-8", "metrics.jsonl", _append("metrics.jsonl", b'{"iter": \xff}\n'), r"not UTF-8"),
    Case("metrics: deleted", "metrics.jsonl", _delete("metrics.jsonl"), r"metrics\.jsonl: is missing"),
    Case("metrics: complete run cut mid-line", "metrics.jsonl", _truncate("metrics.jsonl"),
         r"ends in a partial line although the run is complete", ("eval", "api", "report")),
    # summary.json
    Case("summary: best score edited", "summary.json", _edit_json("summary.json", _score("best", 0.99)),
         r"best record \(iteration \d+\) is not metrics\.jsonl's"),
    Case("summary: final score edited", "summary.json", _edit_json("summary.json", _score("final", 0.99)),
         r"final record is not metrics\.jsonl's last", ("eval", "api", "report")),
    Case("summary: extrapolation claim flipped", "summary.json", _edit_json("summary.json", lambda d: d.update(
        extrapolated=not d["extrapolated"])), r"extrapolation claim disagrees", ("eval", "api", "report")),
    Case("summary: checkpoints []", "summary.json", _edit_json("summary.json", _set("checkpoints", [])),
         r"field 'checkpoints' is a list, not a dict"),
    Case("summary: a digest edited", "summary.json", _edit_json("summary.json", lambda d: d["checkpoints"].update(best="x")),
         r"'checkpoints' holds 'best': 'x'"),
    Case("summary: status unknown", "summary.json", _edit_json("summary.json", _set("status", "done")), r"unknown status 'done'"),
    Case("summary: seed edited", "summary.json", _edit_json("summary.json", _set("seed", 7)), r"not the run's seed \(7, in summary"),
    Case("summary: a field missing", "summary.json", _edit_json("summary.json", lambda d: d.pop("best")), r"lacks the field 'best'"),
    Case("summary: []", "summary.json", _write("summary.json", b"[]\n"), r"holds a JSON list, not an object"),
    Case("summary: not JSON", "summary.json", _write("summary.json", b'{"status": '), r"not valid JSON"),
    Case("summary: not UTF-8", "summary.json", _append("summary.json", b"\xff"), r"not UTF-8"),
    # vocab.json
    Case("vocab: not JSON", "vocab.json", _write("vocab.json", b'{"chars": '), r"not valid JSON"),
    Case("vocab: not characters", "vocab.json", _write("vocab.json", b'{"chars": ["ab"]}'), r"not a list of characters"),
    Case("vocab: characters swapped", "vocab.json", _edit_text("vocab.json", '"1", "2"', '"2", "1"'),
         r"the run trained with the characters", ("eval", "resume")),
    # checkpoints
    Case("manifest: []", "checkpoints/SHA256SUMS.json", _write("checkpoints/SHA256SUMS.json", b"[]\n"),
         r"not a map of checkpoint names"),
    Case("manifest: not JSON", "checkpoints/SHA256SUMS.json", _write("checkpoints/SHA256SUMS.json", b"{"), r"not valid JSON"),
    Case("best checkpoint: a byte flipped", "checkpoints/best.safetensors", _flip_byte("checkpoints/best.safetensors"),
         r"best\.safetensors is corrupted"),
    Case("best checkpoint: truncated", "checkpoints/best.safetensors", _truncate("checkpoints/best.safetensors"),
         r"best\.safetensors is corrupted"),
    Case("last checkpoint: a byte flipped", "checkpoints/last.safetensors", _flip_byte("checkpoints/last.safetensors"),
         r"last\.safetensors is corrupted"),
    Case("best checkpoint: deleted", "checkpoints/best.safetensors", _delete("checkpoints/best.safetensors"),
         r"best\.safetensors does not exist", ("eval",)),
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def _assert_refused(code: int, err: list[str], case: Case) -> None:
    assert code == 2, f"{case.name}: exit {code}, stderr {err}"
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert re.search(case.message, err[0]), f"{case.name}: {err[0]!r}"
    assert case.file.split("/")[-1] in err[0], f"{case.name}: the message does not name {case.file}: {err[0]!r}"


def _assert_recovery_named(message: str) -> None:
    assert any(hint in message for hint in (RECOVER, "delete it", "start a new run", "restore the corpus")), message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_damaged_file_is_refused_by_name_by_every_reader(runs, capsys, case):
    which = "interrupted" if case.file.endswith("last.safetensors") else "complete"
    run = runs[which]
    case.corrupt(run)
    before = _snapshot(run.parents[1])
    if "eval" in case.readers and which == "complete":
        code, err = _cli(capsys, "eval", str(run))
        _assert_refused(code, err, case)
        if case.recovery:
            _assert_recovery_named(err[0])
    if "api" in case.readers:
        with pytest.raises(StoreError, match=case.message):
            toobig.load_run(run)
    if "report" in case.readers:
        out = run.parents[2] / "report"
        code, err = _cli(capsys, "report", str(run.parents[1]), "--out", str(out))
        assert code == 0 and len(err) == 1 and re.search(case.message, err[0]), err  # the others still reported
        assert err[0].startswith("toobig: warning: not included: ")
        assert str(run) in (out / "report.md").read_text().split("## Not included")[1]
    assert _snapshot(run.parents[1]) == before, f"{case.name}: a reader changed the run directory"


@pytest.mark.parametrize("case", [c for c in CASES if "resume" in c.readers], ids=lambda c: c.name)
def test_resume_refuses_a_damaged_interrupted_run_and_touches_nothing(runs, capsys, case):
    run = runs["interrupted"]
    case.corrupt(run)
    before = _snapshot(run.parents[1])
    code, err = _cli(capsys, "train", "--resume", str(run))
    _assert_refused(code, err, case)
    assert _snapshot(run.parents[1]) == before


def test_an_interrupted_run_cut_mid_line_resumes_like_the_uninterrupted_run(runs, tmp_path):
    """A kill can leave half a metrics line: the line is recomputed, not refused."""
    run = runs["interrupted"]
    with (run / "metrics.jsonl").open("a") as fh:
        fh.write('{"iter": 30, "add_acc"')
    assert _run(tmp_path, "train", "--resume", str(run)) == 0
    assert _run(tmp_path, "train", *ARGS, "--seeds", "1", "--out", "reference") == 0
    reference = next((tmp_path / "reference").glob("*/seed1"))
    strip = lambda path: [{k: v for k, v in json.loads(l).items() if k != "elapsed_s"}  # noqa: E731
                          for l in (path / "metrics.jsonl").read_text().splitlines()]
    assert strip(run) == strip(reference)


def test_every_committed_run_directory_passes_the_checks():
    from toobig.integrity import check_run
    from toobig.reporting.runs import discover_run_dirs

    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    found = discover_run_dirs(results)
    assert len(found) >= 100
    for path in found:
        check_run(path)


def test_every_committed_run_is_complete():
    """Results are committed when complete; a running run's files change under git."""
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(["git", "ls-files", "docs/results/*/summary.json", "docs/results/**/summary.json"],
                            cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = sorted(set(listed.stdout.split()))
    assert len(tracked) >= 100
    running = [p for p in tracked if json.loads((root / p).read_text())["status"] != "complete"]
    assert not running, f"committed while still training: {running}"
