"""The scheduler at scale (issue 9): a tick reads only what is due, sends in batches, asks Slack
nothing; the outbox worker finds who cannot receive and falls back; due times follow every change."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event, select, text

from bot.domain import cadence, momentum
from bot.reminders import tick
from bot.server import Runtime
from bot.services import communities as svc
from bot.services import reviews as review_service
from bot.services.communities import ChannelChoice
from storage.models import Community, Membership, OutboxMessage, Review
from storage.repositories import activity as activity_repo
from storage.repositories import communities as community_repo
from storage.repositories import reviews as review_repo
from storage.schedule import fill_next_due, fill_next_steps
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, app_settings, community_draft
from tests.test_e2e_communities import community_named, create_community, open_form, submit
from tests.test_e2e_reviews import FIRST_DUE, make_community, prompts_to, reviews, run

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the harness clock's start (Monday)


@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    """Every SQL statement this thread runs meanwhile (not the outbox worker's polling)."""
    seen: list[str] = []
    me = threading.get_ident()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement.strip().split()[0].upper())

    event.listen(harness.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", record)


def community(
    harness: Harness, name: str, channel: str, *, creator: str = ALICE, moderators: tuple[str, ...]
) -> int:
    harness.emulator.add_channel(channel, name.lower(), members=[ALICE, BRUNO, CHLOE, DAVID])
    draft = community_draft(name, moderators=moderators, timezone="Europe/Paris", cadence_weeks=2)
    with harness.db.session() as session:
        created = svc.create(
            session,
            team_id=harness.emulator.team_id,
            creator=creator,
            draft=draft,
            channel=ChannelChoice(channel, name.lower(), False),
            now=harness.clock.now(),
        )
        return created.id


def outbox_rows(harness: Harness) -> list[OutboxMessage]:
    with harness.db.session() as session:
        return list(session.scalars(select(OutboxMessage)).all())


# ---- reading only what is due ------------------------------------------------------------------
def test_a_tick_with_nothing_due_reads_two_indexes_and_writes_nothing(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE - timedelta(minutes=1))
    harness.drain()
    outbox_before = len(outbox_rows(harness))
    harness.emulator.reset_calls()
    with statements(harness) as seen:
        tick(harness.runtime.deps)
    harness.drain()
    # What is due is read by index (communities.next_due_at, reviews.next_step_at); nothing else.
    assert [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK")] == ["SELECT", "SELECT"]
    assert harness.emulator.calls == []
    assert reviews(harness) == [] and len(outbox_rows(harness)) == outbox_before


def test_a_sent_review_is_not_read_again_until_its_reminder_is_due(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE)
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1
    [review] = reviews(harness)
    assert review.next_step_at == FIRST_DUE + timedelta(days=3)  # the first reminder
    harness.clock.set(FIRST_DUE + timedelta(days=2))
    with statements(harness) as seen:
        tick(harness.runtime.deps)
    assert [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK")] == ["SELECT", "SELECT"]


def test_due_times_follow_creation_opening_completion_and_dissolution(harness: Harness) -> None:
    cid = make_community(harness)
    with harness.db.session() as session:
        row = session.get(Community, cid)
        assert row is not None and row.next_due_at == FIRST_DUE  # Monday 16 March, 09:00 in Paris
    harness.clock.set(FIRST_DUE)
    run(harness)
    with harness.db.session() as session:
        row = session.get(Community, cid)
        assert row is not None and row.next_due_at is None  # the review row carries the schedule now
    [review] = reviews(harness)
    with harness.db.session() as session:
        assert community_repo.dissolve(session, community_id=cid, actor=ALICE, now=harness.clock.now())
    with harness.db.session() as session:
        row = session.get(Community, cid)
        assert row is not None and row.next_due_at is None and row.next_review_on is None
    # Its open review leaves the clock's due range: no tick reads it again.
    assert reviews(harness)[0].next_step_at is None
    harness.clock.set(FIRST_DUE + timedelta(days=3))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1  # a dissolved community's review is not escalated
    assert review.id == reviews(harness)[0].id


def test_changing_the_cadence_in_the_settings_moves_the_next_due_time(harness: Harness) -> None:
    harness.emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE, BRUNO])
    created = create_community(harness, ALICE, "Safe streets", channel="CSTREETS", timezone="Europe/Paris")
    first = created.next_review_on
    assert first is not None and created.next_due_at == cadence.due_at(
        cadence.ReviewSchedule(cadence_weeks=created.review_cadence_weeks, timezone="Europe/Paris"), first
    )
    view = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, view, ALICE, cadence="12") is None
    changed = community_named(harness, "Safe streets")
    assert changed.next_review_on is not None and changed.next_review_on > first
    assert changed.next_due_at == cadence.due_at(
        cadence.ReviewSchedule(cadence_weeks=12, timezone="Europe/Paris"), changed.next_review_on
    )
    assert changed.next_due_at is not None
    # At the old date nothing is due; at the new one the prompt goes out.
    old_due = cadence.due_at(cadence.ReviewSchedule(cadence_weeks=4, timezone="Europe/Paris"), first)
    harness.clock.set(old_due + timedelta(hours=1))
    run(harness)
    assert reviews(harness) == [] and prompts_to(harness, ALICE) == []
    harness.clock.set(changed.next_due_at + timedelta(hours=1))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def test_rows_inserted_by_sql_get_their_due_time_from_the_fill(harness: Harness) -> None:
    with harness.db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO communities (team_id, name, slug, domain, objectives, objectives_other, key_people,"
                " visibility, language, timezone, review_cadence_weeks, status, created_by, created_at,"
                " next_review_on, circle_window_days, inner_min_contributions, inner_min_days,"
                " demotion_grace_days, promotion_dm, review_outcome_in_channel) VALUES"
                " ('T1', :name, :name, '', '[]', '', '[]', 'open', 'en', :tz, 4, 'active', 'U1', :created,"
                " :day, 30, 4, 2, 45, true, true)"
            ),
            [
                {
                    "name": "ny",
                    "tz": "America/New_York",
                    "created": CREATED.replace(tzinfo=None),
                    "day": date(2026, 3, 30),
                },
                {
                    "name": "paris",
                    "tz": "Europe/Paris",
                    "created": CREATED.replace(tzinfo=None),
                    "day": date(2026, 3, 30),
                },
            ],
        )
        assert fill_next_due(connection) == 2
        assert fill_next_due(connection) == 0  # only rows without a due time
    with harness.db.session() as session:
        due = dict(session.execute(select(Community.name, Community.next_due_at)).all())
    assert due["ny"] == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert due["paris"] == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST (summer time from 29 March)

    sent = datetime(2026, 3, 30, 13, 0)
    with harness.db.engine.begin() as connection:
        cid = connection.execute(text("SELECT id FROM communities WHERE name = 'ny'")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO reviews (team_id, community_id, due_on, on_demand, escalation_level, sent_at,"
                " claimed_at) VALUES ('T1', :cid, :day, false, :level, :sent, :sent)"
            ),
            [
                {"cid": cid, "day": date(2026, 3, 30), "level": 0, "sent": sent},
                {"cid": cid, "day": date(2026, 3, 31), "level": 1, "sent": sent},
                {"cid": cid, "day": date(2026, 4, 1), "level": 2, "sent": sent},
            ],
        )
        assert fill_next_steps(connection) == 3
    with harness.db.session() as session:
        steps = [r.next_step_at for r in session.scalars(select(Review).order_by(Review.due_on))]
    aware = sent.replace(tzinfo=UTC)
    assert steps == [aware + timedelta(days=3), aware + timedelta(days=6), None]  # the reminders, then none


