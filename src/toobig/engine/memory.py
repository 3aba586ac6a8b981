"""Keep freed memory inside the process between training steps (glibc malloc settings)."""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = (
    (_M_MMAP_THRESHOLD, 32 << 20),  # glibc's upper limit on 64-bit
    (_M_TRIM_THRESHOLD, 1 << 30),
    (_M_TOP_PAD, 64 << 20),
)


def keep_freed_memory() -> bool:
    """Every CPU step allocates and frees the same few MB of activations. With glibc's defaults
    such blocks are often mmap'ed and unmapped (or trimmed) each time, and every fresh page then
    costs a page fault on first touch: 8-12% of an eager step here (docs/performance.md). These
    settings serve them from the heap instead. Returns whether they were applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
