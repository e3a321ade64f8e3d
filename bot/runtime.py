"""What every handler needs, built once per process and passed in (never global)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bot.background import BackgroundTasks
from bot.clock import Clock
from bot.settings import Settings
from storage.db import Database


@dataclass
class Deps:
    settings: Settings
    db: Database
    clock: Clock
    bot_user_id: str | None = None
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    # user id -> language; Slack locales rarely change, a process restart refreshes them.
    languages: dict[str, str] = field(default_factory=dict)
    # user id -> users.info profile, for checks that do not change (is a bot, timezone).
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel bindings whose backfill runs in this process
    backfilling: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
