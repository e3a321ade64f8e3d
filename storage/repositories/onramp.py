"""The onramp's reads (issue 11, item 2): newcomers and their first steps, first replies, demotions, and
the history behind the charts. Each read answers for a whole list of communities in one statement
(chunked only past a thousand ids); none reads activity rows one by one."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import CircleChange, Community, FirstPost, Membership, Review
from storage.repositories.home import _chunks  # ids a thousand at a time per IN (...)


@dataclass(frozen=True)
class NewcomerRow:
    community_id: int
    joined_at: datetime
    first_contribution_at: datetime | None
    reached_inner: bool


def newcomers(
    session: Session, *, community_ids: Collection[int], joined_since: datetime
) -> dict[int, list[NewcomerRow]]:
    """Everyone who joined these communities since `joined_since`, founders excepted (joined_via
    "creation"), whether they are still members or left since: the cohort a conversion counts. Reached
    the inner circle: in it now, or named to the core group, or moved into it at any time since joining
    (circle_changes, by ix_circle_changes_member)."""
    moved_in = exists().where(
        CircleChange.team_id == Membership.team_id,
        CircleChange.user_id == Membership.user_id,
        CircleChange.community_id == Membership.community_id,
        CircleChange.changed_at >= Membership.joined_at,
        CircleChange.to_circle == "inner",
    )
    reached = or_(
        Membership.role == "core",
        and_(Membership.circle == "inner", Membership.left_at.is_(None)),
        moved_in,
    )
    result: dict[int, list[NewcomerRow]] = defaultdict(list)
    for chunk in _chunks(community_ids):
        rows = session.execute(
            select(Membership.community_id, Membership.joined_at, Membership.first_contribution_at, reached)
            .where(
                Membership.community_id.in_(chunk),
                Membership.joined_via != "creation",
                Membership.joined_at >= joined_since,
            )
            .order_by(Membership.community_id, Membership.joined_at, Membership.id)
        ).all()
        for community_id, joined_at, first_at, inner in rows:
            result[int(community_id)].append(NewcomerRow(int(community_id), joined_at, first_at, bool(inner)))
    return result


def first_replies(
    session: Session, *, community_ids: Collection[int], posted_since: datetime
) -> list[tuple[int, datetime, datetime]]:
    """(community, posted at, first reply at) of the newcomers' first posts since `posted_since` that
    were answered; the caller keeps each community's own period."""
    rows: list[tuple[int, datetime, datetime]] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            (int(c), posted, replied)
            for c, posted, replied in session.execute(
                select(FirstPost.community_id, FirstPost.posted_at, FirstPost.first_reply_at).where(
                    FirstPost.community_id.in_(chunk),
                    FirstPost.posted_at >= posted_since,
                    FirstPost.first_reply_at.is_not(None),
                )
            ).all()
            if replied is not None
        )
    return rows


def demotions(
    session: Session, *, community_ids: Collection[int], since: datetime
) -> list[tuple[int, datetime]]:
    """(community, when) of every move from the inner to the outer circle since `since`."""
    rows: list[tuple[int, datetime]] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            (int(c), at)
            for c, at in session.execute(
                select(CircleChange.community_id, CircleChange.changed_at).where(
                    CircleChange.community_id.in_(chunk),
                    CircleChange.from_circle == "inner",
                    CircleChange.to_circle == "outer",
                    CircleChange.changed_at >= since,
                )
            ).all()
        )
    return rows


def circle_counts(session: Session, *, community_ids: Collection[int]) -> dict[int, Counter[str]]:
    """Active members by core, inner, outer (a moderator counts as core only), counted by the database."""
    result: dict[int, Counter[str]] = defaultdict(Counter)
    for chunk in _chunks(community_ids):
        for community_id, role, circle, number in session.execute(
            select(Membership.community_id, Membership.role, Membership.circle, func.count())
            .where(Membership.community_id.in_(chunk), Membership.left_at.is_(None))
            .group_by(Membership.community_id, Membership.role, Membership.circle)
        ).all():
            result[int(community_id)]["core" if role == "core" else str(circle)] += int(number)
    return result


# ---- the figures at each review ----------------------------------------------------------------
def figures_of_reviews(session: Session, *, review_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The onramp figures stored with these reviews (those that have some)."""
    result: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(review_ids):
        for review_id, figures in session.execute(
            select(Review.id, Review.onramp).where(Review.id.in_(chunk), Review.onramp.is_not(None))
        ).all():
            if figures:
                result[int(review_id)] = dict(figures)
    return result


def store_figures(session: Session, *, figures: dict[int, dict[str, Any]]) -> None:
    """Remember each review's figures (review id -> JSON): one executemany UPDATE."""
    if figures:
        session.execute(
            update(Review),
            [{"id": review_id, "onramp": value} for review_id, value in figures.items()],
        )


# ---- the history behind the charts -------------------------------------------------------------
@dataclass(frozen=True)
class ChartCommunity:
    id: int
    name: str
    timezone: str
    created_at: datetime


def chart_communities(session: Session, *, community_ids: Collection[int]) -> list[ChartCommunity]:
    rows: list[ChartCommunity] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            ChartCommunity(int(i), str(n), str(tz), at)
            for i, n, tz, at in session.execute(
                select(Community.id, Community.name, Community.timezone, Community.created_at).where(
                    Community.id.in_(chunk)
                )
            ).all()
        )
    return rows


@dataclass(frozen=True)
class MemberSpan:
    """One membership: who, core or not, their circle now, and when they joined and left."""

    community_id: int
    user_id: str
    core: bool
    circle: str
    joined_at: datetime
    left_at: datetime | None


def member_spans(
    session: Session, *, community_ids: Collection[int], left_since: datetime
) -> dict[int, list[MemberSpan]]:
    """Every membership of these communities except those that ended before `left_since` (they count
    in no week drawn)."""
    result: dict[int, list[MemberSpan]] = defaultdict(list)
    for chunk in _chunks(community_ids):
        for c, user, role, circle, joined, left in session.execute(
            select(
                Membership.community_id,
                Membership.user_id,
                Membership.role,
                Membership.circle,
                Membership.joined_at,
                Membership.left_at,
            ).where(
                Membership.community_id.in_(chunk),
                or_(Membership.left_at.is_(None), Membership.left_at >= left_since),
            )
        ).all():
            result[int(c)].append(MemberSpan(int(c), str(user), role == "core", str(circle), joined, left))
    return result


def changes_since(
    session: Session, *, community_ids: Collection[int], since: datetime
) -> dict[tuple[int, str], list[tuple[datetime, str, str]]]:
    """(changed at, from, to) of every circle change since `since`, by (community, member), in order."""
    result: dict[tuple[int, str], list[tuple[datetime, str, str]]] = defaultdict(list)
    for chunk in _chunks(community_ids):
        for c, user, at, from_circle, to_circle in session.execute(
            select(
                CircleChange.community_id,
                CircleChange.user_id,
                CircleChange.changed_at,
                CircleChange.from_circle,
                CircleChange.to_circle,
            )
            .where(CircleChange.community_id.in_(chunk), CircleChange.changed_at >= since)
            .order_by(CircleChange.changed_at, CircleChange.id)
        ).all():
            result[(int(c), str(user))].append((at, str(from_circle), str(to_circle)))
    return result
