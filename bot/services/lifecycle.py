"""The lifecycle pass (issue 11, item 3): every active community's state from its own history, daily.

Set-based: the figures of every community come from a few GROUP BY queries (the momentum pass's weekly
blocks and core-group last contribution, a member count), the pure rule (bot.domain.lifecycle) runs in
Python, and only the communities whose state changed are written, with a transition each. Safe to run
hourly: each community is judged on its own local day, and a state that does not change writes nothing.

Entering "dormant" owes the moderators one message (suggesting to revive or dissolve), written to the
outbox within the community's working hours, once per transition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import cadence, lifecycle
from bot.logs import error_fields
from bot.services import home_refresh, outbox
from storage.repositories import lifecycle as repo
from storage.repositories import momentum as momentum_repo

log = logging.getLogger("cdp_bot.lifecycle")


@dataclass(frozen=True)
class Judged:
    row: repo.LifecycleRow
    result: lifecycle.Lifecycle


def judge_all(session: Session, *, now: datetime) -> list[Judged]:
    """Every active community's state now (on its local day). A community whose timezone is broken is
    logged and left out."""
    rows: list[tuple[repo.LifecycleRow, date]] = []
    for row in repo.active_communities(session):
        try:
            rows.append((row, now.astimezone(cadence.zone(row.timezone)).date()))
        except ValueError as exc:
            log.error(
                "lifecycle failed for a community",
                extra={"fields": {"team": row.team_id, "community": row.id, **error_fields(exc)}},
            )
    if not rows:
        return []
    members = repo.member_counts(session)
    blocks = {
        day: momentum_repo.weekly_blocks(
            session, today=day, weeks=lifecycle.HISTORY_WEEKS, community_ids=None
        )
        for day in sorted({today for _, today in rows})
    }
    core_last = momentum_repo.core_last_contribution(
        session, last_days=momentum_repo.last_days_unless_indexed(session)
    )
    judged = []
    for row, today in rows:
        signals = lifecycle.LifecycleSignals(
            today=today,
            created_on=row.created_at.astimezone(cadence.zone(row.timezone)).date(),
            cadence_weeks=row.cadence_weeks,
            members=members.get(row.id, 0),
            weekly=blocks[today].get(row.id, {}),
            core_last_contribution=core_last.get(row.id),
        )
        judged.append(Judged(row, lifecycle.decide(signals)))
    return judged


def record_changes(session: Session, *, now: datetime) -> list[repo.Change]:
    """Judge every community and write the states that changed (and their transitions)."""
    changes = [
        repo.Change(
            team_id=j.row.team_id,
            community_id=j.row.id,
            from_state=j.row.state,
            to_state=j.result.state.value,
            reason=j.result.reason.as_dict(),
        )
        for j in judge_all(session, now=now)
        if j.row.state != j.result.state.value
    ]
    repo.apply(session, changes=changes, now=now)
    # The moderators' App Home shows the state: republished for those who opened it (few changes a day).
    by_team: dict[str, list[int]] = {}
    for change in changes:
        by_team.setdefault(change.team_id, []).append(change.community_id)
    for team_id, community_ids in by_team.items():
        home_refresh.refresh(session, team_id=team_id, community_ids=community_ids)
    return changes


def notify_dormant(session: Session, *, now: datetime) -> int:
    """The moderators' message of each community that entered "dormant" and was not told yet, written to
    the outbox when the community is within its working hours (else a later pass does it). Each
    transition is told once: marked notified, and a dedupe key per (transition, recipient). Without a
    moderator, the creator is told."""
    owed = []
    for notice in repo.owed_dormant_notices(session):
        try:
            if cadence.within_working_hours(notice.timezone, now):
                owed.append(notice)
        except ValueError:
            continue  # a broken timezone was logged by the judging
    if not owed:
        return 0
    moderators = repo.moderators_of(session, community_ids=[n.community_id for n in owed])
    deliveries: list[dict[str, Any]] = []
    for notice in owed:
        for user_id in moderators.get(notice.community_id) or [notice.created_by]:
            deliveries.append(
                {
                    "team_id": notice.team_id,
                    "to": user_id,
                    "render": "text",
                    "args": {"key_name": "lifecycle.dormant_notice", "params": {"name": notice.name}},
                    "once": f"lifecycle:{notice.transition_id}:{user_id}",
                }
            )
    outbox.messages(session, deliveries)
    repo.mark_notified(session, transition_ids=[n.transition_id for n in owed], now=now)
    return len(owed)
