"""A review done together: the moderators' saved answers, the deadline, and the anonymous pulse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Membership, Review, ReviewAnswers, ReviewPulse, ReviewPulseVoter
from storage.repositories.privacy import names
from storage.repositories.upsert import dialect_insert, insert_ignoring_conflicts


def save_answers(
    session: Session,
    *,
    team_id: str,
    review_id: int,
    user_id: str,
    answers: list[dict[str, str]],
    decision: str | None,
    now: datetime,
) -> None:
    """Insert or replace this moderator's answers (one row per review and moderator, whoever saves
    twice or at the same moment)."""
    values = {"answers": answers, "decision": decision, "saved_at": now}
    statement = (
        dialect_insert(session, ReviewAnswers)
        .values(team_id=team_id, review_id=review_id, user_id=user_id, **values)
        .on_conflict_do_update(index_elements=["review_id", "user_id"], set_=values)
    )
    session.execute(statement)


def answers_of(session: Session, *, review_id: int) -> Sequence[ReviewAnswers]:
    """Every moderator's saved answers to a review, the first saved first."""
    return session.scalars(
        select(ReviewAnswers)
        .where(ReviewAnswers.review_id == review_id)
        .order_by(ReviewAnswers.saved_at, ReviewAnswers.id)
    ).all()


def set_deadline(session: Session, *, review_id: int, at: datetime) -> bool:
    """The first saved answers start the window: set once (compare-and-set), later saves keep it.
    The review's next step becomes the deadline (reminders stop: the review is in hand)."""
    statement = (
        update(Review)
        .where(Review.id == review_id, Review.answers_due_at.is_(None), Review.completed_at.is_(None))
        .values(answers_due_at=at, next_step_at=at)
        .returning(Review.id)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).first() is not None


def last_completed(session: Session, *, community_id: int, before_id: int) -> Review | None:
    """The community's last completed review before this one (its answers are "last time")."""
    return session.scalars(
        select(Review)
        .where(
            Review.community_id == community_id,
            Review.id != before_id,
            Review.completed_at.is_not(None),
            Review.answers.is_not(None),
        )
        .order_by(Review.completed_at.desc(), Review.id.desc())
    ).first()


# ---- the pulse -------------------------------------------------------------------------------
def inner_circle(session: Session, *, team_id: str, community_id: int) -> list[str]:
    """The inner circle now: active members in it, moderators aside (they answer the review itself)."""
    return list(
        session.scalars(
            select(Membership.user_id)
            .where(
                Membership.team_id == team_id,
                Membership.community_id == community_id,
                Membership.left_at.is_(None),
                Membership.role != "core",
                Membership.circle == "inner",
            )
            .order_by(Membership.joined_at, Membership.id)
        )
    )


def open_pulse(
    session: Session, *, team_id: str, review_id: int, asked_by: str, asked: int, now: datetime
) -> bool:
    """Ask the pulse of a review, once: False when it was already asked (by anyone)."""
    statement = (
        insert_ignoring_conflicts(session, ReviewPulse, ["review_id"])
        .values(
            review_id=review_id,
            team_id=team_id,
            asked_by=asked_by,
            asked_at=now,
            asked_count=asked,
            yes=0,
            partly=0,
            no=0,
        )
        .returning(ReviewPulse.review_id)
    )
    return session.execute(statement).first() is not None


def pulse(session: Session, *, review_id: int) -> ReviewPulse | None:
    return session.get(ReviewPulse, review_id)


def vote(session: Session, *, review_id: int, user_id: str, answer: str) -> bool:
    """Count one answer, once per person: the voter row is the compare-and-set (its key refuses a second
    vote), the tally is incremented in the database (two votes at once both count). The two rows share
    nothing but the review: nobody's answer can be traced back to them."""
    won = session.execute(
        insert_ignoring_conflicts(session, ReviewPulseVoter, ["review_id", "user_id"])
        .values(review_id=review_id, user_id=user_id)
        .returning(ReviewPulseVoter.user_id)
    ).first()
    if won is None:
        return False
    column = {"yes": ReviewPulse.yes, "partly": ReviewPulse.partly, "no": ReviewPulse.no}[answer]
    values: dict[str, Any] = {column.key: column + 1}
    session.execute(
        update(ReviewPulse)
        .where(ReviewPulse.review_id == review_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return True


def saved_by(session: Session, *, team_id: str, user_id: str) -> list[tuple[ReviewAnswers, int, date]]:
    """The saved answers that name this person (their export): theirs, and the co-moderators' whose notes
    name them; with each review's community and date."""
    rows = session.execute(
        select(ReviewAnswers, Review.community_id, Review.due_on)
        .join(Review, Review.id == ReviewAnswers.review_id)
        .where(
            ReviewAnswers.team_id == team_id,
            or_(
                ReviewAnswers.user_id == user_id,
                # A cheap filter; `names` checks each note exactly.
                cast(ReviewAnswers.answers, String).contains(user_id, autoescape=True),
            ),
        )
        .order_by(ReviewAnswers.saved_at, ReviewAnswers.id)
    ).all()
    return [
        (row, community_id, due_on)
        for row, community_id, due_on in rows
        if row.user_id == user_id or names(row.answers, user_id)
    ]


def _drop_notes_from_outcome(session: Session, *, review_id: int, notes: list[dict[str, str]]) -> None:
    """Their notes, joined into a completed review's answers with the co-moderators' (" / "), go too."""
    review = session.get(Review, review_id)
    theirs = {a.get("item"): a.get("note") for a in notes if a.get("note")}
    if review is None or not review.answers or not theirs:
        return
    review.answers = [
        {**a, "note": " / ".join(n for n in (a.get("note") or "").split(" / ") if n != theirs[a.get("item")])}
        if a.get("item") in theirs
        else a
        for a in review.answers
    ]


def forget(session: Session, *, team_id: str, user_id: str) -> int:
    """Erasure (/cdp forget): their saved answers and notes go, a co-moderator's note naming them is
    blanked, and whether they answered a pulse goes (the tallies stay: they name nobody)."""
    changed = 0
    for row, _, _ in saved_by(session, team_id=team_id, user_id=user_id):
        if row.user_id == user_id:
            _drop_notes_from_outcome(session, review_id=row.review_id, notes=row.answers)
            session.delete(row)
        else:
            row.answers = [{**a, "note": ""} if names(a.get("note"), user_id) else a for a in row.answers]
        changed += 1
    voted = session.execute(
        delete(ReviewPulseVoter).where(
            ReviewPulseVoter.user_id == user_id,
            ReviewPulseVoter.review_id.in_(select(Review.id).where(Review.team_id == team_id)),
        )
    )
    return changed + int(getattr(voted, "rowcount", 0) or 0)
