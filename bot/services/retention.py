"""Data retention's nightly pass (issue 12, item 5): old daily counters become monthly totals, old circle
changes go. What is kept and for how long is bot.domain.retention's; the SQL is
storage/repositories/retention.py's. Every batch is its own short transaction (the live counting is never
blocked for long), and the pass may stop anywhere: the next run goes on where it stopped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from bot.domain.retention import RetentionPolicy
from bot.i18n import t
from storage.db import Database
from storage.repositories import retention as repo

BATCH_ROWS = 5000  # rows per transaction: a few milliseconds of locks, whatever the backlog
COMMUNITIES_PER_BATCH = 1000


@dataclass(frozen=True)
class RetentionResult:
    days_rolled_up: int
    circle_changes_deleted: int
    batches: int


def apply(
    db: Database, *, policy: RetentionPolicy, now: datetime, batch_rows: int = BATCH_ROWS
) -> RetentionResult:
    """Roll up and prune everything older than the policy allows, in batches of `batch_rows`."""
    today = now.astimezone(UTC).date()
    with db.session() as session:
        spans = repo.rule_spans(session)
    # Communities of a team with the same cutoff share batches (most keep the defaults: one group).
    groups: dict[tuple[str, date], list[int]] = defaultdict(list)
    for span in spans:
        cutoff = policy.activity_cutoff(today, span.window_days + span.grace_days)
        groups[(span.team_id, cutoff)].append(span.community_id)
    rolled = batches = 0
    for (team_id, cutoff), ids in sorted(groups.items()):
        for start in range(0, len(ids), COMMUNITIES_PER_BATCH):
            chunk, after = ids[start : start + COMMUNITIES_PER_BATCH], 0
            while True:
                # Onwards from the last row seen: rows kept (recent, or someone's latest contribution)
                # are read once per pass, not once per batch.
                with db.session() as session:
                    batch = repo.roll_up_batch(
                        session,
                        team_id=team_id,
                        community_ids=chunk,
                        before=cutoff,
                        limit=batch_rows,
                        after=after,
                    )
                batches += 1 if batch.rows else 0
                rolled += batch.rows
                after = batch.last_id
                if not batch.more:
                    break
    deleted = 0
    circle_cutoff = policy.circle_cutoff(today)
    if circle_cutoff is not None:
        before = datetime.combine(circle_cutoff, time.min, tzinfo=UTC)
        while True:
            with db.session() as session:
                done = repo.prune_circle_changes_batch(session, before=before, limit=batch_rows)
            batches += 1 if done else 0
            deleted += done
            if done < batch_rows:
                break
    return RetentionResult(rolled, deleted, batches)


def policy_text(policy: RetentionPolicy, lang: str) -> str:
    """What is kept and for how long, in the settings' actual values (`/cdp me` and the export)."""
    if policy.circle_history_days > 0:
        circles = t("retention.circles_days", lang, days=policy.circle_history_days)
    else:
        circles = t("retention.circles_kept", lang)
    return t(
        "retention.policy", lang, days=policy.activity_days, circles=circles, events=policy.event_ids_days
    )
