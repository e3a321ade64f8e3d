"""first_posts: a newcomer's first message (who, where, when) and its first reply; timestamps only.

These statements run only in the rare cases the counting statement points at (storage/repositories/
counting.py): a member with no other contribution in their window, or a channel where a first post
waits for a reply. An ordinary counted message costs none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, exists, select, text, update
from sqlalchemy.orm import Session

from storage.models import ActivityDay, CommunityChannel, FirstPost, Membership
from storage.repositories.upsert import insert_ignoring_conflicts
from storage.types import UTCDateTime


def claim_first_contribution(
    session: Session, *, membership_id: int, channel_id: str, day: date, posted_at: datetime
) -> bool:
    """Mark the member's first contribution as noticed, once (compare-and-set: of two concurrent
    messages, or a retry, one wins). Refused for a founder or moderator, someone who left, and anyone
    whose stored history holds a contribution elsewhere than this message's channel and day (the
    counting statement sees only the rule's window; this looks at everything kept)."""
    earlier = exists().where(
        ActivityDay.team_id == Membership.team_id,
        ActivityDay.community_id == Membership.community_id,
        ActivityDay.user_id == Membership.user_id,
        ActivityDay.contributions > 0,
        ~and_(ActivityDay.channel_id == channel_id, ActivityDay.day == day),
    )
    won = session.execute(
        update(Membership)
        .where(
            Membership.id == membership_id,
            Membership.first_contribution_at.is_(None),
            Membership.role == "member",
            Membership.left_at.is_(None),
            ~earlier,
        )
        .values(first_contribution_at=posted_at)
        .returning(Membership.id)
        .execution_options(synchronize_session=False)
    ).first()
    return won is not None


def add(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    user_id: str,
    channel_id: str,
    message_ts: str,
    posted_at: datetime,
) -> None:
    session.execute(
        insert_ignoring_conflicts(session, FirstPost, ["team_id", "community_id", "user_id"]).values(
            team_id=team_id,
            community_id=community_id,
            user_id=user_id,
            channel_id=channel_id,
            message_ts=message_ts,
            posted_at=posted_at,
        )
    )


# Both statements begin with the words storage/bindings.py recognises as "no binding changed".
# `awaiting_reply_from` names the one person whose first post waits, NULL when several do.
_MARK_AWAITING = text(
    "UPDATE community_channels SET awaiting_reply_since = COALESCE(awaiting_reply_since, :since),"
    " awaiting_reply_from = CASE WHEN awaiting_reply_since IS NULL OR awaiting_reply_from = :user_id"
    " THEN :user_id END WHERE id = :binding_id"
).bindparams(bindparam("since", type_=UTCDateTime()))
_SET_AWAITING = text(
    "UPDATE community_channels SET awaiting_reply_since = :since, awaiting_reply_from = :user_id"
    " WHERE id = :binding_id"
).bindparams(bindparam("since", type_=UTCDateTime()))


def mark_awaiting(session: Session, *, binding_id: int, user_id: str, since: datetime) -> None:
    """`user_id`'s first post in the channel now waits for a reply (takes the channel row's lock)."""
    session.execute(_MARK_AWAITING, {"binding_id": binding_id, "user_id": user_id, "since": since})


def record_reply(
    session: Session, *, team_id: str, binding_id: int, channel_id: str, user_id: str, at: datetime
) -> int:
    """`user_id` wrote in the channel at `at`: every earlier first post there by someone else that had
    no reply gets this one. Then the channel's mark says what still waits (nothing: cleared). The
    channel row is locked first (as `mark_awaiting` does), so a first post recorded meanwhile is either
    seen here or marks the channel after this: never lost."""
    session.execute(
        select(CommunityChannel.id).where(CommunityChannel.id == binding_id).with_for_update()
    ).all()
    replied = session.execute(
        update(FirstPost)
        .where(
            FirstPost.team_id == team_id,
            FirstPost.channel_id == channel_id,
            FirstPost.first_reply_at.is_(None),
            FirstPost.posted_at < at,
            FirstPost.user_id != user_id,
        )
        .values(first_reply_at=at, first_reply_by=user_id)
        .execution_options(synchronize_session=False)
    )
    waiting = session.execute(
        select(FirstPost.user_id, FirstPost.posted_at)
        .where(
            FirstPost.team_id == team_id,
            FirstPost.channel_id == channel_id,
            FirstPost.first_reply_at.is_(None),
        )
        .order_by(FirstPost.posted_at)
        .limit(50)
    ).all()
    people = {row[0] for row in waiting}
    session.execute(
        _SET_AWAITING,
        {
            "binding_id": binding_id,
            "since": waiting[0][1] if waiting else None,
            "user_id": next(iter(people)) if len(people) == 1 else None,
        },
    )
    return int(getattr(replied, "rowcount", 0) or 0)


@dataclass(frozen=True)
class FirstPostRow:
    user_id: str
    channel_id: str
    posted_at: datetime
    first_reply_at: datetime | None
    first_reply_by: str | None


def recent(session: Session, *, community_ids: list[int], since: datetime) -> dict[int, list[FirstPostRow]]:
    """First posts since `since` of these communities, newest first (by ix_first_posts_recent)."""
    if not community_ids:
        return {}
    rows = session.execute(
        select(
            FirstPost.community_id,
            FirstPost.user_id,
            FirstPost.channel_id,
            FirstPost.posted_at,
            FirstPost.first_reply_at,
            FirstPost.first_reply_by,
        )
        .where(
            FirstPost.community_id.in_(community_ids),
            FirstPost.posted_at >= since,
        )
        .order_by(FirstPost.posted_at.desc(), FirstPost.id.desc())
    ).all()
    found: dict[int, list[FirstPostRow]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(FirstPostRow(*row[1:]))
    return found
