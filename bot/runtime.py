"""What every handler needs, built once per process and passed in (never global)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import Clock
from bot.settings import Settings
from storage.db import Database


@dataclass
class Deps:
    settings: Settings
    db: Database
    clock: Clock
    # user id -> language; Slack locales rarely change, a process restart refreshes them.
    languages: dict[str, str] = field(default_factory=dict)
