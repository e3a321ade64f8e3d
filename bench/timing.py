"""What every HTTP benchmark does around a timed batch of requests."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def client_gc_held() -> Iterator[None]:
    """The measuring process's garbage collector, run before a timed batch and held off during it.

    This process sends the requests from its threads and, in bench_commands, holds the Slack emulator: a
    generation-2 pass of its collector took 50-70 ms here, a pause of every sender at once, which showed
    as the p99 at 20 concurrent requests (85-110 ms, the no-op's as well as ours). The servers' own
    collectors, in their own processes, are untouched: their pauses are part of what is measured."""
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
