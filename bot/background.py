"""Work that follows a committed change but need not hold up Slack's 3-second answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

log = logging.getLogger("cdp_bot.background")


class BackgroundTasks:
    """A small thread pool; `drain()` waits for everything submitted so far (tests, shutdown)."""

    def __init__(self, workers: int = 4) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cdp-bg")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:
                log.exception("background task failed", extra={"fields": {"task": name}})
                return None

        future = self._executor.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 30.0) -> None:
        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                return
            _, not_done = wait(pending, timeout=timeout)
            if not_done:
                raise TimeoutError(f"{len(not_done)} background tasks still running")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
