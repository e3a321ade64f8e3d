"""APScheduler wiring: the clock that finds due work in the database and runs it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot import reminders
from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services import communities as community_service
from bot.services import events as event_service
from bot.services import outbox as outbox_service

log = logging.getLogger("cdp_bot.scheduler")

PROCESSED_EVENTS_KEPT = timedelta(days=7)


def build_scheduler(deps: Deps, client: WebClient) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(prune_processed_events, "interval", hours=6, args=[deps], id="prune_processed_events")
    scheduler.add_job(prune_outbox, "interval", hours=6, args=[deps], id="prune_outbox")
    # Hourly, so each community's new day (in its own timezone) is seen within the hour.
    scheduler.add_job(recompute_all, "interval", hours=1, args=[deps], id="recompute_circles")
    # The database says what is due; each minute the clock looks. The first pass runs at start, so a
    # review that fell due while the app was down goes out once, now.
    scheduler.add_job(
        reminders.tick,
        "interval",
        minutes=1,
        args=[deps, client],
        id="reminders",
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(reminders.momentum_pass, "interval", hours=1, args=[deps, client], id="momentum")
    return scheduler


def prune_processed_events(deps: Deps) -> int:
    """Slack retries within minutes; a week of event ids is plenty to count each event once."""
    with deps.db.session() as session:
        removed = event_service.prune(session=session, older_than=deps.clock.now() - PROCESSED_EVENTS_KEPT)
    log.info("pruned processed events", extra={"fields": {"removed": removed}})
    return removed


def prune_outbox(deps: Deps) -> int:
    """Deliveries done a week ago: their payloads name people, and nothing needs them any more."""
    with deps.db.session() as session:
        removed = outbox_service.prune(session)
    log.info("pruned the outbox", extra={"fields": {"removed": removed}})
    return removed


def recompute_all(deps: Deps) -> int:
    """The daily pass: demotion and decay, each community on its own calendar day (its timezone).

    Safe to run often: a member whose circle does not change is left alone. A community whose recompute
    fails is logged and skipped; the pass goes on to the others and tries it again next hour.
    Returns the number of circle changes.
    """
    with deps.db.session() as session:
        targets = circle_service.active_community_ids(session)
    changed = failed = 0
    for team_id, community_id in targets:
        try:
            with deps.db.session() as session:  # one transaction per community: one failure spoils no other
                community = community_service.find_by_id(session, team_id=team_id, community_id=community_id)
                if community is not None:
                    changes = circle_service.recompute(session, community=community, now=deps.clock.now())
                    changed += len(changes)
        except Exception as exc:
            failed += 1
            # The exception's type and where it was raised, not its message: messages quote stored values
            # that people typed (a timezone, a name).
            log.error(
                "circle recompute failed",
                extra={"fields": {"team": team_id, "community": community_id, **error_fields(exc)}},
            )
    log.info(
        "circles recomputed",
        extra={"fields": {"communities": len(targets), "changes": changed, "failed": failed}},
    )
    return changed
