"""A/B: the cost of syncing the folder after each rename (store.replace_durably) against a plain
os.replace, for the writes a run makes at an evaluation: summary.json and an n56 checkpoint.

A and B alternate write by write, so the disk's drift falls on both; prints the median and the
quartiles per kind of write, asserts nothing.

    python benchmarks/bench_store.py                 # 40 writes of each kind per variant
    python benchmarks/bench_store.py --writes 100 --dir /path/on/the/disk/to/measure
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import torch

from toobig import store
from toobig.model import count_parameters
from toobig.presets import make_config


@contextmanager
def _plain_rename() -> Iterator[None]:
    """store without the folder sync: os.replace alone, as before replace_durably."""
    durable = store.replace_durably
    store.replace_durably = lambda source, target: os.replace(source, target)  # type: ignore[assignment]
    try:
        yield
    finally:
        store.replace_durably = durable


def _writes(run: store.RunDir) -> dict[str, Callable[[], None]]:
    config = make_config("arithmetic", "n56")
    # An n56 member's tensors with AdamW's two moments, as a `last` checkpoint holds them.
    numel = 3 * count_parameters(config.model, 17)
    tensors = {"state": torch.randn(numel)}
    summary = json.dumps({"status": "running", "metrics": list(range(200))})
    return {
        "summary.json": lambda: store.atomic_write_text(run.summary_path, summary),
        "n56 checkpoint": lambda: run.save_checkpoint("last", tensors, {"iteration": "0"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=40, help="writes of each kind per variant")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        run = store.RunDir(Path(tmp) / "run")
        writes = _writes(run)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.writes):
            for variant in ("folder synced", "plain rename"):
                for kind, write in writes.items():
                    if variant == "plain rename":
                        with _plain_rename():
                            start = time.perf_counter()
                            write()
                    else:
                        start = time.perf_counter()
                        write()
                    times.setdefault((kind, variant), []).append(1e3 * (time.perf_counter() - start))
    print(f"{date.today()}  {args.writes} writes of each kind per variant, alternating; ms per write")
    print(f"{'write':<16} {'variant':<14} {'median':>7} {'q1':>7} {'q3':>7}")
    for (kind, variant), ms in sorted(times.items()):
        q1, median, q3 = statistics.quantiles(ms, n=4)
        print(f"{kind:<16} {variant:<14} {median:7.2f} {q1:7.2f} {q3:7.2f}")


if __name__ == "__main__":
    main()
