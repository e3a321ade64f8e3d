"""The replay guard: Slack never resends a slash command or an interaction, so the same trigger_id twice
is somebody replaying a signed request (valid for 5 minutes)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import NamedTuple

from storage import claims
from storage.db import Database


class ReplayClaim(NamedTuple):
    """What a command or an interaction claims before anything is done: its workspace and its key."""

    team_id: str
    key: str


def first_use(db: Database, *, team_id: str, key: str, now: datetime) -> bool:
    """Claim the request's key, committed before anything else is done; False when it was claimed
    already (a replay: nothing is done again)."""
    return claims.claim_lightly(db, team_id=team_id, event_id=key, now=now)


async def first_use_on_loop(db: Database, *, team_id: str, key: str, now: datetime) -> bool:
    """`first_use` awaited on the HTTP server's event loop (PostgreSQL: `db.awaits_statements`)."""
    return await db.on_async_driver(
        functools.partial(claims.claim_lightly_on_loop, team_id=team_id, key=key, now=now)
    )
