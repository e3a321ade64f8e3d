"""Joins and lookups at scale: names resolved by index (and "did you mean" over a cached list that every
instance sees change), moderators and counts by indexed queries, /cdp join and /cdp me in a number of
statements that does not grow with the community or the number of communities, and EXPLAIN of each of
these queries using an index on both databases."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import sql as psycopg_sql
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.orm import Session

from bench.bench_commands import add_other_communities
from bot.domain.circles import CircleDecision
from bot.people import People
from bot.services import circles as circle_service
from bot.services import communities as svc
from bot.services.communities import ChannelChoice, CommunityDraft, NameCache
from storage.async_driver import numbered
from storage.db import Database
from storage.models import CircleChange, Community, Membership
from storage.repositories import activity as activity_repo
from storage.repositories import communities as community_repo
from storage.repositories import joining as joining_repo
from storage.repositories import memberships as membership_repo
from storage.repositories import standings as standings_repo
from storage.types import UTCDateTime
from tests.conftest import ALICE, BRUNO, CHLOE, Harness, community_draft
from tests.test_e2e_communities import create_community, open_form, say, submit

TEAM = "T_LOOKUPS"


def draft(name: str, *, moderators: tuple[str, ...] = (ALICE,), visibility: str = "open") -> CommunityDraft:
    return community_draft(name, domain="", moderators=moderators, visibility=visibility)


def add_members(session: Session, community_id: int, count: int, *, prefix: str = "UMANY") -> None:
    """`count` plain members by one INSERT ... SELECT, copying the creator's row (as the benchmark does)."""
    template = session.scalars(
        select(Membership.id).where(Membership.community_id == community_id).order_by(Membership.id)
    ).first()
    session.execute(
        text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since, "
            "joined_at, left_at, joined_via, greeted_at, changed_at) "
            f"SELECT m.team_id, m.community_id, '{prefix}' || CAST(n.i AS VARCHAR(12)), 'member', "
            "CASE WHEN n.i % 3 = 0 THEN 'inner' ELSE 'outer' END, m.circle_since, m.joined_at, NULL, "
            "'command', NULL, m.changed_at FROM memberships m, n WHERE m.id = :template"
        ),
        {"count": count, "template": template},
    )


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the requests run meanwhile, through SQLAlchemy: those of the threads serving
    requests, not those of the test itself (waiting for the outbox), of the outbox worker, a backfill or
    anything else of ours running beside them (threads named cdp-...); nor the statements that write to
    the outbox (one per channel invite). The replay guard's claim goes to the driver directly
    (storage/claims.py) and is not among them; those a command answered on the event loop sends
    (handlers/direct.py, on the driver too) are."""
    seen: list[tuple[int, str, str]] = []
    requests: list[str] = []
    test_thread = threading.get_ident()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((threading.get_ident(), threading.current_thread().name, statement))

    def on_driver(statement: str, _dbapi: Any) -> None:
        if threading.current_thread().name == "cdp-http":
            record(None, None, statement)

    event.listen(db.engine, "before_cursor_execute", record)
    db.statement_observers.append(on_driver)
    try:
        yield requests
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        db.statement_observers.remove(on_driver)
        requests.extend(
            st
            for ident, name, st in seen
            if ident != test_thread
            and (name == "cdp-http" or not name.startswith("cdp-"))
            and not st.lstrip().startswith("INSERT INTO outbox")
        )


# ---- names ------------------------------------------------------------------------------------------
def test_join_by_name_slug_channel_and_typo(harness: Harness) -> None:
    harness.emulator.add_channel("CURB", "urbanism-talk", members=[ALICE])
    create_community(harness, ALICE, "Urbanisme & Mobilité", channel="CURB")
    assert "Welcome to *Urbanisme & Mobilité*" in say(harness, "join urbanisme-mobilite", CHLOE)
    assert "already" in say(harness, "join <#CURB>", CHLOE)
    assert "already" in say(harness, "join #cdp-urbanisme-mobilite", CHLOE)
    assert "already" in say(harness, "join URBANISME & MOBILITÉ", CHLOE)
    assert "already" in say(harness, "join urbanis", CHLOE)  # a clear start of one slug
    assert "Did you mean *Urbanisme & Mobilité*?" in say(harness, "join urbanisme mobilte", CHLOE)


def test_a_renamed_community_is_found_by_its_new_name_even_through_a_warm_cache(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    # The typo is matched over the cached names: the cache now holds "Safe streets".
    assert "Did you mean *Safe streets*?" in say(harness, "join safe stretes", CHLOE)
    view = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, view, ALICE, name="Quiet roads") is None
    assert "Welcome to *Quiet roads*" in say(harness, "join quiet roads", CHLOE)
    assert "Did you mean *Quiet roads*?" in say(harness, "join quiet raods", CHLOE)
    assert "Safe streets" not in say(harness, "join safe stretes", CHLOE)


def test_another_instance_sees_creations_renames_and_dissolutions(db: Database) -> None:
    """Two processes, each with its own cache (the token in the database is what they share)."""
    here, there = NameCache(), NameCache()
    with db.session() as s:
        community = svc.create(
            s, team_id=TEAM, creator=ALICE, draft=draft("Safe streets"),
            channel=ChannelChoice("CSAFE", "safe", False), now=_now(),
        )  # fmt: skip
        community_id = community.id
    with db.session() as s:
        assert [n.name for n in here.get(s, team_id=TEAM)] == ["Safe streets"]
        assert [n.name for n in there.get(s, team_id=TEAM)] == ["Safe streets"]
    with db.session() as s:  # "there" renames it
        community = community_repo.get(s, team_id=TEAM, community_id=community_id)
        assert community is not None
        svc.update_settings(
            s, community=community, actor=ALICE, is_admin=False, draft=draft("Quiet roads"),
            channels=[ChannelChoice("CSAFE", "safe", False)], now=_now(),
        )  # fmt: skip
    with db.session() as s:
        assert [n.name for n in here.get(s, team_id=TEAM)] == ["Quiet roads"]
        svc.create(
            s, team_id=TEAM, creator=BRUNO, draft=draft("Allotments", moderators=(BRUNO,)),
            channel=ChannelChoice("CALLOT", "allot", False), now=_now(),
        )  # fmt: skip
    with db.session() as s:
        assert [n.name for n in here.get(s, team_id=TEAM)] == ["Allotments", "Quiet roads"]
        community = community_repo.get(s, team_id=TEAM, community_id=community_id)
        assert community is not None
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=_now())
    with db.session() as s:  # dissolved communities come last in the directory's order
        assert [(n.name) for n in there.get(s, team_id=TEAM)] == ["Allotments", "Quiet roads"]
        token = community_repo.names_token(s, team_id=TEAM)
    with db.session() as s:  # nothing changed: the same token, the cached list
        assert community_repo.names_token(s, team_id=TEAM) == token
        assert here.get(s, team_id=TEAM) is here.get(s, team_id=TEAM)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ---- moderators and counts ---------------------------------------------------------------------------
def test_join_and_info_in_a_large_community_name_the_moderators_and_count_everyone(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Big city")
    with harness.db.session() as s:
        add_members(s, community.id, 600)
        membership_repo.make_core(
            s,
            membership_id=s.scalars(
                select(Membership.id).where(
                    Membership.user_id == "UMANY7", Membership.community_id == community.id
                )
            ).one(),
        )
    assert "Welcome to *Big city*" in say(harness, "join big city", CHLOE)
    info = say(harness, "info big city", CHLOE)
    assert "<@UALICE>" in info and "<@UMANY7>" in info
    with harness.db.session() as s:
        counts = membership_repo.counts(s, team_id=community.team_id, community_ids=[community.id])[
            community.id
        ]
        moderators = membership_repo.moderators_of(s, team_id=community.team_id, community_ids=[community.id])
    # 600 added (every third one inner; UMANY7, an outer one, made core), Alice (core), Chloe (outer).
    assert counts == {"core": 2, "inner": 200, "outer": 400}
    assert moderators == {community.id: [ALICE, "UMANY7"]}


def test_the_directory_names_each_communitys_moderators(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    harness.emulator.add_channel("CWATER", "water", members=[BRUNO])
    create_community(harness, BRUNO, "Water", channel="CWATER")
    listing = say(harness, "list", CHLOE)
    streets, water = listing.index("Safe streets"), listing.index("Water")
    assert "<@UALICE>" in listing[streets:water] and "<@UBRUNO>" not in listing[streets:water]
    assert "<@UBRUNO>" in listing[water:]


# ---- constant number of statements -------------------------------------------------------------------
def test_join_runs_as_many_statements_in_a_community_of_3_as_of_500(harness: Harness) -> None:
    small = create_community(harness, ALICE, "Small")
    harness.emulator.add_channel("CBIG", "big", members=[ALICE])
    big = create_community(harness, ALICE, "Big", channel="CBIG")
    with harness.db.session() as s:
        add_members(s, small.id, 2, prefix="USMALL")
        add_members(s, big.id, 500, prefix="UBIG")
    for user in ("UEVE", "UFRED", "UGIL", "UHAL", "UIVY"):
        harness.emulator.add_user(user, locale="en-US")
    # The first join of all also creates what every later one reuses (the app's privacy key).
    assert "Welcome to" in say(harness, "join small", "UGIL")
    # Through Bolt (their language to learn: a Slack call, no SQL), then, once the app knows it, answered
    # on the event loop on PostgreSQL (handlers/direct.py; through Bolt again on SQLite).
    for users, known in ((("UEVE", "UFRED"), False), (("UHAL", "UIVY"), True)):
        counts = []
        for name, user in ((name, user) for user in users for name in ("small", "big")):
            if known:
                say(harness, "help", user)
            else:
                harness.runtime.deps.people = People(harness.runtime.deps.settings.default_language)
            with statements(harness.db) as seen:
                assert "Welcome to" in say(harness, f"join {name}", user)
            counts.append(len(seen))
        assert counts[0] == counts[1] == counts[2] == counts[3], counts


def test_me_runs_as_many_statements_for_one_community_as_for_six(harness: Harness) -> None:
    create_community(harness, ALICE, "Community 0")
    say(harness, "join community 0", CHLOE)
    with statements(harness.db) as one:
        assert "Community 0" in say(harness, "me", CHLOE)
    for k in range(1, 6):
        harness.emulator.add_channel(f"CC{k}", f"c{k}", members=[ALICE])
        create_community(harness, ALICE, f"Community {k}", channel=f"CC{k}")
        say(harness, f"join community {k}", CHLOE)
    with statements(harness.db) as six:
        answer = say(harness, "me", CHLOE)
    assert all(f"Community {k}" in answer for k in range(6))
    assert len(one) == len(six), (one, six)


def test_me_and_join_read_each_thing_once(harness: Harness) -> None:
    """Every statement is a round trip and its CPU on the request path: a community comes with its
    channels in the same statement, and /cdp join reads the person's membership once."""
    harness.emulator.add_channel("CONE", "one", members=[ALICE])
    create_community(harness, ALICE, "One", channel="CONE")
    harness.emulator.add_user("UEVE", locale="en-US")
    with statements(harness.db) as joined:
        assert "Welcome to" in say(harness, "join one", "UEVE")
    with statements(harness.db) as me:
        assert "One" in say(harness, "me", "UEVE")
    for seen in (joined, me):
        reads = [st for st in seen if st.lstrip().upper().startswith("SELECT")]
        # No statement of its own for channel rows (a count of them inside another statement is fine).
        assert not any(st.upper().startswith("SELECT COMMUNITY_CHANNELS.") for st in reads), seen
    membership_reads = [st for st in joined if st.lstrip().upper().startswith("SELECT memberships.".upper())]
    assert len(membership_reads) == 1, joined


