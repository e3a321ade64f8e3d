"""Use-cases of circles: count contributions, promote at once, recompute daily, explain, backfill.

Privacy (export, forget) lives in bot/services/privacy.py.

Counting is idempotent on the Events API event id: the id is claimed in the same transaction as the
counter it increments, so a retried event changes nothing and a failed one is counted on retry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import circles as rule_domain
from bot.domain.circles import ActivityDay, CircleDecision, CircleRule, ParamValue, Reason
from bot.services import communities as community_service
from bot.services import events as event_service
from storage.models import CircleChange, Community, CommunityChannel, Membership
from storage.repositories import activity as activity_repo
from storage.repositories import circles as circles_repo
from storage.repositories import communities as community_repo
from storage.repositories import memberships as membership_repo

FUTURE_TOLERANCE = timedelta(days=1)  # clocks drift; a message from tomorrow is not real


class Counted(StrEnum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"  # a retry of an event already counted
    IGNORED = "ignored"  # unbound channel, not a member, outside the window...


@dataclass(frozen=True)
class Promotion:
    """Someone just joined the inner circle: the handler may send the warm note."""

    user_id: str
    community_name: str
    language: str
    send_note: bool


@dataclass(frozen=True)
class CountOutcome:
    result: Counted
    promotion: Promotion | None = None


def rule_of(community: Community) -> CircleRule:
    # Clamped, not validated: a row saved before the settings form checked the rule's bounds (a grace of
    # 0 was once accepted) must not make every message of its community fail, nor stop the daily pass.
    return CircleRule.within_bounds(
        window_days=community.circle_window_days,
        inner_min_contributions=community.inner_min_contributions,
        inner_min_days=community.inner_min_days,
        demotion_grace_days=community.demotion_grace_days,
    )


def local_today(community: Community, now: datetime) -> date:
    return now.astimezone(cadence.zone(community.timezone)).date()


def local_day_of(community: Community, ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).astimezone(cadence.zone(community.timezone)).date()


def _to_domain(rows: Iterable[Any]) -> list[ActivityDay]:
    return [ActivityDay(day=r.day, contributions=r.contributions, reactions=r.reactions) for r in rows]


def _decide(
    community: Community,
    membership: Membership,
    rows: Iterable[Any],
    today: date,
    last_contribution: date | None = None,
) -> CircleDecision:
    """The rule on the rows the window and grace need. `last_contribution` (their latest ever) covers what
    those rows cannot see: someone who contributed since joining, longer ago, is no lurking newcomer."""
    joined_on = local_day_of(community, membership.joined_at.timestamp())
    decision = rule_domain.decide(
        _to_domain(rows),
        rule_of(community),
        today=today,
        current="inner" if membership.circle == "inner" else "outer",
        circle_since=local_day_of(community, membership.circle_since.timestamp()),
        joined_on=joined_on,
    )
    if (
        (decision.newcomer or decision.lurking)
        and last_contribution is not None
        and joined_on <= last_contribution
    ):
        return replace(decision, newcomer=False, lurking=False)
    return decision


def _history_start(community: Community, today: date) -> date:
    return today - timedelta(days=rule_of(community).history_days)


def decide_for(
    session: Session, *, community: Community, membership: Membership, today: date
) -> CircleDecision:
    rows = activity_repo.for_member(
        session,
        team_id=community.team_id,
        community_id=community.id,
        user_id=membership.user_id,
        since=_history_start(community, today),
    )
    return _decide(community, membership, rows, today)


def _rows_by_user(session: Session, *, community: Community, today: date) -> dict[str, list[Any]]:
    """The community's activity the rule needs, by member, from one read (not one query per member)."""
    by_user: dict[str, list[Any]] = defaultdict(list)
    for row in activity_repo.for_community(
        session, team_id=community.team_id, community_id=community.id, since=_history_start(community, today)
    ):
        by_user[row.user_id].append(row)
    return by_user


