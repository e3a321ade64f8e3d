"""Use-cases of checklist reviews and momentum alerts. The database says what is due; claims make
each reminder go out once, across restarts and across instances sharing one database."""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import cadence, momentum
from bot.domain.checklist import ChecklistResult, Decision
from bot.domain.circles import CircleRule
from bot.domain.onramp import OnrampFigures
from bot.logs import error_fields
from bot.services import circles as circle_service
from bot.services import communities as community_service
from bot.services import first_posts as first_post_service
from bot.services import follow_ups as follow_up_service
from bot.services import home_refresh
from bot.services import key_people as key_people_service
from bot.services import onramp as onramp_service
from bot.services.communities import CommunityProblem
from bot.services.privacy import is_former_member
from storage import schedule
from storage.models import Community, Membership, Review
from storage.repositories import activity as activity_repo
from storage.repositories import memberships as membership_repo
from storage.repositories import momentum as momentum_repo
from storage.repositories import onramp as onramp_repo
from storage.repositories import reviews as review_repo
from storage.repositories import stages as stage_repo

log = logging.getLogger("cdp_bot.reviews")

# A claim older than this whose prompt is still unsent is taken again (the sender crashed or failed).
CLAIM_LEASE = schedule.CLAIM_LEASE
WEEKS_COMPARED = 8


def prompt_ref(review_id: int) -> str:
    """Every prompt of one review (each moderator's, each reminder): settled together once it is
    snoozed or completed, so nobody keeps live buttons for a decided review."""
    return f"review:{review_id}"


def schedule_of(community: Community) -> cadence.ReviewSchedule:
    return cadence.ReviewSchedule(cadence_weeks=community.review_cadence_weeks, timezone=community.timezone)


# ---- what is due -----------------------------------------------------------------------------
def open_due_reviews(session: Session, *, now: datetime) -> int:
    """Create the review row of every community whose review date has come (idempotent): only the
    communities whose `next_due_at` has come are read (storage/schedule.py keeps it in step)."""
    return review_repo.open_due(session, now=now)


def claim(session: Session, *, review_id: int, now: datetime) -> bool:
    return review_repo.claim(session, review_id=review_id, now=now, stale_before=now - CLAIM_LEASE)


def release(session: Session, *, review_id: int) -> None:
    review_repo.release(session, review_id=review_id)


def mark_sent(session: Session, *, review: Review, now: datetime) -> None:
    """The prompt went out: remember the circles as they were, the baseline of the next review."""
    counts = membership_repo.counts(session, team_id=review.team_id, community_ids=[review.community_id])[
        review.community_id
    ]
    review.sent_at = now
    review.core_count, review.inner_count, review.outer_count = (
        counts["core"],
        counts["inner"],
        counts["outer"],
    )
    since = _since_last_review(session, review=review)
    figures = onramp_service.figures_many(
        session,
        community_ids=[review.community_id],
        now=now,
        since={review.community_id: since},
        circles={review.community_id: counts},
    )
    review.onramp = figures[review.community_id].to_json()


def _since_last_review(session: Session, *, review: Review) -> datetime:
    """Since when a review's prompt counts what is new: the previous review that went out, else the
    community's creation (`summary`'s `since`)."""
    community = community_service.require_by_id(
        session, team_id=review.team_id, community_id=review.community_id
    )
    before = review_repo.previous(
        session, team_id=community.team_id, community_id=community.id, before_id=review.id
    )
    if before is not None and before.inner_count is not None:
        return before.sent_at or before.completed_at or community.created_at
    return community.created_at


def mark_sent_many(session: Session, *, items: list[tuple[int, str, int]], now: datetime) -> None:
    """`mark_sent` for a batch of (review id, team, community): one count query, one UPDATE, and the
    onramp figures as they are now (the next review's "last review"), a few statements for the batch."""
    by_team: dict[str, set[int]] = defaultdict(set)
    for _, team_id, community_id in items:
        by_team[team_id].add(community_id)
    counts: dict[int, Counter[str]] = {}
    for team_id, ids in by_team.items():
        counts.update(membership_repo.counts(session, team_id=team_id, community_ids=ids))
    found = momentum_repo.reviews_of(session, review_ids=[rid for rid, _, _ in items])
    earlier = momentum_repo.done_reviews(session, community_ids={c.id for _, c, _ in found})
    since = {c.id: _summary_since(r, c, earlier) for r, c, _ in found}  # what the prompt counted
    figures = onramp_service.figures_many(session, community_ids=since, now=now, since=since, circles=counts)
    onramp_repo.store_figures(
        session, figures={rid: figures[cid].to_json() for rid, _, cid in items if cid in figures}
    )
    review_repo.mark_sent_many(
        session,
        sent=[
            {
                "rid": rid,
                "core": counts[cid]["core"],
                "inner": counts[cid]["inner"],
                "outer": counts[cid]["outer"],
            }
            for rid, _, cid in items
        ],
        now=now,
    )


