"""Training runs: populations trained in lockstep, evaluated on schedule, written to run directories.

    from toobig.training import train
    runs = train(config, seeds=[0, 1, 2], out_root="runs")
"""

from .corpus import Prepared
from .loop import shard_threads, train, train_runs
from .monitor import require_tensorboard
from .options import EngineOptions
from .summary import TIMING_FIELDS
from ..engine.device import resolve_device

__all__ = ["Prepared", "EngineOptions", "TIMING_FIELDS", "resolve_device", "require_tensorboard", "shard_threads", "train", "train_runs"]
