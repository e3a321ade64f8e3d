"""chart_files: the charts already uploaded to Slack, by community, day and language."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import ChartFile
from storage.repositories.upsert import insert_ignoring_conflicts

KEPT = timedelta(days=7)  # an older row is of no use (a chart is drawn again each day): deleted


def uploaded(
    session: Session, *, team_id: str, community_ids: Collection[int], day: date, lang: str
) -> dict[int, tuple[str, str]]:
    """community id -> (file id, alt text) of the charts uploaded that day in that language."""
    if not community_ids:
        return {}
    rows = session.execute(
        select(ChartFile.community_id, ChartFile.file_id, ChartFile.alt_text).where(
            ChartFile.team_id == team_id,
            ChartFile.community_id.in_(sorted(set(community_ids))),
            ChartFile.day == day,
            ChartFile.lang == lang,
        )
    )
    return {cid: (file_id, alt) for cid, file_id, alt in rows}


def remember(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    day: date,
    lang: str,
    file_id: str,
    alt_text: str,
    now: datetime,
) -> tuple[str, str]:
    """Keep an upload; when another sender kept one first (two threads, two instances), theirs wins and
    is returned, so everyone shows the same file. Older rows of the community go."""
    session.execute(
        delete(ChartFile).where(
            ChartFile.team_id == team_id, ChartFile.community_id == community_id, ChartFile.day < day - KEPT
        )
    )
    values = {
        "team_id": team_id,
        "community_id": community_id,
        "day": day,
        "lang": lang,
        "file_id": file_id,
        "alt_text": alt_text[:2000],
        "uploaded_at": now,
    }
    session.execute(
        insert_ignoring_conflicts(session, ChartFile, ["team_id", "community_id", "day", "lang"]).values(
            values
        )
    )
    kept = uploaded(session, team_id=team_id, community_ids=[community_id], day=day, lang=lang)
    return kept.get(community_id, (file_id, alt_text))
