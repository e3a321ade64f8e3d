"""Use-cases of circles: count contributions, promote at once, recompute daily, explain, backfill.

Privacy (export, forget) lives in bot/services/privacy.py.

Counting is idempotent on the Events API event id: the id is claimed in the same transaction as the
counter it increments, so a retried event changes nothing and a failed one is counted on retry.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import circles as rule_domain
from bot.domain.circles import CircleDecision, CircleRule, ParamValue, Reason, WindowSummary
from bot.domain.first_posts import may_be_first
from bot.services import communities as community_service
from bot.services import first_posts, home_refresh, outbox
from storage import bindings, claims
from storage.async_driver import AsyncDriverConnection
from storage.bindings import Binding
from storage.db import Database, WriteLockBusy, retrying_on_disconnect
from storage.models import CircleChange, Community, Membership
from storage.repositories import activity as activity_repo
from storage.repositories import circles as circles_repo
from storage.repositories import communities as community_repo
from storage.repositories import counting as counting_repo
from storage.repositories import memberships as membership_repo
from storage.repositories import privacy as privacy_repo
from storage.repositories import standings as standings_repo
from storage.repositories.counting import CountFigures
from storage.repositories.standings import ChangeFacts, CommunityFacts, MemberFacts

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


def rule_of(community: Community | CommunityFacts) -> CircleRule:
    # Clamped, not validated: a row saved before the settings form checked the rule's bounds (a grace of
    # 0 was once accepted) must not make every message of its community fail, nor stop the daily pass.
    return CircleRule.within_bounds(
        window_days=community.circle_window_days,
        inner_min_contributions=community.inner_min_contributions,
        inner_min_days=community.inner_min_days,
        demotion_grace_days=community.demotion_grace_days,
    )


def local_today(community: Community | CommunityFacts, now: datetime) -> date:
    return now.astimezone(cadence.zone(community.timezone)).date()


def local_day_of(community: Community | CommunityFacts, ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).astimezone(cadence.zone(community.timezone)).date()


def _decide(
    community: Community | CommunityFacts,
    membership: Membership | MemberFacts,
    rows: Iterable[Any],
    today: date,
    last_contribution: date | None = None,
) -> CircleDecision:
    """The rule on the rows the window and grace need. `last_contribution` (their latest ever) covers what
    those rows cannot see: someone who contributed since joining, longer ago, is no lurking newcomer."""
    joined_on = local_day_of(community, membership.joined_at.timestamp())
    decision = rule_domain.decide(
        rows,  # stored rows as they are read (bot.domain.circles.DayCounts)
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


def _history_start(community: Community | CommunityFacts, today: date) -> date:
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
    community: Community | CommunityFacts,
    membership: Membership | MemberFacts,
    rows: Iterable[Any],
    today: date,
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
                by_channel.get(binding.channel_id, []),
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


def _countable_day(binding: Binding, *, ts: float, now: datetime) -> tuple[date, date] | None:
    """(the message's day, today) on the community's calendar, or None when the message is not counted
    live: before the binding (the backfill counts the history), from the future, or older than the rule
    can still see."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment < binding.bound_at or moment > now + FUTURE_TOLERANCE:
        return None
    zone = cadence.zone(binding.timezone)
    day = moment.astimezone(zone).date()
    today = now.astimezone(zone).date()
    if day < today - timedelta(days=_binding_rule(binding).history_days):
        return None
    return day, today


@functools.lru_cache(maxsize=1024)  # a Binding is frozen: its rule is built once, not per message
def _binding_rule(binding: Binding) -> CircleRule:
    return CircleRule.within_bounds(
        window_days=binding.window_days,
        inner_min_contributions=binding.inner_min_contributions,
        inner_min_days=binding.inner_min_days,
        demotion_grace_days=binding.demotion_grace_days,
    )


def _count(
    db: Database,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
    reaction: bool,
) -> tuple[Counted, Binding | None, CountFigures | None]:
    """Count one event: no SQL for a channel no community counts (the cache knows), else one statement
    on PostgreSQL, sent on the driver connection in autocommit (Database.on_driver); a second only for a
    poster who is not a member yet (the forgotten check needs their hash), or when the cached binding
    turned out stale (read again, counted again: nothing was written). The binding and the hash, when
    they need SQL, are read in a session of their own: the counting statement re-checks the binding."""
    cache = bindings.cache_of_engine(db.engine)
    user_hash: str | None = None
    for _attempt in range(3):
        known, binding = cache.known(team_id=team_id, channel_id=channel_id)
        if not known:
            binding = _look_up(db, cache, team_id=team_id, channel_id=channel_id)
        if binding is None:
            return Counted.IGNORED, None, None
        what = _counting(
            binding,
            ts=ts,
            team_id=team_id,
            event_id=event_id,
            channel_id=channel_id,
            user_id=user_id,
            now=now,
            reaction=reaction,
            user_hash=user_hash,
        )
        if what is None:
            return Counted.IGNORED, None, None
        figures = db.on_driver(functools.partial(counting_repo.count, what=what))
        if not figures.bound:
            cache.forget(team_id=team_id, channel_id=channel_id)
            continue
        if figures.needs_hash:
            with db.statement_session() as session:
                user_hash = retrying_on_disconnect(
                    session, lambda: privacy_repo.user_hash(session, team_id=team_id, user_id=user_id)
                )
            continue
        return _verdict(figures), binding, figures
    raise RuntimeError("counting did not settle after 3 attempts")  # pragma: no cover


def _counting(
    binding: Binding,
    *,
    ts: float,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    now: datetime,
    reaction: bool,
    user_hash: str | None,
) -> counting_repo.Counting | None:
    """What to count for the event at `ts` in the binding's channel; None when it is not counted live
    (`_countable_day`): the sync and the event loop's count both start here."""
    days = _countable_day(binding, ts=ts, now=now)
    if days is None:
        return None
    day, today = days
    return counting_repo.Counting(
        binding=binding,
        team_id=team_id,
        channel_id=channel_id,
        user_id=user_id,
        event_id=event_id or None,
        day=day,
        today=today,
        window_start=_binding_rule(binding).window_start(today),
        now=now,
        contributions=0 if reaction else 1,
        reactions=1 if reaction else 0,
        create=not reaction,
        user_hash=user_hash,
    )


def _verdict(figures: CountFigures) -> Counted:
    """What a bound statement that needed no hash did (see CountFigures)."""
    if not figures.claimed:
        return Counted.DUPLICATE
    if figures.membership_id is None:
        return Counted.IGNORED
    return Counted.COUNTED


def _look_up(db: Database, cache: bindings.BindingCache, *, team_id: str, channel_id: str) -> Binding | None:
    """The binding from the database (a miss, or the once-a-TTL version check), in a session of its own."""
    with db.statement_session() as session:
        return retrying_on_disconnect(
            session, lambda: cache.lookup(session, team_id=team_id, channel_id=channel_id)
        )


def window_summary(figures: CountFigures, *, day: date, today: date, rule: CircleRule) -> WindowSummary:
    """The member's window after this event, from the statement's figures (see CountFigures)."""
    inside = rule.window_start(today) <= day <= today
    counted = figures.day_contributions if inside else 0
    return WindowSummary(
        contributions=figures.other_contributions + counted,
        days=figures.other_days + (1 if inside and counted + figures.other_on_day > 0 else 0),
        reactions=0,
        window_days=rule.window_days,
    )


def surely_uncounted(engine: Engine, *, team_id: str, channel_id: str) -> bool:
    """True when an event in this channel would certainly be ignored, known without any SQL (the channel
    is bound to no active community, says a fresh cache): the handler then opens no session at all."""
    return bindings.cache_of_engine(engine).surely_unbound(team_id=team_id, channel_id=channel_id)


def record_contribution(
    db: Database,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
    message_ts: str | None = None,
) -> CountOutcome:
    """Count a contribution, then promote at once when it crosses the threshold (the rule).

    The count is one unit of work of its own: on PostgreSQL one statement in autocommit, one round trip
    (claim, membership, counter and window figures together; see storage/repositories/counting.py). The
    promotion, rare, follows in a short transaction of its own, with its warm note written to the outbox
    (sent after the ack). Both are committed before the caller acknowledges the event.

    Crash safety: should the process die between the two, the count is kept (it is the fact, claimed
    with its event id: Slack's retry is refused, nothing is counted twice) and the member stays in the
    outer circle one moment too long, a derived value: their next counted message re-reads the window
    and promotes them (the figures come from the stored rows, not from this event), and so does the
    daily recompute (`recompute`: the rule promotes as well as demotes). Only the warm note of that
    promotion can be lost; nothing is ever counted twice or lost.
    """
    # A connection found dead by the counting statement is replaced and the count run again (on_driver):
    # safe, as a statement that failed wrote nothing, and one that committed claimed its event id with
    # its count.
    result, binding, figures = _count(
        db,
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=now,
        reaction=False,
    )
    return _after_count(
        db,
        result,
        binding,
        figures,
        team_id=team_id,
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=now,
        message_ts=message_ts,
    )


def _after_count(
    db: Database,
    result: Counted,
    binding: Binding | None,
    figures: CountFigures | None,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
    message_ts: str | None,
) -> CountOutcome:
    """What follows a count, each in a short transaction of its own, only when the figures say so: a
    newcomer's first post or a reply to one, and the promotion."""
    if result != Counted.COUNTED or binding is None or figures is None:
        return CountOutcome(result)
    days = _countable_day(binding, ts=ts, now=now)
    assert days is not None
    # A newcomer's first post, or a reply to one (issue 10): a statement only when the figures say so.
    first_posts.after_count(
        db,
        binding=binding,
        figures=figures,
        team_id=team_id,
        channel_id=channel_id,
        user_id=user_id,
        message_ts=message_ts,
        day=days[0],
        posted_at=first_posts.moment_of(ts),
    )
    reason = _promotion_due(result, binding, figures, ts=ts, now=now)
    if reason is None:
        return CountOutcome(result)
    promotion = _promote_with_note(
        db, binding=binding, figures=figures, team_id=team_id, user_id=user_id, reason=reason, now=now
    )
    return CountOutcome(Counted.COUNTED, promotion)


def _follow_up_due(
    result: Counted,
    binding: Binding,
    figures: CountFigures,
    *,
    ts: float,
    now: datetime,
    message_ts: str | None,
) -> bool:
    """Whether `_after_count` has anything to write (else it returns without SQL): the same conditions as
    first_posts.after_count, and the promotion rule."""
    if result != Counted.COUNTED:
        return False
    if figures.awaiting_reply:
        return True
    if (
        message_ts
        and figures.membership_id is not None
        and may_be_first(
            role=figures.role,
            circle=figures.circle,
            day_contributions=figures.day_contributions,
            other_contributions=figures.other_contributions,
        )
    ):
        return True
    return _promotion_due(result, binding, figures, ts=ts, now=now) is not None


InThread = Callable[[Callable[[], Any]], Awaitable[Any]]


async def record_contribution_on_loop(
    db: Database,
    in_thread: InThread,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
    message_ts: str | None = None,
) -> CountOutcome:
    """`record_contribution`, from the HTTP server's event loop.

    The usual message (a member's, in a channel the binding cache knows) is its one statement, awaited on
    the loop on PostgreSQL, and on SQLite its local transaction run there, each shared with the counts of
    other events sent at once (`_count_from_loop`): no hop to a worker thread and back.
    Everything else runs as `record_contribution` in a worker thread (`in_thread`): a binding to read, a
    poster who is not a member yet (their hash needs a read), a stale binding (the statement wrote
    nothing in these cases); and what follows a count when the figures call for it (a first post, a reply
    to one, a promotion), as it does there. The loop never waits for the database server nor for another
    writer: on SQLite it waits only for its own commit (Database.on_driver_together says how long).
    """
    counted = await _count_on_loop(
        db,
        in_thread,
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=now,
        reaction=False,
    )
    if counted is None:
        outcome: CountOutcome = await in_thread(
            functools.partial(
                record_contribution,
                db,
                team_id=team_id,
                event_id=event_id,
                channel_id=channel_id,
                user_id=user_id,
                ts=ts,
                now=now,
                message_ts=message_ts,
            )
        )
        return outcome
    result, binding, figures = counted
    if (
        binding is None
        or figures is None
        or not _follow_up_due(result, binding, figures, ts=ts, now=now, message_ts=message_ts)
    ):
        return CountOutcome(result)
    after: CountOutcome = await in_thread(
        functools.partial(
            _after_count,
            db,
            result,
            binding,
            figures,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            ts=ts,
            now=now,
            message_ts=message_ts,
        )
    )
    return after


async def _count_on_loop(
    db: Database,
    in_thread: InThread,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
    reaction: bool,
) -> tuple[Counted, Binding | None, CountFigures | None] | None:
    """`_count`, from the event loop, for an event in a channel the binding cache knows: what `_count`
    returns. None, with nothing written, when `_count` must run in a worker thread instead: a binding to
    read, a poster who is not a member yet (their hash needs a read), a stale binding."""
    cache = bindings.cache_of_engine(db.engine)
    known, binding = cache.known(team_id=team_id, channel_id=channel_id)
    if known and binding is None:
        return Counted.IGNORED, None, None
    if binding is None:
        return None
    what = _counting(
        binding,
        ts=ts,
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        user_id=user_id,
        now=now,
        reaction=reaction,
        user_hash=None,
    )
    if what is None:
        return Counted.IGNORED, None, None
    figures = await _count_from_loop(db, in_thread, what)
    if not figures.bound:
        cache.forget(team_id=team_id, channel_id=channel_id)
        return None
    if figures.needs_hash:  # never for a reaction, which makes no one a member
        return None
    return _verdict(figures), binding, figures


async def _count_from_loop(db: Database, in_thread: InThread, what: counting_repo.Counting) -> CountFigures:
    """The counting statement, from the event loop. PostgreSQL: awaited there, together with the others
    asked for while one is on its way (Database.first_together: one round trip). SQLite: run there, together
    with the other counts of the same turn of the loop (one transaction, one disk flush), after the app's
    other unit of work holding the turn if any (Database.on_driver_together); in a worker thread when
    another process holds the write lock, so the loop never waits for one."""
    if db.awaits_statements:
        return await counting_repo.count_async(db, what)
    count = functools.partial(counting_repo.count, what=what)
    try:
        return await db.on_driver_together(count)
    except WriteLockBusy:
        figures: CountFigures = await in_thread(functools.partial(db.on_driver, count))
        return figures


def _promotion_due(
    result: Counted, binding: Binding | None, figures: CountFigures | None, *, ts: float, now: datetime
) -> Reason | None:
    """Why the counted outer member now belongs in the inner circle (the rule, on the statement's figures);
    None when they stay where they are."""
    if result != Counted.COUNTED or binding is None or figures is None or figures.circle != "outer":
        return None
    assert figures.membership_id is not None
    days = _countable_day(binding, ts=ts, now=now)
    assert days is not None
    rule = _binding_rule(binding)
    summary = window_summary(figures, day=days[0], today=days[1], rule=rule)
    return rule_domain.promotion_reason(summary, rule)


def _promote_with_note(
    db: Database,
    *,
    binding: Binding,
    figures: CountFigures,
    team_id: str,
    user_id: str,
    reason: Reason,
    now: datetime,
) -> Promotion | None:
    """The promotion in a short transaction of its own, its warm note written to the outbox (sent after
    the ack)."""
    with db.session() as session:
        promotion = _promote(
            session,
            binding=binding,
            figures=figures,
            team_id=team_id,
            user_id=user_id,
            reason=reason,
            now=now,
        )
        if promotion is not None and promotion.send_note:
            outbox.text(
                session,
                team_id=team_id,
                to=promotion.user_id,
                key_name="activity.promotion.note",
                name=promotion.community_name,
            )
    return promotion


def _promote(
    session: Session,
    *,
    binding: Binding,
    figures: CountFigures,
    team_id: str,
    user_id: str,
    reason: Reason,
    now: datetime,
) -> Promotion | None:
    """Move the counted member to the inner circle: compare-and-set on the circle, so of two messages
    crossing together one moves them (None for the other)."""
    assert figures.membership_id is not None
    if not membership_repo.move_circle(
        session, membership_id=figures.membership_id, from_circle="outer", to_circle="inner", now=now
    ):
        return None
    activity_repo.add_change(
        session,
        CircleChange(
            team_id=team_id,
            community_id=binding.community_id,
            user_id=user_id,
            from_circle="outer",
            to_circle="inner",
            reason_key=reason.key,
            reason_params=dict(reason.params),
            changed_at=now,
        ),
    )
    community = community_repo.get(session, team_id=team_id, community_id=binding.community_id)
    assert community is not None
    home_refresh.refresh(session, team_id=team_id, user_ids=[user_id], community_ids=[community.id])
    return Promotion(
        user_id=user_id,
        community_name=community.name,
        language=community.language,
        send_note=community.promotion_dm and figures.role != "core",
    )


def record_reaction(
    db: Database,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
) -> Counted:
    """A reaction is a light signal, kept apart: it never moves anyone between circles, and never makes
    anyone a member. One statement (autocommit on PostgreSQL), retried once on a dead connection."""
    return _count(
        db,
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=now,
        reaction=True,
    )[0]


async def record_reaction_on_loop(
    db: Database,
    in_thread: InThread,
    *,
    team_id: str,
    event_id: str | None,
    channel_id: str,
    user_id: str,
    ts: float,
    now: datetime,
) -> Counted:
    """`record_reaction`, from the HTTP server's event loop, as `record_contribution_on_loop` counts a
    message (`_count_on_loop`): a reaction in a channel the binding cache knows is its one statement
    there; a binding to read, or a stale one (nothing was written), runs as `record_reaction` in a worker
    thread."""
    counted = await _count_on_loop(
        db,
        in_thread,
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=now,
        reaction=True,
    )
    if counted is not None:
        return counted[0]
    result: Counted = await in_thread(
        functools.partial(
            record_reaction,
            db,
            team_id=team_id,
            event_id=event_id,
            channel_id=channel_id,
            user_id=user_id,
            ts=ts,
            now=now,
        )
    )
    return result


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
    _refresh_homes(session, history)
    return changes


def _refresh_homes(session: Session, history: list[dict[str, Any]]) -> None:
    """App Home of the members moved and of their communities' moderators, per workspace."""
    by_team: dict[str, tuple[set[str], set[int]]] = {}
    for row in history:
        users, communities = by_team.setdefault(row["team_id"], (set(), set()))
        users.add(row["user_id"])
        communities.add(row["community_id"])
    for team_id, (users, communities) in by_team.items():
        home_refresh.refresh(session, team_id=team_id, user_ids=users, community_ids=communities)


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

    community: Community | CommunityFacts
    membership: Membership | MemberFacts
    decision: CircleDecision
    per_channel: list[tuple[str, CircleDecision]] = field(default_factory=list)
    stored_days: int = 0


def _stored_reason(change: CircleChange | ChangeFacts) -> Reason:
    params: dict[str, ParamValue] = {
        name: value
        for name, value in (change.reason_params or {}).items()
        if isinstance(value, int | str) and not isinstance(value, bool)
    }
    return Reason.of(change.reason_key, **params)


def _explained(
    community: Community | CommunityFacts,
    membership: Membership | MemberFacts,
    decision: CircleDecision,
    change: CircleChange | ChangeFacts | None,
    last_contribution: date | None,
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
    if last_contribution is not None and last_contribution >= demoted_on:
        return decision
    return replace(decision, reason=_stored_reason(change))


def _not_a_newcomer(decision: CircleDecision) -> CircleDecision:
    """Founders and moderators started the community or run it: never welcomed as newcomers, never
    told they have been lurking. Quiet, they read the plain outer-circle reason."""
    reason = decision.reason
    if reason.key == rule_domain.REASON_NEWCOMER:
        reason = Reason(rule_domain.REASON_OUTER_QUIET, reason.params)
    return replace(decision, newcomer=False, lurking=False, reason=reason)


def standings(connection: Connection, *, team_id: str, user_id: str, now: datetime) -> list[Standing]:
    """/cdp me: in one statement (two with sub-issues), however many communities the person belongs to
    and however long their history (the days the rule needs, and aggregates for what lies before them),
    read as plain rows (storage/repositories/standings.py)."""
    places = standings_repo.places(
        connection, team_id=team_id, user_id=user_id, today=now.astimezone(UTC).date()
    )
    return standings_of(places, now)


async def claimed_standings_on_loop(
    db: Database, *, claim: tuple[str, str], team_id: str, user_id: str, now: datetime
) -> list[Standing] | None:
    """`/cdp me` on the HTTP server's event loop (PostgreSQL): the replay guard's claim (its team and key)
    and the read of the person's standings in one round trip and one transaction, instead of one after the
    other; None when the key was claimed already (a replay: what was read is dropped, nothing written)."""

    async def claim_and_read(connection: AsyncDriverConnection) -> list[standings_repo.Place] | None:
        claimed, found = await connection.alls(
            [
                claims.claim_statement(connection.dialect, team_id=claim[0], key=claim[1], now=now),
                standings_repo.places_statement(
                    connection.dialect, team_id=team_id, user_id=user_id, today=now.astimezone(UTC).date()
                ),
            ]
        )
        if not claimed:
            return None
        return await standings_repo.places_found(connection, found)

    places = await db.on_async_driver(claim_and_read)
    return None if places is None else standings_of(places, now)


def standings_of(places: Sequence[standings_repo.Place], now: datetime) -> list[Standing]:
    """Each membership's circle by the rule, explained, and per sub-issue channel: computation only."""
    result = []
    for place in places:
        community, membership, last = place.community, place.membership, place.last_contribution
        today = local_today(community, now)
        since = _history_start(community, today)
        rows = [day for day in place.window if day.day >= since]
        decision = _decide(community, membership, rows, today, last)
        decision = _explained(community, membership, decision, place.latest_change, last)
        if membership.role == "core" or membership.joined_via == "creation":
            decision = _not_a_newcomer(decision)
        per_channel = _per_channel(community, membership, rows, today)
        result.append(Standing(community, membership, decision, per_channel, place.stored_rows))
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
