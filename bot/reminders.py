"""The reminder jobs the scheduler runs: checklist reviews, their escalation, momentum alerts.

Every send follows one pattern: ask Slack who can receive it (outside any transaction), then in ONE
transaction claim the step (a unique key or a compare-and-set) and write one outbox delivery per
recipient. Of two instances (or two ticks), one claims and writes; a crash before the commit leaves the
step unclaimed for the next tick; after it, the outbox delivers to each recipient once, retrying Slack's
refusals on its own (Retry-After, backoff) without holding up any other recipient.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.domain import momentum
from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services import outbox
from bot.services import reviews as review_service
from storage.repositories import reviews as review_repo

log = logging.getLogger("cdp_bot.reminders")


def _json(value: Any) -> Any:
    """Summaries and alerts as JSON arguments of their renderers (dates as ISO strings)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _write_prompts(
    session: Session, deps: Deps, *, team_id: str, review_id: int, recipients: list[str], level: int
) -> None:
    review = review_repo.get(session, team_id=team_id, review_id=review_id)
    assert review is not None
    now = deps.clock.now()
    summary = review_service.summary(session, review=review, now=now)
    stamp = int(now.timestamp())  # the step's time: a prompt after a snooze is a new one
    for user_id in recipients:
        outbox.message(
            session,
            team_id=team_id,
            to=user_id,
            render="reviews.prompt",
            once=f"review:{review_id}:{level}:{stamp}:{user_id}",
            ref=review_service.prompt_ref(review_id),
            summary=_json(asdict(summary)),
            review_id=review_id,
            level=level,
        )


# ---- reviews ---------------------------------------------------------------------------------
def send_due_reviews(deps: Deps, client: WebClient) -> int:
    now = deps.clock.now()
    with deps.db.session() as session:
        review_service.open_due_reviews(session, now=now)
        sendable = review_service.sendable_reviews(session, now=now)
    sent = 0
    for item in sendable:
        recipients = _recipients(deps, client, item.team_id, item.review_id, level=0)
        with deps.db.session() as session:  # the claim and the deliveries commit together
            if not review_service.claim(session, review_id=item.review_id, now=now):
                continue
            _write_prompts(
                session, deps, team_id=item.team_id, review_id=item.review_id, recipients=recipients, level=0
            )
            review = review_repo.get(session, team_id=item.team_id, review_id=item.review_id)
            assert review is not None
            review_service.mark_sent(session, review=review, now=now)
        log.info("review prompt", extra={"fields": {"review": item.review_id, "recipients": len(recipients)}})
        sent += 1
    return sent


def _recipients(deps: Deps, client: WebClient, team_id: str, review_id: int, level: int) -> list[str]:
    with deps.db.session() as session:
        moderators, creator = review_service.people_of(session, team_id=team_id, review_id=review_id)
    people = deps.people.reachable(client, [*moderators, creator] if level >= 2 else moderators)
    # No moderator left to ask: the creator is the last one who can keep the community going.
    return people or deps.people.reachable(client, [creator])


def escalate(deps: Deps, client: WebClient) -> int:
    """Re-send unanswered reviews after 3 days, then to co-moderators and the creator after 6; end snoozes."""
    now = deps.clock.now()
    with deps.db.session() as session:
        steps = [
            (s, r.team_id)
            for s in review_service.due_escalations(session, now=now)
            if (r := review_repo.by_id(session, s.review_id))
        ]
    advanced = 0
    for step, team_id in steps:
        recipients = _recipients(deps, client, team_id, step.review_id, level=step.level)
        with deps.db.session() as session:  # the step is claimed (compare-and-set) with its deliveries
            review = review_repo.by_id(session, step.review_id)
            if review is None or not review_service.advance(
                session, review=review, to_level=step.level, now=now
            ):
                continue
            _write_prompts(
                session,
                deps,
                team_id=team_id,
                review_id=step.review_id,
                recipients=recipients,
                level=step.level,
            )
        advanced += 1
    return advanced


# ---- momentum --------------------------------------------------------------------------------
def momentum_pass(deps: Deps, client: WebClient) -> int:
    """Evaluate every community's momentum; each kind of alert at most once a week per community.
    One community that fails (a Slack outage, a broken row) is logged and the pass goes on."""
    now = deps.clock.now()
    with deps.db.session() as session:
        review_service.drop_stale_alerts(session, now=now)
        targets = circle_service.active_community_ids(session)
    sent = failed = 0
    for team_id, community_id in targets:
        try:
            with deps.db.session() as session:
                check = review_service.momentum_check(
                    session, team_id=team_id, community_id=community_id, now=now
                )
            if check is not None:
                sent += _momentum_of(deps, client, check, now)
        except Exception as exc:
            failed += 1
            log.error(
                "momentum pass failed for a community",
                extra={"fields": {"team": team_id, "community": community_id, **error_fields(exc)}},
            )
    log.info(
        "momentum pass", extra={"fields": {"communities": len(targets), "alerts": sent, "failed": failed}}
    )
    return sent


def _momentum_of(deps: Deps, client: WebClient, check: review_service.MomentumCheck, now: datetime) -> int:
    active = len(deps.people.reachable(client, check.moderators))
    with deps.db.session() as session:
        signals = review_service.signals(session, check=check, moderators_active=active, now=now)
    sent = 0
    for alert in momentum.evaluate(signals):
        recipients = _alert_recipients(deps, client, check, alert.kind)
        if not recipients:
            continue  # nobody to tell yet: the next pass tries again
        with deps.db.session() as session:
            alert_id = review_service.claim_alert(
                session, check=check, alert=alert, today=signals.today, now=now
            )
            if alert_id is None:
                continue  # already sent this week
            for user_id in recipients:
                outbox.message(
                    session,
                    team_id=check.team_id,
                    to=user_id,
                    render="reviews.alert",
                    once=f"alert:{alert_id}:{user_id}",
                    name=check.name,
                    community_id=check.community_id,
                    alert={
                        "kind": alert.kind.value,
                        "reason": _json(alert.reason.as_dict()),
                        "suggestion": _json(alert.suggestion.as_dict()),
                        "figures": dict(alert.figures),
                    },
                )
            review_service.mark_alert_sent(session, alert_id=alert_id, now=now)
        sent += 1
        log.info(
            "momentum alert", extra={"fields": {"community": check.community_id, "kind": alert.kind.value}}
        )
    return sent


TOP_CONTRIBUTORS = 3


def _alert_recipients(
    deps: Deps, client: WebClient, check: review_service.MomentumCheck, kind: str
) -> list[str]:
    """The moderators; with no moderator left, the creator and the most active members still here."""
    if kind != momentum.AlertKind.NO_MODERATOR:
        return deps.people.reachable(client, check.moderators)
    creator = deps.people.reachable(client, [check.creator])
    active: list[str] = []
    candidates = [u for u in check.contributors if u not in creator]
    # Asked a few at a time, most active first: a big community is not looked up whole.
    for start in range(0, len(candidates), TOP_CONTRIBUTORS):
        active += deps.people.reachable(client, candidates[start : start + TOP_CONTRIBUTORS])
        if len(active) >= TOP_CONTRIBUTORS:
            break
    return creator + active[:TOP_CONTRIBUTORS]


def tick(deps: Deps, client: WebClient) -> None:
    """One pass of the clock; safe to run at any time, as often as wanted, from several instances."""
    send_due_reviews(deps, client)
    escalate(deps, client)