def advance_due(session: Session, *, item: review_repo.DueReview, to_level: int, now: datetime) -> bool:
    """`advance` from what the tick read (no reload): compare-and-set on the level and the snooze."""
    if to_level == 0:
        return review_repo.advance(
            session,
            review_id=item.id,
            from_level=item.escalation_level,
            snoozed_until=item.snoozed_until,
            to_level=0,
            values={"snoozed_until": None, "sent_at": now},
        )
    return review_repo.advance(
        session,
        review_id=item.id,
        from_level=item.escalation_level,
        snoozed_until=None,
        to_level=to_level,
        values={},
        current_sent_at=item.sent_at,
    )


# ---- acting on a review ----------------------------------------------------------------------
def open_review(
    session: Session, *, team_id: str, review_id: int, user_id: str, is_admin: bool
) -> tuple[Review, Community]:
    """The review a moderator is about to answer; refusals say why."""
    review = review_repo.get(session, team_id=team_id, review_id=review_id)
    if review is None:
        raise CommunityProblem("reviews.errors.unknown")
    community = community_service.require_by_id(session, team_id=team_id, community_id=review.community_id)
    community_service.require_active(community)
    community_service.require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    if review.completed_at is not None:
        key = (
            "reviews.errors.completed_former"
            if is_former_member(review.completed_by)
            else "review_together.errors.closed"  # closed at its deadline, by nobody (issue 11, item 4)
            if review.completed_by is None
            else "reviews.errors.completed"
        )
        raise CommunityProblem(key, name=community.name, moderator=review.completed_by or "?")
    return review, community


def on_demand(
    session: Session, *, community: Community, user_id: str, is_admin: bool, now: datetime
) -> Review:
    """`/cdp review`: a review today, or the open one if there is one."""
    community_service.require_active(community)
    community_service.require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    for review in review_repo.for_community(session, team_id=community.team_id, community_id=community.id):
        if review.completed_at is None:
            return review
    today = circle_service.local_today(community, now)
    review = review_repo.ensure(
        session, team_id=community.team_id, community_id=community.id, due_on=today, on_demand=True
    )
    if review.completed_at is not None:  # a review was already completed today: start another tomorrow's
        review = review_repo.ensure(
            session,
            team_id=community.team_id,
            community_id=community.id,
            due_on=today + timedelta(days=1),
            on_demand=True,
        )
    if review.sent_at is None:
        # The moderator has it in hand: no prompt to send, but a reminder if it stays unanswered.
        review.claimed_at = now
        mark_sent(session, review=review, now=now)
    home_refresh.refresh(session, team_id=community.team_id, community_ids=[community.id])  # App Home
    return review


def snooze(
    session: Session, *, team_id: str, review_id: int, user_id: str, is_admin: bool, now: datetime
) -> tuple[Community, date]:
    """Move the review a week on; returns the community and the local day it comes back."""
    review, community = open_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    review.snoozed_until = cadence.snooze(now)
    home_refresh.refresh(session, team_id=team_id, community_ids=[community.id])  # App Home
    return community, circle_service.local_today(community, review.snoozed_until)


def complete(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    is_admin: bool,
    result: ChecklistResult,
    now: datetime,
) -> tuple[Review, Community]:
    """Store the answers and the decision. Continue and adjust set the next review date; dissolve
    waits for its confirmation (the community is dissolved by the dissolve form)."""
    review, community = open_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    if not record_completion(session, review=review, community=community, result=result, by=user_id, now=now):
        session.refresh(review)  # a co-moderator (or a second click) completed it a moment ago
        raise CommunityProblem(
            "reviews.errors.completed", name=community.name, moderator=review.completed_by or "?"
        )
    return review, community


