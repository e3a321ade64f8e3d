"""The daily circle pass in SQL, end to end: `cdp-bot recompute` demotes after the grace period (seen in
/cdp me), a batch that fails is split and the others still apply, and on PostgreSQL the pass reads the
activity by index, never by a scan of the whole table."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bench.scale_data import generate
from bot.scheduler import recompute_all
from bot.services import circles as circle_service
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.db import Database
from storage.models import CircleChange, Membership
from storage.repositories import circles as circles_repo
from storage.repositories import memberships as membership_repo
from tests.conftest import ALICE, BRUNO, Harness, community_draft
from tests.test_cli import CDP_BOT, clean_env
from tests.test_e2e_circles import circle_of, make_community, promote_bruno, say

DEMOTED_FR = (
    "Depuis 45 jours, vous n'avez plus eu 4 contributions sur 2 jours différents en 30 jours : "
    "vous passez dans le cercle externe."
)


def test_cdp_bot_recompute_demotes_after_the_grace_period_as_me_explains(
    harness: Harness, database_url: str
) -> None:
    """Promoted by his messages 80 days ago, quiet since: the operator's `cdp-bot recompute` (another
    process, the real clock) moves him out, with the reason /cdp me then gives him."""
    harness.clock.set(datetime.now(UTC) - timedelta(days=80))
    make_community(harness)
    promote_bruno(harness)
    assert circle_of(harness, BRUNO) == "inner"

    result = subprocess.run(
        [CDP_BOT, "recompute"],
        env=clean_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "circles recomputed: 1 change(s)" in result.stdout

    harness.clock.set(datetime.now(UTC))
    assert circle_of(harness, BRUNO) == "outer"
    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle externe" in me
    assert DEMOTED_FR in me
    with harness.db.session() as s:
        change = s.scalars(
            select(CircleChange).where(CircleChange.user_id == BRUNO).order_by(CircleChange.id.desc())
        ).first()
        assert change is not None
        assert change.reason_params == {"grace": 45, "min_contributions": 4, "min_days": 2, "window": 30}

    # Run again: nobody left to move.
    again = subprocess.run(
        [CDP_BOT, "recompute"],
        env=clean_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "circles recomputed: 0 change(s)" in again.stdout, again.stderr


# ---- a failing batch -------------------------------------------------------------------------------
def _community_with_a_quiet_inner_member(harness: Harness, name: str) -> int:
    channel = f"C{name.upper()}"
    harness.emulator.add_channel(channel, name.lower(), members=[ALICE, BRUNO])
    now = harness.clock.now()
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft(name, domain="", language="fr", timezone="Europe/Paris"),
            channel=ChannelChoice(channel, name.lower(), False),
            now=now,
        )
        s.flush()
        membership_repo.add(
            s,
            Membership(
                team_id=harness.emulator.team_id,
                community_id=community.id,
                user_id=BRUNO,
                circle="inner",
                circle_since=now - timedelta(days=100),
                joined_at=now - timedelta(days=100),
            ),
        )
        return int(community.id)


@pytest.fixture
def refusing_trigger(harness: Harness) -> Iterator[Any]:
    """A database trigger that refuses any change to one community's memberships: the batch that holds
    it fails in the database, as a broken row or a lock timeout would make it fail."""
    created: list[str] = []

    def refuse(community_id: int) -> None:
        with harness.db.session() as s:
            if harness.db.backend == "postgresql":
                s.execute(
                    text(
                        "CREATE FUNCTION refuse_circle_move() RETURNS trigger AS "
                        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                    )
                )
                s.execute(
                    text(
                        "CREATE TRIGGER refuse_circle_move BEFORE UPDATE ON memberships FOR EACH ROW "
                        f"WHEN (NEW.community_id = {int(community_id)}) EXECUTE FUNCTION refuse_circle_move()"
                    )
                )
            else:
                s.execute(
                    text(
                        "CREATE TRIGGER refuse_circle_move BEFORE UPDATE ON memberships "
                        f"WHEN NEW.community_id = {int(community_id)} BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )
        created.append("refuse_circle_move")

    yield refuse
    if created:
        with harness.db.session() as s:
            if harness.db.backend == "postgresql":
                s.execute(text("DROP TRIGGER IF EXISTS refuse_circle_move ON memberships"))
                s.execute(text("DROP FUNCTION IF EXISTS refuse_circle_move()"))
            else:
                s.execute(text("DROP TRIGGER IF EXISTS refuse_circle_move"))


def test_a_batch_that_fails_is_split_and_the_other_communities_still_move(
    harness: Harness, refusing_trigger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [_community_with_a_quiet_inner_member(harness, name) for name in ("Alpha", "Beta", "Gamma")]
    refusing_trigger(ids[1])

    caplog.set_level(logging.INFO, logger="cdp_bot.scheduler")
    assert recompute_all(harness.runtime.deps) == 2  # one batch of three, split until Beta stands alone

    with harness.db.session() as s:
        circles = dict(
            s.execute(
                select(Membership.community_id, Membership.circle).where(Membership.user_id == BRUNO)
            ).all()
        )
    assert circles == {ids[0]: "outer", ids[1]: "inner", ids[2]: "outer"}
    failures = [r for r in caplog.records if r.getMessage() == "circle recompute failed"]
    assert [r.fields["community"] for r in failures] == [ids[1]]  # type: ignore[attr-defined]
    summary = [r for r in caplog.records if r.getMessage() == "circles recomputed"]
    assert summary[-1].fields == {"communities": 3, "changes": 2, "failed": 1}  # type: ignore[attr-defined]
    assert "refused" not in caplog.text  # the database's message is not logged, only its type


# ---- the plan on PostgreSQL --------------------------------------------------------------------------
def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_postgresql_reads_only_the_windows_through_the_member_index(db: Database) -> None:
    """Every read of activity_days in the pass is an index-only scan of ix_activity_days_member bounded
    by the member and the days the rule needs (window, or window + grace for demotion candidates):
    no sequential scan, no visit of the table, on data shaped like the benchmark's."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    generate(db.engine, communities=200, memberships=4000, activity_rows=400_000)
    now = datetime.now(UTC)
    with db.sessions() as session:
        targets = [
            circle_service.circle_target(settings, now)
            for settings in circle_service.active_rule_settings(session)
            if settings.window_days == 30
        ]
        statement, payload = circles_repo.statement(targets)
        plan = session.execute(text("EXPLAIN (FORMAT JSON) " + statement), {"targets": payload}).scalar()
        session.rollback()
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = list(_nodes(plan[0]["Plan"]))
    reads = [node for node in nodes if node.get("Relation Name") == "activity_days"]
    assert len(reads) == 2, reads  # today's window of every member; the grace period of the candidates
    for node in reads:
        assert node["Node Type"] == "Index Only Scan", node
        assert node["Index Name"] == "ix_activity_days_member"
        condition = node["Index Cond"]
        assert "user_id" in condition and "day >=" in condition and "day <=" in condition, condition
