"""One run directory per (config, seed): config.toml, metrics.jsonl, summary.json, checkpoints/.

Every file is written to a temporary name, flushed and renamed (its folder synced after), so a
reader (or a crash) never sees half a file. Checkpoints are safetensors (no pickle) and their
SHA-256 is kept in summary.json, so a truncated or corrupted checkpoint is detected by name before
it is loaded.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import signal
import socket
import tempfile
import time
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import RunConfig, ConfigError, apply_overrides, read_toml, to_toml, validate
from .presets import variant_tag

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "config.toml", "metrics.jsonl", "summary.json"
# The character vocabulary, token id = position in the list: what a checkpoint's rows mean.
VOCAB_FILE = "vocab.json"
CHECKPOINT_NAMES = ("best", "last")
STAGED_SUFFIX = ".staged.safetensors"
MANIFEST_FILE = "SHA256SUMS.json"
# Left by a failed sweep attempt (RunDir.write_failure); removed once the run completes.
ERROR_FILE, TRACEBACK_FILE = "error.json", "traceback.txt"
EXTRAPOLATION_FILE = "extrapolation.json"
# What a finished run answers on its held-out prompts at its last evaluation, for runs trained
# before the evaluation records carried the answers (toobig.answers).
ANSWERS_FILE = "answers.json"
# Written from a finished run's checkpoints after training; a fresh start removes them with the rest.
DERIVED_FILES = (EXTRAPOLATION_FILE, ANSWERS_FILE)
LOCK_FILE = ".lock"
# How to recover from a damaged file of a run directory, said with every refusal.
RECOVER = "restore it from a copy (e.g. `git checkout`), or delete the run directory and train the run again"

# Fault injection for the reliability suite (tests/test_faults.py, benchmarks/faults.py): with
# TOOBIG_KILL_AT_WRITE=N in the environment, the process kills itself with SIGKILL at its N-th
# write point (a temp file written, renamed, a metrics line appended). Unset: one dict lookup.
KILL_AT_WRITE_ENV = "TOOBIG_KILL_AT_WRITE"


class _WritePoints:
    def __init__(self) -> None:
        self.seen = 0

    def reached(self) -> None:
        target = os.environ.get(KILL_AT_WRITE_ENV)
        if not target:
            return
        self.seen += 1
        if self.seen == int(target):
            os.kill(os.getpid(), signal.SIGKILL)


_write_points = _WritePoints()


class StoreError(RuntimeError):
    """A run directory that cannot be read as expected; the message names the file."""


class RunDirBusy(StoreError):
    """Another process holds the run directory's lock."""


class RunExists(StoreError):
    """A fresh start would delete the results of an earlier run in the directory."""


def _read_lock_file(fd: int) -> list[str]:
    try:
        return os.pread(fd, 256, 0).decode("utf-8", "replace").split()
    except OSError:
        return []


def _lock_holder(fd: int, patience_s: float = 1.0) -> str:
    """What the holder wrote into the lock file ("pid N" or "pid N on HOST"), or "pid unknown".

    The holder writes its pid right after it takes the lock, so a reader that comes in between
    polls briefly instead of reporting an unknown holder at once.
    """
    deadline = time.monotonic() + patience_s
    text = _read_lock_file(fd)
    while not (text and text[0].isdigit()) and time.monotonic() < deadline:
        time.sleep(0.01)
        text = _read_lock_file(fd)
    if not (text and text[0].isdigit()):
        return "pid unknown"  # the holder has the lock but has not written its pid (yet)
    host = text[1] if len(text) > 1 else ""
    return f"pid {text[0]}" + (f" on {host}" if host and host != socket.gethostname() else "")


def lock_holder(path: str | Path) -> int | None:
    """The pid holding run directory `path`'s lock, or None; read from /proc/locks without
    touching the lock file, so asking never gets in a trainer's way (None where /proc/locks
    is missing, e.g. not Linux)."""
    try:
        st = os.stat(Path(path) / LOCK_FILE)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:56789 0 EOF"; lines marked "->" wait for a lock
        fields = line.split()
        if len(fields) < 8 or fields[1] != "FLOCK" or "->" in fields:
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino):
                return int(fields[4])
        except ValueError:
            continue
    return None