# ---- /cdp me: identical to reading the whole history, community by community ----------------------------
def reference_standings(session: Session, *, team_id: str, user_id: str, now: Any) -> list[Any]:
    """What /cdp me computed before issue 9 (its specification): per community, the member's whole
    history read and the rule applied to it."""
    result = []
    latest = {
        c.community_id: c for c in activity_repo.changes_for_user(session, team_id=team_id, user_id=user_id)
    }
    for membership in sorted(
        membership_repo.active_for_user(session, team_id=team_id, user_id=user_id), key=lambda m: m.id
    ):
        community = community_repo.get(session, team_id=team_id, community_id=membership.community_id)
        assert community is not None
        today = circle_service.local_today(community, now)
        stored = activity_repo.for_member(
            session, team_id=team_id, community_id=community.id, user_id=user_id, since=date.min
        )
        since = today - timedelta(days=circle_service.rule_of(community).history_days)
        rows = [row for row in stored if row.day >= since]
        last = max((row.day for row in stored if row.contributions), default=None)
        decision = circle_service._decide(community, membership, rows, today, last)
        change = latest.get(community.id)
        if (
            change is not None
            and decision.circle == "outer"
            and membership.circle == "outer"
            and (change.from_circle, change.to_circle) == ("inner", "outer")
            and change.changed_at >= membership.circle_since
        ):
            demoted_on = circle_service.local_day_of(community, change.changed_at.timestamp())
            if not any(row.day >= demoted_on and row.contributions > 0 for row in stored):
                decision = replace(decision, reason=circle_service._stored_reason(change))
        if membership.role == "core" or membership.joined_via == "creation":
            decision = circle_service._not_a_newcomer(decision)
        per_channel = circle_service._per_channel(community, membership, rows, today)
        result.append((community.id, decision, per_channel, len(stored)))
    return result


