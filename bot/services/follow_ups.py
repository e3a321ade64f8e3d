"""Follow-ups (issue 11, item 5: "notes lead somewhere"): after a review is decided, the deciding
moderator can turn each item answered "no" or "partly" into a follow-up with an owner and a due date;
the owner is told by DM and sees it on their App Home; the moderators see their communities' open ones
on their Home and in the next review's prompt; "Done" closes it once. When management support was
lacking, the review's summary can be sent to the community's sponsor, once per review.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import follow_ups as rules
from bot.domain.checklist import ChecklistResult, Decision
from bot.services import home_refresh, outbox
from bot.services.circles import local_today
from bot.services.communities import CommunityProblem, require_active, require_by_id, require_moderator
from storage.models import Community, Review
from storage.repositories import follow_ups as repo
from storage.repositories import reviews as review_repo

OFFER = "follow_ups.offer"  # the outbox renderers (bot/views/follow_ups.py)
OWNED = "follow_ups.owned"
SPONSOR_SUMMARY = "follow_ups.sponsor_summary"


@dataclass(frozen=True)
class FollowUpLine:
    """An open follow-up as the Home and the review prompt list it."""

    follow_up_id: int
    community_id: int
    community_name: str
    text: str
    owner_id: str
    due_on: date
    overdue: bool  # past its date in the community's timezone


def _lines(rows: list[repo.OpenRow], now: datetime) -> list[FollowUpLine]:
    return [
        FollowUpLine(
            r.id,
            r.community_id,
            r.community_name,
            r.text,
            r.owner_id,
            r.due_on,
            rules.is_overdue(r.due_on, now.astimezone(cadence.zone(r.timezone)).date()),
        )
        for r in rows
    ]


def open_of_communities(
    session: Session, *, community_ids: list[int] | set[int], now: datetime
) -> dict[int, tuple[FollowUpLine, ...]]:
    """The open follow-ups of each community, soonest due first (one query for all of them)."""
    grouped: dict[int, list[FollowUpLine]] = defaultdict(list)
    for line in _lines(repo.open_of_communities(session, community_ids=community_ids), now):
        grouped[line.community_id].append(line)
    return {cid: tuple(lines) for cid, lines in grouped.items()}


def open_of_owner(session: Session, *, team_id: str, user_id: str, now: datetime) -> tuple[FollowUpLine, ...]:
    """What one person owns and has not done yet, in every active community (one query)."""
    return tuple(_lines(repo.open_of_owner(session, team_id=team_id, owner_id=user_id), now))


# ---- after a review is decided -----------------------------------------------------------------
def after_review(
    session: Session,
    *,
    community: Community,
    result: ChecklistResult,
    review_id: int,
    user_id: str,
    lang: str,
) -> bool:
    """Right after the "review done" DM: the items answered no or partly, each with "Make it a
    follow-up", and, when management support was lacking, the sponsor's offer. Nothing when every item
    was a yes, nor for a community about to be dissolved. True when something was written."""
    if result.decision == Decision.DISSOLVE:
        return False
    answers = [{"item": a.item, "answer": a.answer.value} for a in result.answers]
    items = rules.to_follow(answers)
    sponsor_offer = rules.offers_sponsor(answers)
    if not items and not sponsor_offer:
        return False
    return outbox.message(
        session,
        team_id=community.team_id,
        to=user_id,
        render=OFFER,
        lang=lang,
        once=f"follow-up-offer:{community.team_id}:{review_id}",
        name=community.name,
        review_id=review_id,
        items=[{"item": i.item, "answer": i.answer} for i in items],
        sponsor_offer=sponsor_offer,
        sponsor=community.sponsor_id,
    )


def _decided_review(
    session: Session, *, team_id: str, review_id: int, user_id: str, is_admin: bool
) -> tuple[Review, Community]:
    """A decided review of an active community the user moderates; refusals say why."""
    review = review_repo.get(session, team_id=team_id, review_id=review_id)
    if review is None or review.completed_at is None:
        raise CommunityProblem("follow_ups.errors.unknown_review")
    community = require_by_id(session, team_id=team_id, community_id=review.community_id)
    require_active(community)
    require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    return review, community


@dataclass(frozen=True)
class FormData:
    name: str
    review_id: int
    item: str
    text: str  # the moderator's note, the prefill of "what to do"
    owner_id: str
    due_on: date


def _require_item(review: Review, item: str) -> None:
    """Only an item the review answered "no" or "partly" can become a follow-up."""
    if item not in {i.item for i in rules.to_follow(review.answers or [])}:
        raise CommunityProblem("follow_ups.errors.unknown_review")


def _no_follow_up_yet(session: Session, *, community: Community, review_id: int, item: str) -> None:
    existing = repo.of_review_item(session, review_id=review_id, item=item)
    if existing is not None:
        raise CommunityProblem(
            "follow_ups.errors.exists", name=community.name, owner=f"<@{existing.owner_id}>"
        )


def form_for(
    session: Session, *, team_id: str, review_id: int, item: str, user_id: str, is_admin: bool, now: datetime
) -> FormData:
    """What the "Make it a follow-up" modal proposes: the note, the moderator, two weeks later."""
    review, community = _decided_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    _require_item(review, item)
    _no_follow_up_yet(session, community=community, review_id=review_id, item=item)
    return FormData(
        community.name,
        review.id,
        item,
        rules.note_of(review.answers or [], item),
        user_id,
        local_today(community, now) + rules.DUE_AFTER,
    )


def check(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    is_admin: bool,
    text: str | None,
    owner_id: str | None,
    due_on: str | None,
    now: datetime,
) -> rules.Draft | dict[str, str]:
    """The submitted form against the rules (a date not before the community's today): a draft, or
    field errors. Refusals (not a moderator, a dissolved community) raise CommunityProblem."""
    _, community = _decided_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    return rules.validate(text, owner_id, due_on, today=local_today(community, now))


def create(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    item: str,
    user_id: str,
    is_admin: bool,
    draft: rules.Draft,
    lang: str,
    now: datetime,
) -> Community:
    """Store it (one per review and item), tell the owner through the outbox (in their language, with
    "Done"), confirm to the moderator, and refresh the Homes concerned."""
    review, community = _decided_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    _require_item(review, item)
    follow_up_id = repo.add(
        session,
        values={
            "team_id": team_id,
            "community_id": community.id,
            "review_id": review.id,
            "item": item,
            "text": draft.text,
            "owner_id": draft.owner_id,
            "due_on": draft.due_on,
            "created_by": user_id,
            "created_at": now,
        },
    )
    if follow_up_id is None:  # a co-moderator (or a second submission) made it a moment ago
        _no_follow_up_yet(session, community=community, review_id=review_id, item=item)
        raise CommunityProblem("follow_ups.errors.unknown_review")
    outbox.message(
        session,
        team_id=team_id,
        to=draft.owner_id,
        render=OWNED,
        name=community.name,
        text=draft.text,
        due_on=draft.due_on.isoformat(),
        follow_up_id=follow_up_id,
        moderator=user_id,
    )
    if draft.owner_id != user_id:  # the owner's DM is the moderator's confirmation when they own it
        outbox.text(
            session,
            team_id=team_id,
            to=user_id,
            key_name="follow_ups.created",
            lang=lang,
            name=community.name,
            owner=f"<@{draft.owner_id}>",
        )
    home_refresh.refresh(session, team_id=team_id, user_ids=[draft.owner_id], community_ids=[community.id])
    return community


@dataclass(frozen=True)
class Done:
    name: str
    text: str


def mark_done(
    session: Session, *, team_id: str, follow_up_id: int, user_id: str, is_admin: bool, now: datetime
) -> Done:
    """Its owner or a moderator marks it done; compare-and-set: a second press says by whom it was."""
    row = repo.get(session, team_id=team_id, follow_up_id=follow_up_id)
    if row is None:
        raise CommunityProblem("follow_ups.errors.unknown")
    community = require_by_id(session, team_id=team_id, community_id=row.community_id)
    require_active(community)
    if row.owner_id != user_id:
        try:
            require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
        except CommunityProblem:
            raise CommunityProblem("follow_ups.errors.not_yours", name=community.name) from None
    if not repo.mark_done(session, follow_up_id=row.id, user_id=user_id, now=now):
        session.refresh(row)
        raise CommunityProblem(
            "follow_ups.errors.already_done", name=community.name, by=f"<@{row.done_by or '?'}>"
        )
    home_refresh.refresh(session, team_id=team_id, user_ids=[row.owner_id], community_ids=[community.id])
    return Done(community.name, row.text)


# ---- the sponsor ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SummarySent:
    name: str
    sponsor: str
    sent: bool  # False: it had already been sent for this review


def send_summary(
    session: Session, *, team_id: str, review_id: int, user_id: str, is_admin: bool
) -> SummarySent:
    """The review's summary to the community's sponsor, by DM in the sponsor's language: community,
    decision, answers with notes, next review date. Once per review (the outbox's dedupe key)."""
    review, community = _decided_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    sponsor = community.sponsor_id
    if not sponsor:
        raise CommunityProblem("follow_ups.sponsor.none", name=community.name)
    sent = outbox.message(
        session,
        team_id=team_id,
        to=sponsor,
        render=SPONSOR_SUMMARY,
        once=f"sponsor-summary:{team_id}:{review.id}",
        name=community.name,
        decision=review.decision or "",
        answers=[
            {"item": a.get("item", ""), "answer": a.get("answer", ""), "note": a.get("note", "")}
            for a in review.answers or []
        ],
        next_review_on=community.next_review_on.isoformat() if community.next_review_on else None,
        moderator=user_id,
    )
    return SummarySent(community.name, sponsor, sent)


def set_sponsor(community: Community, sponsor_id: str | None) -> None:
    """The create and settings forms' optional sponsor (None: nobody named)."""
    community.sponsor_id = sponsor_id or None
