"""APScheduler wiring: the clock that finds due work in the database and runs it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot import introductions, metrics, reminders
from bot.domain.retention import EVENT_IDS_DAYS
from bot.lifecycle_job import lifecycle_pass
from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services import events as event_service
from bot.services import outbox as outbox_service
from bot.services import retention as retention_service
from storage.repositories import circles as circles_repo

log = logging.getLogger("cdp_bot.scheduler")

PROCESSED_EVENTS_KEPT = timedelta(days=EVENT_IDS_DAYS)


def build_scheduler(deps: Deps, client: WebClient) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(prune_processed_events, "interval", hours=6, args=[deps], id="prune_processed_events")
    scheduler.add_job(prune_outbox, "interval", hours=6, args=[deps], id="prune_outbox")
    # Nightly (UTC), when the communities are quiet: old daily counts become monthly totals, old circle
    # changes go (README, "Data retention"). A run missed while the app was down is done at the next.
    scheduler.add_job(apply_retention, "cron", hour=3, minute=17, args=[deps], id="retention")
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
    # Lifecycle states: hourly, so each community's new local day is judged within the hour (a state
    # that does not change writes nothing).
    scheduler.add_job(lifecycle_pass, "interval", hours=1, args=[deps], id="lifecycle")
    # Pairing: the new lurkers found hourly; newcomers introduced (in their working hours) and the
    # check-backs a week later, looked at every five minutes.
    scheduler.add_job(
        introductions.find_lurkers, "interval", hours=1, args=[deps, client], id="pairing_lurkers"
    )
    scheduler.add_job(introductions.pairing_pass, "interval", minutes=5, args=[deps, client], id="pairing")
    for job in scheduler.get_jobs():  # every run counted and timed under its id (GET /metrics)
        job.modify(func=metrics.timed_job(job.id, job.func))
    return scheduler


def prune_processed_events(deps: Deps) -> int:
    """Slack retries within minutes; a week of event ids is plenty to count each event once."""
    with deps.db.session() as session:
        removed = event_service.prune(session=session, older_than=deps.clock.now() - PROCESSED_EVENTS_KEPT)
    log.info("pruned processed events", extra={"fields": {"removed": removed}})
    return removed


def apply_retention(deps: Deps) -> retention_service.RetentionResult:
    """The settings' retention (ACTIVITY_RETENTION_DAYS, CIRCLE_HISTORY_RETENTION_DAYS), in batches."""
    result = retention_service.apply(deps.db, policy=deps.settings.retention_policy, now=deps.clock.now())
    log.info(
        "retention applied",
        extra={
            "fields": {
                "days_rolled_up": result.days_rolled_up,
                "circle_changes_deleted": result.circle_changes_deleted,
                "batches": result.batches,
            }
        },
    )
    return result


def prune_outbox(deps: Deps) -> int:
    """Deliveries done a week ago: their payloads name people, and nothing needs them any more."""
    with deps.db.session() as session:
        removed = outbox_service.prune(session)
    log.info("pruned the outbox", extra={"fields": {"removed": removed}})
    return removed


# Communities per transaction of the daily pass: few statements for 10,000 communities, and a failing
# batch is split until the community at fault stands alone (logged), the others applied.
RECOMPUTE_BATCH = 2000


def recompute_all(deps: Deps) -> int:
    """The daily pass: demotion and decay, each community on its own calendar day (its timezone).

    The circle rule runs in SQL for a batch of communities at once and returns only who moves. Safe to
    run often: a member whose circle does not change is left alone. A community that cannot be computed
    (an unknown timezone, a batch that fails and, split, fails on it alone) is logged and skipped; the
    pass goes on to the others and tries it again next hour. Returns the number of circle changes.
    """
    now = deps.clock.now()
    with deps.db.session() as session:
        settings = circle_service.active_rule_settings(session)
    targets = []
    failed = 0
    for community in settings:
        try:
            targets.append(circle_service.circle_target(community, now))
        except Exception as exc:
            failed += 1
            _recompute_failed(community.team_id, community.community_id, exc)
    changed = 0
    for start in range(0, len(targets), RECOMPUTE_BATCH):
        batch_changed, batch_failed = _recompute_batch(deps, targets[start : start + RECOMPUTE_BATCH], now)
        changed += batch_changed
        failed += batch_failed
    log.info(
        "circles recomputed",
        extra={"fields": {"communities": len(settings), "changes": changed, "failed": failed}},
    )
    return changed


def _recompute_batch(
    deps: Deps, targets: Sequence[circles_repo.CircleTarget], now: datetime
) -> tuple[int, int]:
    """(changes, failed communities) of one batch, in its own transaction; split in two when it fails."""
    try:
        with deps.db.session() as session:
            return len(circle_service.recompute_targets(session, targets=targets, now=now)), 0
    except Exception as exc:
        if len(targets) == 1:
            _recompute_failed(targets[0].team_id, targets[0].community_id, exc)
            return 0, 1
        middle = len(targets) // 2
        first = _recompute_batch(deps, targets[:middle], now)
        second = _recompute_batch(deps, targets[middle:], now)
        return first[0] + second[0], first[1] + second[1]


def _recompute_failed(team_id: str, community_id: int, exc: BaseException) -> None:
    # The exception's type and where it was raised, not its message: messages quote stored values that
    # people typed (a timezone, a name).
    log.error(
        "circle recompute failed",
        extra={"fields": {"team": team_id, "community": community_id, **error_fields(exc)}},
    )
