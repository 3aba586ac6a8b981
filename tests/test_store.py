"""Run directories: atomic files, checksummed checkpoints, tolerant metrics reading."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from toobig.store import RunDir, StoreError, atomic_write_text


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "hello")
    atomic_write_text(tmp_path / "a.txt", "world")
    assert (tmp_path / "a.txt").read_text() == "world"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_checkpoint_checksum_detects_corruption(tmp_path):
    run = RunDir(tmp_path)
    digest = run.save_checkpoint("last", {"w": torch.arange(100.0)}, {"iteration": "5"})
    assert torch.equal(run.load_checkpoint("last", digest)["w"], torch.arange(100.0))
    assert run.checkpoint_metadata("last")["iteration"] == "5"
    path = run.checkpoint_path("last")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="last.safetensors is corrupted"):
        run.load_checkpoint("last")  # verified against the manifest without being told the digest


def test_a_kill_between_manifest_and_rename_leaves_a_loadable_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    run.save_checkpoint("last", {"w": torch.zeros(3)}, {})
    old = run.checkpoint_path("last").read_bytes()
    run.save_checkpoint("last", {"w": torch.ones(3)}, {})
    # Simulate the crash window: the manifest already lists the new digest, the old file remains.
    run.checkpoint_path("last").write_bytes(old)
    assert torch.equal(run.load_checkpoint("last")["w"], torch.zeros(3))


def _record_folder_syncs(monkeypatch, folders) -> list[tuple[str, list[str]]]:
    """Patch os.fsync to record, for each folder synced, its name and what it holds at that moment
    (temporary files as "<temp>"); `folders()` lists the folders the test may sync."""
    synced: list[tuple[str, list[str]]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            folder = next(p for p in folders() if p.is_dir() and os.stat(p).st_ino == info.st_ino)
            names = sorted("<temp>" if p.name.endswith(".tmp") else p.name for p in folder.iterdir())
            synced.append((folder.name, names))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_every_rename_is_made_durable_by_syncing_its_folder_after_it(tmp_path, monkeypatch):
    # A power loss can undo a rename whose folder was not synced after it: each folder sync must
    # come after the rename it covers, i.e. see the new name in place and its temp file gone.
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    synced = _record_folder_syncs(monkeypatch, lambda: (run.path, run.path / "checkpoints"))
    atomic_write_text(run.path / "summary.json", "{}")
    assert synced == [("run", ["summary.json"])]
    (run.path / "checkpoints").mkdir()
    synced.clear()
    run.save_checkpoint("last", {"w": torch.zeros(3)}, {})
    manifest, last = "SHA256SUMS.json", "last.safetensors"
    # The manifest's rename is synced while the checkpoint still waits under its temp name.
    assert synced == [("checkpoints", ["<temp>", manifest]), ("checkpoints", [manifest, last])]
    synced.clear()
    run.save_checkpoint("best", {"w": torch.ones(3)}, {}, staged=True)
    run.commit_staged("best")
    staged = "best.staged.safetensors"
    assert synced == [
        ("checkpoints", ["<temp>", manifest, last]),
        ("checkpoints", [manifest, staged, last]),
        ("checkpoints", [manifest, "best.safetensors", last]),
    ]


def test_new_folders_are_made_durable_by_syncing_their_parent(tmp_path, monkeypatch):
    # A new name lives in its parent folder: a run directory (and the folders above it that it
    # needed) and its checkpoints/ each need their parent synced once they exist.
    sweep = tmp_path / "sweep"
    run = RunDir(sweep / "label" / "seed0")
    synced = _record_folder_syncs(monkeypatch, lambda: (tmp_path, sweep, sweep / "label", run.path, run.path / "checkpoints"))
    with run.lock():
        assert synced == [(tmp_path.name, ["sweep"]), ("sweep", ["label"]), ("label", ["seed0"])]
        synced.clear()
        run.save_checkpoint("last", {"w": torch.zeros(3)}, {})
        assert synced[0] == ("seed0", [".lock", "checkpoints"])
    synced.clear()
    atomic_write_text(run.path / "summary.json", "{}")  # no folder created: only the rename's sync
    assert synced == [("seed0", [".lock", "checkpoints", "summary.json"])]


@pytest.mark.parametrize("failure", ["unsupported", "disk error"])
def test_a_folder_that_cannot_be_synced_keeps_the_write_unless_the_disk_fails(tmp_path, monkeypatch, failure):
    import errno

    real_fsync = os.fsync
    code = errno.EINVAL if failure == "unsupported" else errno.EIO

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    if failure == "unsupported":  # as on filesystems that do not sync folders: the rename stands
        atomic_write_text(tmp_path / "a.txt", "kept")
    else:
        with pytest.raises(OSError, match="Input/output error"):
            atomic_write_text(tmp_path / "a.txt", "kept")
    assert (tmp_path / "a.txt").read_text() == "kept"


def test_truncated_checkpoint_is_reported_by_name(tmp_path):
    run = RunDir(tmp_path)
    run.save_checkpoint("best", {"w": torch.ones(10)}, {})
    path = run.checkpoint_path("best")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(StoreError, match="best.safetensors is corrupted"):
        run.load_checkpoint("best")
    run.manifest_path.unlink()  # without recorded checksums, safetensors' own parsing still refuses it
    with pytest.raises(StoreError, match="best.safetensors is unreadable"):
        run.load_checkpoint("best")


def test_metrics_ignore_an_interrupted_last_line(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics({"iter": 0})
    run.append_metrics({"iter": 250})
    with run.metrics_path.open("a") as fh:
        fh.write('{"iter": 5')
    assert run.read_metrics() == [{"iter": 0}, {"iter": 250}]


def test_files_respect_the_umask_not_mkstemps_0600(tmp_path):
    """Results on a shared filesystem must be readable by colleagues: modes follow the umask."""
    import os

    import torch

    from toobig.store import RunDir, atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "summary.json", "{}")
        RunDir(tmp_path).save_checkpoint("best", {"w": torch.zeros(2)}, {})
    finally:
        os.umask(old)
    for path in ("summary.json", "checkpoints/best.safetensors", "checkpoints/SHA256SUMS.json"):
        assert (tmp_path / path).stat().st_mode & 0o777 == 0o640, path


def test_run_directory_names_show_what_departs_from_the_preset():
    from dataclasses import replace

    from toobig.presets import make_config
    from toobig.store import run_dir_name

    base = make_config("arithmetic", "n14", seed=2)
    assert run_dir_name(base) == f"arithmetic-n14-paper-{base.digest()}/seed2"
    swept = replace(base, train=replace(base.train, learning_rate=3e-3, batch_size=256), model=replace(base.model, dropout=0.1))
    assert run_dir_name(swept).startswith("arithmetic-n14-paper-lr0.003-dropout0.1-bs256-")
    order = replace(base, task=replace(base.task, line_order="seed", held_out=((3, 8),)))
    assert run_dir_name(order).startswith("arithmetic-n14-paper-order-seed-heldout-3x8-")
