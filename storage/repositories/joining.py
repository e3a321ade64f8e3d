"""`/cdp join <name>` on PostgreSQL in two statements awaited on the HTTP server's event loop (see
handlers/direct.py): one reads what the decision needs, one writes it.

Through the ORM the same join was about ten statements (the community with its channels as entities,
the membership, the key of the forgotten-people hash, the DELETE of that hash, the INSERT, the welcome's
claim and its delivery, the App Homes to refresh, the invites, COMMIT), each costing more CPU than its
round trip. The decision stays in Python (bot/services/joining.py), from the same rules; these
statements only read and write, with the same compare-and-set guards as the ORM path (two joins at
once: one joins, the other finds the member), and the write commits as one statement (autocommit, as
durable as the session's COMMIT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect

from storage.async_driver import AsyncDriverConnection
from storage.types import UTCDateTime

_UTC = UTCDateTime()  # how every time column is written and read (naive UTC in the database)

# The community a slug names (the directory's order when several keys match, as by_slugs), with its
# channels in the order they were bound, the person's membership, the key of the forgotten-people hash,
# and who of the person and the community's moderators opened their App Home (home.opened_concerned).
# The slugs are two parameters, not an array: prepared once, the statement runs a generic plan, which
# for `slug = ANY(array)` guessed ten rows and read a directory of 500 communities whole instead of
# finding the one by its unique index (EXPLAIN of the prepared statement, 2026-12-01).
_READ = """
SELECT c.id, c.name, c.status, c.visibility, c.welcome_enabled,
       COALESCE((SELECT json_agg(json_build_array(ch.channel_id, ch.is_archived) ORDER BY ch.id)
                 FROM community_channels ch WHERE ch.community_id = c.id), '[]'::json) AS channels,
       m.id AS membership_id, m.left_at, m.joined_via,
       (SELECT s.value FROM app_secrets s WHERE s.name = %(key_name)s) AS key,
       ARRAY(SELECT h.user_id FROM home_opened h
             WHERE h.team_id = %(team_id)s
               AND (h.user_id = %(user_id)s
                    OR h.user_id IN (SELECT mm.user_id FROM memberships mm
                                     WHERE mm.team_id = %(team_id)s AND mm.community_id = c.id
                                       AND mm.left_at IS NULL AND mm.role = 'core'))
             ORDER BY h.user_id) AS home_opened
