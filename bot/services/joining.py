"""`/cdp join <name>` awaited on the HTTP server's event loop (PostgreSQL; handlers/direct.py says when):
the usual join, an open and active community found by its slug, someone not in it (or who left it).

The same decision as `communities.join` with the same rules (`bot.domain.welcome.welcome_due`, the home
refresh of `home_refresh.rows`, the invites and the welcome of `outbox`), from one read and written by
one statement (storage/repositories/joining.py). Anything else (a name to resolve, a protected or
dissolved community, someone already a member, no hash key yet) returns None before anything is
written: the caller answers through Bolt, as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from bot.domain import welcome as welcome_rules
from bot.domain.welcome import Before
from bot.services import home_refresh, outbox
from bot.services import welcome as welcome_service
from bot.services.communities import JoinOutcome
from bot.services.replays import ReplayClaim
from storage import claims
from storage.db import Database
from storage.repositories import joining as repo
from storage.repositories.joining import JoinFacts
from storage.repositories.privacy import FORGOTTEN_KEY, keyed_hash


@dataclass(frozen=True)
class DirectJoin:
    """What happened: `outcome` None when the request was a replay (nothing written)."""

    outcome: JoinOutcome | None
    name: str
    channel_ids: list[str]


async def join_on_loop(
    db: Database,
    *,
    team_id: str,
    user_id: str,
    slugs: list[str],
    claim: ReplayClaim,
    now: datetime,
) -> DirectJoin | None:
    """Join `user_id` to the community one of `slugs` names, the replay guard's `claim` written with it
    (first: a replay writes nothing); None when the usual join does not apply (nothing written: Bolt
    answers)."""
    facts = await db.on_async_driver(
        functools.partial(repo.read, team_id=team_id, user_id=user_id, slugs=slugs, key_name=FORGOTTEN_KEY)
    )
    if facts is None or not _usual(facts):
        return None
    assert facts.key is not None
    previous = None if facts.membership_id is None else Before(facts.left_at, str(facts.joined_via))
    welcome = welcome_rules.welcome_due(
        role="member", before=previous, at=now, enabled=facts.welcome_enabled, active=True
    )
    sent_at = outbox.transport_now()
    written = await db.on_async_driver(
        functools.partial(
            repo.write,
            claim=claims.claim_values(db.engine.dialect, team_id=claim.team_id, event_id=claim.key, now=now),
            team_id=team_id,
            user_id=user_id,
            community_id=facts.community_id,
            membership_id=facts.membership_id,
            user_hash=keyed_hash(facts.key, team_id=team_id, user_id=user_id),
            welcome=welcome,
            now=now,
            deliveries=_deliveries(facts, team_id=team_id, user_id=user_id, now=now, sent_at=sent_at),
            sent_at=sent_at,
        )
    )
    channel_ids = [channel for channel, _archived in facts.channels]
    if not written.claimed:
        return DirectJoin(None, facts.name, channel_ids)
    outcome = JoinOutcome(written.outcome) if written.outcome else JoinOutcome.ALREADY
    return DirectJoin(outcome, facts.name, channel_ids)


def _usual(facts: JoinFacts) -> bool:
    """An active open community, someone not in it, the hash key there: what this path decides."""
    member = facts.membership_id is not None and facts.left_at is None
    return facts.status == "active" and facts.visibility == "open" and not member and facts.key is not None


def _deliveries(
    facts: JoinFacts, *, team_id: str, user_id: str, now: datetime, sent_at: datetime
) -> list[dict[str, object]]:
    """In the order the ORM path writes them: the welcome (the statement keeps it only if it claimed the
    welcome), the App Home refreshes, the invites to every channel still open."""
    once = welcome_service.once_key(
        team_id=team_id, community_id=facts.community_id, user_id=user_id, joined=now
    )
    welcome = outbox.welcome_row(
        team_id=team_id, user=user_id, community_id=facts.community_id, channel=None, once=once
    )
    homes = home_refresh.rows(team_id=team_id, users=facts.home_opened, now=sent_at)
    invites = [
        outbox.invite_row(team_id=team_id, channel=channel, user=user_id)
        for channel, archived in facts.channels
        if not archived
    ]
    return [welcome, *homes, *invites]
