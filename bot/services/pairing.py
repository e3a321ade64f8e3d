"""Pairing use-cases: a newcomer asks to be introduced, a moderator introduces lurkers now, someone
switches pairing off or on, the check-back's answer. Take a session, return results; no Slack here.

The introductions themselves are made by the pairing pass (bot/introductions.py), in the newcomer's
working hours, through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.domain import pairing as rules
from bot.services import communities as community_service
from bot.services import home_refresh
from bot.services.communities import CommunityProblem
from storage.models import Community, Intro
from storage.repositories import memberships as membership_repo
from storage.repositories import pairing as repo

Known = Callable[[str], "bool | None"]
KnownZone = Callable[[str], "str | None"]


def pairing_status(session: Session, *, team_id: str, user_id: str) -> bool:
    """True when pairing is on for this person (the default), False when they switched it off."""
    return user_id not in repo.opted_out(session, team_id=team_id, user_ids=[user_id])


def set_pairing(session: Session, *, team_id: str, user_id: str, on: bool, now: datetime) -> bool:
    """Switch pairing on or off for a person in the workspace; True when it changed. Off also drops
    their waiting requests: nothing is ever sent to someone who switched it off."""
    changed = repo.set_opted_out(session, team_id=team_id, user_id=user_id, value=not on, now=now)
    if not on:
        repo.cancel_waiting_of(session, team_id=team_id, newcomer=user_id)
    if changed:  # their Home shows the switch
        home_refresh.refresh(session, team_id=team_id, user_ids=[user_id])
    return changed


def configure(community: Community, *, enabled: bool, after_days: int) -> None:
    """The settings modal's pairing switch and threshold (the caller checked the moderator)."""
    if not rules.valid_after_days(after_days):
        raise CommunityProblem("pairing.errors.after_days", field="pairing_after_days")
    community.pairing_enabled = enabled
    community.pairing_after_days = after_days


def candidates(rows: list[repo.PartnerRow], *, known: Known, known_zone: KnownZone) -> list[rules.Candidate]:
    """The database's partners with what the people cache knows of them (no Slack call)."""
    return [
        rules.Candidate(
            user_id=row.user_id,
            inner=row.inner,
            moderator=row.moderator,
            timezone=known_zone(row.user_id),
            last_paired_at=row.last_paired_at,
            opted_out=row.opted_out,
            reachable=known(row.user_id),
        )
        for row in rows
    ]


def _usable_community(session: Session, *, team_id: str, community_id: int) -> Community:
    community = community_service.require_by_id(session, team_id=team_id, community_id=community_id)
    community_service.require_active(community)
    if not community.pairing_enabled:
        raise CommunityProblem("pairing.errors.disabled", name=community.name)
    return community


@dataclass(frozen=True)
class RequestResult:
    name: str
    new: bool  # False: a request was already waiting
    available: bool  # someone could be introduced now (else: we keep trying)


def request_intro(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    user_id: str,
    newcomer_tz: str | None,
    now: datetime,
    known: Known,
    known_zone: KnownZone,
) -> RequestResult:
    """The newcomer pressed "Introduce me to someone": one waiting request (whatever the presses)."""
    community = _usable_community(session, team_id=team_id, community_id=community_id)
    membership = membership_repo.get(session, team_id=team_id, community_id=community_id, user_id=user_id)
    if membership is None or membership.left_at is not None:
        raise CommunityProblem("pairing.errors.not_member", name=community.name)
    if membership.role == "core":
        raise CommunityProblem("pairing.errors.moderator", name=community.name)
    if not pairing_status(session, team_id=team_id, user_id=user_id):
        raise CommunityProblem("pairing.errors.opted_out")
    new_id = repo.add_request(
        session,
        team_id=team_id,
        community_id=community_id,
        newcomer=user_id,
        reason=rules.Reason.ASKED.value,
        requested_by=user_id,
        newcomer_tz=newcomer_tz,
        now=now,
    )
    rows = repo.partners(session, community_ids=[community_id]).get(community_id, [])
    already = repo.met(session, team_id=team_id, user_ids=[user_id]).get(user_id, set())
    ranked = rules.rank_partners(
        candidates(rows, known=known, known_zone=known_zone),
        newcomer=user_id,
        newcomer_tz=newcomer_tz,
        already_met=already,
        now=now,
    )
    return RequestResult(name=community.name, new=new_id is not None, available=bool(ranked))


