"""The malloc settings apply on glibc Linux and the trainer applies them for CPU training."""

import platform
import sys

import pytest

from toobig.engine import memory
from toobig.options import RunOptions
from toobig.training import loop

from .conftest import tiny


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_on_glibc():
    assert memory.keep_freed_memory() is True


def test_cpu_training_keeps_freed_memory(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(True) or True)
    loop.train(tiny(iters=4, interval=2), [1], tmp_path, RunOptions(device="cpu", progress=False))
    assert calls
