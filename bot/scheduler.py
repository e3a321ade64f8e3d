"""APScheduler wiring: the clock that finds due work in the database and runs it."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.runtime import Deps
from bot.services import events as event_service

log = logging.getLogger("cdp_bot.scheduler")

PROCESSED_EVENTS_KEPT = timedelta(days=7)


def build_scheduler(deps: Deps, client: WebClient) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(prune_processed_events, "interval", hours=6, args=[deps], id="prune_processed_events")
    return scheduler


def prune_processed_events(deps: Deps) -> int:
    """Slack retries within minutes; a week of event ids is plenty to count each event once."""
    with deps.db.session() as session:
        removed = event_service.prune(session=session, older_than=deps.clock.now() - PROCESSED_EVENTS_KEPT)
    log.info("pruned processed events", extra={"fields": {"removed": removed}})
    return removed