@contextmanager
def run_lock(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on run directory `path` (created if missing) for the `with` block.

    flock(2) on `<path>/.lock`: the kernel drops it when the holder exits or dies (SIGKILL
    included), so a stale lock never blocks a resume. It is not re-entrant: a second `run_lock`
    on the same directory fails even in the same process. The lock file stays after release;
    removing it would let two processes lock two different inodes of the same name.
    Raises RunDirBusy, naming the holder's pid, when another process holds the lock.
    """
    path = Path(path)
    make_folder_durably(path)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusy(
                f"run directory {path} is being written by another toobig process ({_lock_holder(fd)}); "
                "wait for it to finish or stop it, then retry"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # a reader that races the next holder sees "pid unknown", not us
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (no window in which
    another thread would create files with a zero mask)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_file_beside(path: Path, prefix: str) -> tuple[int, str]:
    """A temp file to be renamed onto path, with the mode open() would give a new file
    (mkstemp's 0600 would make results unreadable to colleagues on a shared filesystem)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_current_umask())
    return fd, tmp


def require_folder(out: Path, holds: str = "runs go") -> None:
    """Refuse an output path that is, or lies below, a file, before anything is written below it."""
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                if path != out:
                    raise StoreError(f"{out}: {path} is a file; {holds} into a folder")
                raise StoreError(f"{out} is a file; {holds} into a folder")
            return


# What opening or fsyncing a folder answers where the platform or filesystem does not sync folders
# (network and FUSE filesystems, a folder one may write but not read); as PostgreSQL does, these
# leave the rename atomic without the power-loss guarantee, and the write stands.
_FOLDER_SYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES, errno.EISDIR})


def replace_durably(source: str | Path, target: Path) -> None:
    """os.replace, then fsync the folder, so that the new name survives a power loss as well as a
    kill (a rename lives in the folder, which fsyncing the file does not write)."""
    os.replace(source, target)
    _sync_folder(target.parent)


