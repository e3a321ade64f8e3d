"""The workspaces the app is installed in (several workspaces, OAuth): installs, uninstalls, and the
deletion of an uninstalled workspace's rows once its grace period is over."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from storage.models import Base, Workspace
from storage.repositories.upsert import dialect_insert


def record_install(
    session: Session, *, team_id: str, enterprise_id: str | None, org_install: bool, now: datetime
) -> None:
    """Installed (or installed again: a pending deletion is called off)."""
    statement = dialect_insert(session, Workspace).values(
        team_id=team_id, enterprise_id=enterprise_id, org_install=org_install, installed_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["team_id"],
            set_={
                "enterprise_id": enterprise_id,
                "org_install": org_install,
                "installed_at": now,
                "uninstalled_at": None,
                "purge_after": None,
            },
        )
    )


def record_seen(session: Session, *, team_id: str, enterprise_id: str, now: datetime) -> None:
    """A workspace of an org-wide install, met at its first request: its token is the org's."""
    statement = dialect_insert(session, Workspace).values(
        team_id=team_id, enterprise_id=enterprise_id, org_install=True, installed_at=now
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["team_id"]))


def record_org_install(session: Session, *, enterprise_id: str) -> None:
    """An org-wide install (or reinstall): its workspaces' pending deletions are called off (they are
    recorded one by one as their first requests come)."""
    session.execute(
        update(Workspace)
        .where(Workspace.enterprise_id == enterprise_id, Workspace.org_install.is_(True))
        .values(uninstalled_at=None, purge_after=None)
    )


def find(session: Session, *, team_id: str) -> Workspace | None:
    return session.get(Workspace, team_id)


def mark_uninstalled(
    session: Session,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    now: datetime,
    purge_after: datetime,
) -> list[str]:
    """The workspace (or, for an org-wide uninstall, every workspace of the org) is uninstalled: its
    rows go after `purge_after`. Returns the teams concerned."""
    if team_id is not None:
        session.execute(
            dialect_insert(session, Workspace)
            .values(team_id=team_id, enterprise_id=enterprise_id, org_install=False, installed_at=now)
            .on_conflict_do_nothing(index_elements=["team_id"])
        )
        condition = Workspace.team_id == team_id
    else:
        condition = Workspace.enterprise_id == enterprise_id
    teams = list(
        session.scalars(
            update(Workspace)
            .where(condition, Workspace.uninstalled_at.is_(None))
            .values(uninstalled_at=now, purge_after=purge_after)
            .returning(Workspace.team_id)
        )
    )
    return teams


def due_purges(session: Session, *, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(Workspace.team_id)
            .where(Workspace.purge_after.is_not(None), Workspace.purge_after <= now)
            .order_by(Workspace.team_id)
        )
    )


def team_tables() -> list[Table]:
    """Every table of ours with a team_id, children before parents (foreign keys)."""
    return [table for table in reversed(Base.metadata.sorted_tables) if "team_id" in table.c]


def purge_team(session: Session, *, team_id: str) -> int:
    """Every row of the team, in every table; the caller checked it is still uninstalled. Returns how
    many rows went."""
    removed = 0
    for table in team_tables():
        result = session.execute(delete(table).where(table.c.team_id == team_id))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def still_due(session: Session, *, team_id: str, now: datetime) -> bool:
    """Checked under a row lock just before the purge: a reinstall in between calls it off."""
    row = session.scalars(
        select(Workspace).where(Workspace.team_id == team_id).with_for_update()
    ).one_or_none()
    return row is not None and row.purge_after is not None and row.purge_after <= now