# ---- sending in batches, once ------------------------------------------------------------------
def test_thirty_due_communities_two_instances_each_prompt_once(harness: Harness) -> None:
    ids = [community(harness, f"Topic {n:02d}", f"CT{n:02d}", moderators=(ALICE, BRUNO)) for n in range(30)]
    harness.clock.set(FIRST_DUE)
    other = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    failures: list[BaseException] = []

    def ticking(runtime: Runtime) -> None:
        try:
            tick(runtime.deps)
        except BaseException as exc:  # a tick that dies must fail the test, not pass it quietly
            failures.append(exc)

    try:
        threads = [
            threading.Thread(target=ticking, args=(runtime,)) for runtime in (harness.runtime, other) * 2
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        other.deps.background.drain(30)
    finally:
        other.close()
    harness.drain(timeout=180)  # 60 charts (30 communities, 2 languages) are drawn and uploaded
    for user in (ALICE, BRUNO):
        prompted = [p["text"] for p in prompts_to(harness, user)]
        assert len(prompted) == 30, user
        assert all(sum(f"Topic {n:02d}" in t for t in prompted) == 1 for n in range(30)), user
    assert prompts_to(harness, CHLOE) == []
    assert {r.community_id for r in reviews(harness)} == set(ids)
    assert all(r.sent_at == FIRST_DUE and r.core_count == 2 for r in reviews(harness))


def test_a_burst_of_due_communities_opens_the_oldest_first_then_the_rest(harness: Harness) -> None:
    """Bounded per tick (a statement has at most 65,535 parameters): none is dropped, the rest follow."""
    ids = [community(harness, f"Burst {n}", f"CB{n}", moderators=(ALICE,)) for n in range(3)]
    with harness.db.session() as session:  # the third has waited longest
        session.execute(
            text("UPDATE communities SET next_due_at = :at WHERE id = :id"),
            {"at": FIRST_DUE - timedelta(days=3), "id": ids[2]},
        )
    with harness.db.session() as session:
        assert review_repo.open_due(session, now=FIRST_DUE, limit=2) == 2
    assert ids[2] in {r.community_id for r in reviews(harness)}
    with harness.db.session() as session:
        assert review_repo.open_due(session, now=FIRST_DUE, limit=2) == 1
        assert review_repo.open_due(session, now=FIRST_DUE, limit=2) == 0
    assert {r.community_id for r in reviews(harness)} == set(ids)


def test_the_tick_asks_slack_nothing(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE)
    harness.drain()
    harness.emulator.reset_calls()
    tick(harness.runtime.deps)
    assert harness.emulator.calls == []  # the deliveries are in the outbox; the worker sends them
    harness.drain()
    assert len(prompts_to(harness, ALICE)) == 1


def test_a_deactivated_moderator_falls_back_to_the_creator(harness: Harness) -> None:
    community(harness, "Urbanism", "CURB", creator=CHLOE, moderators=(DAVID,))
    with harness.db.session() as session:  # the creator stepped out of the core group
        m = session.scalars(select(Membership).where(Membership.user_id == CHLOE)).one()
        m.role = "member"
    harness.emulator.add_user(DAVID, "david", deleted=True)  # left the workspace: the DB does not know
    harness.clock.set(FIRST_DUE)
    run(harness)
    assert prompts_to(harness, DAVID) == []
    assert len(prompts_to(harness, CHLOE)) == 1  # the worker found David gone and fell back
    run(harness)
    assert len(prompts_to(harness, CHLOE)) == 1


def test_one_reachable_moderator_is_enough_no_fallback(harness: Harness) -> None:
    community(harness, "Urbanism", "CURB", creator=CHLOE, moderators=(BRUNO, DAVID))
    with harness.db.session() as session:
        m = session.scalars(select(Membership).where(Membership.user_id == CHLOE)).one()
        m.role = "member"
    harness.emulator.add_user(DAVID, "david", deleted=True)
    harness.clock.set(FIRST_DUE)
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 1
    assert prompts_to(harness, DAVID) == [] and prompts_to(harness, CHLOE) == []


# ---- the batch summary is the per-review summary -----------------------------------------------
def test_batch_summaries_equal_the_per_review_summary(harness: Harness) -> None:
    ids = [community(harness, f"Topic {n}", f"CT{n}", moderators=(ALICE,)) for n in range(3)]
    start = harness.clock.now()
    with harness.db.session() as session:
        for n, cid in enumerate(ids):
            row = session.get(Community, cid)
            assert row is not None
            for k, user in enumerate((BRUNO, CHLOE, DAVID)[: n + 1]):
                svc.join(session, community=row, user_id=user, now=start + timedelta(days=k))
            for day in range(0, 60, 3 + n):
                activity_repo.increment(
                    session,
                    team_id=row.team_id,
                    community_id=cid,
                    channel_id=f"CT{n}",
                    user_id=(ALICE, BRUNO)[day % 2],
                    day=date(2026, 1, 10) + timedelta(days=day),
                    contributions=1 + day % 4,
                )
    harness.clock.set(FIRST_DUE)
    run(harness)  # the first reviews go out: the baseline of the next ones
    later = FIRST_DUE + timedelta(days=30)
    with harness.db.session() as session:
        for cid in ids:
            session.execute(
                Review.__table__.update().where(Review.community_id == cid).values(completed_at=later)
            )
            review_repo.ensure(
                session, team_id=harness.emulator.team_id, community_id=cid, due_on=date(2026, 4, 20)
            )
    with harness.db.session() as session:
        open_ids = [r.id for r in session.scalars(select(Review).where(Review.completed_at.is_(None))).all()]
        batch = review_service.summaries(session, review_ids=open_ids, now=later)
        one_by_one = {
            rid: review_service.summary(session, review=session.get(Review, rid), now=later)  # type: ignore[arg-type]
            for rid in open_ids
        }
    assert len(open_ids) == 3
    assert batch == one_by_one


# ---- the momentum pass's signals are the per-community signals ------------------------------------
def test_momentum_signals_of_every_community_equal_the_per_community_signals(harness: Harness) -> None:
    ids = [
        community(harness, f"Topic {n}", f"CT{n}", moderators=(ALICE, BRUNO)[: 1 + n % 2]) for n in range(4)
    ]
    start = harness.clock.now() - timedelta(days=90)
    with harness.db.session() as session:
        for n, cid in enumerate(ids):
            row = session.get(Community, cid)
            assert row is not None
            row.created_at = start - timedelta(days=10 * n)
            for k, user in enumerate((CHLOE, DAVID)):
                svc.join(session, community=row, user_id=user, now=start + timedelta(days=20 * k + 7 * n))
            for day in range(0, 85, 2 + n):
                activity_repo.increment(
                    session,
                    team_id=row.team_id,
                    community_id=cid,
                    channel_id=f"CT{n}",
                    user_id=(ALICE, CHLOE, DAVID)[(day + n) % 3] if n != 3 else BRUNO,
                    day=date(2026, 3, 15) - timedelta(days=day),
                    contributions=1 + day % 5 if n != 1 or day > 20 else 0,
                )
        greeted = session.scalars(select(Membership).where(Membership.community_id == ids[2])).all()
        for m in greeted:
            m.greeted_at = harness.clock.now()
            m.circle = "inner" if m.role != "core" else m.circle
    harness.clock.set(FIRST_DUE)
    run(harness)  # the reviews go out: the inner circle at the last review is known
    now = FIRST_DUE + timedelta(days=8)
    kinds: set[str] = set()
    with harness.db.session() as session:
        candidates = review_service.momentum_candidates(session, now=now)
        assert sorted(c.check.community_id for c in candidates) == sorted(ids)
        for candidate in candidates:
            check = review_service.momentum_check(
                session, team_id=candidate.check.team_id, community_id=candidate.check.community_id, now=now
            )
            assert check is not None
            assert candidate.check.moderators == check.moderators
            assert review_service.contributors_of(session, candidate=candidate) == check.contributors
            for active in (0, 1):
                spec = review_service.signals(session, check=check, moderators_active=active, now=now)
                mine = replace(candidate.signals, moderators_active=active)
                assert momentum.evaluate(mine) == momentum.evaluate(spec)
                kinds |= {alert.kind.value for alert in momentum.evaluate(mine)}
                assert momentum.channel_activity(mine) == momentum.channel_activity(spec)
                for field in (
                    "today",
                    "core_last_contribution",
                    "lurkers_not_greeted",
                    "inner_now",
                    "inner_at_last_review",
                    "created_on",
                ):
                    assert getattr(mine, field) == getattr(spec, field), field
    assert len(kinds) >= 3, kinds  # the data makes several rules fire: the comparison is not vacuous


def test_newcomers_waiting_count_from_the_local_joining_day(harness: Harness) -> None:
    """The pass counts the newcomers waiting in SQL on PostgreSQL: the joining day and the contributions
    "since joining" are local dates. In each community one member waits whichever dates are used, and
    one is on the other side of the rule from what UTC dates would give (Auckland is UTC+13, Los
    Angeles UTC-7 on this date): 1 waiting with local dates, 2 with UTC ones."""
    now = datetime(
        2026, 3, 17, 22, 0, tzinfo=UTC
    )  # Tuesday 15:00 in Los Angeles, Wednesday 11:00 in Auckland
    ids = {
        tz: community(harness, f"Zone {n}", f"CZ{n}", moderators=(ALICE,))
        for n, tz in enumerate(("Pacific/Auckland", "America/Los_Angeles"))
    }

    def at(day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    with harness.db.session() as session:
        for tz, cid in ids.items():
            row = session.get(Community, cid)
            assert row is not None
            row.timezone = tz
            row.created_at = now - timedelta(days=200)
            today = now.astimezone(cadence.zone(tz)).date()
            lurk = review_service._lurking_days(
                row.circle_window_days,
                row.inner_min_contributions,
                row.inner_min_days,
                row.demotion_grace_days,
            )
            contributed: dict[str, date] = {}
            if tz == "Pacific/Auckland":  # 12:00 UTC is 01:00 the next local day
                # CHLOE joined lurk - 1 local days ago (lurk UTC days): not waiting yet.
                joins = {
                    CHLOE: at(today - timedelta(days=lurk), 12),
                    DAVID: at(today - timedelta(days=lurk + 3), 12),
                }
            else:  # 03:00 UTC is 20:00 the previous local day
                # DAVID contributed on his local joining day, the day before his UTC joining day.
                joins = {
                    CHLOE: at(today - timedelta(days=lurk + 3), 3),
                    DAVID: at(today - timedelta(days=lurk), 3),
                }
                contributed = {DAVID: today - timedelta(days=lurk + 1)}
            for user, joined in joins.items():
                svc.join(session, community=row, user_id=user, now=joined)
            for user, day in contributed.items():
                activity_repo.increment(
                    session,
                    team_id=row.team_id,
                    community_id=cid,
                    channel_id="CZ0",
                    user_id=user,
                    day=day,
                    contributions=2,
                )
    with harness.db.session() as session:
        candidates = {c.check.community_id: c for c in review_service.momentum_candidates(session, now=now)}
        assert sorted(candidates) == sorted(ids.values())
        for tz, cid in ids.items():
            check = review_service.momentum_check(
                session, team_id=harness.emulator.team_id, community_id=cid, now=now
            )
            assert check is not None
            spec = review_service.signals(session, check=check, moderators_active=1, now=now)
            assert candidates[cid].signals.lurkers_not_greeted == spec.lurkers_not_greeted == 1, tz
