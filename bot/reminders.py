"""The reminder jobs the scheduler runs: checklist reviews, their escalation, momentum alerts.

Every send follows one pattern: ask Slack who can receive it (outside any transaction), then in ONE
transaction claim the step (a unique key or a compare-and-set) and write one outbox delivery per
recipient. Of two instances (or two ticks), one claims and writes; a crash before the commit leaves the
step unclaimed for the next tick; after it, the outbox delivers to each recipient once, retrying Slack's
refusals on its own (Retry-After, backoff) without holding up any other recipient.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.domain import cadence, momentum
from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import outbox
from bot.services import review_together as together_service
from bot.services import reviews as review_service
from storage.repositories import memberships as membership_repo
from storage.repositories import momentum as momentum_repo
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


# ---- reviews ---------------------------------------------------------------------------------
BATCH = 100  # reviews claimed, summarised and written to the outbox in one transaction


def _prompt_deliveries(
    session: Session, deps: Deps, *, items: list[review_repo.DueReview], levels: dict[int, int], now: datetime
) -> list[dict[str, Any]]:
    """The outbox rows of a batch's prompts. Whom to send to is the database's answer (the moderators;
    at level 2 the creator too; with no moderator, the creator); whether they can still receive is the
    outbox worker's (users.info at send time): when none of a prompt's moderators can, it goes to the
    creator instead (`fallback`)."""
    summaries = review_service.summaries(session, review_ids=[item.id for item in items], now=now)
    moderators = membership_repo.moderators_of(session, community_ids={item.community_id for item in items})
    stamp = int(now.timestamp())  # the step's time: a prompt after a snooze is a new one
    deliveries: list[dict[str, Any]] = []
    for item in items:
        level = levels[item.id]
        mods = moderators.get(item.community_id, [])
        recipients = list(dict.fromkeys([*mods, item.created_by])) if level >= 2 else mods
        fallback = [item.created_by] if item.created_by not in recipients else []
        if not recipients:
            # No moderator left to ask: the creator is the last one who can keep the community going.
            recipients, fallback = [item.created_by], []
        group = f"review:{item.id}:{level}:{stamp}"
        summary = _json(asdict(summaries[item.id]))
        for user_id in recipients:
            deliveries.append(
                {
                    "team_id": item.team_id,
                    "to": user_id,
                    "render": "reviews.prompt",
                    "args": {"summary": summary, "review_id": item.id, "level": level},
                    "once": f"{group}:{user_id}",
                    "ref": review_service.prompt_ref(item.id),
                    "fallback": {"group": group, "to": fallback},
                    "chart": item.community_id,  # drawn and uploaded by the outbox worker, not here
                }
            )
    return deliveries


def _due_now(deps: Deps, now: datetime, *, open_first: bool) -> list[review_repo.DueReview]:
    """Open reviews whose next step has come and whose community is within working hours; the others
    are moved to their next working hour, so the next ticks do not read them again."""
    with deps.db.session() as session:
        if open_first:
            review_repo.open_due(session, now=now)
        due = review_repo.due(session, now=now)
        later = []
        ready = []
        for item in due:
            try:
                if cadence.within_working_hours(item.timezone, now):
                    ready.append(item)
                else:
                    later.append({"rid": item.id, "step": cadence.next_working_time(item.timezone, now)})
            except ValueError:  # an unknown timezone: logged; nothing can be sent for it
                log.error(
                    "review of a community with no usable timezone", extra={"fields": {"review": item.id}}
                )
                later.append({"rid": item.id, "step": now + timedelta(hours=1)})
        review_repo.reschedule(session, steps=later)
    return ready


def close_overdue(
    deps: Deps, client: WebClient | None = None, *, ready: list[review_repo.DueReview] | None = None
) -> int:
    """Reviews done together whose answers window is over: each is completed from the answers saved
    and announced, in its own transaction (the completion's compare-and-set: once, whoever ticks)."""
    now = deps.clock.now()
    if ready is None:
        ready = _due_now(deps, now, open_first=False)
    closed = 0
    for item in ready:
        if item.answers_due_at is not None and item.answers_due_at <= now:
            with deps.db.session() as session:
                closed += together_service.close_overdue(session, review_id=item.id, now=now)
    return closed


def _not_together(ready: list[review_repo.DueReview]) -> list[review_repo.DueReview]:
    """A review with saved answers is in hand: no prompt nor reminder, its deadline closes it."""
    return [item for item in ready if item.answers_due_at is None]


def send_due_reviews(
    deps: Deps, client: WebClient | None = None, *, ready: list[review_repo.DueReview] | None = None
) -> int:
    """Open the reviews that fell due and write the prompts of the unsent ones, a batch at a time: one
    statement claims a batch (compare-and-set), the summaries are read for the whole batch, the
    deliveries written in one statement, the batch marked sent, all in one transaction."""
    now = deps.clock.now()
    if ready is None:
        ready = _due_now(deps, now, open_first=True)
    unsent = [item for item in _not_together(ready) if item.sent_at is None]
    sent = 0
    for start in range(0, len(unsent), BATCH):
        batch = {item.id: item for item in unsent[start : start + BATCH]}
        with deps.db.session() as session:  # the claims and the deliveries commit together
            won = review_repo.claim_many(
                session, review_ids=list(batch), now=now, stale_before=now - review_service.CLAIM_LEASE
            )
            if not won:
                continue
            items = [batch[rid] for rid in won]
            outbox.messages(
                session, _prompt_deliveries(session, deps, items=items, levels=dict.fromkeys(won, 0), now=now)
            )
            review_service.mark_sent_many(
                session, items=[(i.id, i.team_id, i.community_id) for i in items], now=now
            )
        log.info("review prompts", extra={"fields": {"reviews": len(won)}})
        sent += len(won)
    return sent


def escalate(
    deps: Deps, client: WebClient | None = None, *, ready: list[review_repo.DueReview] | None = None
) -> int:
    """Re-send unanswered reviews after 3 days, then to co-moderators and the creator after 6; end snoozes."""
    now = deps.clock.now()
    if ready is None:
        ready = _due_now(deps, now, open_first=False)
    steps: list[tuple[review_repo.DueReview, int]] = []
    idle: list[dict[str, Any]] = []
    for item in _not_together(ready):
        if item.sent_at is None:
            continue
        if item.snoozed_until is not None:
            if now >= item.snoozed_until:
                steps.append((item, 0))  # the snooze is over: prompt again from the start
            else:
                idle.append({"rid": item.id, "step": item.snoozed_until})
            continue
        level = cadence.escalation_due(item.sent_at, item.escalation_level, now)
        if level is not None:
            steps.append((item, int(level)))
        else:  # nothing due yet (or every step sent): the row says when to look again
            following = item.escalation_level + 1
            step = (
                item.sent_at + cadence.Escalation(following).delay
                if following <= max(cadence.Escalation)
                else None
            )
            idle.append({"rid": item.id, "step": step})
    if idle:
        with deps.db.session() as session:
            review_repo.reschedule(session, steps=idle)
    advanced = 0
    for start in range(0, len(steps), BATCH):
        batch = steps[start : start + BATCH]
        with deps.db.session() as session:  # each step is claimed (compare-and-set) with its deliveries
            won = [
                (item, level)
                for item, level in batch
                if review_service.advance_due(session, item=item, to_level=level, now=now)
            ]
            if not won:
                continue
            outbox.messages(
                session,
                _prompt_deliveries(
                    session, deps, items=[i for i, _ in won], levels={i.id: lvl for i, lvl in won}, now=now
                ),
            )
        advanced += len(won)
    return advanced


# ---- momentum --------------------------------------------------------------------------------
TOP_CONTRIBUTORS = 3
# Alerts claimed and written to the outbox in one transaction. Larger than the tick's BATCH: a first
# pass (or a bad week) fires alerts in every community at once, and each transaction costs three
# statements whatever its size; a batch that fails is claimed by the next pass.
ALERT_BATCH = 1000
NAMED_NEWCOMERS = 10  # named in a "newcomers waiting" alert; the others are counted ("and 2 others")


def momentum_pass(deps: Deps, client: WebClient | None = None) -> int:
    """Evaluate every community's momentum; each kind of alert at most once a week per community.

    Set-based and without any Slack call: the signals of every community come from a few queries
    (bot.services.reviews.momentum_candidates); who can receive is what the app already knows
    (bot.people.known_reachable: a person never asked counts as reachable), and the people it does not
    know yet are looked up by the outbox worker after the pass, for the next one. The outbox worker
    checks every recipient at send time and falls back to the creator when no moderator could receive.
    One community that fails is logged and the pass goes on."""
    now = deps.clock.now()
    with deps.db.session() as session:
        review_service.drop_stale_alerts(session, now=now)
        candidates = review_service.momentum_candidates(session, now=now)
        claimed = momentum_repo.claimed_alerts(
            session, periods={momentum.period_key(c.today) for c in candidates}
        )
    known = deps.people.known_reachable
    to_learn: dict[str, list[str]] = {}
    decided: list[tuple[review_service.MomentumCandidate, momentum.Alert]] = []
    failed = 0
    for candidate in candidates:
        check = candidate.check
        try:
            states = {u: known(u) for u in check.moderators}
            unknown = [u for u, state in states.items() if state is None]
            to_learn.setdefault(check.team_id, []).extend(unknown)
            active = sum(1 for state in states.values() if state is not False)
            signals = replace(candidate.signals, moderators_active=active)
            period = momentum.period_key(candidate.today)
            for alert in momentum.evaluate(signals):
                if (check.community_id, alert.kind.value, period) not in claimed:
                    decided.append((candidate, alert))
        except Exception as exc:
            failed += 1
            log.error(
                "momentum pass failed for a community",
                extra={
                    "fields": {"team": check.team_id, "community": check.community_id, **error_fields(exc)}
                },
            )
    sent = 0
    for start in range(0, len(decided), ALERT_BATCH):
        try:
            sent += _send_alerts(deps, decided[start : start + ALERT_BATCH], now)
        except Exception as exc:
            failed += 1
            log.error("momentum alerts failed", extra={"fields": error_fields(exc)})
    asks = {team: wanted for team, users in to_learn.items() if (wanted := deps.people.to_ask(users))}
    if asks:
        with deps.db.session() as session:
            for team_id, users in asks.items():
                outbox.lookups(session, team_id=team_id, user_ids=users, period=now.strftime("%Y-%m-%d"))
    log.info(
        "momentum pass",
        extra={"fields": {"communities": len(candidates), "alerts": sent, "failed": failed}},
    )
    return sent


def _send_alerts(
    deps: Deps, decided: list[tuple[review_service.MomentumCandidate, momentum.Alert]], now: datetime
) -> int:
    """Claim a batch of alerts (their unique keys, one statement, marked sent) and write their
    deliveries (one statement), in one transaction: an alert is claimed with its messages or not at all."""
    with deps.db.session() as session:
        chosen = []
        for candidate, alert in decided:
            recipients, fallback = _alert_recipients(deps, session, candidate, alert.kind)
            if recipients:  # else nobody to tell yet: the next pass tries again
                chosen.append((candidate, alert, recipients, fallback))
        claimed = review_repo.claim_alerts(
            session,
            alerts=[
                {
                    "team_id": candidate.check.team_id,
                    "community_id": candidate.check.community_id,
                    "kind": alert.kind.value,
                    "period": momentum.period_key(candidate.today),
                    "figures": dict(alert.figures),
                }
                for candidate, alert, _, _ in chosen
            ],
            now=now,
        )
        named = _newcomers_named(deps, session, chosen, claimed)
        deliveries: list[dict[str, Any]] = []
        for candidate, alert, recipients, fallback in chosen:
            check = candidate.check
            alert_id = claimed.get((check.community_id, alert.kind.value))
            if alert_id is None:
                continue  # already sent this week
            group = f"alert:{alert_id}"
            args = {
                "name": check.name,
                "community_id": check.community_id,
                "alert": {
                    "kind": alert.kind.value,
                    "reason": _json(alert.reason.as_dict()),
                    "suggestion": _json(alert.suggestion.as_dict()),
                    "figures": dict(alert.figures),
                },
            }
            if alert.kind == momentum.AlertKind.NEWCOMERS_WAITING:
                args["newcomers"] = named.get(check.community_id, [])
            deliveries.extend(
                {
                    "team_id": check.team_id,
                    "to": user_id,
                    "render": "reviews.alert",
                    "args": args,
                    "once": f"{group}:{user_id}",
                    "fallback": {"group": group, "to": fallback},
                }
                for user_id in recipients
            )
        outbox.messages(session, deliveries)
    log.info("momentum alerts", extra={"fields": {"alerts": len(claimed)}})
    return len(claimed)


def _newcomers_named(
    deps: Deps,
    session: Session,
    chosen: list[tuple[review_service.MomentumCandidate, momentum.Alert, list[str], list[str]]],
    claimed: dict[tuple[int, str], int],
) -> dict[int, list[str]]:
    """The newcomers waiting, by name (the first few), of the communities whose "newcomers waiting" alert
    was claimed now: one query for the batch, read only for them, never per community. People the app
    knows left the workspace are not named (what it knows: no Slack call from a scheduled job)."""
    kind = momentum.AlertKind.NEWCOMERS_WAITING
    targets = [
        candidate.wait
        for candidate, alert, _, _ in chosen
        if alert.kind == kind
        and candidate.wait is not None
        and (candidate.check.community_id, kind.value) in claimed
    ]
    found = momentum_repo.newcomers_waiting_names(session, targets=targets, limit=NAMED_NEWCOMERS)
    known = deps.people.known_reachable
    return {cid: [u for u in users if known(u) is not False] for cid, users in found.items()}


def _alert_recipients(
    deps: Deps, session: Session, candidate: review_service.MomentumCandidate, kind: str
) -> tuple[list[str], list[str]]:
    """(recipients, fallback): the moderators, falling back to the creator; with no moderator left,
    the creator and the most active members still here (read only for such a community), the next
    most active as the fallback. Nobody known to be unreachable is chosen."""
    check = candidate.check
    known = deps.people.known_reachable
    if kind != momentum.AlertKind.NO_MODERATOR:
        moderators = [u for u in check.moderators if known(u) is not False]
        creator = (
            [check.creator] if check.creator not in moderators and known(check.creator) is not False else []
        )
        return moderators, creator
    creator = [check.creator] if known(check.creator) is not False else []
    candidates = [
        u
        for u in review_service.contributors_of(session, candidate=candidate)
        if u not in creator and known(u) is not False
    ]
    return creator + candidates[:TOP_CONTRIBUTORS], candidates[TOP_CONTRIBUTORS : 2 * TOP_CONTRIBUTORS]


def tick(deps: Deps, client: WebClient | None = None) -> None:
    """One pass of the clock; safe to run at any time, as often as wanted, from several instances.
    Reads only what is due (two index range scans); with nothing due, that is all it does. No Slack
    call: the outbox worker sends (and asks Slack who can still receive)."""
    now = deps.clock.now()
    ready = _due_now(deps, now, open_first=True)
    if not ready:
        return
    close_overdue(deps, client, ready=ready)
    send_due_reviews(deps, client, ready=ready)
    escalate(deps, client, ready=ready)
