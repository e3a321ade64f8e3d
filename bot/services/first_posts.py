"""A newcomer's first contribution is noticed, and the time until someone answers it is measured.

Issue 10, item 2. When a member (not a founder or moderator) contributes for the first time, the app
reacts to that message (the community's emoji, none when empty) and thanks them, once, in an ephemeral
message saying what brings them into the inner circle. Both go through the outbox after the commit,
with dedupe keys: a retried event never reacts or thanks twice.

The first post is kept as timestamps only (first_posts): community, member, channel, message ts, when,
and when someone else first wrote in that channel afterwards, in the thread or not (CHAOSS "Time to
First Response"). Moderators see them in their review prompt and on App Home (`recent_first_posts`).

The event path stays one statement (DESIGN.md): the counting statement says whether this message may be
a first contribution (the member's window holds nothing else) and whether its channel has a first post
waiting for a reply; only then does one short transaction follow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.domain.circles import CircleRule
from bot.domain.first_posts import may_be_first, progress_after_first
from bot.services import home_refresh, outbox
from storage.bindings import Binding
from storage.db import Database
from storage.repositories import communities as community_repo
from storage.repositories import first_posts as repo
from storage.repositories.counting import CountFigures

log = logging.getLogger("cdp_bot.first_posts")

RECENT = timedelta(days=30)  # how far back moderators see first posts


def after_count(
    db: Database,
    *,
    binding: Binding,
    figures: CountFigures,
    team_id: str,
    channel_id: str,
    user_id: str,
    message_ts: str | None,
    day: date,
    posted_at: datetime,
) -> bool:
    """What a counted message means for first posts: a reply to one waiting in its channel, or the
    poster's own first post. Costs nothing unless the counting statement's figures point at one of them.
    True when it was noticed as a first post."""
    if figures.awaiting_reply:
        with db.session() as session:
            replied = repo.record_reply(
                session,
                team_id=team_id,
                binding_id=binding.id,
                channel_id=channel_id,
                user_id=user_id,
                at=posted_at,
            )
            if replied:  # the moderators' Home lists first posts and whether anyone answered them
                home_refresh.refresh(session, team_id=team_id, community_ids=[binding.community_id])
        if replied:
            log.info("first post replied", extra={"fields": {"team": team_id, "posts": replied}})
    if not message_ts or figures.membership_id is None:
        return False
    if not may_be_first(
        role=figures.role,
        circle=figures.circle,
        day_contributions=figures.day_contributions,
        other_contributions=figures.other_contributions,
    ):
        return False
    with db.session() as session:
        return _notice(
            session,
            binding=binding,
            membership_id=figures.membership_id,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            message_ts=message_ts,
            day=day,
            posted_at=posted_at,
        )


def _notice(
    session: Session,
    *,
    binding: Binding,
    membership_id: int,
    team_id: str,
    channel_id: str,
    user_id: str,
    message_ts: str,
    day: date,
    posted_at: datetime,
) -> bool:
    """Claim the first contribution (once), record it, and owe Slack the reaction and the thank-you."""
    if not repo.claim_first_contribution(
        session, membership_id=membership_id, channel_id=channel_id, day=day, posted_at=posted_at
    ):
        return False
    community = community_repo.get(session, team_id=team_id, community_id=binding.community_id)
    if community is None:  # pragma: no cover - the counting statement has just seen it active
        return False
    repo.add(
        session,
        team_id=team_id,
        community_id=community.id,
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
        posted_at=posted_at,
    )
    repo.mark_awaiting(session, binding_id=binding.id, user_id=user_id, since=posted_at)
    key = f"{team_id}:{community.id}:{user_id}"
    if community.first_post_emoji:
        outbox.react(
            session,
            team_id=team_id,
            channel=channel_id,
            ts=message_ts,
            name=community.first_post_emoji,
            once=f"first-post:react:{key}",
        )
    rule = CircleRule.within_bounds(
        window_days=community.circle_window_days,
        inner_min_contributions=community.inner_min_contributions,
        inner_min_days=community.inner_min_days,
        demotion_grace_days=community.demotion_grace_days,
    )
    thanks = {
        "name": community.name,
        "min_contributions": rule.inner_min_contributions,
        "min_days": rule.inner_min_days,
        "window": rule.window_days,
    }
    lines: list[tuple[str, dict[str, Any]]] = [("first_posts.thanks", thanks)]
    progress = progress_after_first(rule)
    if progress is not None:
        lines.append((progress.key, progress.as_dict()))
    outbox.ephemeral(
        session,
        team_id=team_id,
        channel=channel_id,
        user=user_id,
        lang=None,  # the poster's own language (asked of Slack when sent), like their welcome
        once=f"first-post:thanks:{key}",
        lines=lines,
    )
    home_refresh.refresh(session, team_id=team_id, community_ids=[community.id])  # the moderators' Home
    log.info("first post", extra={"fields": {"team": team_id, "community": community.id}})
    return True


# ---- what moderators see ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstPostSeen:
    """A newcomer's first post as moderators see it: who, where, when, and how long until a reply."""

    user_id: str
    channel_id: str
    posted_at: datetime
    replied: bool
    time_to_first_reply: timedelta | None  # None: nobody has replied yet
    first_reply_by: str | None


def recent_first_posts(
    session: Session, *, team_id: str, community_id: int, now: datetime
) -> list[FirstPostSeen]:
    """The community's first posts of the last 30 days, newest first (for the moderators' App Home)."""
    community = community_repo.get(session, team_id=team_id, community_id=community_id)
    if community is None:
        return []
    rows = repo.recent(session, community_ids=[community.id], since=now - RECENT).get(community.id, [])
    return [
        FirstPostSeen(
            user_id=row.user_id,
            channel_id=row.channel_id,
            posted_at=row.posted_at,
            replied=row.first_reply_at is not None,
            time_to_first_reply=None if row.first_reply_at is None else row.first_reply_at - row.posted_at,
            first_reply_by=row.first_reply_by,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class FirstPostLine:
    """One line of the moderators' review prompt (JSON-friendly: it travels through the outbox)."""

    user_id: str
    hours_ago: int
    reply_minutes: int | None  # None: nobody has replied yet


PROMPT_LINES = 5


def prompt_lines(
    session: Session, *, since: dict[int, datetime], now: datetime
) -> dict[int, tuple[FirstPostLine, ...]]:
    """Per community, its first posts since `since[community]` (its last review), newest first, at most
    PROMPT_LINES: one query for the whole batch of review prompts."""
    if not since:
        return {}
    found = repo.recent(session, community_ids=list(since), since=min(since.values()))
    lines: dict[int, tuple[FirstPostLine, ...]] = {}
    for community_id, rows in found.items():
        chosen = [row for row in rows if row.posted_at >= since[community_id]][:PROMPT_LINES]
        lines[community_id] = tuple(
            FirstPostLine(
                user_id=row.user_id,
                hours_ago=max(0, int((now - row.posted_at).total_seconds() // 3600)),
                reply_minutes=None
                if row.first_reply_at is None
                else max(0, int((row.first_reply_at - row.posted_at).total_seconds() // 60)),
            )
            for row in chosen
        )
    return lines


def moment_of(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