FROM communities c
LEFT JOIN memberships m ON m.team_id = c.team_id AND m.community_id = c.id AND m.user_id = %(user_id)s
WHERE c.team_id = %(team_id)s AND c.slug IN (%(slug)s, %(other_slug)s)
ORDER BY c.status, c.name
LIMIT 1
"""

# The replay guard's claim first: a replayed request writes nothing else. Then, as the ORM path does:
# the person is no longer "forgotten", the membership is inserted (none yet) or brought back (left),
# each a compare-and-set, with the welcome claimed in the same row (welcomed_at, once per joining); the
# deliveries are written only when this statement joined them, the welcome only when it claimed it.
_WRITE = """
WITH claim AS (
    INSERT INTO processed_events (event_id, team_id, received_at)
    VALUES (%(claim_key)s, %(claim_team)s, %(received_at)s)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
),
forget AS (
    DELETE FROM forgotten_users WHERE user_hash = %(user_hash)s AND EXISTS (SELECT 1 FROM claim)
),
joined AS (
    INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since, joined_at, left_at,
                             joined_via, changed_at, welcomed_at)
    SELECT %(team_id)s, %(community_id)s, %(user_id)s, 'member', 'outer', %(now)s, %(now)s, NULL, 'command',
           %(now)s, CASE WHEN %(welcome)s THEN CAST(%(now)s AS timestamp) END
    FROM claim
    WHERE CAST(%(membership_id)s AS integer) IS NULL
    ON CONFLICT (team_id, community_id, user_id) DO NOTHING
    RETURNING id, %(welcome)s AS welcomed
),
rejoined AS (
    UPDATE memberships AS m
    SET role = 'member', circle = 'outer', circle_since = %(now)s, joined_at = %(now)s, left_at = NULL,
        joined_via = 'command', changed_at = %(now)s,
        welcomed_at = CASE WHEN %(welcome)s AND (o.welcomed_at IS NULL OR o.welcomed_at < %(now)s)
                           THEN CAST(%(now)s AS timestamp) ELSE o.welcomed_at END
    FROM (SELECT id, welcomed_at FROM memberships WHERE id = CAST(%(membership_id)s AS integer)) AS o
    WHERE m.id = o.id AND m.left_at IS NOT NULL AND EXISTS (SELECT 1 FROM claim)
    RETURNING m.id, %(welcome)s AND (o.welcomed_at IS NULL OR o.welcomed_at < %(now)s) AS welcomed
),
did AS (
    SELECT 'joined' AS outcome, welcomed FROM joined
    UNION ALL
    SELECT 'rejoined', welcomed FROM rejoined
),
sent AS (
    INSERT INTO outbox (team_id, kind, target, payload, dedupe_key, ref, status, created_at, not_before,
                        attempts)
    SELECT x.team_id, x.kind, x.target, x.payload, x.dedupe_key, NULL, 'pending', %(sent_at)s,
           COALESCE(x.not_before, %(sent_at)s), 0
    FROM json_to_recordset(CAST(%(deliveries)s AS json))
         AS x(team_id text, kind text, target text, payload json, dedupe_key text, not_before timestamp)
    WHERE EXISTS (SELECT 1 FROM did) AND (x.kind <> 'welcome' OR EXISTS (SELECT 1 FROM did WHERE welcomed))
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM claim), (SELECT outcome FROM did LIMIT 1), (SELECT count(*) FROM sent)
"""


@dataclass(frozen=True)
class JoinFacts:
    """What the decision needs, as it was when read."""

    community_id: int
    name: str
    status: str
    visibility: str
    welcome_enabled: bool
    channels: list[tuple[str, bool]]  # (channel_id, is_archived), in the order they were bound
    membership_id: int | None
    left_at: datetime | None
    joined_via: str | None
    key: str | None  # the forgotten-people hash's key (None: not created yet)
    home_opened: list[str]


@dataclass(frozen=True)
class JoinWritten:
    claimed: bool  # False: the trigger_id was claimed already (a replay): nothing written
    outcome: str | None  # joined, rejoined, or None (a concurrent join came first)
    deliveries: int


async def read(
    connection: AsyncDriverConnection, *, team_id: str, user_id: str, slugs: list[str], key_name: str
) -> JoinFacts | None:
    """`slugs`: one or two (bot.domain.communities.exact_keys: a slug, and the one a `cdp-` channel name
    was made from)."""
    if not 1 <= len(slugs) <= 2:
        raise ValueError(f"one or two slugs, not {len(slugs)}")
    row = await connection.first(
        _READ,
        {
            "team_id": team_id,
            "user_id": user_id,
            "slug": slugs[0],
            "other_slug": slugs[-1],
            "key_name": key_name,
        },
    )
    if row is None:
        return None
    (
        cid,
        name,
        status,
        visibility,
        welcome_enabled,
        channels,
        membership_id,
        left_at,
        joined_via,
        key,
        home,
    ) = row
    return JoinFacts(
        community_id=int(cid),
        name=str(name),
        status=str(status),
        visibility=str(visibility),
        welcome_enabled=bool(welcome_enabled),
        channels=[(str(channel), bool(archived)) for channel, archived in channels],
        membership_id=membership_id,
        left_at=_UTC.process_result_value(left_at, connection.dialect),  # stored as naive UTC
        joined_via=joined_via,
        key=key,
        home_opened=list(home),
    )


async def write(
    connection: AsyncDriverConnection,
    *,
    claim: tuple[str, str, Any],
    team_id: str,
    user_id: str,
    community_id: int,
    membership_id: int | None,
    user_hash: str,
    welcome: bool,
    now: datetime,
    deliveries: list[dict[str, Any]],
    sent_at: datetime,
) -> JoinWritten:
    """`claim`: the replay guard's (event_id, team_id, received_at) as storage.claims writes them;
    `deliveries`: outbox rows (team_id, kind, target, payload, dedupe_key, not_before), in order."""
    claim_key, claim_team, received_at = claim
    row = await connection.first(
        _WRITE,
        {
            "claim_key": claim_key,
            "claim_team": claim_team,
            "received_at": received_at,
            "user_hash": user_hash,
            "team_id": team_id,
            "community_id": community_id,
            "user_id": user_id,
            "membership_id": membership_id,
            "welcome": welcome,
            "now": _UTC.process_bind_param(now, connection.dialect),
            "sent_at": _UTC.process_bind_param(sent_at, connection.dialect),
            "deliveries": _as_json(deliveries, connection.dialect),
        },
    )
    assert row is not None  # the statement always returns its one row
    return JoinWritten(claimed=bool(row[0]), outcome=row[1], deliveries=int(row[2]))


def _as_json(deliveries: list[dict[str, Any]], dialect: Dialect) -> str:
    """The outbox rows as the statement's JSON parameter (`not_before` as stored: naive UTC)."""
    rows = []
    for row in deliveries:
        not_before = _UTC.process_bind_param(row.get("not_before"), dialect)
        rows.append({**row, "not_before": None if not_before is None else not_before.isoformat()})
    return json.dumps(rows)
