"""Work that follows a committed change but need not hold up Slack's 3-second answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
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


class Answering:
    """How many Slack requests this process is answering right now. The outbox worker waits for none to
    be left, and none to have ended for a moment (the next of a burst), before it takes its next delivery
    (at most `OutboxWorker.answers_first` seconds): a send's Python (claim, render, record) runs on the
    same GIL as the answers, and an answer is what a person waits for (DESIGN.md: commit, answer, then
    send). A burst of twenty joins is answered first, its invites and welcomes follow a moment later."""

    def __init__(self) -> None:
        self._count = 0
        self._ended = 0.0  # when the last answer ended (time.monotonic)
        self._idle = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._idle:
            self._count += 1
        try:
            yield
        finally:
            with self._idle:
                self._count -= 1
                if self._count == 0:
                    self._ended = time.monotonic()
                    self._idle.notify_all()

    @property
    def in_progress(self) -> int:
        """How many requests are being answered at this moment."""
        with self._idle:
            return self._count

    def wait_until_idle(self, timeout: float, quiet: float = 0.0) -> bool:
        """True when no request is being answered and none ended in the last `quiet` seconds (the next
        one of a burst is likely on its way), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._idle:
                now = time.monotonic()
                if self._count == 0 and now - self._ended >= quiet:
                    return True
                if now >= deadline:
                    return False
                if self._count:
                    self._idle.wait(deadline - now)  # woken when the last answer ends
                    continue
                pause = min(self._ended + quiet - now, deadline - now)
            # Waiting out the quiet moment asleep, not woken by each answer that ends meanwhile: every
            # wake-up takes the GIL from the answers.
            time.sleep(pause)