def record_completion(
    session: Session,
    *,
    review: Review,
    community: Community,
    result: ChecklistResult,
    by: str | None,
    now: datetime,
    next_even_if_dissolving: bool = False,
) -> bool:
    """Store the answers and the decision, once (compare-and-set): False when it was already completed.
    `by` None: closed by its deadline. Continue and adjust set the next review date; dissolve waits for
    its confirmation, unless `next_even_if_dissolving` (nobody is there to confirm it now)."""
    values: dict[str, object] = {
        "answers": [{"item": a.item, "answer": a.answer.value, "note": a.note} for a in result.answers],
        "decision": result.decision.value,
        "completed_at": now,
        "completed_by": by,
    }
    if review.inner_count is None:
        counts = membership_repo.counts(session, team_id=community.team_id, community_ids=[community.id])[
            community.id
        ]
        values.update(core_count=counts["core"], inner_count=counts["inner"], outer_count=counts["outer"])
    if not review_repo.complete(session, review_id=review.id, values=values):
        return False
    if result.decision != Decision.DISSOLVE or next_even_if_dissolving:
        today = circle_service.local_today(community, now)
        community.next_review_on = cadence.next_review_on(schedule_of(community), today)
    home_refresh.refresh(session, team_id=community.team_id, community_ids=[community.id])  # App Home
    return True


# ---- the summary in the prompt ---------------------------------------------------------------
@dataclass(frozen=True)
class ReviewSummary:
    name: str
    counts: Counter[str]
    previous_counts: tuple[int, int, int] | None  # core, inner, outer at the previous review
    new_members: int
    lurking: int
    this_week: int
    usual_week: float | None  # median of the community's own previous weeks; None: no such week yet
    next_review_on: date | None
    weeks_compared: int = WEEKS_COMPARED  # how many previous weeks `usual_week` is the median of
    # Newcomers' first posts since the last review, and whether anyone answered (issue 10).
    first_posts: tuple[first_post_service.FirstPostLine, ...] = ()
    # Key people named at creation who are not members (issue 11, item 7), and the community they are
    # re-invited to (the prompt's "Invite them again" button).
    key_people_missing: tuple[str, ...] = ()
    community_id: int = 0
    # The objectives' path and where it stands (issue 11, item 9; bot/domain/stages.py).
    objectives: tuple[str, ...] = ()
    stage: str | None = None
    # The onramp figures now and at the last review (issue 11, item 2); None: not read, or no last review
    # with figures.
    onramp: OnrampFigures | None = None
    onramp_before: OnrampFigures | None = None
    # The community's open follow-ups, soonest due first (issue 11, item 5).
    follow_ups: tuple[follow_up_service.FollowUpLine, ...] = ()


