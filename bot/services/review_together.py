"""A checklist review done together (issue 11, items 4 and 6): every moderator may save their answers
for the others, one decides (or the deadline closes it from what was saved), the outcome shows how they
agreed, the channel gets the story; and the inner circle's anonymous pulse.

Everything sent to Slack goes through the outbox, in the transaction of the change it reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import review_together as together
from bot.domain.checklist import ChecklistResult, ItemAnswer
from bot.domain.review_together import Contribution, Outcome, PulseTally
from bot.services import communities as community_service
from bot.services import outbox
from bot.services import reviews as review_service
from bot.services.communities import CommunityProblem
from storage.models import Community, Review
from storage.repositories import memberships as membership_repo
from storage.repositories import review_together as together_repo
from storage.repositories import reviews as review_repo

PULSE_ANSWERS = ("yes", "partly", "no")


@dataclass(frozen=True)
class ModalState:
    """What the checklist modal shows besides the questions: the last completed review's answers, this
    moderator's own saved answers (pre-filled), the co-moderators' answers so far, the pulse."""

    last: dict[str, ItemAnswer]
    mine: Contribution | None
    others: tuple[Contribution, ...]
    pulse: PulseTally | None
    deadline_day: date | None  # in the community's timezone: the day the review closes without a decision


def _contributions(session: Session, *, review_id: int) -> list[Contribution]:
    return [
        Contribution.from_json(row.user_id, row.answers, row.decision)
        for row in together_repo.answers_of(session, review_id=review_id)
    ]


def tally(session: Session, *, review_id: int) -> PulseTally | None:
    row = together_repo.pulse(session, review_id=review_id)
    return None if row is None else PulseTally(row.yes, row.partly, row.no, row.asked_count)


def modal_state(session: Session, *, review: Review, user_id: str, timezone: str) -> ModalState:
    last = together_repo.last_completed(session, community_id=review.community_id, before_id=review.id)
    previous = Contribution.from_json("", last.answers or [], last.decision) if last is not None else None
    saved = _contributions(session, review_id=review.id)
    return ModalState(
        last={a.item: a for a in previous.answers} if previous is not None else {},
        mine=next((c for c in saved if c.user_id == user_id), None),
        others=tuple(c for c in saved if c.user_id != user_id),
        pulse=tally(session, review_id=review.id),
        deadline_day=(
            review.answers_due_at.astimezone(cadence.zone(timezone)).date()
            if review.answers_due_at is not None
            else None
        ),
    )


# ---- saving, deciding, closing ---------------------------------------------------------------
def _open_with_answers(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    is_admin: bool,
    result: ChecklistResult,
    now: datetime,
) -> tuple[Review, Community]:
    """The open review (refusals say why), with this moderator's answers and proposed decision kept:
    what saving for the others and deciding both start with."""
    review, community = review_service.open_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    together_repo.save_answers(
        session,
        team_id=team_id,
        review_id=review.id,
        user_id=user_id,
        answers=together.answers_json(result.answers),
        decision=result.decision.value,
        now=now,
    )
    return review, community


def save(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    is_admin: bool,
    result: ChecklistResult,
    now: datetime,
) -> tuple[Community, datetime | None, list[str]]:
    """Keep this moderator's answers for the others; the first saved answers start the deadline. The
    other moderators are told once per saver (with the Start button). Returns the community, the
    deadline and whom it told."""
    review, community = _open_with_answers(
        session,
        team_id=team_id,
        review_id=review_id,
        user_id=user_id,
        is_admin=is_admin,
        result=result,
        now=now,
    )
    together_repo.set_deadline(session, review_id=review.id, at=now + together.ANSWERS_WINDOW)
    deadline = review.answers_due_at
    others = [
        m
        for m in membership_repo.moderators(session, team_id=team_id, community_id=community.id)
        if m != user_id
    ]
    outbox.messages(
        session,
        [
            {
                "team_id": team_id,
                "to": other,
                "render": "review_together.saved",
                "args": {
                    "name": community.name,
                    "review_id": review.id,
                    "moderator": user_id,
                    "deadline": deadline.isoformat() if deadline else None,
                    "timezone": community.timezone,
                },
                "once": f"review:{review.id}:saved:{user_id}:{other}",
                # One of the review's prompts: settled with them once it is decided (no live button).
                "ref": review_service.prompt_ref(review.id),
            }
            for other in others
        ],
    )
    return community, deadline, others


def decide(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    is_admin: bool,
    result: ChecklistResult,
    now: datetime,
) -> tuple[Review, Community, Outcome]:
    """Complete the review with everyone's saved answers and the decider's (who decides). Of two
    moderators deciding at once, one completes it; the other is told who did (CommunityProblem)."""
    review, community = _open_with_answers(
        session,
        team_id=team_id,
        review_id=review_id,
        user_id=user_id,
        is_admin=is_admin,
        result=result,
        now=now,
    )
    outcome = together.combine(_contributions(session, review_id=review.id), result.decision)
    if not review_service.record_completion(
        session, review=review, community=community, result=outcome.as_result(), by=user_id, now=now
    ):
        session.refresh(review)  # a co-moderator, or the deadline, completed it a moment ago
        if review.completed_by is None:
            raise CommunityProblem("review_together.errors.closed", name=community.name)
        raise CommunityProblem("reviews.errors.completed", name=community.name, moderator=review.completed_by)
    return review, community, outcome


def close_overdue(session: Session, *, review_id: int, now: datetime) -> bool:
    """The tick: a review whose answers window is over is completed from the answers saved (the most
    proposed decision, a tie to "adjust") and announced, once (the completion's compare-and-set). A
    "dissolve" closed so still gets its next review date: dissolving needs a moderator's confirmation."""
    review = review_repo.by_id(session, review_id)
    if review is None or review.completed_at is not None or review.answers_due_at is None:
        return False
    if review.answers_due_at > now:
        return False
    community = community_service.require_by_id(
        session, team_id=review.team_id, community_id=review.community_id
    )
    contributions = _contributions(session, review_id=review.id)
    outcome = together.combine(contributions)
    if not contributions or not review_service.record_completion(
        session,
        review=review,
        community=community,
        result=outcome.as_result(),
        by=None,
        now=now,
        next_even_if_dissolving=True,
    ):
        return False
    announce(session, community, outcome, review_id=review.id, decider=None)
    day = community.next_review_on.isoformat() if community.next_review_on else None
    outbox.messages(
        session,
        [
            {
                "team_id": community.team_id,
                "to": moderator,
                "render": "review_together.closed",
                "args": {"name": community.name, "decision": outcome.decision.value, "day": day},
                "once": f"review:{review.id}:closed:{moderator}",
            }
            for moderator in membership_repo.moderators(
                session, team_id=community.team_id, community_id=community.id
            )
        ],
    )
    return True


def _json_outcome(outcome: Outcome) -> dict[str, Any]:
    return {
        "decision": outcome.decision.value,
        "items": [
            {"item": i.item, "answer": i.answer.value, "yes": i.yes, "partly": i.partly, "no": i.no}
            for i in outcome.items
        ],
        "participants": list(outcome.participants),
    }


def announce(
    session: Session, community: Community, outcome: Outcome, *, review_id: int, decider: str | None
) -> None:
    """Every moderator's prompt becomes the outcome (agreement per item, who took part, the pulse),
    and the channels get the story, in the community's language (if it wants that)."""
    pulse = tally(session, review_id=review_id)
    pulse_args = None if pulse is None else vars(pulse)
    outbox.update_copies(  # every moderator's prompt (and reminder) loses its buttons
        session,
        team_id=community.team_id,
        ref=review_service.prompt_ref(review_id),
        render="review_together.settled",
        name=community.name,
        moderator=decider,
        outcome=_json_outcome(outcome),
        pulse=pulse_args,
    )
    if not community.review_outcome_in_channel:
        return
    story: dict[str, Any] = {
        "name": community.name,
        "decision": outcome.decision.value,
        "went_well": [i.item for i in outcome.went_well],
        "adjusted": [
            {"item": i.item, "answer": i.answer.value, "notes": list(i.notes)} for i in outcome.adjusted
        ],
        "participants": list(outcome.participants),
        "next_review_on": community.next_review_on.isoformat() if community.next_review_on else None,
        "pulse": pulse_args,
    }
    for binding in community.channels:
        if not binding.is_archived:
            outbox.message(
                session,
                team_id=community.team_id,
                to=binding.channel_id,
                render="review_together.story",
                lang=community.language,
                chart=community.id,  # the community's chart goes with the story (bot/chart_delivery.py)
                **story,
            )


# ---- the pulse -------------------------------------------------------------------------------
def ask_pulse(
    session: Session, *, team_id: str, review_id: int, user_id: str, is_admin: bool, now: datetime
) -> tuple[Community, int]:
    """A moderator asks the inner circle, once per review: each member gets the question in a DM."""
    review, community = review_service.open_review(
        session, team_id=team_id, review_id=review_id, user_id=user_id, is_admin=is_admin
    )
    members = together_repo.inner_circle(session, team_id=team_id, community_id=community.id)
    if not members:
        raise CommunityProblem("review_together.pulse.nobody", name=community.name)
    if not together_repo.open_pulse(
        session, team_id=team_id, review_id=review.id, asked_by=user_id, asked=len(members), now=now
    ):
        raise CommunityProblem("review_together.pulse.already_asked", name=community.name)
    outbox.messages(
        session,
        [
            {
                "team_id": team_id,
                "to": member,
                "render": "review_together.pulse",
                "args": {"name": community.name, "review_id": review.id},
                "once": f"review:{review.id}:pulse:{member}",
            }
            for member in members
        ],
    )
    return community, len(members)


def vote(session: Session, *, team_id: str, review_id: int, user_id: str, answer: str | None) -> Community:
    """One anonymous answer to a review's pulse; refusals say why (unknown, closed, already answered)."""
    review = review_repo.get(session, team_id=team_id, review_id=review_id)
    if (
        review is None
        or answer not in PULSE_ANSWERS
        or together_repo.pulse(session, review_id=review.id) is None
    ):
        raise CommunityProblem("review_together.pulse.unknown")
    community = community_service.require_by_id(session, team_id=team_id, community_id=review.community_id)
    member = membership_repo.get(session, team_id=team_id, community_id=community.id, user_id=user_id)
    if member is None or member.left_at is not None:
        raise CommunityProblem("review_together.pulse.unknown")
    if review.completed_at is not None or community.status != "active":
        raise CommunityProblem("review_together.pulse.closed", name=community.name)
    if not together_repo.vote(session, review_id=review.id, user_id=user_id, answer=str(answer)):
        raise CommunityProblem("review_together.pulse.already", name=community.name)
    return community
