"""Training runs: populations trained in lockstep, evaluated on schedule, written to run directories.

    from toobig.options import RunOptions
    from toobig.training import train
    runs = train(config, seeds=[0, 1, 2], out_root="runs", options=RunOptions(device="cpu"))
"""

from .corpus import Prepared
from .loop import shard_threads, train, train_runs
from .monitor import require_tensorboard
from .summary import TIMING_FIELDS
from ..engine.device import resolve_device

__all__ = ["Prepared", "TIMING_FIELDS", "resolve_device", "require_tensorboard", "shard_threads", "train", "train_runs"]
