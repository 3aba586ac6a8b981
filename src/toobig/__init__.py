"""toobig: capacity vs. memorization/generalization in small transformers.

The Python API: toobig.config, train (how: RunOptions), resume, load_run, load_runs, evaluate, sample,
sweep, reproduce, report, compare, compare_verdicts and Run (defined in toobig.api; `import toobig` loads
no torch until one of them needs it).
"""

from .version import __version__

# Bound after toobig.config (the module) has loaded, so the name toobig.config is the function;
# `from toobig.config import RunConfig` still finds the module.
from .api import (
    Run, RunOptions, compare, compare_verdicts, config, evaluate, load_run, load_runs, report, reproduce, resume, sample,
    sweep, train,
)

__all__ = [
    "__version__", "Run", "RunOptions", "compare", "compare_verdicts", "config", "evaluate", "load_run", "load_runs", "report",
    "reproduce", "resume", "sample", "sweep", "train",
]