def _as_tuples(standings: list[circle_service.Standing]) -> list[tuple[int, CircleDecision, Any, int]]:
    return [(s.community.id, s.decision, s.per_channel, s.stored_days) for s in standings]


@pytest.mark.parametrize("seed", range(6))
def test_me_agrees_with_the_whole_history_on_random_histories(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    now = _now()
    today = now.date()
    with db.session() as s:
        for k in range(rng.randint(1, 5)):
            channels = [
                ChannelChoice(f"C{k}X{c}", f"c{k}x{c}", False) for c in range(rng.choice((1, 1, 2, 3)))
            ]
            community = svc.create(
                s, team_id=TEAM, creator=ALICE if rng.random() < 0.3 else CHLOE,
                draft=draft(f"Community {k}", moderators=()), channel=channels[0],
                now=now - timedelta(days=rng.randint(0, 400)),
            )  # fmt: skip
            community.circle_window_days = rng.choice((7, 30, 60))
            community.inner_min_contributions = rng.randint(1, 6)
            community.inner_min_days = rng.randint(1, 3)
            community.demotion_grace_days = rng.choice((1, 14, 45))
            for channel in channels[1:]:
                svc.bind_channel(s, community=community, channel=channel, now=now)
            joined = now - timedelta(days=rng.randint(0, 300))
            membership = svc.new_member(s, community=community, user_id=ALICE, now=joined, via="command")
            membership.circle = rng.choice(("inner", "outer"))
            membership.circle_since = joined + timedelta(days=rng.randint(0, 10))
            for _ in range(rng.randint(0, 40)):
                activity_repo.increment(
                    s, team_id=TEAM, community_id=community.id, channel_id=rng.choice(channels).channel_id,
                    user_id=ALICE, day=today - timedelta(days=rng.randint(0, 500)),
                    contributions=rng.choice((0, 1, 1, 2)), reactions=rng.choice((0, 1)),
                )  # fmt: skip
            for _ in range(rng.randint(0, 3)):
                s.add(
                    CircleChange(
                        team_id=TEAM, community_id=community.id, user_id=ALICE,
                        from_circle="inner", to_circle="outer", reason_key="circles.reason.demoted",
                        reason_params={"days": rng.randint(1, 60)},
                        changed_at=membership.circle_since + timedelta(hours=rng.randint(-30, 30)),
                    )
                )  # fmt: skip
        s.flush()
    with db.session() as s:
        expected = reference_standings(s, team_id=TEAM, user_id=ALICE, now=now)
        got = _as_tuples(circle_service.standings(s.connection(), team_id=TEAM, user_id=ALICE, now=now))
    assert got == expected


def test_me_across_several_communities_shows_each_ones_figures(harness: Harness) -> None:
    with harness.db.session() as s:
        for k, days in enumerate((3, 0, 12)):
            community = svc.create(
                s, team_id=harness.emulator.team_id, creator=ALICE, draft=draft(f"Topic {k}"),
                channel=ChannelChoice(f"CT{k}", f"t{k}", False), now=harness.clock.now() - timedelta(days=200),
            )  # fmt: skip
            svc.new_member(s, community=community, user_id=CHLOE, now=harness.clock.now(), via="command")
            for d in range(days):  # one day per channel row: `days` stored rows, `days` contributions
                activity_repo.increment(
                    s, team_id=community.team_id, community_id=community.id, channel_id=f"CT{k}",
                    user_id=CHLOE, day=harness.clock.now().date() - timedelta(days=d * 20), contributions=1,
                )  # fmt: skip
    answer = say(harness, "me", CHLOE)
    sections = re.split(r"\*Topic \d\*", answer)[1:]
    assert len(sections) == 3
    # Topic 0: days 0, 20, 40 stored (2 in the 30-day window); topic 1: nothing; topic 2: 12 days.
    assert "daily counts on 3 days" in sections[0]
    assert "2 contributions on 2 different days in the last 30 days" in sections[0]
    assert "daily counts on 0 days" in sections[1] and "have not posted yet" in sections[1]
    assert "daily counts on 12 days" in sections[2] and "2 contributions on 2 different days" in sections[2]


# ---- EXPLAIN: every hot query uses an index --------------------------------------------------------
HOT_TABLES = ("memberships", "activity_days", "circle_changes", "communities", "community_channels")
# Tables the test fills enough for PostgreSQL's plans to be the real ones: there, an index walked from
# end to end is as bad as a sequential scan. (Two communities are best read by walking their primary key.)
LARGE_TABLES = ("memberships", "activity_days", "circle_changes")


def _plan(session: Session, statement: str, parameters: Any) -> Any:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _pg_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _pg_nodes(child)


def _full_scans(plan: Any, backend: str) -> list[str]:
    if backend == "postgresql":
        # A sequential scan, or an index walked from end to end (no Index Cond), of a hot table.
        return [
            f"{node['Node Type']} on {node['Relation Name']}"
            for node in _pg_nodes(plan[0]["Plan"])
            if node.get("Relation Name") in HOT_TABLES
            and (
                node["Node Type"] == "Seq Scan"
                or (
                    node["Node Type"] in ("Index Scan", "Index Only Scan")
                    and "Index Cond" not in node
                    and node["Relation Name"] in LARGE_TABLES
                )
            )
        ]
    # SQLite: SEARCH uses an index on a key; SCAN reads the whole table (or a whole index).
    return [t for t in HOT_TABLES if re.search(rf"\bSCAN {t}\b", plan)]


HotQuery = Callable[[Session, int], object]
HOT_QUERIES: dict[str, HotQuery] = {
    "community by slug": lambda s, c: community_repo.by_slugs(s, team_id=TEAM, slugs=["hot-0", "x"]),
    "community by channel": lambda s, c: community_repo.by_channel(s, team_id=TEAM, channel_id="CHOT0"),
    "names token": lambda s, c: community_repo.names_token(s, team_id=TEAM),
    "moderators": lambda s, c: membership_repo.moderators(s, team_id=TEAM, community_id=c),
    "moderators of many": lambda s, c: membership_repo.moderators_of(
        s, team_id=TEAM, community_ids=[c, c + 1]
    ),
    "counts": lambda s, c: membership_repo.counts(s, team_id=TEAM, community_ids=[c]),
    "membership": lambda s, c: membership_repo.get(s, team_id=TEAM, community_id=c, user_id=BRUNO),
    "my communities": lambda s, c: membership_repo.with_communities(s, team_id=TEAM, user_id=BRUNO),
    "my window": lambda s, c: activity_repo.member_window(
        s, team_id=TEAM, user_id=BRUNO, since={c: date(2026, 1, 1), c + 1: date(2026, 2, 1)}
    ),
    "my totals": lambda s, c: activity_repo.member_totals(
        s, team_id=TEAM, user_id=BRUNO, community_ids=[c, c + 1]
    ),
    "my latest changes": lambda s, c: activity_repo.latest_changes_for_user(s, team_id=TEAM, user_id=BRUNO),
}


@pytest.mark.parametrize("name", list(HOT_QUERIES))
def test_hot_queries_use_an_index(db: Database, name: str) -> None:
    with db.session() as s:
        ids = []
        for k in range(2):
            community = svc.create(
                s, team_id=TEAM, creator=ALICE, draft=draft(f"Hot {k}"),
                channel=ChannelChoice(f"CHOT{k}", f"hot{k}", False), now=_now(),
            )  # fmt: skip
            ids.append(community.id)
            add_members(s, community.id, 50, prefix=f"UHOT{k}X")
            svc.new_member(s, community=community, user_id=BRUNO, now=_now(), via="command")
            for d in range(20):
                activity_repo.increment(
                    s, team_id=TEAM, community_id=community.id, channel_id=f"CHOT{k}", user_id=BRUNO,
                    day=date(2026, 3, 1) - timedelta(days=d), contributions=1,
                )  # fmt: skip
        s.execute(  # other people's history, so that reading it all would show
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) "
                "INSERT INTO circle_changes (team_id, community_id, user_id, from_circle, to_circle, "
                "reason_key, reason_params, changed_at) SELECT :team, :community, "
                "'UCHG' || CAST(n.i AS VARCHAR(12)), 'outer', 'inner', 'circles.reason.inner', '{}', "
                ":at FROM n"
            ).bindparams(bindparam("at", type_=UTCDateTime())),
            {"team": TEAM, "community": ids[0], "at": _now()},
        )
    backend = db.backend
    with db.session() as s:
        if backend == "postgresql":
            # Tiny tables are cheapest to read whole; what we check is that an index *can* serve
            # the query (without one, PostgreSQL still scans, whatever this setting says).
            s.execute(text("SET LOCAL enable_seqscan = off"))
            s.execute(text("ANALYZE"))
        seen: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            seen.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            HOT_QUERIES[name](s, ids[0])
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert seen
        for statement, parameters in seen:
            plan = _plan(s, statement, parameters)
            assert not _full_scans(plan, backend), f"{name}: {statement}\n{plan}"


