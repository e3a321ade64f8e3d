"""What every handler needs, built once per process and passed in (never global)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.background import Answering, BackgroundTasks
from bot.clock import Clock
from bot.people import People
from bot.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from bot.outbox import OutboxWorker
    from bot.workspaces import Workspaces


@dataclass
class Deps:
    settings: Settings
    db: Database
    clock: Clock
    bot_user_id: str | None = None
    # Backfills of newly bound channels: long reads of history, resumable from the database.
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    # The requests being answered now: the outbox worker lets them finish first.
    answering: Answering = field(default_factory=Answering)
    people: People = field(init=False)
    # Sends what the requests and jobs wrote to the outbox; started by Runtime.start.
    outbox: OutboxWorker | None = None
    # The scheduled jobs' and backfills' client: off the request path, it may wait out a 429.
    jobs_client: WebClient | None = None
    # Which token speaks for which workspace (bot/workspaces.py); set by Runtime.start.
    workspaces: Workspaces | None = None
    # channel bindings whose backfill runs in this process
    backfilling: set[int] = field(default_factory=set)
    # This process among the instances sharing the database: the owner of the leases it holds.
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.people = People(self.settings.default_language)
