"""The run-directory lock, exercised with real processes: one writer at a time, none after death."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from toobig.store import LOCK_FILE, RunDir, RunDirBusy, StoreError, run_lock

# Holds the lock on argv[1] until killed; says so on stdout.
HOLDER = """
import sys, time
from toobig.store import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""

# Waits for argv[2] to exist, then tries the lock once and reports; a winner holds it a while.
CONTENDER = """
import sys, time
from pathlib import Path
from toobig.store import RunDirBusy, run_lock
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
try:
    with run_lock(sys.argv[1]):
        print("got", flush=True)
        time.sleep(1.5)
except RunDirBusy as exc:
    print("busy", exc, flush=True)
"""


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path):
    run = RunDir(tmp_path / "arith-n14" / "seed0")
    holder = _python(HOLDER, str(run.path))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirBusy, match=rf"being written by another toobig process \(pid {holder.pid}\)") as info:
            with run.lock():
                pass
        assert str(run.path) in str(info.value)
        assert isinstance(info.value, StoreError)
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the kernel must drop the lock
        holder.wait(timeout=10)
        with run.lock():
            assert (run.path / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_two_concurrent_writers_exactly_one_wins(tmp_path):
    target, go = tmp_path / "run" / "seed1", tmp_path / "go"
    procs = [_python(CONTENDER, str(target), str(go)) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        go.touch()  # both try at the same moment
        outputs = [p.communicate(timeout=30)[0].strip() for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
    assert sorted(o.split()[0] for o in outputs) == ["busy", "got"]
    loser = next(o for o in outputs if o.startswith("busy"))
    winner_pid = procs[[o.startswith("got") for o in outputs].index(True)].pid
    assert f"pid {winner_pid}" in loser and str(target) in loser


def test_lock_is_released_on_exit_and_on_error_and_is_not_reentrant(tmp_path):
    path = tmp_path / "new" / "seed3"
    with run_lock(path) as locked:  # creates the directory
        assert locked == path and path.is_dir()
        with pytest.raises(RunDirBusy):  # flock is per open file: even this process is refused
            with run_lock(path):
                pass
    with pytest.raises(ValueError):
        with run_lock(path):
            raise ValueError("boom")
    with run_lock(path):
        pass
    assert (path / LOCK_FILE).read_text() == ""  # no stale pid left for a reader to blame


def test_a_refused_writer_waits_briefly_for_the_holder_to_write_its_pid(tmp_path):
    """The holder flocks first and writes its pid just after; a reader in between must not say 'unknown'."""
    import fcntl
    import threading

    path = tmp_path / "seed0"
    path.mkdir()
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, pid not yet written
        late = threading.Timer(0.2, lambda: os.pwrite(fd, b"4242 " + socket.gethostname().encode() + b"\n", 0))
        late.start()
        with pytest.raises(RunDirBusy, match=r"\(pid 4242\)"):
            with run_lock(path):
                pass
        late.join()
    finally:
        os.close(fd)