# ---- the HTTP server's prepared statements, under PostgreSQL's generic plans ------------------------
# The HTTP server prepares its statements once per connection (storage/async_driver.py): after five runs
# PostgreSQL keeps a generic plan, made without the values, whose guesses can differ from the plans of
# the EXPLAIN tests above (made with the values).


def a_directory_of_501(db: Database) -> None:
    """Urbanism (bound to CURB, 2,000 members), then 500 more communities (copies under other names),
    their statistics gathered; then Chloé joins the last one."""
    with db.session() as s:
        svc.create(
            s, team_id=TEAM, creator=ALICE, draft=draft("Urbanism"),
            channel=ChannelChoice("CURB", "urbanism", False), now=_now(),
        )  # fmt: skip
        first = s.scalars(select(Community).order_by(Community.id).limit(1)).one()
        add_members(s, first.id, 2000, prefix="UDIR")
    add_other_communities(db, 500)
    with db.engine.connect() as connection:  # PostgreSQL's statistics, as autovacuum gathers them
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    with db.session() as s:  # since then, Chloé joined the newest community
        last = s.scalars(select(Community).order_by(Community.id.desc()).limit(1)).one()
        svc.new_member(s, community=last, user_id=CHLOE, now=_now(), via="command")


def generic_plan(db: Database, sql: str, values: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The nodes of the generic plan of `sql` (compiled for psycopg) prepared as the server prepares it,
    and its rows, for these values."""
    query, names = numbered(sql)
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        driver = connection.connection.driver_connection
        literals = ", ".join(psycopg_sql.Literal(values[name]).as_string(driver) for name in names)
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"PREPARE hot AS {query}")
        try:
            plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE hot({literals})").scalar_one()
            rows = list(connection.exec_driver_sql(f"EXECUTE hot({literals})").all())
        finally:
            connection.exec_driver_sql("DEALLOCATE hot")
            connection.exec_driver_sql("RESET plan_cache_mode")
    return list(_pg_nodes(plan[0]["Plan"])), rows


def reads_of_communities(nodes: list[dict[str, Any]]) -> list[str]:
    """How the plan reads communities: each node that does, by the index it uses and whether it looks
    rows up by a key or walks them all (a sequential scan, or an index without an Index Cond)."""
    reads = []
    for node in nodes:
        kind = node["Node Type"]
        if kind == "Bitmap Index Scan" and node["Index Name"].startswith(
            ("pk_communities", "uq_communities")
        ):
            reads.append(f"{node['Index Name']} by key")  # a bitmap index scan always has its Index Cond
        elif node.get("Relation Name") == "communities" and kind != "Bitmap Heap Scan":
            by_key = kind != "Seq Scan" and "Index Cond" in node
            reads.append(f"{node.get('Index Name', kind)} {'by key' if by_key else 'all'}")
    return reads


def test_the_direct_join_s_prepared_read_finds_the_community_by_its_index(db: Database) -> None:
    # By `slug = ANY(array)` the generic plan guessed ten rows and read the directory whole; by two slug
    # parameters it finds the one by its unique index, whatever the directory's size.
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: its generic plans")
    a_directory_of_501(db)
    values = {"team_id": TEAM, "user_id": CHLOE, "slug": "cdp-urbanism", "other_slug": "urbanism"}
    nodes, rows = generic_plan(db, joining_repo._READ, {**values, "key_name": "forgotten"})
    assert reads_of_communities(nodes) == ["uq_communities_team_slug by key"], nodes
    assert [row[1] for row in rows] == ["Urbanism"]  # by the second key: the channel name's


def test_me_s_prepared_read_looks_each_community_up_by_its_key(db: Database) -> None:
    # As a plain join, the generic plan merged Chloé's memberships with the primary key of communities,
    # which the statistics said would stop at the first: for a member of a community created since
    # they were gathered, it read all 501.
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: its generic plans")
    a_directory_of_501(db)
    sql, values = standings_repo.places_statement(
        db.engine.dialect, team_id=TEAM, user_id=CHLOE, today=_now().date()
    )
    nodes, rows = generic_plan(db, sql, values)
    assert reads_of_communities(nodes) == ["pk_communities by key"], nodes
    assert [row[2] for row in rows] == ["Other 500"]
