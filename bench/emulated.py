"""The Slack emulator's Web API in a process of its own, for the HTTP benchmarks.

In the benchmark's process, the emulator answered our app's Slack calls (the invites and welcomes the
outbox sends after each `/cdp join`) on the same GIL as the threads that send the timed requests and read
their answers: every call of ours slowed the measuring of our own answers, and never the no-op's, which
calls nothing. Slack's API runs elsewhere; here it runs in a child process (multiprocessing's manager),
and the benchmark's own emulator only signs requests (`SignedSender`) and takes response URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.managers import BaseManager
from typing import Any

from bot.testing.slack_emulator import SlackEmulator


class _Served:
    """Runs in the child process: a started emulator, its workspace filled through these methods."""

    def __init__(self) -> None:
        self.emulator = SlackEmulator().start()

    def add_user(self, user_id: str, *args: Any, **kwargs: Any) -> None:
        self.emulator.add_user(user_id, *args, **kwargs)

    def add_channel(self, channel_id: str, name: str, **kwargs: Any) -> None:
        self.emulator.add_channel(channel_id, name, **kwargs)

    def api_url(self) -> str:
        return self.emulator.api_url

    def stop(self) -> None:
        self.emulator.stop()


class _Manager(BaseManager):
    pass


_Manager.register("Served", _Served)


class SplitEmulator:
    """The emulator the benchmark's code sees: users and channels go to both; the servers call the child's
    API (`api_url`), with the same token and team as the local one (both take the defaults)."""

    def __init__(self, local: SlackEmulator, served: Any) -> None:
        self.local = local
        self.served = served
        self.api_url: str = served.api_url()
        self.token = local.default.token
        self.team_id = local.default.team_id

    def add_user(self, user_id: str, *args: Any, **kwargs: Any) -> None:
        self.local.add_user(user_id, *args, **kwargs)
        self.served.add_user(user_id, *args, **kwargs)

    def add_channel(self, channel_id: str, name: str, **kwargs: Any) -> None:
        self.local.add_channel(channel_id, name, **kwargs)
        self.served.add_channel(channel_id, name, **kwargs)


@contextmanager
def split_emulator() -> Iterator[SplitEmulator]:
    """A local emulator (signing, response URLs) and the Web API in a child process."""
    manager = _Manager()
    manager.start()
    try:
        with SlackEmulator() as local:
            served = manager.Served()  # type: ignore[attr-defined]
            try:
                yield SplitEmulator(local, served)
            finally:
                served.stop()
    finally:
        manager.shutdown()
