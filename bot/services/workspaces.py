"""Use-cases of installs in several workspaces: an uninstall schedules the workspace's data for
deletion after the grace period; the hourly purge deletes it, unless the workspace installed again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from storage.db import Database
from storage.repositories import workspaces as repo

log = logging.getLogger("cdp_bot.workspaces")


def uninstalled(
    db: Database,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    org_install: bool,
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """The app was uninstalled (or its bot token revoked) from a workspace, or from a whole org (an
    org-wide install). Returns the workspaces whose data now waits for deletion."""
    with db.session() as session:
        teams = repo.mark_uninstalled(
            session,
            team_id=None if org_install else team_id,
            enterprise_id=enterprise_id,
            now=now,
            purge_after=now + grace,
        )
    log.info(
        "uninstalled",
        extra={
            "fields": {
                "team": team_id,
                "org": enterprise_id,
                "teams": len(teams),
                "purge_after": str(now + grace),
            }
        },
    )
    return teams


def purge_due(db: Database, *, now: datetime) -> dict[str, int]:
    """Delete every row of each workspace whose grace period is over, one transaction per workspace
    (checked again under a lock there: a reinstall at the same moment keeps everything). Returns the
    rows deleted per workspace."""
    with db.session() as session:
        due = repo.due_purges(session, now=now)
    purged: dict[str, int] = {}
    for team_id in due:
        with db.session() as session:
            if not repo.still_due(session, team_id=team_id, now=now):
                continue
            purged[team_id] = repo.purge_team(session, team_id=team_id)
        log.info("workspace data deleted", extra={"fields": {"team": team_id, "rows": purged[team_id]}})
    return purged
