"""App Home's reads and its one table (home_opened): set-based, scoped to a person's communities.

Every read takes the list of communities the Home shows and answers for all of them in one statement:
a Home costs the same few queries whether its reader moderates one community or twenty.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from storage.models import ActivityDay, Alert, CircleChange, HomeOpened, JoinRequest, Membership, Review
from storage.repositories.upsert import dialect_insert

CHUNK = 1000  # ids per IN (...): far below every driver's parameter limit


def _chunks(values: Collection[Any]) -> Iterable[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


# ---- who opened their Home -------------------------------------------------------------------
def record_opened(session: Session, *, team_id: str, user_id: str, now: datetime) -> None:
    statement = dialect_insert(session, HomeOpened).values(team_id=team_id, user_id=user_id, opened_at=now)
    session.execute(
        statement.on_conflict_do_update(index_elements=["team_id", "user_id"], set_={"opened_at": now})
    )


def opened_at(session: Session, *, team_id: str, user_id: str) -> list[datetime]:
    """When they last opened their Home (their export shows it); empty when never."""
    return list(
        session.scalars(
            select(HomeOpened.opened_at).where(HomeOpened.team_id == team_id, HomeOpened.user_id == user_id)
        )
    )


def forget(session: Session, *, team_id: str, user_id: str) -> int:
    result = session.execute(
        delete(HomeOpened).where(HomeOpened.team_id == team_id, HomeOpened.user_id == user_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def opened_concerned(
    session: Session,
    *,
    team_id: str,
    user_ids: Collection[str],
    community_ids: Collection[int],
    all_members: bool = False,
) -> list[str]:
    """Who, of `user_ids` and of the moderators of `community_ids` (`all_members`: of all their
    members), has opened their Home: one statement (the join path pays one round trip for it), the
    members found by ix_memberships_active."""
    users, communities = sorted(set(user_ids)), sorted(set(community_ids))
    found: set[str] = set()
    for start in range(0, max(len(users), len(communities)), CHUNK):
        some_users, some_communities = users[start : start + CHUNK], communities[start : start + CHUNK]
        concerned = []
        if some_users:
            concerned.append(HomeOpened.user_id.in_(some_users))
        if some_communities:
            moderators = select(Membership.user_id).where(
                Membership.team_id == team_id,
                Membership.community_id.in_(some_communities),
                Membership.left_at.is_(None),
                *([] if all_members else [Membership.role == "core"]),
            )
            concerned.append(HomeOpened.user_id.in_(moderators))
        found.update(
            session.scalars(select(HomeOpened.user_id).where(HomeOpened.team_id == team_id, or_(*concerned)))
        )
    return sorted(found)


# ---- what a moderator sees -------------------------------------------------------------------
def circle_changes_since(
    session: Session, *, team_id: str, community_ids: Collection[int], since: datetime
) -> list[tuple[int, str, datetime]]:
    """(community, circle moved to, when) of every change since `since` in these communities; the
    caller applies each community's own month start (they differ by time zone, by hours)."""
    rows: list[tuple[int, str, datetime]] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            (int(c), str(to), at)
            for c, to, at in session.execute(
                select(CircleChange.community_id, CircleChange.to_circle, CircleChange.changed_at).where(
                    CircleChange.team_id == team_id,
                    CircleChange.community_id.in_(chunk),
                    CircleChange.changed_at >= since,
                )
            ).all()
        )
    return rows


@dataclass(frozen=True)
class Candidate:
    """A member who may be a newcomer waiting: not a moderator, not greeted yet."""

    community_id: int
    user_id: str
    joined_at: datetime


def waiting_candidates(session: Session, *, team_id: str, community_ids: Collection[int]) -> list[Candidate]:
    result: list[Candidate] = []
    for chunk in _chunks(community_ids):
        rows = session.execute(
            select(Membership.community_id, Membership.user_id, Membership.joined_at)
            .where(
                Membership.team_id == team_id,
                Membership.community_id.in_(chunk),
                Membership.left_at.is_(None),
                Membership.role != "core",
                Membership.greeted_at.is_(None),
            )
            .order_by(Membership.community_id, Membership.joined_at, Membership.id)
        ).all()
        result.extend(Candidate(int(c), str(u), j) for c, u, j in rows)
    return result