def _per_channel(
    community: Community, membership: Membership, rows: Iterable[Any], today: date
) -> list[tuple[str, CircleDecision]]:
    """Sub-issues: with 2+ bound channels, the member's circle in each channel, by the rule applied to
    that channel's activity alone (no grace period: a place per channel is not kept, it is observed)."""
    if len(community.channels) < 2:
        return []
    by_channel: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel_id].append(row)
    rule = rule_of(community)
    joined_on = local_day_of(community, membership.joined_at.timestamp())
    return [
        (
            binding.channel_id,
            rule_domain.decide(
                _to_domain(by_channel.get(binding.channel_id, [])),
                rule,
                today=today,
                current="outer",
                circle_since=today,
                joined_on=joined_on,
            ),
        )
        for binding in community.channels
    ]


def _apply(
    session: Session, *, community: Community, membership: Membership, decision: CircleDecision, now: datetime
) -> bool:
    """Record a change of circle with its reason and time; False when a concurrent request made it first
    (compare-and-set on the circle the decision started from: one change, one note)."""
    if not membership_repo.move_circle(
        session,
        membership_id=membership.id,
        from_circle=decision.previous,
        to_circle=decision.circle,
        now=now,
    ):
        return False
    activity_repo.add_change(
        session,
        CircleChange(
            team_id=community.team_id,
            community_id=community.id,
            user_id=membership.user_id,
            from_circle=decision.previous,
            to_circle=decision.circle,
            reason_key=decision.reason.key,
            reason_params=dict(decision.reason.params),
            changed_at=now,
        ),
    )
    return True


# ---- counting --------------------------------------------------------------------------------
def _countable_binding(
    session: Session, *, team_id: str, channel_id: str, ts: float, now: datetime
) -> tuple[Community, CommunityChannel] | None:
    binding = community_repo.channel(session, team_id=team_id, channel_id=channel_id)
    if binding is None:
        return None
    community = community_repo.get(session, team_id=team_id, community_id=binding.community_id)
    if community is None or community.status != "active":
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    # Before the binding, the backfill counts the history; live events count from the binding on.
    if moment < binding.bound_at or moment > now + FUTURE_TOLERANCE:
        return None
    if local_day_of(community, ts) < local_today(community, now) - timedelta(
        days=rule_of(community).history_days
    ):
        return None
    return community, binding


def _member_for_counting(
    session: Session, *, community: Community, user_id: str, now: datetime, since: datetime | None = None
) -> Membership | None:
    """The poster's membership; someone posting in a bound channel without one is in the channel, so a member
    (joined via the channel) — unless they left the community or asked to be forgotten."""
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    if membership is not None:
        return membership if membership.left_at is None else None
    if activity_repo.is_forgotten(session, team_id=community.team_id, user_id=user_id):
        return None
    return community_service.new_member(
        session, community=community, user_id=user_id, now=now, via="channel", joined_at=since
    )


def _claim(
    session: Session, *, team_id: str, event_id: str | None, channel_id: str, ts: float, now: datetime
) -> Community | Counted:
    """The community an event counts for, with its id claimed in this transaction; else why not."""
    found = _countable_binding(session, team_id=team_id, channel_id=channel_id, ts=ts, now=now)
    if found is None:
        return Counted.IGNORED
    if event_id and not event_service.first_time(
        session=session, team_id=team_id, event_id=event_id, now=now
    ):
        return Counted.DUPLICATE
    return found[0]


def record_contribution(
    session: Session,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
) -> CountOutcome:
    community = _claim(session, team_id=team_id, event_id=event_id, channel_id=channel_id, ts=ts, now=now)
    if isinstance(community, Counted):
        return CountOutcome(community)
    membership = _member_for_counting(session, community=community, user_id=user_id, now=now)
    if membership is None:
        return CountOutcome(Counted.IGNORED)
    activity_repo.increment(
        session,
        team_id=team_id,
        community_id=community.id,
        channel_id=channel_id,
        user_id=user_id,
        day=local_day_of(community, ts),
        contributions=1,
    )
    if membership.circle == "inner":
        return CountOutcome(Counted.COUNTED)
    # Promote at once (the rule): the contribution that crosses the threshold moves them in.
    decision = decide_for(
        session, community=community, membership=membership, today=local_today(community, now)
    )
    if not decision.promoted or not _apply(
        session, community=community, membership=membership, decision=decision, now=now
    ):
        return CountOutcome(Counted.COUNTED)
    promotion = Promotion(
        user_id=user_id,
        community_name=community.name,
        language=community.language,
        send_note=community.promotion_dm and membership.role != "core",
    )
    return CountOutcome(Counted.COUNTED, promotion)