def make_folder_durably(path: Path) -> None:
    """mkdir -p, then fsync the parent of each folder it created: a new folder's name lives in
    its parent, so without that a power loss can lose a run directory and everything in it."""
    created = []
    folder = path
    while not folder.is_dir() and folder.parent != folder:
        created.append(folder)
        folder = folder.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in reversed(created):
        _sync_folder(folder.parent)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _FOLDER_SYNC_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FOLDER_SYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    make_folder_durably(path.parent)
    fd, tmp = _temp_file_beside(path, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _write_points.reached()
        replace_durably(tmp, path)
        _write_points.reached()
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def metrics_text(records: Iterable[dict[str, Any]]) -> str:
    """metrics.jsonl's text: one JSON line per evaluation record."""
    return "".join(json.dumps(r) + "\n" for r in records)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {RECOVER}") from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc}); {RECOVER}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_dir_name(config: RunConfig) -> str:
    """label[-variant tag]-digest/seed<N>: e.g. arithmetic-n28-paper-order-seed-1a2b3c4d/seed3."""
    tag = variant_tag(config)
    return f"{config.label}{'-' + tag if tag else ''}-{config.digest()}/seed{config.seed}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # a str works too

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.safetensors"

    def lock(self) -> AbstractContextManager[Path]:
        """Exclusive lock for writing this directory; see `run_lock`."""
        return run_lock(self.path)

    # -- config ---------------------------------------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        atomic_write_text(self.config_path, to_toml(config))

    def read_config(self) -> RunConfig:
        if not self.config_path.is_file():
            what = f"not a run directory (no {CONFIG_FILE}); a seed<N> folder is" if self.path.is_dir() else "no such run directory"
            raise StoreError(f"{self.path}: {what}")
        try:
            data = read_toml(self.config_path)
        except ConfigError as exc:  # the message names the file
            raise StoreError(f"{exc}; {RECOVER}") from None
        try:
            return validate(apply_overrides(RunConfig(), data))
        except ConfigError as exc:
            raise StoreError(f"{self.config_path}: {exc}") from None

    # -- vocabulary -----------------------------------------------------------------------------
    @property
    def vocab_path(self) -> Path:
        return self.path / VOCAB_FILE

    def write_vocab(self, chars: str) -> None:
        atomic_write_text(self.vocab_path, json.dumps({"chars": list(chars)}, ensure_ascii=False) + "\n")

    def read_vocab(self) -> str | None:
        """The run's characters in token-id order, or None for a run trained before toobig kept them."""
        if not self.vocab_path.is_file():
            return None
        data = _read_json(self.vocab_path)
        chars = data.get("chars") if isinstance(data, dict) else None
        if not (isinstance(chars, list) and all(isinstance(c, str) and len(c) == 1 for c in chars)):
            raise StoreError(f"{self.vocab_path}: not a list of characters under 'chars'; {RECOVER}")
        return "".join(chars)

    # -- metrics --------------------------------------------------------------------------------
    def write_metrics(self, records: Iterable[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics_path, metrics_text(records))

    def append_metrics(self, record: dict[str, Any]) -> None:
        # One write of one whole line; a crash can lose the line but never leaves half of it
        # that a reader would accept (read_metrics ignores a final line without its newline).
        # The trainer creates the file with write_metrics (a durable rename) before appending.
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(metrics_text([record]))
            fh.flush()
            os.fsync(fh.fileno())
        _write_points.reached()

    def read_metrics(self) -> list[dict[str, Any]]:
        text = self.read_metrics_text()
        return [] if text is None else self.parse_metrics(text)

    def read_metrics_text(self) -> str | None:
        """metrics.jsonl as text, or None when there is none yet."""
        if not self.metrics_path.is_file():
            return None
        try:
            return self.metrics_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"{self.metrics_path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {RECOVER}") from None

    def parse_metrics(self, text: str) -> list[dict[str, Any]]:
        """The evaluation records of metrics.jsonl's text; whatever follows the last newline is
        an interrupted write and ignored. A line that is not a record is refused by number."""
        records = []
        for number, line in enumerate(text.split("\n")[:-1], start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not (isinstance(record, dict) and type(record.get("iter")) is int):
                raise StoreError(f"{self.metrics_path}: line {number} is not an evaluation record: {line[:60]!r}; {RECOVER}")
            records.append(record)
        return records

    # -- summary --------------------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.summary_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary_path.is_file():
            return None
        summary = _read_json(self.summary_path)
        if not isinstance(summary, dict):
            raise StoreError(f"{self.summary_path}: holds a JSON {type(summary).__name__}, not an object; {RECOVER}")
        return summary

    def write_failure(self, info: dict[str, Any], traceback_text: str) -> None:
        """Write error.json (what failed, where, when) and traceback.txt (the caller holds the lock)."""
        atomic_write_text(self.path / ERROR_FILE, json.dumps(info, indent=2) + "\n")
        atomic_write_text(self.path / TRACEBACK_FILE, traceback_text)

    def read_failure(self) -> dict[str, Any] | None:
        """The error.json of a failed attempt, or None."""
        try:
            return json.loads((self.path / ERROR_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # a damaged record of a failure is no record
            return None

    def has_failure(self) -> bool:
        return (self.path / ERROR_FILE).exists() or (self.path / TRACEBACK_FILE).exists()

    def clear_failure(self) -> None:
        """Remove error.json and traceback.txt of an earlier attempt (the caller holds the lock)."""
        for name in (ERROR_FILE, TRACEBACK_FILE):
            (self.path / name).unlink(missing_ok=True)

    def remove_temp_files(self) -> list[Path]:
        """Delete the temp files of writes a kill interrupted (the caller holds the lock, so no
        live writer owns them); return what was removed."""
        found = [p for d in (self.path, self.path / "checkpoints") if d.is_dir() for p in d.glob(".*.tmp")]
        for p in found:
            p.unlink(missing_ok=True)
        return found

    def clear_outputs(self) -> None:
        """Remove every result of an earlier attempt (the caller holds the lock)."""
        derived = [self.path / name for name in DERIVED_FILES]
        for path in (self.summary_path, self.metrics_path, *derived, self.manifest_path, self.vocab_path):
            path.unlink(missing_ok=True)
        for name in CHECKPOINT_NAMES:
            self.checkpoint_path(name).unlink(missing_ok=True)
            self.staged_path(name).unlink(missing_ok=True)
        self.clear_failure()

    def earlier_results(self) -> str | None:
        """What an earlier attempt left here that a fresh start would delete, in words, or None."""
        summary = self.read_summary()
        if summary and summary.get("status") == "complete":
            return "a complete run"
        if self.checkpoint_path("last").is_file():
            return "an interrupted run with a checkpoint"
        if summary or self.read_metrics() or any((self.path / name).is_file() for name in DERIVED_FILES):
            return "results of an earlier run"
        return None

    def is_complete(self) -> bool:
        summary = self.read_summary()
        return bool(summary and summary.get("status") == "complete")

    # -- checkpoints ----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "checkpoints" / MANIFEST_FILE

    def checkpoint_digests(self) -> dict[str, list[str]]:
        """SHA-256 digests a checkpoint may have: the newest first, then the one it replaced."""
        if not self.manifest_path.is_file():
            return {}
        digests = _read_json(self.manifest_path)
        if not (
            isinstance(digests, dict)
            and all(isinstance(v, list) and all(isinstance(d, str) for d in v) for v in digests.values())
        ):
            raise StoreError(
                f"{self.manifest_path}: not a map of checkpoint names to SHA-256 lists; delete it to load "
                "the checkpoints against summary.json's checksums"
            )
        return digests

    def staged_path(self, name: str) -> Path:
        """Where a checkpoint waits until every member of its population has written its own."""
        return self.path / "checkpoints" / f"{name}{STAGED_SUFFIX}"

    def commit_staged(self, name: str) -> None:
        """Put the staged checkpoint in place (its digest is already in the manifest)."""
        replace_durably(self.staged_path(name), self.checkpoint_path(name))
        _write_points.reached()

    def save_checkpoint(
        self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str], staged: bool = False
    ) -> str:
        """Write checkpoints/<name>.safetensors atomically (staged: to staged_path, for
        commit_staged); return its SHA-256.

        The new digest is recorded in the manifest *before* the file is renamed into place,
        and the previous digest is kept, so whenever a kill strikes, the file on disk matches
        one recorded digest; any other content is corruption.
        """
        path = self.staged_path(name) if staged else self.checkpoint_path(name)
        make_folder_durably(path.parent)
        fd, tmp = _temp_file_beside(path, f".{name}.")
        os.close(fd)
        try:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
            os.chmod(tmp, 0o666 & ~_current_umask())  # safetensors writes its file 0600
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(Path(tmp))
            _write_points.reached()
            digests = self.checkpoint_digests()
            # The newest digest, then the file in place's: a staged file that is never committed
            # must not push out the digest of the checkpoint still in use.
            kept = [d for d in digests.get(name, []) if d != digest]
            in_place = self.checkpoint_path(name)
            if staged and in_place.is_file():
                kept = [sha256_file(in_place)]
            digests[name] = [digest, *kept[:1]]
            atomic_write_text(self.manifest_path, json.dumps(digests, indent=2, sort_keys=True) + "\n")
            replace_durably(tmp, path)
            _write_points.reached()
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def load_checkpoint(self, name: str, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
        """Load a checkpoint, refusing one whose SHA-256 is not a recorded one."""
        path = self.checkpoint_path(name)
        if not path.is_file():
            raise StoreError(f"checkpoint {path} does not exist; {RECOVER}")
        accepted = set(self.checkpoint_digests().get(name, []))
        if expected_sha256 is not None:
            accepted.add(expected_sha256)
        if accepted and sha256_file(path) not in accepted:
            raise StoreError(f"checkpoint {path} is corrupted (its SHA-256 matches no recorded checksum)")
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise StoreError(f"checkpoint {path} is unreadable: {exc}") from None

    def checkpoint_metadata(self, name: str) -> dict[str, str]:
        return checkpoint_file_metadata(self.checkpoint_path(name))


def checkpoint_file_metadata(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file (a checkpoint in place or staged), read from its header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})