def last_contribution_days(
    session: Session, *, team_id: str, community_ids: Collection[int], user_ids: Collection[str]
) -> dict[tuple[int, str], date]:
    """Each (community, member)'s latest day with a contribution, for these members only."""
    result: dict[tuple[int, str], date] = {}
    if not user_ids:
        return result
    for communities in _chunks(community_ids):
        for users in _chunks(user_ids):
            rows = session.execute(
                select(ActivityDay.community_id, ActivityDay.user_id, func.max(ActivityDay.day))
                .where(
                    ActivityDay.team_id == team_id,
                    ActivityDay.community_id.in_(communities),
                    ActivityDay.user_id.in_(users),
                    ActivityDay.contributions > 0,
                )
                .group_by(ActivityDay.community_id, ActivityDay.user_id)
            ).all()
            for community_id, user_id, day in rows:
                result[(int(community_id), str(user_id))] = day
    return result


def pending_requests(
    session: Session, *, team_id: str, community_ids: Collection[int]
) -> list[tuple[int, int, str]]:
    """(request id, community, requester) of every pending join request, oldest first."""
    rows: list[tuple[int, int, str]] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            (int(i), int(c), str(u))
            for i, c, u in session.execute(
                select(JoinRequest.id, JoinRequest.community_id, JoinRequest.user_id)
                .where(
                    JoinRequest.team_id == team_id,
                    JoinRequest.community_id.in_(chunk),
                    JoinRequest.status == "pending",
                )
                .order_by(JoinRequest.requested_at, JoinRequest.id)
            ).all()
        )
    return rows


@dataclass(frozen=True)
class OpenReview:
    review_id: int
    due_on: date
    snoozed_until: datetime | None


def open_reviews(session: Session, *, team_id: str, community_ids: Collection[int]) -> dict[int, OpenReview]:
    """The review not completed yet of each community (the latest, should there be two)."""
    result: dict[int, OpenReview] = {}
    for chunk in _chunks(community_ids):
        rows = session.execute(
            select(Review.community_id, Review.id, Review.due_on, Review.snoozed_until)
            .where(Review.team_id == team_id, Review.community_id.in_(chunk), Review.completed_at.is_(None))
            .order_by(Review.community_id, Review.id)
        ).all()
        for community_id, review_id, due_on, snoozed_until in rows:
            result[int(community_id)] = OpenReview(int(review_id), due_on, snoozed_until)
    return result


def alerts(
    session: Session, *, team_id: str, community_ids: Collection[int], periods: Collection[str]
) -> list[tuple[int, str, str, dict[str, int]]]:
    """(community, kind, period, figures) of the momentum alerts sent in these periods."""
    if not periods:
        return []
    rows: list[tuple[int, str, str, dict[str, int]]] = []
    for chunk in _chunks(community_ids):
        rows.extend(
            (int(c), str(k), str(p), dict(f or {}))
            for c, k, p, f in session.execute(
                select(Alert.community_id, Alert.kind, Alert.period, Alert.figures)
                .where(
                    Alert.team_id == team_id,
                    Alert.community_id.in_(chunk),
                    Alert.period.in_(sorted(set(periods))),
                    Alert.sent_at.is_not(None),
                )
                .order_by(Alert.community_id, Alert.id)
            ).all()
        )
    return rows


def my_pending_requests(session: Session, *, team_id: str, user_id: str) -> set[int]:
    """Communities this person asked to join and whose moderators have not decided yet."""
    return set(
        session.scalars(
            select(JoinRequest.community_id).where(
                JoinRequest.team_id == team_id,
                JoinRequest.user_id == user_id,
                JoinRequest.status == "pending",
            )
        )
    )
