"""The reminder jobs the scheduler runs: checklist reviews, their escalation, momentum alerts.

Every send follows one pattern: claim in the database (unique key or compare-and-set) and commit,
then send, then record that it was sent. A failed send releases the claim for the next tick; a
crashed sender's claim goes stale and is taken again. Slack's 429 is waited out by the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import momentum
from bot.people import reachable, user_language
from bot.runtime import Deps
from bot.services import reviews as review_service
from bot.views import reviews as views
from storage.repositories import reviews as review_repo

log = logging.getLogger("cdp_bot.reminders")

# Refusals about one person (gone, a bot): skip them, the others still get the message.
PERSON_ERRORS = {"cannot_dm_bot", "user_not_found", "user_disabled", "account_inactive", "channel_not_found"}


Render = Callable[[str], tuple[str, list[dict[str, Any]]]]


def deliver(deps: Deps, client: WebClient, recipients: list[str], render: Render) -> tuple[int, int]:
    """DM each recipient in their language: (delivered, failed). A person-level refusal is a skip."""
    delivered = failed = 0
    for user_id in recipients:
        lang = user_language(deps, client, user_id)
        text, blocks = render(lang)
        try:
            client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
            delivered += 1
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            log.warning("reminder DM refused", extra={"fields": {"error": error}})
            if error not in PERSON_ERRORS:
                failed += 1
    return delivered, failed


# ---- reviews ---------------------------------------------------------------------------------
def send_due_reviews(deps: Deps, client: WebClient) -> int:
    now = deps.clock.now()
    with deps.db.session() as session:
        review_service.open_due_reviews(session, now=now)
        sendable = review_service.sendable_reviews(session, now=now)
    sent = 0
    for item in sendable:
        with deps.db.session() as session:  # the claim is committed before anything is sent
            if not review_service.claim(session, review_id=item.review_id, now=now):
                continue
        if _send_prompt(deps, client, item.team_id, item.review_id, level=0):
            sent += 1
    return sent


def _recipients(deps: Deps, client: WebClient, team_id: str, review_id: int, level: int) -> list[str]:
    with deps.db.session() as session:
        moderators, creator = review_service.people_of(session, team_id=team_id, review_id=review_id)
    people = reachable(deps, client, [*moderators, creator] if level >= 2 else moderators)
    # No moderator left to ask: the creator is the last one who can keep the community going.
    return people or reachable(deps, client, [creator])


def _send_prompt(deps: Deps, client: WebClient, team_id: str, review_id: int, *, level: int) -> bool:
    recipients = _recipients(deps, client, team_id, review_id, level)
    with deps.db.session() as session:
        review = review_repo.get(session, team_id=team_id, review_id=review_id)
        assert review is not None
        summary = review_service.summary(session, review=review, now=deps.clock.now())
    delivered, failed = deliver(
        deps, client, recipients, lambda lang: views.prompt_message(lang, summary, review_id, level=level)
    )
    with deps.db.session() as session:
        review = review_repo.get(session, team_id=team_id, review_id=review_id)
        assert review is not None
        if level == 0 and review.sent_at is None:
            if delivered == 0 and failed > 0:
                review_service.release(session, review_id=review_id)  # Slack failed: try again next tick
                return False
            review_service.mark_sent(session, review=review, now=deps.clock.now())
    log.info("review prompt", extra={"fields": {"review": review_id, "level": level, "delivered": delivered}})
    return delivered > 0


def escalate(deps: Deps, client: WebClient) -> int:
    """Re-send unanswered reviews after 3 days, then to co-moderators and the creator after 6; end snoozes."""
    now = deps.clock.now()
    with deps.db.session() as session:
        steps = []
        for step in review_service.due_escalations(session, now=now):
            review = review_repo.by_id(session, step.review_id)
            if review is not None and review_service.advance(
                session, review=review, to_level=step.level, now=now
            ):
                steps.append((review.team_id, step))
    for team_id, step in steps:  # claimed and committed above: each step goes out once
        _send_prompt(deps, client, team_id, step.review_id, level=step.level)
    return len(steps)


# ---- momentum --------------------------------------------------------------------------------
def momentum_pass(deps: Deps, client: WebClient) -> int:
    """Evaluate every community's momentum; each kind of alert at most once a week per community."""
    now = deps.clock.now()
    with deps.db.session() as session:
        review_service.drop_stale_alerts(session, now=now)
        checks = review_service.momentum_targets(session, now=now)
    sent = 0
    for check in checks:
        active = len(reachable(deps, client, check.moderators))
        with deps.db.session() as session:
            signals = review_service.signals(session, check=check, moderators_active=active, now=now)
        for alert in momentum.evaluate(signals):
            with deps.db.session() as session:
                alert_id = review_service.claim_alert(
                    session, check=check, alert=alert, today=signals.today, now=now
                )
            if alert_id is None:
                continue  # already sent this week
            recipients = _alert_recipients(deps, client, check, alert.kind)
            delivered, _ = deliver(
                deps,
                client,
                recipients,
                partial(_render_alert, name=check.name, alert=alert, community_id=check.community_id),
            )
            with deps.db.session() as session:
                if delivered == 0:  # Slack failed, or nobody to tell yet: the next pass tries again
                    review_service.drop_alert(session, alert_id=alert_id)
                    continue
                review_service.mark_alert_sent(session, alert_id=alert_id, now=now)
            sent += 1
            log.info(
                "momentum alert",
                extra={"fields": {"community": check.community_id, "kind": alert.kind.value}},
            )
    return sent


TOP_CONTRIBUTORS = 3


def _alert_recipients(
    deps: Deps, client: WebClient, check: review_service.MomentumCheck, kind: str
) -> list[str]:
    """The moderators; with no moderator left, the creator and the most active members still here."""
    if kind != momentum.AlertKind.NO_MODERATOR:
        return reachable(deps, client, check.moderators)
    creator = reachable(deps, client, [check.creator])
    active = [u for u in reachable(deps, client, check.contributors) if u not in creator]
    return creator + active[:TOP_CONTRIBUTORS]


def _render_alert(
    lang: str, *, name: str, alert: momentum.Alert, community_id: int
) -> tuple[str, list[dict[str, Any]]]:
    return views.alert_message(lang, name=name, alert=alert, community_id=community_id)


def tick(deps: Deps, client: WebClient) -> None:
    """One pass of the clock; safe to run at any time, as often as wanted, from several instances."""
    send_due_reviews(deps, client)
    escalate(deps, client)
