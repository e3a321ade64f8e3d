"""The scheduled lifecycle pass: states recorded, then the "dormant" messages owed."""

from __future__ import annotations

import logging

from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import lifecycle as lifecycle_service

log = logging.getLogger("cdp_bot.lifecycle")


def lifecycle_pass(deps: Deps) -> int:
    """Record every community's lifecycle changes, then write the dormant messages owed; returns the
    number of changes. A failure is logged, and the next hourly run tries again."""
    now = deps.clock.now()
    changed = 0
    try:
        with deps.db.session() as session:
            changed = len(lifecycle_service.record_changes(session, now=now))
        with deps.db.session() as session:
            told = lifecycle_service.notify_dormant(session, now=now)
    except Exception as exc:
        log.error("lifecycle pass failed", extra={"fields": error_fields(exc)})
        return changed
    log.info("lifecycle pass", extra={"fields": {"changes": changed, "dormant_notices": told}})
    return changed
