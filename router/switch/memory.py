"""Giving freed memory back to the system: glibc's allocator keeps it otherwise.

A burst of intake allocates a few megabytes of cables and parse results and frees them at once;
glibc keeps the freed pages in its arenas, so the router's resident size would stay at its highest
burst for good. `malloc_trim` returns them. Elsewhere (musl, macOS) there is nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_LIBC = ctypes.util.find_library("c")


def _trimmer() -> Callable[[int], int] | None:
    if _LIBC is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(_LIBC).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _trimmer()


def give_back_memory() -> None:
    """Return the allocator's free memory to the system, where the C library can (glibc)."""
    if _TRIM is not None:
        _TRIM(0)