def summaries(session: Session, *, review_ids: list[int], now: datetime) -> dict[int, ReviewSummary]:
    """`summary` of every review of a batch from set-based queries (the reviews and their communities;
    the earlier reviews; the memberships; contributions per community and day; each member's last
    contribution; the key people named; the open follow-ups; the objectives' paths), the first posts,
    and the onramp figures (four statements, bot/services/onramp.py, and one for those stored with the
    last reviews). `summary` below stays the specification (a test holds them equal)."""
    found = momentum_repo.reviews_of(session, review_ids=review_ids)
    if not found:
        return {}
    ids = {community.id for _, community, _ in found}
    earlier = momentum_repo.done_reviews(session, community_ids=ids)
    members = momentum_repo.members(session, community_ids=ids)
    todays = {
        community.id: now.astimezone(cadence.zone(community.timezone)).date() for _, community, _ in found
    }
    first = min(todays.values()) - timedelta(days=7 * (WEEKS_COMPARED + 1) - 1)
    daily = momentum_repo.daily_contributions(session, community_ids=ids, since=first)
    last_days = momentum_repo.last_contribution_days(session, community_ids=ids)
    since_of = {c.id: _summary_since(r, c, earlier) for r, c, _ in found}
    first_posts = first_post_service.prompt_lines(session, since=since_of, now=now)
    key_people = key_people_service.named_for(session, community_ids=ids)
    paths = stage_repo.of_communities(session, community_ids=ids)
    # The onramp figures of the period, and those stored with the last review (issue 11, item 2).
    circles: dict[int, Counter[str]] = defaultdict(Counter)
    for community_id, people in members.items():
        for m in people:
            circles[community_id]["core" if m.role == "core" else m.circle] += 1
    onramp = onramp_service.figures_many(session, community_ids=ids, now=now, since=since_of, circles=circles)
    befores = {
        review.id: next((r.id for r in earlier.get(community.id, []) if r.id != review.id), None)
        for review, community, _ in found
    }
    stored = onramp_repo.figures_of_reviews(
        session, review_ids=[rid for rid in befores.values() if rid is not None]
    )
    follow_ups = follow_up_service.open_of_communities(session, community_ids=ids, now=now)
    result: dict[int, ReviewSummary] = {}
    for review, community, next_review_on in found:
        zone = cadence.zone(community.timezone)
        today = todays[community.id]
        people = members.get(community.id, [])
        last = last_days.get(community.id, {})
        counts: Counter[str] = Counter()
        for m in people:
            counts["core" if m.role == "core" else m.circle] += 1
        before = next((r for r in earlier.get(community.id, []) if r.id != review.id), None)
        previous_counts = None
        since = community.created_at
        if before is not None and before.inner_count is not None:
            previous_counts = (before.core_count or 0, before.inner_count, before.outer_count or 0)
            since = before.sent_at or before.completed_at or since
        lurking_days = _lurking_days(
            community.window_days,
            community.inner_min_contributions,
            community.inner_min_days,
            community.demotion_grace_days,
        )
        lurking = 0
        for m in people:
            joined_on = m.joined_at.astimezone(zone).date()
            contributed = m.user_id in last and last[m.user_id] >= joined_on
            if m.role != "core" and (today - joined_on).days >= lurking_days and not contributed:
                lurking += 1
        weekly = [0] * (WEEKS_COMPARED + 1)
        for day, number in daily.get(community.id, {}).items():
            if today - timedelta(days=7 * (WEEKS_COMPARED + 1) - 1) <= day <= today:
                weekly[(today - day).days // 7] += number
        created_on = community.created_at.astimezone(zone).date()
        history = _weeks_before(weekly, today=today, created_on=created_on, last=last)
        result[review.id] = ReviewSummary(
            name=community.name,
            counts=counts,
            previous_counts=previous_counts,
            new_members=sum(1 for m in people if m.joined_at >= since and m.joined_via != "creation"),
            lurking=lurking,
            this_week=weekly[0],
            usual_week=statistics.median(history) if history else None,
            next_review_on=next_review_on,
            weeks_compared=len(history),
            first_posts=first_posts.get(community.id, ()),
            key_people_missing=key_people_service.missing_of(
                key_people.get(community.id, []), {m.user_id for m in people}
            ),
            community_id=community.id,
            objectives=tuple(paths.get(community.id, ([], None))[0]),
            stage=paths.get(community.id, ([], None))[1],
            onramp=onramp.get(community.id),
            onramp_before=_figures_before(stored, befores[review.id]),
            follow_ups=follow_ups.get(community.id, ()),
        )
    return result


def _figures_before(stored: dict[int, dict[str, Any]], review_id: int | None) -> OnrampFigures | None:
    """The onramp figures stored with the last review, if it has any."""
    figures = stored.get(review_id) if review_id is not None else None
    return OnrampFigures.from_json(figures) if figures else None


def _summary_since(review: Any, community: Any, earlier: dict[int, list[Any]]) -> datetime:
    """Since when the prompt counts what is new: the previous review, else the community's creation
    (what `summaries` reads as `since`)."""
    before = next((r for r in earlier.get(community.id, []) if r.id != review.id), None)
    since: datetime = community.created_at
    if before is not None and before.inner_count is not None:
        since = before.sent_at or before.completed_at or since
    return since


def _weeks_before(weekly: list[int], *, today: date, created_on: date, last: dict[str, date]) -> list[int]:
    """`_previous_weeks` on figures already read."""
    active_weeks = [week for week in range(1, len(weekly)) if weekly[week]]
    start = created_on
    if active_weeks:
        start = min(start, today - timedelta(days=7 * max(active_weeks) + 6))
    history = [
        count
        for week, count in enumerate(weekly[1:], start=1)
        if today - timedelta(days=7 * week + 6) >= start
    ]
    if not any(history) and not any(day < today - timedelta(days=6) for day in last.values()):
        return []
    return history


def summary(session: Session, *, review: Review, now: datetime) -> ReviewSummary:
    community = community_service.require_by_id(
        session, team_id=review.team_id, community_id=review.community_id
    )
    counts = membership_repo.counts(session, team_id=community.team_id, community_ids=[community.id])[
        community.id
    ]
    before = review_repo.previous(
        session, team_id=community.team_id, community_id=community.id, before_id=review.id
    )
    previous_counts = None
    since = community.created_at
    if before is not None and before.inner_count is not None:
        previous_counts = (before.core_count or 0, before.inner_count, before.outer_count or 0)
        since = before.sent_at or before.completed_at or since
    memberships = membership_repo.active(session, team_id=community.team_id, community_id=community.id)
    overview = circle_service.overview(session, community=community, now=now)
    today = circle_service.local_today(community, now)
    weekly = weekly_contributions(session, community=community, today=today)
    history = _previous_weeks(session, community=community, today=today, weekly=weekly)
    return ReviewSummary(
        name=community.name,
        counts=counts,
        previous_counts=previous_counts,
        # The founders joined at the creation: they are not new since the last review, nor at the first.
        new_members=sum(1 for m in memberships if m.joined_at >= since and m.joined_via != "creation"),
        lurking=len(overview.lurking),
        this_week=weekly[0],
        usual_week=statistics.median(history) if history else None,
        next_review_on=community.next_review_on,
        weeks_compared=len(history),
        first_posts=first_post_service.prompt_lines(session, since={community.id: since}, now=now).get(
            community.id, ()
        ),
        key_people_missing=key_people_service.missing_of(
            community.key_people or [], {m.user_id for m in memberships}
        ),
        community_id=community.id,
        objectives=tuple(community.objectives or ()),
        stage=community.stage,
        onramp=onramp_service.figures_many(
            session,
            community_ids=[community.id],
            now=now,
            since={community.id: since},
            circles={community.id: counts},
        ).get(community.id),
        onramp_before=OnrampFigures.from_json(before.onramp)
        if before is not None and before.onramp
        else None,
        follow_ups=follow_up_service.open_of_communities(session, community_ids=[community.id], now=now).get(
            community.id, ()
        ),
    )


def _previous_weeks(session: Session, *, community: Community, today: date, weekly: list[int]) -> list[int]:
    """The previous weeks a usual week can be drawn from: whole weeks of the community's history, which
    starts at its creation (or earlier: the channel's history is counted when it is bound). When there
    is no such week, or no contribution was ever made before this week, there is no usual week yet:
    an empty list, rather than "a usual 0"."""
    active_weeks = [week for week in range(1, len(weekly)) if weekly[week]]
    start = circle_service.local_day_of(community, community.created_at.timestamp())
    if active_weeks:  # the oldest week with contributions, when it is older than the creation
        start = min(start, today - timedelta(days=7 * max(active_weeks) + 6))
    history = [
        count
        for week, count in enumerate(weekly[1:], start=1)
        if today - timedelta(days=7 * week + 6) >= start
    ]
    if not any(history):
        last = activity_repo.last_contribution_days(
            session, team_id=community.team_id, community_id=community.id
        )
        if not any(day < today - timedelta(days=6) for day in last.values()):
            return []  # never a contribution before this week
    return history


def weekly_contributions(session: Session, *, community: Community, today: date) -> list[int]:
    """Contributions per 7-day week, the current week first, then the WEEKS_COMPARED before it."""
    first = today - timedelta(days=7 * (WEEKS_COMPARED + 1) - 1)
    weeks = [0] * (WEEKS_COMPARED + 1)
    for row in activity_repo.for_community(
        session, team_id=community.team_id, community_id=community.id, since=first
    ):
        if row.day <= today:
            weeks[(today - row.day).days // 7] += row.contributions
    return weeks


# ---- momentum --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MomentumCheck:
    community_id: int
    team_id: str
    name: str
    language: str
    creator: str
    moderators: list[str]
    contributors: list[str]  # members by contributions in the last 30 days, most first


def momentum_check(
    session: Session, *, team_id: str, community_id: int, now: datetime
) -> MomentumCheck | None:
    """One active community within its working hours, with the people an alert could go to; None when
    it is out of hours (or gone)."""
    community = community_service.find_by_id(session, team_id=team_id, community_id=community_id)
    if community is None or community.status != "active":
        return None
    if not cadence.within_working_hours(community.timezone, now):
        return None
    today = circle_service.local_today(community, now)
    totals: Counter[str] = Counter()
    members = {
        m.user_id
        for m in membership_repo.active(session, team_id=community.team_id, community_id=community.id)
    }
    for row in activity_repo.for_community(
        session, team_id=community.team_id, community_id=community.id, since=today - timedelta(days=29)
    ):
        if row.user_id in members:
            totals[row.user_id] += row.contributions
    return MomentumCheck(
        community.id,
        community.team_id,
        community.name,
        community.language,
        community.created_by,
        membership_repo.moderators(session, team_id=community.team_id, community_id=community.id),
        [user for user, count in totals.most_common() if count > 0],
    )


def signals(
    session: Session, *, check: MomentumCheck, moderators_active: int, now: datetime
) -> momentum.CommunitySignals:
    community = community_service.require_by_id(
        session, team_id=check.team_id, community_id=check.community_id
    )
    today = circle_service.local_today(community, now)
    memberships = membership_repo.active(session, team_id=community.team_id, community_id=community.id)
    daily: dict[date, int] = defaultdict(int)
    for row in activity_repo.for_community(
        session,
        team_id=community.team_id,
        community_id=community.id,
        since=today - timedelta(days=momentum.HISTORY_DAYS),
    ):
        daily[row.day] += row.contributions
    last_days = activity_repo.last_contribution_days(
        session, team_id=community.team_id, community_id=community.id
    )
    core_last = max(
        (last_days[m.user_id] for m in memberships if m.role == "core" and m.user_id in last_days),
        default=None,
    )
    overview = circle_service.overview(session, community=community, now=now)
    last = review_repo.latest_done(session, team_id=community.team_id, community_id=community.id)
    return momentum.CommunitySignals(
        today=today,
        moderators_active=moderators_active,
        core_last_contribution=core_last,
        daily_contributions=dict(daily),
        lurkers_not_greeted=len(_waiting(overview, memberships)),
        inner_now=overview.counts["inner"],
        inner_at_last_review=last.inner_count if last is not None else None,
        created_on=circle_service.local_day_of(community, community.created_at.timestamp()),
    )


def _waiting(overview: circle_service.CircleOverview, memberships: Sequence[Membership]) -> list[str]:
    """Newcomers lurking whom no moderator has greeted yet."""
    greeted = {m.user_id for m in memberships if m.greeted_at is not None}
    return [user for user in overview.lurking if user not in greeted]


def lurkers_not_greeted(session: Session, *, team_id: str, community_id: int, now: datetime) -> list[str]:
    community = community_service.require_by_id(session, team_id=team_id, community_id=community_id)
    memberships = membership_repo.active(session, team_id=team_id, community_id=community_id)
    return _waiting(circle_service.overview(session, community=community, now=now), memberships)


def claim_alert(
    session: Session, *, check: MomentumCheck, alert: momentum.Alert, today: date, now: datetime
) -> int | None:
    claimed = review_repo.claim_alert(
        session,
        team_id=check.team_id,
        community_id=check.community_id,
        kind=alert.kind.value,
        period=momentum.period_key(today),
        now=now,
        figures=dict(alert.figures),
    )
    return claimed.id if claimed is not None else None


def drop_alert(session: Session, *, alert_id: int) -> None:
    review_repo.drop_alert(session, alert_id=alert_id)


def mark_alert_sent(session: Session, *, alert_id: int, now: datetime) -> None:
    review_repo.mark_alert_sent(session, alert_id=alert_id, now=now)


def drop_stale_alerts(session: Session, *, now: datetime) -> None:
    """Alerts claimed by a sender that never finished: forget the claim so the next pass sends them."""
    for alert in review_repo.stale_unsent_alerts(session, stale_before=now - CLAIM_LEASE):
        review_repo.drop_alert(session, alert_id=alert.id)


def mark_greeted(
    session: Session, *, team_id: str, community_id: int, user_id: str, is_admin: bool, now: datetime
) -> int:
    community = community_service.require_by_id(session, team_id=team_id, community_id=community_id)
    community_service.require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    waiting = set(lurkers_not_greeted(session, team_id=team_id, community_id=community_id, now=now))
    for membership in membership_repo.active(session, team_id=team_id, community_id=community_id):
        if membership.user_id in waiting:
            membership.greeted_at = now
    return len(waiting)


# ---- momentum, for every community at once ---------------------------------------------------
@dataclass(frozen=True)
class MomentumCandidate:
    """One active community within its working hours: its signals (`moderators_active` still to be
    set by who can receive) and the people an alert could go to, all from the database."""

    check: MomentumCheck
    signals: momentum.CommunitySignals
    today: date
    # How its newcomers waiting were counted: read again, by name, when it gets the alert.
    wait: momentum_repo.WaitTarget | None = None


def momentum_candidates(session: Session, *, now: datetime) -> list[MomentumCandidate]:
    """`momentum_check` and `signals` for every active community within its working hours, from a
    few set-based queries (communities; memberships; contributions per community and day over the
    rules' window; each member's last contribution; the inner circle at the last review). The same
    figures as the per-community functions above; contributors are read only when an alert needs them.
    A community whose row is broken (an unknown timezone) is logged and left out."""
    rows: list[tuple[momentum_repo.CommunityRow, date]] = []
    for row in momentum_repo.active_communities(session):
        try:
            if cadence.within_working_hours(row.timezone, now):
                rows.append((row, now.astimezone(cadence.zone(row.timezone)).date()))
        except ValueError as exc:
            log.error(
                "momentum pass failed for a community",
                extra={"fields": {"team": row.team_id, "community": row.id, **error_fields(exc)}},
            )
    if not rows:
        return []
    # Every active community is read: the queries scan them all (by a subquery, or every active
    # membership), not a list of ids. The members' figures are counted by the database (moderators,
    # the inner circle, the newcomers waiting): no membership is read one by one.
    moderators = momentum_repo.moderators(session)
    inner = momentum_repo.inner_counts(session)
    weeks = momentum.HISTORY_DAYS // 7
    blocks = {
        day: momentum_repo.weekly_blocks(session, today=day, weeks=weeks, community_ids=None)
        for day in sorted({today for _, today in rows})
    }
    last_days = momentum_repo.last_days_unless_indexed(session)  # SQLite: read once for both
    core_last = momentum_repo.core_last_contribution(session, last_days=last_days)
    inner_before = momentum_repo.inner_at_last_review(session, community_ids=None)
    # The circle rule's lurking flag (bot.domain.circles.decide), with the "contributed since joining,
    # however long ago" correction of bot.services.circles: nothing since joining.
    targets = {
        row.id: momentum_repo.WaitTarget(
            row.id,
            row.timezone,
            today,
            _lurking_days(
                row.window_days, row.inner_min_contributions, row.inner_min_days, row.demotion_grace_days
            ),
        )
        for row, today in rows
    }
    waiting = momentum_repo.newcomers_waiting(session, targets=list(targets.values()), last_days=last_days)
    result = []
    for row, today in rows:
        zone = cadence.zone(row.timezone)
        core = moderators.get(row.id, [])
        # Every range the momentum rules sum (the last 14 days, each of the 8 weeks before) is a union
        # of whole 7-day blocks ending today, so each block's total stands on its last day: the
        # database sums ten blocks per community instead of returning seventy days.
        per_block = blocks[today].get(row.id, {})
        signals = momentum.CommunitySignals(
            today=today,
            moderators_active=0,
            core_last_contribution=core_last.get(row.id),
            daily_contributions={today - timedelta(days=7 * k): n for k, n in per_block.items()},
            lurkers_not_greeted=waiting.get(row.id, 0),
            inner_now=inner.get(row.id, 0),
            inner_at_last_review=inner_before.get(row.id),
            created_on=row.created_at.astimezone(zone).date(),
        )
        check = MomentumCheck(row.id, row.team_id, row.name, row.language, row.created_by, list(core), [])
        result.append(MomentumCandidate(check, signals, today, targets[row.id]))
    return result


@cache
def _lurking_days(window: int, contributions: int, days: int, grace: int) -> int:
    """The circle rule's lurking threshold for these settings (few distinct settings: computed once)."""
    return CircleRule.within_bounds(
        window_days=window,
        inner_min_contributions=contributions,
        inner_min_days=days,
        demotion_grace_days=grace,
    ).lurking_days


def contributors_of(session: Session, *, candidate: MomentumCandidate) -> list[str]:
    """Members by contributions in the last 30 days, most first (`MomentumCheck.contributors`)."""
    return momentum_repo.contributors(
        session,
        community_id=candidate.check.community_id,
        since=candidate.today - timedelta(days=29),
    )
