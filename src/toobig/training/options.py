"""How a run executes, as opposed to what it computes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineOptions:
    """How to run, as opposed to what to compute (none of these enter the config digest)."""

    progress: bool = True
    resume: bool = False
    compile: bool = False
    # Write each member's metrics as TensorBoard scalars to RUN_DIR/tensorboard/.
    tensorboard: bool = False
    # Split every batch into this many shards trained on as many threads (CPU, one intra-op
    # thread each): faster for one member on several cores, with different rounding.
    batch_shards: int = 1
    # A fresh (not resumed) start may delete what an earlier attempt left in its directories.
    overwrite: bool = False
