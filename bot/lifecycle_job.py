"""The scheduled lifecycle pass: states recorded, then the "dormant" messages owed, and the momentum
alerts of a community that just entered *stalling*."""

from __future__ import annotations

import logging

from bot import reminders
from bot.domain.lifecycle import LifecycleState
from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import lifecycle as lifecycle_service

log = logging.getLogger("cdp_bot.lifecycle")


def lifecycle_pass(deps: Deps) -> int:
    """Record every community's lifecycle changes, then write the dormant messages owed; returns the
    number of changes. A community entering *stalling* gets its momentum alerts now, with their figures
    (the momentum pass, which sends only what this week has not claimed yet), rather than at the next
    hourly pass. A failure is logged, and the next hourly run tries again."""
    now = deps.clock.now()
    changed = 0
    try:
        with deps.db.session() as session:
            changes = lifecycle_service.record_changes(session, now=now)
            changed = len(changes)
        with deps.db.session() as session:
            told = lifecycle_service.notify_dormant(session, now=now)
        if any(change.to_state == LifecycleState.STALLING for change in changes):
            reminders.momentum_pass(deps)
    except Exception as exc:
        log.error("lifecycle pass failed", extra={"fields": error_fields(exc)})
        return changed
    log.info("lifecycle pass", extra={"fields": {"changes": changed, "dormant_notices": told}})
    return changed