def record_reaction(
    session: Session,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
) -> Counted:
    """A reaction is a light signal, kept apart: it never moves anyone between circles."""
    community = _claim(session, team_id=team_id, event_id=event_id, channel_id=channel_id, ts=ts, now=now)
    if isinstance(community, Counted):
        return community
    membership = membership_repo.get(session, team_id=team_id, community_id=community.id, user_id=user_id)
    if membership is None or membership.left_at is not None:
        return Counted.IGNORED
    activity_repo.increment(
        session,
        team_id=team_id,
        community_id=community.id,
        channel_id=channel_id,
        user_id=user_id,
        day=local_day_of(community, ts),
        reactions=1,
    )
    return Counted.COUNTED


# ---- the daily pass --------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A member moved by the daily pass, with the reason recorded in their history."""

    user_id: str
    community_id: int
    previous: str
    circle: str
    reason: Reason


@dataclass(frozen=True)
class RuleSettings:
    """What the daily pass reads of a community: where it is, its clock and its rule's settings."""

    team_id: str
    community_id: int
    timezone: str
    window_days: int
    inner_min_contributions: int
    inner_min_days: int
    demotion_grace_days: int


def _settings_of(community: Community) -> RuleSettings:
    return RuleSettings(
        team_id=community.team_id,
        community_id=community.id,
        timezone=community.timezone,
        window_days=community.circle_window_days,
        inner_min_contributions=community.inner_min_contributions,
        inner_min_days=community.inner_min_days,
        demotion_grace_days=community.demotion_grace_days,
    )


def active_rule_settings(session: Session) -> list[RuleSettings]:
    """Every active community's clock and rule (a few columns each, not ORM objects)."""
    return [RuleSettings(*row) for row in community_repo.active_rule_settings(session)]


@lru_cache(maxsize=1024)
def _calendar(timezone: str, grace_days: int, now: datetime) -> tuple[date, datetime]:
    """A timezone's today, and the instant before which an inner member's grace period is over.

    Inner since a local day <= today - grace <=> inner since before the first instant of the local day
    today - grace + 1 (that midnight, or the end of a gap that skips it: zoneinfo's fold=0 gives both).
    Cached: the pass asks it for thousands of communities, in a handful of timezones and graces.
    """
    zone = cadence.zone(timezone)
    today = now.astimezone(zone).date()
    first_kept = datetime.combine(today - timedelta(days=grace_days - 1), time.min, tzinfo=zone)
    return today, first_kept.astimezone(UTC)


@lru_cache(maxsize=1024)
def _clamped(window_days: int, min_contributions: int, min_days: int, grace_days: int) -> CircleRule:
    # Clamped like rule_of(): a row saved out of bounds still gets the pass.
    return CircleRule.within_bounds(
        window_days=window_days,
        inner_min_contributions=min_contributions,
        inner_min_days=min_days,
        demotion_grace_days=grace_days,
    )


def circle_target(settings: RuleSettings, now: datetime) -> circles_repo.CircleTarget:
    """The community's rule and calendar for the SQL rule; ValueError when its timezone is unknown."""
    rule = _clamped(
        settings.window_days,
        settings.inner_min_contributions,
        settings.inner_min_days,
        settings.demotion_grace_days,
    )
    today, since_cutoff = _calendar(settings.timezone, rule.demotion_grace_days, now)
    return circles_repo.CircleTarget(
        community_id=settings.community_id,
        team_id=settings.team_id,
        today=today,
        window_days=rule.window_days,
        min_contributions=rule.inner_min_contributions,
        min_days=rule.inner_min_days,
        grace_days=rule.demotion_grace_days,
        since_cutoff=since_cutoff,
    )


