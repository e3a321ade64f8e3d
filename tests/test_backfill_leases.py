"""The lease on a channel's backfill (storage/repositories/backfills.py), on both databases: one holder at a
time, renewed by its holder, taken over once it has passed, given up when done; and two app instances in
one test process backfilling the same channel read its history once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot import backfill
from bot.server import Runtime
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.db import Database
from storage.models import BackfillLease, CommunityChannel
from storage.repositories import backfills as repo
from tests.conftest import ALICE, BRUNO, CHLOE, Harness, app_settings, community_draft

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def bind(db: Database, channel: str = "CSTREETS", now: datetime = NOW) -> int:
    with db.session() as session:
        community = svc.create(
            session,
            team_id="T0CDP",
            creator=ALICE,
            draft=community_draft("Safe streets"),
            channel=ChannelChoice(channel, "safe-streets", False),
            now=now,
        )
        session.flush()
        binding_id = session.scalars(
            select(CommunityChannel.id).where(CommunityChannel.community_id == community.id)
        ).one()
        return int(binding_id)


def hold(db: Database, binding_id: int, owner: str, now: datetime) -> bool:
    with db.session() as session:
        return repo.hold(session, binding_id=binding_id, owner=owner, now=now, until=now + LEASE)


def test_one_holder_at_a_time_until_the_lease_passes(db: Database) -> None:
    binding_id = bind(db)
    assert hold(db, binding_id, "a", NOW)
    assert not hold(db, binding_id, "b", NOW + timedelta(minutes=1))  # a holds it
    assert hold(db, binding_id, "a", NOW + timedelta(minutes=4))  # a renews: until 09:09
    assert not hold(db, binding_id, "b", NOW + timedelta(minutes=6))  # renewed, so still a's
    assert hold(db, binding_id, "b", NOW + timedelta(minutes=10))  # a stopped renewing: b takes over
    assert not hold(db, binding_id, "a", NOW + timedelta(minutes=11))  # and a cannot take it back
    with db.session() as session:
        repo.release(session, binding_id=binding_id, owner="a")  # not a's any more: nothing happens
        assert session.get(BackfillLease, binding_id) is not None
        repo.release(session, binding_id=binding_id, owner="b")
    assert hold(db, binding_id, "a", NOW + timedelta(minutes=12))  # given up: anyone may take it


def test_two_instances_backfilling_one_channel_read_its_history_once(harness: Harness) -> None:
    harness.emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE, BRUNO, CHLOE])
    bound = harness.clock.now().timestamp()
    for days, user in ((3, BRUNO), (2, CHLOE), (1, BRUNO)):
        harness.emulator.add_message("CSTREETS", user, f"{bound - days * 86400:.6f}")
    other = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    try:
        # Bound once both instances run (neither starts the backfill on its own); the first history
        # call waits out a 429 while the other instance tries the same channel.
        binding_id = bind(harness.db, now=harness.clock.now())
        harness.emulator.rate_limit("conversations.history", retry_after=1)
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda deps=runtime.deps: results.append(
                    backfill.backfill_channel(deps, harness.jobs_client, binding_id)
                )
            )
            for runtime in (harness.runtime, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        other.close()
    assert sorted(results) == [0, 3]  # one instance counted the three messages, the other left it
    history = harness.emulator.successful_calls_to("conversations.history")
    assert [call["channel"] for call in history] == ["CSTREETS"]
    with harness.db.session() as session:
        assert session.get(BackfillLease, binding_id) is None  # given up when done
