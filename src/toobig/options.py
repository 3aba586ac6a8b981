"""How runs execute, as opposed to what they compute: one options object from the CLI and the
Python API through the planner and the workers down to the training loop."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError


@dataclass(frozen=True)
class RunOptions:
    """How to train (nothing here enters the config digest or a run directory's name).

    compile and batch_shards change the float rounding; a resumed run keeps the values it
    started with. The others change where and how fast a run trains, not what it computes.
    """

    # auto (CUDA when there is one), cpu, cuda or cuda:N.
    device: str = "auto"
    # torch.compile the training step.
    compile: bool = False
    # Split every batch into this many shards trained on as many threads (CPU, one intra-op
    # thread each): faster for one member on several cores, with different rounding.
    batch_shards: int = 1
    # Largest population trained at once; None: what fits the GPU's memory, or what suits the CPU.
    max_members: int | None = None
    # Write each member's metrics as TensorBoard scalars to RUN_DIR/tensorboard/.
    tensorboard: bool = False
    # A progress bar on stderr.
    progress: bool = True
    # Continue interrupted runs from their last checkpoint and skip complete ones.
    resume: bool = False
    # A fresh (not resumed) start may delete what an earlier attempt left in its directories.
    overwrite: bool = False

    def __post_init__(self) -> None:
        # The device's name is checked where it is resolved (engine.device), on the machine that trains.
        if not isinstance(self.device, str):
            raise ConfigError(f"--device must be a name (auto, cpu, cuda or cuda:N), got {self.device!r}")
        for name in ("compile", "tensorboard", "progress", "resume", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"RunOptions.{name} must be True or False, got {getattr(self, name)!r}")
        for name, value, optional in (("batch_shards", self.batch_shards, False), ("max_members", self.max_members, True)):
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")


def require_options(options: object) -> RunOptions:
    """A RunOptions, or a TypeError in one line (e.g. for a device name passed where the options go)."""
    if not isinstance(options, RunOptions):
        raise TypeError(f"options must be a toobig.RunOptions, got {type(options).__name__} {options!r}")
    return options
