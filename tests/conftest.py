"""Fixtures: a real database (SQLite and PostgreSQL), the Slack emulator, and the real app over HTTP."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import text

from bot.clock import ManualClock
from bot.server import HttpServer, Runtime
from bot.services.communities import CommunityDraft
from bot.settings import Settings
from bot.testing.slack_emulator import HttpResult, SignedSender, SlackEmulator
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SIGNING_SECRET = "test-signing-secret"
KNOWN_BACKENDS = ("sqlite", "postgresql")


def _backends(value: str) -> list[str]:
    """TEST_DATABASES=sqlite runs every database test on SQLite only, with no PostgreSQL needed;
    the default, and CI, is both."""
    chosen = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(KNOWN_BACKENDS))
    if unknown or not chosen:
        raise pytest.UsageError(
            f"TEST_DATABASES={value!r}: expected sqlite, postgresql or sqlite,postgresql (the default)"
        )
    return [name for name in KNOWN_BACKENDS if name in chosen]


BACKENDS = _backends(os.environ.get("TEST_DATABASES", ",".join(KNOWN_BACKENDS)))

# People of the emulated workspace, named for what they do in tests.
ALICE = "UALICE"  # English-speaking
BRUNO = "UBRUNO"  # French-speaking
CHLOE = "UCHLOE"  # English-speaking
DAVID = "UDAVID"  # French-speaking


def community_draft(name: str, **changes: Any) -> CommunityDraft:
    """What the "Initiate a CdP" form says for a test's community: `changes` over an open, English
    community in UTC, moderated by Alice, with four-weekly reviews."""
    values: dict[str, Any] = {
        "domain": "Streets",
        "objectives": (),
        "objectives_other": "",
        "key_people": (),
        "moderators": (ALICE,),
        "visibility": "open",
        "language": "en",
        "timezone": "UTC",
        "cadence_weeks": 4,
    }
    return CommunityDraft(name=name, **(values | changes))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test copies it, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    # Fold the WAL into the main file before copying; a checkpoint runs outside any transaction.
    connection = db.engine.raw_connection()
    connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A schema of our own in the test database, migrated once, dropped at the end."""
    schema = f"cdp_test_{os.getpid()}"
    admin = Database(PG_URL)
    try:
        replace_schema(admin, schema, create=True)
    except Exception as exc:  # pragma: no cover - environment problem, say it plainly
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL}: {exc}\n(create the database with `createdb test`, "
            "point TEST_DATABASE_URL at another one, or run the SQLite tests only: TEST_DATABASES=sqlite)"
        )
    url = schema_url(schema)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    yield url
    replace_schema(admin, schema, create=False)
    admin.dispose()


def replace_schema(admin: Database, schema: str, *, create: bool) -> None:
    """Drop the PostgreSQL schema `schema` with everything in it, then (`create`) make it again, empty."""
    with admin.engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        if create:
            connection.execute(text(f"CREATE SCHEMA {schema}"))


def schema_url(schema: str) -> str:
    """The test database's URL, with `schema` first on the search path."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


# Empties every table and restarts every sequence (ids start at 1 again), in one round trip. DELETE on
# these small tables takes a few milliseconds where TRUNCATE (new files for every table and index) took
# ~150 ms per test.
EMPTY_PG_SCHEMA = "; ".join(
    [f"DELETE FROM {table.name}" for table in reversed(Base.metadata.sorted_tables)]
    + [
        "DO $$ DECLARE s record; BEGIN FOR s IN SELECT sequence_name FROM information_schema.sequences "
        "WHERE sequence_schema = current_schema() LOOP EXECUTE format('ALTER SEQUENCE %I RESTART', "
        "s.sequence_name); END LOOP; END $$"
    ]
)


@pytest.fixture(scope="session")
def pg_schema(pg_schema_url: str) -> Iterator[Database]:
    """One pool for emptying the schema between tests: a new connection costs more than emptying it."""
    db = Database(pg_schema_url)
    yield db
    db.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database of each kind: every storage test runs on both."""
    if request.param == "sqlite":
        path = tmp_path / "cdp.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg: Database = request.getfixturevalue("pg_schema")
    with pg.engine.begin() as connection:
        connection.execute(text(EMPTY_PG_SCHEMA))
    return pg.url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as slack:
        slack.add_user(ALICE, "alice", locale="en-US", tz="America/New_York")
        slack.add_user(BRUNO, "bruno", locale="fr-FR", tz="Europe/Paris")
        slack.add_user(CHLOE, "chloe", locale="en-GB", tz="Europe/London")
        slack.add_user(DAVID, "david", locale="fr-CA", tz="America/Montreal")
        slack.add_channel("CGENERAL", "general", members=[ALICE, BRUNO, CHLOE, DAVID])
        yield slack


