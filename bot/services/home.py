"""App Home: what one person sees on the app's Home tab, read in a constant number of statements.

For everyone: their communities (circle, why, what would move them into the inner circle, channels),
the directory of the other active communities, their data. For a moderator, per community they
moderate: members per circle and this month's moves, newcomers waiting (named), pending join requests,
the review, the momentum alerts of the week. Every read covers all the communities at once
(storage/repositories/home.py); nothing is read community by community.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import cadence, lifecycle
from bot.domain.momentum import period_key
from bot.domain.onramp import OnrampFigures
from bot.services import circles as circle_service
from bot.services import first_posts, key_people, onramp, outbox, pairing
from bot.services import follow_ups as follow_up_service
from bot.services import products as product_service
from bot.services.home_refresh import window
from storage.models import Community
from storage.repositories import communities as community_repo
from storage.repositories import home as home_repo
from storage.repositories import memberships as membership_repo

FIRST_POSTS_SHOWN = timedelta(days=30)  # how far back the moderators' Home lists newcomers' first posts


@dataclass(frozen=True)
class MyCommunity:
    standing: circle_service.Standing
    channels: list[str]  # the community's channels still open
    products: tuple[Any, ...] = ()  # its latest products (issue 11, item 8), newest first


@dataclass(frozen=True)
class DirectoryItem:
    community_id: int
    name: str
    domain: str
    protected: bool
    members: int
    requested: bool  # the reader asked to join and waits for a moderator
    # Its objectives' path and where it stands (issue 11, item 9; bot/domain/stages.py).
    objectives: tuple[str, ...] = ()
    stage: str | None = None
    products: tuple[Any, ...] = ()  # an open community's latest products (issue 11, item 8)


@dataclass(frozen=True)
class Moderated:
    community_id: int
    name: str
    counts: Counter[str]  # core, inner, outer
    moved_in: int  # moves into the inner circle this month (the community's local month)
    moved_out: int
    waiting: list[str]  # newcomers lurking whom nobody greeted, in joining order
    requests: list[tuple[int, str]]  # (request id, requester), oldest first
    review: home_repo.OpenReview | None  # the review due and not completed yet
    next_review_on: date | None
    alerts: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # (kind, figures) this week
    # Newcomers' first posts of the last 30 days, newest first, and whether anyone answered them.
    first_posts: tuple[first_posts.FirstPostLine, ...] = ()
    # The key people named at creation, joined or not yet (issue 11, item 7).
    key_people: tuple[key_people.KeyPerson, ...] = ()
    lifecycle: lifecycle.Recorded | None = None  # its lifecycle state and why (issue 11, item 3)
    onramp: OnrampFigures | None = None  # the onramp figures over the last 30 days (issue 11, item 2)
    # Its open follow-ups, soonest due first (issue 11, item 5).
    follow_ups: tuple[follow_up_service.FollowUpLine, ...] = ()
    # Its chart (bot.views.charts), added by the outbox worker when it publishes (bot.chart_delivery).
    chart: dict[str, Any] | None = None


@dataclass(frozen=True)
class HomeData:
    user_id: str
    any_community: bool  # the workspace has at least one active community
    mine: list[MyCommunity]
    moderated: list[Moderated]
    directory: list[DirectoryItem]
    pairing_on: bool = True  # the person's pairing switch (bot.services.pairing)
    # The follow-ups the person owns and has not done yet, in every community (issue 11, item 5).
    follow_ups: tuple[follow_up_service.FollowUpLine, ...] = ()


def opened(session: Session, *, team_id: str, user_id: str, now: datetime) -> None:
    """They opened their Home: remember it (later changes republish it) and publish it now. Opening it
    twice in a moment publishes once (the refresh window's dedupe key), at once."""
    home_repo.record_opened(session, team_id=team_id, user_id=user_id, now=now)
    number, _ = window(outbox.transport_now())
    outbox.home(session, team_id=team_id, user=user_id, once=f"home-open:{team_id}:{user_id}:{number}")


def show_page(session: Session, *, team_id: str, user_id: str, page: int) -> None:
    """ "Show more": the next page of their Home, published after the answer."""
    outbox.home(session, team_id=team_id, user=user_id, page=page)


def _local_midnight(community: Community, day: date) -> datetime:
    return datetime.combine(day, time(0), cadence.zone(community.timezone)).astimezone(UTC)


def gather(session: Session, *, team_id: str, user_id: str, now: datetime) -> HomeData:
    """Everything the Home shows, for one person."""
    # The standings are plain rows (one statement, as `/cdp me` reads them); the Home needs the whole
    # community too (its open channels, review date, ...): the active ones are loaded for the directory.
    active = community_repo.for_team(session, team_id=team_id, include_dissolved=False)
    by_id = {c.id: c for c in active}
    standings = [
        s
        for s in circle_service.standings(session.connection(), team_id=team_id, user_id=user_id, now=now)
        if s.community.id in by_id
    ]
    standings.sort(key=lambda s: s.community.name.casefold())
    mine_ids = {s.community.id for s in standings}
    others = [c for c in active if c.id not in mine_ids]
    requested = home_repo.my_pending_requests(session, team_id=team_id, user_id=user_id)
    open_ids = [c.id for c in others if c.visibility == "open"]
    # The latest products of my communities and of the open ones (the organisation's read access), in
    # one query; a protected community's stay inside it.
    products = product_service.latest(session, team_id=team_id, community_ids=[*mine_ids, *open_ids])
    mine = [
        MyCommunity(
            s,
            [c.channel_id for c in by_id[s.community.id].channels if not c.is_archived],
            tuple(products.get(s.community.id, ())),
        )
        for s in standings
    ]
    counts = membership_repo.counts(session, team_id=team_id, community_ids=open_ids)
    directory = [
        DirectoryItem(
            c.id,
            c.name,
            c.domain,
            c.visibility != "open",
            sum(counts.get(c.id, Counter()).values()),
            c.id in requested,
            tuple(c.objectives or ()),
            c.stage,
            tuple(products.get(c.id, ())) if c.visibility == "open" else (),
        )
        for c in sorted(others, key=lambda c: c.name.casefold())
    ]
    moderated = _moderated(
        session,
        team_id=team_id,
        communities=[by_id[s.community.id] for s in standings if s.membership.role == "core"],
        now=now,
    )
    pairing_on = pairing.pairing_status(session, team_id=team_id, user_id=user_id)
    owned = follow_up_service.open_of_owner(session, team_id=team_id, user_id=user_id, now=now)
    return HomeData(user_id, bool(active), mine, moderated, directory, pairing_on, owned)


def _moderated(
    session: Session, *, team_id: str, communities: list[Community], now: datetime
) -> list[Moderated]:
    if not communities:
        return []
    ids = [c.id for c in communities]
    todays = {c.id: circle_service.local_today(c, now) for c in communities}
    month_starts = {c.id: _local_midnight(c, todays[c.id].replace(day=1)) for c in communities}
    counts = membership_repo.counts(session, team_id=team_id, community_ids=ids)
    moves: dict[int, Counter[str]] = defaultdict(Counter)
    for community_id, to_circle, at in home_repo.circle_changes_since(
        session, team_id=team_id, community_ids=ids, since=min(month_starts.values())
    ):
        if at >= month_starts[community_id]:
            moves[community_id][to_circle] += 1
    waiting = _waiting(session, team_id=team_id, communities=communities, todays=todays)
    requests: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for request_id, community_id, requester in home_repo.pending_requests(
        session, team_id=team_id, community_ids=ids
    ):
        requests[community_id].append((request_id, requester))
    reviews = home_repo.open_reviews(session, team_id=team_id, community_ids=ids)
    posts = first_posts.prompt_lines(session, since={cid: now - FIRST_POSTS_SHOWN for cid in ids}, now=now)
    periods = {c.id: period_key(todays[c.id]) for c in communities}
    alerts: dict[int, list[tuple[str, dict[str, int]]]] = defaultdict(list)
    for community_id, kind, period, figures in home_repo.alerts(
        session, team_id=team_id, community_ids=ids, periods=set(periods.values())
    ):
        if period == periods[community_id]:
            alerts[community_id].append((kind, figures))
    named = key_people.statuses_of(session, team_id=team_id, communities=communities)
    onramp_figures = onramp.figures_many(session, community_ids=ids, now=now, circles=counts)
    follow_ups = follow_up_service.open_of_communities(session, community_ids=ids, now=now)
    return [
        Moderated(
            c.id,
            c.name,
            counts[c.id],
            moves[c.id]["inner"],
            moves[c.id]["outer"],
            waiting[c.id],
            requests[c.id],
            reviews.get(c.id),
            c.next_review_on,
            alerts[c.id],
            posts.get(c.id, ()),
            tuple(named.get(c.id, ())),
            lifecycle.Recorded(c.lifecycle_state, c.lifecycle_since, c.lifecycle_reason, c.timezone),
            onramp_figures.get(c.id),
            follow_ups.get(c.id, ()),
        )
        for c in communities
    ]


def _waiting(
    session: Session, *, team_id: str, communities: list[Community], todays: dict[int, date]
) -> dict[int, list[str]]:
    """Newcomers waiting, named: the rule the momentum pass counts (storage/repositories/momentum.py
    newcomers_waiting): not a moderator, not greeted, joined the circle rule's lurking days ago or more
    (local days), and nothing contributed since the day they joined."""
    by_id = {c.id: c for c in communities}
    candidates = home_repo.waiting_candidates(session, team_id=team_id, community_ids=list(by_id))
    last = home_repo.last_contribution_days(
        session,
        team_id=team_id,
        community_ids=list(by_id),
        user_ids={candidate.user_id for candidate in candidates},
    )
    result: dict[int, list[str]] = defaultdict(list)
    for candidate in candidates:
        community = by_id[candidate.community_id]
        joined_on = candidate.joined_at.astimezone(cadence.zone(community.timezone)).date()
        contributed = last.get((candidate.community_id, candidate.user_id))
        lurking_days = circle_service.rule_of(community).lurking_days
        if (todays[community.id] - joined_on).days >= lurking_days and not (
            contributed is not None and contributed >= joined_on
        ):
            result[candidate.community_id].append(candidate.user_id)
    return result
