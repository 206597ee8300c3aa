"""Giving freed memory back to the system, at most once a second, after sessions went quiet.

A quiet session compresses its journal (runtime.py), which frees memory in the middle of the heap; the
allocator keeps it for reuse unless told otherwise. `realtime-mock serve` sets `releaser` (glibc's
`malloc_trim`, runner.tune_process); elsewhere (tests, the pytest plugin in a test process) it is None
and nothing happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

INTERVAL = 1.0  # seconds between two releases at most

releaser: Callable[[], object] | None = None
_pending = False


def release_soon() -> None:
    """Release freed memory within `INTERVAL` (many calls in that time release once)."""
    global _pending
    if releaser is None or _pending:
        return
    _pending = True
    asyncio.get_running_loop().call_later(INTERVAL, _release)


def _release() -> None:
    global _pending
    _pending = False
    if releaser is not None:
        releaser()