def _reason(move: circles_repo.CircleMove, target: circles_repo.CircleTarget) -> Reason:
    """The reason the pure rule (`decide`) gives for this move, with the same parameters."""
    if move.to_circle == "inner":
        return Reason.of(
            rule_domain.REASON_PROMOTED,
            contributions=move.contributions,
            days=move.days,
            window=target.window_days,
        )
    return Reason.of(
        rule_domain.REASON_DEMOTED,
        grace=target.grace_days,
        min_contributions=target.min_contributions,
        min_days=target.min_days,
        window=target.window_days,
    )


def recompute_targets(
    session: Session, *, targets: Sequence[circles_repo.CircleTarget], now: datetime
) -> list[Change]:
    """Demotion and decay for these communities at once, each on its own calendar day.

    The rule runs in SQL and returns only the members who move; they are moved by compare-and-set (a
    member a concurrent event already moved is skipped) and each move gets its history row.
    """
    if not targets:
        return []
    by_community = {target.community_id: target for target in targets}
    found = circles_repo.moves(session, targets)
    changes: list[Change] = []
    history: list[dict[str, Any]] = []
    for from_circle, to_circle in (("outer", "inner"), ("inner", "outer")):
        wanted = [m for m in found if (m.from_circle, m.to_circle) == (from_circle, to_circle)]
        if not wanted:
            continue
        moved = circles_repo.move(
            session,
            membership_ids=[m.membership_id for m in wanted],
            from_circle=from_circle,
            to_circle=to_circle,
            now=now,
        )
        for m in wanted:
            if m.membership_id not in moved:
                continue
            reason = _reason(m, by_community[m.community_id])
            changes.append(Change(m.user_id, m.community_id, from_circle, to_circle, reason))
            history.append(
                {
                    "team_id": m.team_id,
                    "community_id": m.community_id,
                    "user_id": m.user_id,
                    "from_circle": from_circle,
                    "to_circle": to_circle,
                    "reason_key": reason.key,
                    "reason_params": dict(reason.params),
                }
            )
    circles_repo.record_changes(session, history, changed_at=now)
    return changes


def recompute(session: Session, *, community: Community, now: datetime) -> list[Change]:
    """Demotion and decay for one community, on its own calendar day (the backfill's last page)."""
    if community.status != "active":
        return []
    return recompute_targets(session, targets=[circle_target(_settings_of(community), now)], now=now)


def active_community_ids(session: Session) -> list[tuple[str, int]]:
    return [(c.team_id, c.id) for c in community_repo.all_active(session)]


# ---- explaining ------------------------------------------------------------------------------
@dataclass
class Standing:
    """One membership as `/cdp me` shows it."""

    community: Community
    membership: Membership
    decision: CircleDecision
    per_channel: list[tuple[str, CircleDecision]] = field(default_factory=list)
    stored_days: int = 0


def _stored_reason(change: CircleChange) -> Reason:
    params: dict[str, ParamValue] = {
        name: value
        for name, value in (change.reason_params or {}).items()
        if isinstance(value, int | str) and not isinstance(value, bool)
    }
    return Reason.of(change.reason_key, **params)


def _explained(
    community: Community,
    membership: Membership,
    decision: CircleDecision,
    change: CircleChange | None,
    rows: Iterable[Any],
) -> CircleDecision:
    """Demoted and quiet since: say why they moved out (the reason recorded with the change), not the
    generic outer-circle reason. The change must be the one that put them where they are, and any
    contribution on the day of the demotion or later brings the generic reason back."""
    if (
        change is None
        or decision.circle != "outer"
        or membership.circle != "outer"
        or (change.from_circle, change.to_circle) != ("inner", "outer")
        or change.changed_at < membership.circle_since
    ):
        return decision
    demoted_on = local_day_of(community, change.changed_at.timestamp())
    if any(row.day >= demoted_on and row.contributions > 0 for row in rows):
        return decision
    return replace(decision, reason=_stored_reason(change))


def _not_a_newcomer(decision: CircleDecision) -> CircleDecision:
    """Founders and moderators started the community or run it: never welcomed as newcomers, never
    told they have been lurking. Quiet, they read the plain outer-circle reason."""
    reason = decision.reason
    if reason.key == rule_domain.REASON_NEWCOMER:
        reason = Reason(rule_domain.REASON_OUTER_QUIET, reason.params)
    return replace(decision, newcomer=False, lurking=False, reason=reason)


