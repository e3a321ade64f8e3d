"""The history a community's chart is drawn from (issue 11, item 1): `ChartData` for many communities.

A simple, correct reader written for the charts branch; the onramp branch writes the set-based one with
the same signature (the lead keeps that one at merge). The chart code never depends on how this reads.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.onramp import ChartData, CircleWeek
from storage.models import ActivityDay, CircleChange, Community, FirstPost, Membership

FUNNEL_DAYS = 90  # the newcomers the funnel follows: those who joined in the last 90 days
USUAL_WEEKS = 8  # the usual week is the median of (at most) this many weeks before the current one


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def chart_data_many(
    session: Session, *, community_ids: Collection[int], now: datetime
) -> dict[int, ChartData]:
    """Each community's weeks since it began (members per circle at each week's end), contributions per
    week, its usual week, and the funnel of its newcomers of the last 90 days. Unknown ids are left out."""
    ids = sorted(set(community_ids))
    if not ids:
        return {}
    communities = session.execute(
        select(Community.id, Community.name, Community.timezone, Community.created_at).where(
            Community.id.in_(ids)
        )
    ).all()
    members = session.execute(
        select(
            Membership.community_id,
            Membership.user_id,
            Membership.role,
            Membership.circle,
            Membership.joined_at,
            Membership.left_at,
            Membership.joined_via,
        ).where(Membership.community_id.in_(ids))
    ).all()
    changes: dict[tuple[int, str], list[tuple[datetime, str, str]]] = defaultdict(list)
    for cid, user, at, before, after in session.execute(
        select(
            CircleChange.community_id,
            CircleChange.user_id,
            CircleChange.changed_at,
            CircleChange.from_circle,
            CircleChange.to_circle,
        )
        .where(CircleChange.community_id.in_(ids))
        .order_by(CircleChange.changed_at, CircleChange.id)
    ):
        changes[(cid, user)].append((at, before, after))
    daily: dict[int, dict[date, int]] = defaultdict(dict)
    for cid, day, number in session.execute(
        select(ActivityDay.community_id, ActivityDay.day, func.sum(ActivityDay.contributions))
        .where(ActivityDay.community_id.in_(ids))
        .group_by(ActivityDay.community_id, ActivityDay.day)
    ):
        daily[cid][day] = int(number or 0)
    since = now - timedelta(days=FUNNEL_DAYS)
    first_contribution = {
        (int(cid), str(user))
        for cid, user in session.execute(
            select(ActivityDay.community_id, ActivityDay.user_id)
            .where(ActivityDay.community_id.in_(ids), ActivityDay.contributions > 0)
            .distinct()
        )
    }
    posted = {
        (int(cid), str(user))
        for cid, user in session.execute(
            select(FirstPost.community_id, FirstPost.user_id).where(
                FirstPost.community_id.in_(ids), FirstPost.posted_at >= since
            )
        )
    }
    by_community: dict[int, list[tuple[str, str, str, datetime, datetime | None, str]]] = defaultdict(list)
    for cid, user, role, circle, joined_at, left_at, via in members:
        by_community[cid].append((user, role, circle, joined_at, left_at, via))

    result: dict[int, ChartData] = {}
    for cid, name, timezone, created_at in communities:
        zone = _zone(timezone)
        today = now.astimezone(zone).date()
        start = _monday(min(created_at.astimezone(zone).date(), today))
        current = _monday(today)
        starts = [start + timedelta(weeks=i) for i in range((current - start).days // 7 + 1)]
        weeks = []
        for week_start in starts:
            end = datetime.combine(week_start + timedelta(days=7), time(), zone)
            at = min(end, now)
            counts = {"core": 0, "inner": 0, "outer": 0}
            for user, role, circle, joined_at, left_at, _ in by_community[cid]:
                if joined_at > at or (left_at is not None and left_at <= at):
                    continue
                if role == "core":
                    counts["core"] += 1
                else:
                    counts[_circle_at(changes.get((cid, user), []), circle, at)] += 1
            weeks.append(CircleWeek(week_start, counts["core"], counts["inner"], counts["outer"]))
        contributions = [0] * len(starts)
        for day, number in daily[cid].items():
            index = (day - start).days // 7
            if 0 <= index < len(contributions):
                contributions[index] += number
        earlier = contributions[:-1][-USUAL_WEEKS:]
        usual = float(statistics.median(earlier)) if earlier else None
        newcomers = [
            (user, circle, joined_at, left_at)
            for user, role, circle, joined_at, left_at, via in by_community[cid]
            if joined_at >= since and role != "core" and via != "creation"
        ]
        # A contribution counted for them in this community (activity_days), or their first post seen.
        contributed = [
            user for user, _, _, _ in newcomers if (cid, user) in posted or (cid, user) in first_contribution
        ]
        inner = [user for user, circle, _, left_at in newcomers if left_at is None and circle == "inner"]
        result[cid] = ChartData(
            name=name,
            weeks=tuple(weeks),
            contributions=tuple(contributions),
            usual_week=usual,
            funnel=(len(newcomers), len(contributed), len(inner)),
        )
    return result


def _circle_at(history: list[tuple[datetime, str, str]], circle_now: str, at: datetime) -> str:
    """Where a member was at `at`: the last change before it says; with none, where the first change
    after it started from; with no change at all, where they are now."""
    circle = None
    for changed_at, before, after in history:
        if changed_at <= at:
            circle = after
        elif circle is None:
            circle = before
            break
    circle = circle or circle_now
    return circle if circle in ("inner", "outer") else "outer"
