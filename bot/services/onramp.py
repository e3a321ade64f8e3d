"""The onramp figures and the history behind the charts (issue 11, items 1 and 2), for many communities
at once: a few set-based statements whatever their number (storage/repositories/onramp.py), the rest
decided by bot/domain/onramp.py.

- `figures_many`: conversion outer -> inner of the last 90 days' newcomers, the median days to their
  first contribution, the median time to the first reply to a newcomer's first post, the demotions of
  the period, the circles now and the shape they make;
- `chart_data_many`: members per circle at the end of each week (at most the last 104), contributions
  per week, the usual week (the review prompt's notion) and the newcomers' funnel.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.domain import cadence, retention
from bot.domain.onramp import (
    HOME_PERIOD_DAYS,
    NEWCOMER_DAYS,
    ChartData,
    CircleWeek,
    Newcomer,
    OnrampFigures,
    figures_of,
)
from bot.services import reviews as review_service
from storage.repositories import momentum as momentum_repo
from storage.repositories import onramp as repo
from storage.repositories import retention as retention_repo

MAX_WEEKS = 104  # a chart shows at most the last two years, week by week


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def figures_many(
    session: Session,
    *,
    community_ids: Collection[int],
    now: datetime,
    since: Mapping[int, datetime] | None = None,
    circles: Mapping[int, Mapping[str, int]] | None = None,
) -> dict[int, OnrampFigures]:
    """Each community's onramp figures. `since`: where each one's period starts (its last review went
    out); a community not in it (or no `since`) counts the last 30 days, as the App Home does.
    `circles`: the members per circle now (core, inner, outer) when the caller has counted them already.
    Three or four statements for all the communities together."""
    ids = sorted(set(community_ids))
    if not ids:
        return {}
    default_since = now - timedelta(days=HOME_PERIOD_DAYS)
    starts = {cid: (since or {}).get(cid, default_since) for cid in ids}
    earliest = min(starts.values())
    joins = repo.newcomers(session, community_ids=ids, joined_since=now - timedelta(days=NEWCOMER_DAYS))
    replies: dict[int, list[float]] = defaultdict(list)
    for cid, posted, replied in repo.first_replies(session, community_ids=ids, posted_since=earliest):
        if posted >= starts[cid]:
            replies[cid].append((replied - posted).total_seconds() / 60)
    demoted: Counter[int] = Counter()
    for cid, at in repo.demotions(session, community_ids=ids, since=earliest):
        if at >= starts[cid]:
            demoted[cid] += 1
    counts = circles if circles is not None else repo.circle_counts(session, community_ids=ids)
    result: dict[int, OnrampFigures] = {}
    for cid in ids:
        cohort = [
            Newcomer(
                None
                if row.first_contribution_at is None
                else _days(row.first_contribution_at - row.joined_at),
                row.reached_inner,
            )
            for row in joins.get(cid, [])
        ]
        now_in = counts.get(cid, {})
        result[cid] = figures_of(
            joins=cohort,
            reply_minutes=replies.get(cid, []),
            demoted=demoted[cid],
            core=now_in.get("core", 0),
            inner=now_in.get("inner", 0),
            outer=now_in.get("outer", 0),
        )
    return result


def _end_of_day(day: date, timezone: str) -> datetime:
    """The instant a local day ends (the next local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), cadence.zone(timezone)).astimezone(UTC)


