"""A community's stage on the path of its typical objectives (issue 11, item 9): set at creation,
moved on by a review's answer, set by hand in the settings, kept on the path when the objectives change.
Every change is recorded (stage_changes); what people are told goes through the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.domain import stages
from bot.domain.checklist import Decision
from bot.services import outbox
from storage.models import Community
from storage.repositories import stages as repo


def start(community: Community) -> None:
    """A new community starts at the first stage of its path (none: no stage)."""
    community.stage = stages.initial(community.objectives or [])


def follow_objectives(
    session: Session, *, community: Community, actor: str, now: datetime, chosen: str | None = None
) -> str | None:
    """After the settings changed the objectives: the stage the moderators chose by hand (`chosen`,
    when it is on the path), else the domain's rule for changed objectives. Recorded when it moved;
    returns the new stage when it moved, else None."""
    objectives = community.objectives or []
    target = (
        chosen
        if stages.can_set(objectives, chosen)
        else stages.after_objectives_change(objectives, community.stage)
    )
    return _move(session, community=community, to=target, actor=actor, now=now)


def after_review(
    session: Session,
    *,
    community: Community,
    review_id: int,
    decision: Decision,
    move_to: str | None,
    user_id: str,
    lang: str,
    now: datetime,
) -> str | None:
    """The review's answer to "Move on to the next stage?": `move_to` is the stage the question offered
    (None: "not yet", or not asked). Applied only with continue or adjust (dissolve leaves the stage),
    and only when it is still the next stage (the stage may have moved since the modal opened). The
    moderator and the community's channels (when it wants review outcomes there) are told."""
    if decision == Decision.DISSOLVE or move_to is None:
        return None
    if move_to != stages.next_stage(community.objectives or [], community.stage):
        return None
    moved = _move(session, community=community, to=move_to, actor=user_id, now=now, review_id=review_id)
    if moved is None:
        return None
    # Rendered when sent (bot/views/stages.py), each in its reader's language.
    team_id, objectives = community.team_id, list(community.objectives or [])
    if community.review_outcome_in_channel:
        for binding in community.channels:
            if not binding.is_archived:
                outbox.message(
                    session,
                    team_id=team_id,
                    to=binding.channel_id,
                    render="stages.moved_channel",
                    lang=community.language,
                    name=community.name,
                    stage=moved,
                )
    outbox.message(
        session,
        team_id=team_id,
        to=user_id,
        render="stages.moved_done",
        lang=lang,
        name=community.name,
        stage=moved,
        objectives=objectives,
    )
    return moved


def _move(
    session: Session,
    *,
    community: Community,
    to: str | None,
    actor: str,
    now: datetime,
    review_id: int | None = None,
) -> str | None:
    if to == community.stage:
        return None
    repo.record(
        session,
        community=community,
        from_stage=community.stage,
        to_stage=to,
        changed_by=actor,
        at=now,
        review_id=review_id,
    )
    community.stage = to
    return to


def question_next(community: Community) -> str | None:
    """The stage a review asks about moving on to; None at the end of the path (nothing is asked)."""
    return stages.next_stage(community.objectives or [], community.stage)
