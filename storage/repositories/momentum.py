"""The momentum pass's reads: a few set-based queries over every active community at once (GROUP BY
community over the window the rules need), never one query per community."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, and_, cast, func, literal, or_, select, text, true
from sqlalchemy.orm import Session

from storage.models import ActivityDay, Alert, Community, Membership, Review


@dataclass(frozen=True)
class CommunityRow:
    id: int
    team_id: str
    name: str
    language: str
    timezone: str
    created_by: str
    created_at: datetime
    window_days: int
    inner_min_contributions: int
    inner_min_days: int
    demotion_grace_days: int


# The columns of a CommunityRow, in its fields' order.
COMMUNITY_ROW_COLUMNS = (
    Community.id,
    Community.team_id,
    Community.name,
    Community.language,
    Community.timezone,
    Community.created_by,
    Community.created_at,
    Community.circle_window_days,
    Community.inner_min_contributions,
    Community.inner_min_days,
    Community.demotion_grace_days,
)


@dataclass(frozen=True)
class MemberRow:
    community_id: int
    user_id: str
    role: str
    circle: str
    joined_naive: datetime  # UTC without its tzinfo: read raw, as a pass reads every member
    greeted: bool
    joined_via: str

    @property
    def joined_at(self) -> datetime:
        return self.joined_naive.replace(tzinfo=UTC)


def active_communities(session: Session) -> list[CommunityRow]:
    rows = session.execute(
        select(*COMMUNITY_ROW_COLUMNS).where(Community.status == "active").order_by(Community.id)
    ).all()
    return [CommunityRow(*row) for row in rows]


def _ids(community_ids: Collection[int]) -> list[int]:
    return sorted(set(community_ids))


def _in_scope(column: Any, community_ids: Collection[int] | None) -> Any:
    """`column` in these communities; None: no filter, every community's rows (archived ones' too: the
    caller reads only its communities). Not `IN (SELECT id ... active)`: on tables just loaded, without
    statistics, PostgreSQL estimated a handful of communities and ran it as a nested loop (minutes
    over the activity rows of 10,000 communities); archived communities are few."""
    if community_ids is None:
        return true()
    return column.in_(_ids(community_ids))


def members(session: Session, *, community_ids: Collection[int] | None) -> dict[int, list[MemberRow]]:
    """Active memberships by community, in joining order (the moderators' order). None: every active
    membership, of archived communities too (the caller reads only its communities' lists).

    No `community_id IN (SELECT ... active)` for None: without fresh statistics (a table just loaded,
    not yet analysed) PostgreSQL estimated a handful of communities and ran a nested loop over
    ix_memberships_active, whose leading column is team_id: a full index scan per community, 15-30 s at
    10,000 communities instead of 0.1 s for one scan of the active memberships. Archived communities
    are few, and their members cost less than any plan that depends on statistics."""
    result: dict[int, list[MemberRow]] = defaultdict(list)
    scope = [] if community_ids is None else [Membership.community_id.in_(_ids(community_ids))]
    rows = (
        session.connection()
        .execute(
            select(
                Membership.community_id,
                Membership.user_id,
                Membership.role,
                Membership.circle,
                Membership.joined_at,
                Membership.greeted_at.is_not(None),
                Membership.joined_via,
            )
            .where(*scope, Membership.left_at.is_(None))
            .order_by(Membership.community_id, Membership.joined_at, Membership.id)
        )
        .all()
    )
    for row in rows:
        result[row[0]].append(MemberRow(*row))
    return result


def weekly_blocks(
    session: Session, *, today: date, weeks: int, community_ids: Collection[int] | None
) -> dict[int, dict[int, int]]:
    """Contributions per community in 7-day blocks ending `today`: block k covers today - 7k - 6 ...
    today - 7k, for k < `weeks`. Summed by the database (GROUP BY community, block)."""
    first = today - timedelta(days=7 * weeks - 1)
    if session.get_bind().dialect.name == "postgresql":
        age: Any = literal(today, Date) - ActivityDay.day
    else:
        age = cast(func.julianday(literal(today.isoformat())) - func.julianday(ActivityDay.day), Integer)
    block = (age // 7).label("block")  # integer division on both databases
    result: dict[int, dict[int, int]] = defaultdict(dict)
    rows = (
        session.connection()
        .execute(
            select(ActivityDay.community_id, block, func.sum(ActivityDay.contributions))
            .where(
                _in_scope(ActivityDay.community_id, community_ids),
                ActivityDay.day >= first,
                ActivityDay.day <= today,
            )
            .group_by(ActivityDay.community_id, block)
        )
        .all()
    )
    for community_id, number, total in rows:
        result[community_id][int(number)] = int(total or 0)
    return result


def daily_contributions(
    session: Session, *, community_ids: Collection[int], since: date
) -> dict[int, dict[date, int]]:
    """Contributions per community and day from `since` on."""
    result: dict[int, dict[date, int]] = defaultdict(dict)
    rows = session.execute(
        select(ActivityDay.community_id, ActivityDay.day, func.sum(ActivityDay.contributions))
        .where(ActivityDay.community_id.in_(_ids(community_ids)), ActivityDay.day >= since)
        .group_by(ActivityDay.community_id, ActivityDay.day)
    ).all()
    for community_id, day, total in rows:
        result[community_id][day] = int(total or 0)
    return result


def last_contribution_days(
    session: Session, *, community_ids: Collection[int] | None
) -> dict[int, dict[str, date]]:
    """Each member's latest day with a contribution, however long ago, by community."""
    result: dict[int, dict[str, date]] = defaultdict(dict)
    rows = (
        session.connection()
        .execute(
            select(ActivityDay.community_id, ActivityDay.user_id, func.max(ActivityDay.day))
            .where(_in_scope(ActivityDay.community_id, community_ids), ActivityDay.contributions > 0)
            .group_by(ActivityDay.community_id, ActivityDay.user_id)
        )
        .all()
    )
    for community_id, user_id, day in rows:
        result[community_id][user_id] = day
    return result


def inner_at_last_review(session: Session, *, community_ids: Collection[int] | None) -> dict[int, int]:
    """The inner circle at each community's latest review that went out (`latest_done`)."""
    done = and_(
        Review.inner_count.is_not(None), or_(Review.sent_at.is_not(None), Review.completed_at.is_not(None))
    )
    latest = (
        select(Review.community_id, func.max(Review.id).label("rid"))
        .where(_in_scope(Review.community_id, community_ids), done)
        .group_by(Review.community_id)
        .subquery()
    )
    rows = session.execute(
        select(Review.community_id, Review.inner_count).join(latest, Review.id == latest.c.rid)
    ).all()
    return {community_id: int(count) for community_id, count in rows if count is not None}


def claimed_alerts(session: Session, *, periods: Collection[str]) -> set[tuple[int, str, str]]:
    """(community, kind, period) of the alerts already claimed in these periods."""
    rows = session.execute(
        select(Alert.community_id, Alert.kind, Alert.period).where(Alert.period.in_(sorted(set(periods))))
    ).all()
    return {(int(c), str(k), str(p)) for c, k, p in rows}


def contributors(session: Session, *, community_id: int, since: date) -> list[str]:
    """The community's active members by contributions since `since`, most first (ties: as the
    database groups them). Read only for a community with no moderator left (a few)."""
    active = select(Membership.user_id).where(
        Membership.community_id == community_id, Membership.left_at.is_(None)
    )
    rows: list[Any] = list(
        session.execute(
            select(ActivityDay.user_id, func.sum(ActivityDay.contributions).label("total"))
            .where(
                ActivityDay.community_id == community_id,
                ActivityDay.day >= since,
                ActivityDay.user_id.in_(active.scalar_subquery()),
            )
            .group_by(ActivityDay.user_id)
        ).all()
    )
    totals = [(user_id, int(total or 0)) for user_id, total in rows if (total or 0) > 0]
    totals.sort(key=lambda pair: -pair[1])
    return [user_id for user_id, _ in totals]


@dataclass(frozen=True)
class ReviewRow:
    id: int
    community_id: int
    core_count: int | None
    inner_count: int | None
    outer_count: int | None
    sent_at: datetime | None
    completed_at: datetime | None


def reviews_of(session: Session, *, review_ids: Collection[int]) -> list[tuple[ReviewRow, CommunityRow, Any]]:
    """Reviews with their community (and its next review date)."""
    rows = session.execute(
        select(
            Review.id,
            Review.community_id,
            Review.core_count,
            Review.inner_count,
            Review.outer_count,
            Review.sent_at,
            Review.completed_at,
            *COMMUNITY_ROW_COLUMNS,
            Community.next_review_on,
        )
        .join(Community, Community.id == Review.community_id)
        .where(Review.id.in_(sorted(set(review_ids))))
    ).all()
    result = []
    for row in rows:
        values: tuple[Any, ...] = tuple(row)
        result.append((ReviewRow(*values[:7]), CommunityRow(*values[7:-1]), values[-1]))
    return result


def done_reviews(session: Session, *, community_ids: Collection[int]) -> dict[int, list[ReviewRow]]:
    """Reviews that went out (sent or completed), by community, newest first."""
    result: dict[int, list[ReviewRow]] = defaultdict(list)
    rows = session.execute(
        select(
            Review.id,
            Review.community_id,
            Review.core_count,
            Review.inner_count,
            Review.outer_count,
            Review.sent_at,
            Review.completed_at,
        )
        .where(
            Review.community_id.in_(_ids(community_ids)),
            or_(Review.sent_at.is_not(None), Review.completed_at.is_not(None)),
        )
        .order_by(Review.community_id, Review.id.desc())
    ).all()
    for row in rows:
        result[row[1]].append(ReviewRow(*row))
    return result


# ---- the members' figures, without reading every membership -------------------------------------
# The pass needs, per community, its moderators (few rows), how many members are in the inner circle
# (a count) and how many newcomers wait (a count): reading the 100,000 memberships of 10,000
# communities into Python to derive them was most of a steady pass.


def moderators(session: Session) -> dict[int, list[str]]:
    """Every active community's moderators (the core group), in joining order, by community. Read over
    every active membership (archived communities' too: no `IN (subquery)`, see `members`)."""
    result: dict[int, list[str]] = defaultdict(list)
    rows = (
        session.connection()
        .execute(
            select(Membership.community_id, Membership.user_id)
            .where(Membership.left_at.is_(None), Membership.role == "core")
            .order_by(Membership.community_id, Membership.joined_at, Membership.id)
        )
        .all()
    )
    for community_id, user_id in rows:
        result[community_id].append(user_id)
    return result


def inner_counts(session: Session) -> dict[int, int]:
    """Members (moderators apart) in the inner circle, by community."""
    rows = (
        session.connection()
        .execute(
            select(Membership.community_id, func.count())
            .where(Membership.left_at.is_(None), Membership.role != "core", Membership.circle == "inner")
            .group_by(Membership.community_id)
        )
        .all()
    )
    return {int(community_id): int(count) for community_id, count in rows}


# PostgreSQL: each moderator's latest contribution is one backward probe of ix_activity_days_member
# (index-only: it INCLUDEs contributions), instead of grouping every activity row ever written (10M
# rows: 2 s) for the few members whose last day the pass needs.
_CORE_LAST_PG = """
    SELECT m.community_id, MAX(l.day)
    FROM memberships m
    CROSS JOIN LATERAL (
        SELECT a.day FROM activity_days a
        WHERE a.team_id = m.team_id AND a.community_id = m.community_id AND a.user_id = m.user_id
          AND a.contributions > 0
        ORDER BY a.day DESC LIMIT 1
    ) AS l
    WHERE m.left_at IS NULL AND m.role = 'core'
    GROUP BY m.community_id
"""


def last_days_unless_indexed(session: Session) -> dict[int, dict[str, date]] | None:
    """SQLite: `last_contribution_days` of every community, read once for `core_last_contribution` and
    `newcomers_waiting`. PostgreSQL: None (they probe the index or count in SQL instead)."""
    if session.get_bind().dialect.name == "postgresql":
        return None
    return last_contribution_days(session, community_ids=None)


def core_last_contribution(
    session: Session, *, last_days: dict[int, dict[str, date]] | None = None
) -> dict[int, date]:
    """Each community's latest day with a contribution by one of its moderators, however long ago
    (communities whose moderators never contributed are absent). SQLite groups the activity rows
    (`last_days`, read when not given)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.connection().execute(text(_CORE_LAST_PG)).all()
        return {int(community_id): day for community_id, day in rows}
    if last_days is None:
        last_days = last_contribution_days(session, community_ids=None)
    result: dict[int, date] = {}
    for community_id, users in moderators(session).items():
        days = [last_days[community_id][u] for u in users if u in last_days.get(community_id, {})]
        if days:
            result[community_id] = max(days)
    return result


@dataclass(frozen=True)
class WaitTarget:
    """A community whose waiting newcomers are counted: its timezone (a member's joining day is a
    local date), its local today and its circle rule's lurking threshold in days."""

    community_id: int
    timezone: str
    today: date
    lurking_days: int


# PostgreSQL counts in SQL: the joining day in the community's timezone (AT TIME ZONE, joined_at being
# naive UTC), then "nothing contributed since joining" as an anti-join on ix_activity_days_member.
# `_WAITING_RULE_PG` is the rule, shared by the count (every community, each pass) and the names (only
# the communities that get an alert); `m` is a membership, `t` its community's WaitTarget.
_TARGETS_PG = (
    "json_to_recordset(CAST(:targets AS json))"
    " AS t(community_id integer, timezone text, today date, lurking_days integer)"
)
_WAITING_RULE_PG = """
    CROSS JOIN LATERAL (
        SELECT CAST((m.joined_at AT TIME ZONE 'UTC') AT TIME ZONE t.timezone AS date) AS joined_on
    ) AS j
    WHERE m.left_at IS NULL AND m.role <> 'core' AND m.greeted_at IS NULL
      AND t.today - j.joined_on >= t.lurking_days
      AND NOT EXISTS (
          SELECT 1 FROM activity_days a
          WHERE a.team_id = m.team_id AND a.community_id = m.community_id AND a.user_id = m.user_id
            AND a.day >= j.joined_on AND a.contributions > 0
      )
"""
_WAITING_PG = (
    f"SELECT m.community_id, COUNT(*) FROM {_TARGETS_PG}"
    f" JOIN memberships m ON m.community_id = t.community_id {_WAITING_RULE_PG} GROUP BY m.community_id"
)
# The first `:limit` newcomers waiting in each community, longest waiting first: a LATERAL probe of
# ix_memberships_active per community (its team from the communities' primary key), so that no plan,
# with or without statistics, compares every membership with every target (a nested loop of 100,000
# memberships by 1,000 targets took 26 s on fresh tables).
_WAITING_NAMES_PG = (
    f"SELECT t.community_id, w.user_id FROM {_TARGETS_PG}"
    " JOIN communities c ON c.id = t.community_id"
    f" CROSS JOIN LATERAL (SELECT m.user_id, m.joined_at, m.id FROM memberships m {_WAITING_RULE_PG}"
    " AND m.team_id = c.team_id AND m.community_id = t.community_id"
    " ORDER BY m.joined_at, m.id LIMIT :limit) AS w"
    " ORDER BY t.community_id, w.joined_at, w.id"
)


def _targets_json(targets: Collection[WaitTarget]) -> str:
    return json.dumps(
        [
            {
                "community_id": t.community_id,
                "timezone": t.timezone,
                "today": t.today.isoformat(),
                "lurking_days": t.lurking_days,
            }
            for t in targets
        ]
    )


def _waiting_sqlite(
    session: Session,
    *,
    targets: Collection[WaitTarget],
    last_days: dict[int, dict[str, date]] | None,
    scoped: bool,
) -> list[tuple[int, str]]:
    """SQLite, which has no time zones: (community, user) of the newcomers waiting, from the candidates
    (not greeted, not moderators) and their local joining day computed here. `scoped`: read only the
    targets' memberships, longest waiting first (the names of a few alerts), instead of every one."""
    wanted = {t.community_id: t for t in targets}
    if last_days is None:
        last_days = last_contribution_days(session, community_ids=list(wanted) if scoped else None)
    zones = {name: ZoneInfo(name) for name in {t.timezone for t in targets}}
    query = select(Membership.community_id, Membership.user_id, Membership.joined_at).where(
        Membership.left_at.is_(None), Membership.role != "core", Membership.greeted_at.is_(None)
    )
    if scoped:
        query = query.where(Membership.community_id.in_(_ids(wanted))).order_by(
            Membership.community_id, Membership.joined_at, Membership.id
        )
    waiting = []
    for community_id, user_id, joined_at in session.connection().execute(query).all():
        target = wanted.get(community_id)
        if target is None:
            continue
        joined_on = joined_at.astimezone(zones[target.timezone]).date()
        last = last_days.get(community_id, {}).get(user_id)
        if (target.today - joined_on).days >= target.lurking_days and not (
            last is not None and last >= joined_on
        ):
            waiting.append((community_id, user_id))
    return waiting


def newcomers_waiting(
    session: Session, *, targets: Collection[WaitTarget], last_days: dict[int, dict[str, date]] | None = None
) -> dict[int, int]:
    """Newcomers lurking whom nobody greeted, counted by community: members other than the moderators,
    not greeted, who joined `lurking_days` or more local days ago and contributed nothing since the day
    they joined (however long ago). The rule of
    bot.services.reviews.signals (the specification) for many communities at once.

    PostgreSQL counts in one statement. SQLite, which has no time zones, returns the candidates (not
    greeted, not moderators) and their local joining day is computed here: simpler, and still correct."""
    if not targets:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.connection().execute(text(_WAITING_PG), {"targets": _targets_json(targets)}).all()
        return {int(community_id): int(count) for community_id, count in rows}
    result: dict[int, int] = defaultdict(int)
    for community_id, _ in _waiting_sqlite(session, targets=targets, last_days=last_days, scoped=False):
        result[community_id] += 1
    return dict(result)


def newcomers_waiting_names(
    session: Session, *, targets: Collection[WaitTarget], limit: int
) -> dict[int, list[str]]:
    """The newcomers `newcomers_waiting` counts, by name: the first `limit` of each community, longest
    waiting first. One statement for all the communities given (those that get an alert now), never
    one per community."""
    if not targets:
        return {}
    result: dict[int, list[str]] = defaultdict(list)
    if session.get_bind().dialect.name == "postgresql":
        rows = (
            session.connection()
            .execute(text(_WAITING_NAMES_PG), {"targets": _targets_json(targets), "limit": limit})
            .all()
        )
        for community_id, user_id in rows:
            result[int(community_id)].append(str(user_id))
        return dict(result)
    for community_id, user_id in _waiting_sqlite(session, targets=targets, last_days=None, scoped=True):
        if len(result[community_id]) < limit:
            result[community_id].append(user_id)
    return dict(result)