def chart_data_many(
    session: Session, *, community_ids: Collection[int], now: datetime
) -> dict[int, ChartData]:
    """Each community's history, week by week since it began (at most the last 104 weeks). A week is 7
    local days ending on a day `today - 7k` (k = 0 is the week ending today), as the review prompt counts
    them. Members per circle at each week's end are rebuilt from the memberships (joined, left) and the
    circle changes: a member's circle at an instant is the one their latest change before it moved them
    to, else the one their first change after it moved them from, else their circle now; the core group
    is the members whose role is core now (a role has no history). A handful of statements in all."""
    communities = repo.chart_communities(session, community_ids=community_ids)
    if not communities:
        return {}
    ids = [c.id for c in communities]
    todays = {c.id: now.astimezone(cadence.zone(c.timezone)).date() for c in communities}
    spans: dict[int, int] = {}
    week_ends: dict[int, list[datetime]] = {}
    for c in communities:
        today = todays[c.id]
        created_on = c.created_at.astimezone(cadence.zone(c.timezone)).date()
        spans[c.id] = max(1, min(MAX_WEEKS, (today - created_on).days // 7 + 1))
        # Oldest first; the current week ends now (what is known so far), the others at local midnight.
        week_ends[c.id] = [
            now if k == 0 else _end_of_day(today - timedelta(days=7 * k), c.timezone)
            for k in range(spans[c.id] - 1, -1, -1)
        ]
    first_end = min(ends[0] for ends in week_ends.values())
    members = repo.member_spans(session, community_ids=ids, left_since=first_end)
    changes = repo.changes_since(session, community_ids=ids, since=first_end)
    blocks: dict[int, dict[int, int]] = {}
    for day in sorted(set(todays.values())):
        scope = [cid for cid in ids if todays[cid] == day]
        weeks = max(max(spans[cid] for cid in scope), review_service.WEEKS_COMPARED + 1)
        found = momentum_repo.weekly_blocks(session, today=day, weeks=weeks, community_ids=scope)
        blocks.update({cid: found.get(cid, {}) for cid in scope})
    # Days rolled up by the retention (bot.services.retention) are drawn from their monthly totals.
    months = retention_repo.community_months(
        session, community_ids=ids, since=min(todays.values()) - timedelta(days=7 * MAX_WEEKS)
    )
    last = momentum_repo.last_contribution_days(session, community_ids=ids)
    funnels = repo.newcomers(session, community_ids=ids, joined_since=now - timedelta(days=NEWCOMER_DAYS))
    result: dict[int, ChartData] = {}
    for c in communities:
        today, ends, span = todays[c.id], week_ends[c.id], spans[c.id]
        per_block = retention.add_months(blocks[c.id], months.get(c.id, []), today=today, weeks=span)
        counts = [Counter[str]() for _ in ends]
        for member in members.get(c.id, []):
            moves = changes.get((c.id, member.user_id), [])
            for index, end in enumerate(ends):
                if member.joined_at > end or (member.left_at is not None and member.left_at <= end):
                    continue
                counts[index]["core" if member.core else _circle_at(member.circle, moves, end)] += 1
        weekly = [per_block.get(k, 0) for k in range(review_service.WEEKS_COMPARED + 1)]
        history = review_service._weeks_before(
            weekly,
            today=today,
            created_on=c.created_at.astimezone(cadence.zone(c.timezone)).date(),
            last=last.get(c.id, {}),
        )
        cohort = funnels.get(c.id, [])
        result[c.id] = ChartData(
            name=c.name,
            weeks=tuple(
                CircleWeek(
                    today - timedelta(days=7 * k + 6),
                    counts[span - 1 - k]["core"],
                    counts[span - 1 - k]["inner"],
                    counts[span - 1 - k]["outer"],
                )
                for k in range(span - 1, -1, -1)
            ),
            contributions=tuple(per_block.get(k, 0) for k in range(span - 1, -1, -1)),
            usual_week=float(statistics.median(history)) if history else None,
            funnel=(
                len(cohort),
                sum(1 for row in cohort if row.first_contribution_at is not None),
                sum(1 for row in cohort if row.reached_inner),
            ),
        )
    return result


def _circle_at(now_circle: str, moves: list[tuple[datetime, str, str]], at: datetime) -> str:
    """A member's circle at `at` from their changes (in order): see `chart_data_many`."""
    before = [to for when, _, to in moves if when <= at]
    if before:
        return before[-1]
    after = next((from_circle for when, from_circle, _ in moves if when > at), None)
    return after if after is not None else now_circle