@dataclass
class Scheduled:
    """What "Introduce them" did, person by person."""

    name: str
    scheduled: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # already had a waiting request
    skipped: list[str] = field(default_factory=list)  # not a newcomer here, switched off, gone


def introduce_now(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    moderator: str,
    is_admin: bool,
    users: list[str],
    now: datetime,
    known: Known,
) -> Scheduled:
    """A moderator pressed "Introduce them" in the named lurker alert: each of these newcomers gets a
    waiting request, due now (the pass still waits for each newcomer's working hours)."""
    community = community_service.require_by_id(session, team_id=team_id, community_id=community_id)
    community_service.require_active(community)
    community_service.require_moderator(session, community=community, user_id=moderator, is_admin=is_admin)
    if not community.pairing_enabled:
        raise CommunityProblem("pairing.errors.disabled", name=community.name)
    out = repo.opted_out(session, team_id=team_id, user_ids=users)
    result = Scheduled(name=community.name)
    for user_id in users:
        membership = membership_repo.get(session, team_id=team_id, community_id=community_id, user_id=user_id)
        if (
            membership is None
            or membership.left_at is not None
            or membership.role == "core"
            or user_id in out
            or known(user_id) is False
        ):
            result.skipped.append(user_id)
            continue
        new_id = repo.add_request(
            session,
            team_id=team_id,
            community_id=community_id,
            newcomer=user_id,
            reason=rules.Reason.MODERATOR.value,
            requested_by=moderator,
            newcomer_tz=None,
            now=now,
        )
        (result.scheduled if new_id is not None else result.waiting).append(user_id)
    return result


@dataclass(frozen=True)
class OutcomeResult:
    answer: rules.OutcomeAnswer
    outcome: str  # the outcome recorded now (the pressed one, or the one already there)
    by: str | None


def record_outcome(
    session: Session, *, team_id: str, intro_id: int, user_id: str, pressed: rules.Outcome, now: datetime
) -> OutcomeResult:
    """The check-back's answer, by one of the two people introduced (compare-and-set)."""
    intro = repo.get(session, intro_id=intro_id) if intro_id else None
    if intro is None or intro.team_id != team_id or intro.status != repo.INTRODUCED:
        raise CommunityProblem("pairing.errors.unknown_intro")
    if user_id not in (intro.newcomer, intro.partner):
        raise CommunityProblem("pairing.errors.not_in_intro")
    current = intro.outcome
    answer = rules.next_outcome(current, pressed)
    if answer == rules.OutcomeAnswer.RECORDED:
        if repo.set_outcome(
            session, intro_id=intro_id, current=current, outcome=pressed.value, by=user_id, now=now
        ):
            return OutcomeResult(answer, pressed.value, user_id)
        session.refresh(intro)  # someone answered at the same moment: theirs stands
        answer = rules.OutcomeAnswer.ALREADY
    return OutcomeResult(answer, str(intro.outcome or pressed.value), intro.outcome_by)


# ---- what the outbox worker checks at send time --------------------------------------------------
@dataclass(frozen=True)
class DeliveryState:
    status: str
    newcomer: str
    partner: str | None
    channel_id: str | None
    opted_out: set[str]


def delivery_state(session: Session, *, intro_id: int) -> DeliveryState | None:
    intro: Intro | None = repo.get(session, intro_id=intro_id)
    if intro is None:
        return None
    people = [u for u in (intro.newcomer, intro.partner) if u]
    return DeliveryState(
        status=intro.status,
        newcomer=intro.newcomer,
        partner=intro.partner,
        channel_id=intro.channel_id,
        opted_out=repo.opted_out(session, team_id=intro.team_id, user_ids=people),
    )


def release(session: Session, *, intro_id: int, cancel_it: bool) -> None:
    repo.release(session, intro_id=intro_id, cancel_it=cancel_it)


def record_channel(session: Session, *, intro_id: int, channel_id: str) -> None:
    repo.record_channel(session, intro_id=intro_id, channel_id=channel_id)