def standings(session: Session, *, team_id: str, user_id: str, now: datetime) -> list[Standing]:
    result = []
    latest_changes = activity_repo.latest_changes_for_user(session, team_id=team_id, user_id=user_id)
    for membership in membership_repo.active_for_user(session, team_id=team_id, user_id=user_id):
        community = community_repo.get(session, team_id=team_id, community_id=membership.community_id)
        if community is None:
            continue
        today = local_today(community, now)
        stored = activity_repo.for_member(
            session, team_id=team_id, community_id=community.id, user_id=user_id, since=date.min
        )
        since = _history_start(community, today)
        rows = [row for row in stored if row.day >= since]
        last = max((row.day for row in stored if row.contributions), default=None)
        decision = _decide(community, membership, rows, today, last)
        decision = _explained(community, membership, decision, latest_changes.get(community.id), stored)
        if membership.role == "core" or membership.joined_via == "creation":
            decision = _not_a_newcomer(decision)
        per_channel = _per_channel(community, membership, rows, today)
        result.append(Standing(community, membership, decision, per_channel, len(stored)))
    return result


@dataclass(frozen=True)
class ChannelCircles:
    """One sub-issue channel: its circles by the rule on that channel's activity alone (every member,
    the core group included: in a sub-issue they are inner only if they take part in it)."""

    channel_id: str
    counts: dict[str, int]  # inner, outer
    inner: list[str]  # who is inner here, shown to moderators only


@dataclass(frozen=True)
class CircleOverview:
    community: Community
    counts: dict[str, int]
    members: list[tuple[str, str]]  # (user_id, core|inner|outer), shown to moderators only
    lurking: list[str]  # newcomers lurking, shown to moderators only
    per_channel: list[ChannelCircles] = field(default_factory=list)  # with 2+ bound channels only


def overview(session: Session, *, community: Community, now: datetime) -> CircleOverview:
    today = local_today(community, now)
    memberships = membership_repo.active(session, team_id=community.team_id, community_id=community.id)
    by_user = _rows_by_user(session, community=community, today=today)
    last = activity_repo.last_contribution_days(session, team_id=community.team_id, community_id=community.id)
    counts = {"core": 0, "inner": 0, "outer": 0}
    members, lurking = [], []
    channels = {
        b.channel_id: ChannelCircles(b.channel_id, {"inner": 0, "outer": 0}, []) for b in community.channels
    }
    for membership in memberships:
        rows = by_user[membership.user_id]
        place = "core" if membership.role == "core" else membership.circle
        counts[place] += 1
        members.append((membership.user_id, place))
        lurks = _decide(community, membership, rows, today, last.get(membership.user_id)).lurking
        if membership.role != "core" and lurks:
            lurking.append(membership.user_id)
        for channel_id, decision in _per_channel(community, membership, rows, today):
            channels[channel_id].counts[decision.circle] += 1
            if decision.circle == "inner":
                channels[channel_id].inner.append(membership.user_id)
    per_channel = list(channels.values()) if len(channels) > 1 else []
    return CircleOverview(community, counts, members, lurking, per_channel)


# ---- backfill --------------------------------------------------------------------------------
def backfill_rows(
    session: Session,
    *,
    community: Community,
    channel_id: str,
    messages: Sequence[tuple[str, float]],
    now: datetime,
) -> int:
    """Seed counters from history (user, ts) pairs already filtered to human contributions."""
    counted = 0
    today = local_today(community, now)
    oldest = today - timedelta(days=rule_of(community).window_days)
    for user_id, ts in messages:
        day = local_day_of(community, ts)
        if day < oldest or day > today:
            continue
        # Someone seen in the history has been in the channel at least since that message.
        since = datetime.fromtimestamp(ts, UTC)
        membership = _member_for_counting(session, community=community, user_id=user_id, now=now, since=since)
        if membership is None:
            continue
        if since < membership.joined_at and membership.joined_via == "channel":
            membership.joined_at = since
        activity_repo.increment(
            session,
            team_id=community.team_id,
            community_id=community.id,
            channel_id=channel_id,
            user_id=user_id,
            day=day,
            contributions=1,
        )
        counted += 1
    return counted