# How long an answer waits for a Slack call in the tests (SLACK_REQUEST_TIMEOUT): longer than the app's
# 1.5 s, because four test workers on two cores once held the emulator's answer to a views.open past
# 1.5 s, and a form failed to open in CI. The tests of a slow Slack use the app's own (fixture
# `request_timeout`, overridden in tests/test_e2e_request_path.py).
LOADED_MACHINE_REQUEST_TIMEOUT = 5.0


@pytest.fixture
def request_timeout() -> float:
    return LOADED_MACHINE_REQUEST_TIMEOUT


def app_settings(emulator: SlackEmulator, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "SLACK_BOT_TOKEN": emulator.token,
        "SLACK_REQUEST_TIMEOUT": LOADED_MACHINE_REQUEST_TIMEOUT,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": database_url,
        "DEFAULT_LANGUAGE": "en",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# How long a test waits for the outbox: longer than a chart may take to draw before it is shown in words
# (bot.chart_delivery.DRAW_TIMEOUT). The first chart of a test worker starts the drawing process, which
# imports matplotlib: on a machine loaded by four test workers that took over 30 s once (a review's
# story was still being drawn), and the test failed on a wait that the app would have ended itself.
DRAIN_TIMEOUT = 90.0


class DrainingSender(SignedSender):
    """Slack's requests, each followed by the deliveries it wrote to the outbox (sent after the answer):
    a test reads the answer, then sees what Slack received, as a user would a moment later.
    `answer_only=True` returns as soon as the answer is in (to see what happens before the outbox)."""

    def __init__(self, url: str, signing_secret: str, emulator: SlackEmulator, runtime: Runtime) -> None:
        super().__init__(url, signing_secret, emulator)
        self.runtime = runtime
        self.answer_only = False

    def post(self, body: str, content_type: str, **kwargs: Any) -> HttpResult:
        result = super().post(body, content_type, **kwargs)
        if not self.answer_only and self.runtime.deps.outbox is not None:
            self.runtime.deps.outbox.drain(DRAIN_TIMEOUT)
        return result


@dataclass
class Harness:
    """The real app served over HTTP, the emulated Slack around it, and the database behind it."""

    emulator: SlackEmulator
    slack: DrainingSender
    runtime: Runtime
    db: Database
    clock: ManualClock
    url: str

    def drain(self, *, include_later: bool = False, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait for the backfills and the outbox: everything owed to Slack has been sent (with
        `include_later`, also what waits for a Retry-After or a backoff)."""
        self.runtime.deps.background.drain(timeout)
        assert self.runtime.deps.outbox is not None
        self.runtime.deps.outbox.drain(timeout, include_later=include_later)

    @property
    def jobs_client(self) -> WebClient:
        """The client scheduled jobs and backfills use (they may wait out a 429)."""
        assert self.runtime.deps.jobs_client is not None
        return self.runtime.deps.jobs_client


@pytest.fixture
def harness(
    emulator: SlackEmulator, database_url: str, clock: ManualClock, request_timeout: float
) -> Iterator[Harness]:
    settings = app_settings(emulator, database_url, SLACK_REQUEST_TIMEOUT=request_timeout)
    with serving(emulator, settings, clock) as harness:
        yield harness


@contextmanager
def served(settings: Settings, clock: ManualClock) -> Iterator[tuple[Runtime, str]]:
    """The real app with `settings` (no scheduler: tests run its jobs), served over HTTP on loopback: its
    runtime and base URL, stopped and closed at the end."""
    runtime = Runtime.start(settings, clock=clock, run_scheduler=False)
    server = HttpServer(runtime)
    url = server.start()
    try:
        yield runtime, url
    finally:
        server.stop()
        runtime.close()


@contextmanager
def serving(emulator: SlackEmulator, settings: Settings, clock: ManualClock) -> Iterator[Harness]:
    """A Harness around the app `served` with `settings` (the `harness` fixture's, or other settings)."""
    with served(settings, clock) as (runtime, url):
        sender = DrainingSender(url, SIGNING_SECRET, emulator, runtime)
        yield Harness(emulator, sender, runtime, runtime.deps.db, clock, url)
