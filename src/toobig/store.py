"""One run directory per (config, seed): config.toml, metrics.jsonl, summary.json, checkpoints/.

Every file is written to a temporary name, flushed and renamed, so a reader (or a crash) never
sees half a file. Checkpoints are safetensors (no pickle) and their SHA-256 is kept in
summary.json, so a truncated or corrupted checkpoint is detected by name before it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import RunConfig, ConfigError, apply_overrides, read_toml, to_toml, validate

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "config.toml", "metrics.jsonl", "summary.json"
CHECKPOINT_NAMES = ("best", "last")


class StoreError(RuntimeError):
    """A run directory that cannot be read as expected; the message names the file."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_dir_name(config: RunConfig) -> str:
    return f"{config.label}-{config.digest()}/seed{config.seed}"


@dataclass(frozen=True)
class RunDir:
    path: Path

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

    # -- config ---------------------------------------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        atomic_write_text(self.config_path, to_toml(config))

    def read_config(self) -> RunConfig:
        if not self.config_path.is_file():
            raise StoreError(f"{self.path} is not a run directory (no {CONFIG_FILE})")
        try:
            return validate(apply_overrides(RunConfig(), read_toml(self.config_path)))
        except ConfigError as exc:
            raise StoreError(f"{self.config_path}: {exc}") from None

    # -- metrics --------------------------------------------------------------------------------
    def write_metrics(self, records: Iterable[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in records))

    def append_metrics(self, record: dict[str, Any]) -> None:
        # One write of one whole line; a crash can lose the line but never leaves half of it
        # that a reader would accept (read_metrics ignores a final line without its newline).
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        text = self.metrics_path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete = lines[:-1]  # whatever follows the last newline is an interrupted write
        return [json.loads(line) for line in complete if line.strip()]

    # -- summary --------------------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.summary_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary_path.is_file():
            return None
        try:
            return json.loads(self.summary_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.summary_path}: not valid JSON ({exc})") from None

    def is_complete(self) -> bool:
        summary = self.read_summary()
        return bool(summary and summary.get("status") == "complete")

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
        """Write checkpoints/<name>.safetensors atomically; return its SHA-256."""
        path = self.checkpoint_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def load_checkpoint(self, name: str, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
        """Load a checkpoint, refusing one whose checksum differs from the recorded one."""
        path = self.checkpoint_path(name)
        if not path.is_file():
            raise StoreError(f"checkpoint {path} does not exist")
        if expected_sha256 is not None and sha256_file(path) != expected_sha256:
            raise StoreError(f"checkpoint {path} is corrupted (SHA-256 differs from the one recorded in summary.json)")
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise StoreError(f"checkpoint {path} is unreadable: {exc}") from None

    def checkpoint_metadata(self, name: str) -> dict[str, str]:
        from safetensors import safe_open

        with safe_open(str(self.checkpoint_path(name)), framework="pt") as fh:
            return dict(fh.metadata() or {})
