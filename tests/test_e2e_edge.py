"""End to end, the edges of the app (issue 8, sections 3 and 4): unauthenticated and oversized requests,
circle-rule settings out of bounds, a failing community in the daily pass, SQLite under concurrent
writers, and what the request log may say."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select, update

from bot.domain.communities import CIRCLE_RULE_SETTINGS
from bot.logs import QUIET_LIBRARIES, JsonFormatter
from bot.scheduler import recompute_all
from bot.server import MAX_BODY_BYTES
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.models import ActivityDay, Community
from tests.conftest import ALICE, BRUNO, SIGNING_SECRET, Harness, community_draft
from tests.test_e2e_circles import circle_of, make_community, message, promote_bruno
from tests.test_e2e_communities import (
    community_named,
    create_community,
    open_form,
    row_counts,
    say,
    submit,
)

MiB = 1024 * 1024


# ---- helpers ---------------------------------------------------------------------------------------
def connection(harness: Harness, timeout: float = 30) -> http.client.HTTPConnection:
    parts = urlsplit(harness.url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def raw_post(harness: Harness, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST exactly these bytes and headers (no signing, no encoding done for us)."""
    conn = connection(harness)
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def signature(body: bytes, timestamp: str) -> str:
    """Slack's v0 signature over the raw bytes (the SDK's helper only signs text)."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def command_body(harness: Harness, text: str, user: str = ALICE) -> bytes:
    return urlencode(harness.slack.command_fields(text, user)).encode("utf-8")


def dispatched(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Request lines written by the Bolt app itself: a request that got this far was dispatched."""
    return [
        r
        for r in caplog.records
        if r.name == "cdp_bot.request" and getattr(r, "fields", {}).get("kind") != "rejected"
    ]


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


class PeakRss:
    """Samples this process's resident memory (the server runs in it) until stopped."""

    def __init__(self) -> None:
        self.start = rss_kib()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 1024


# ---- 1. unauthenticated and oversized requests ----------------------------------------------------
def unauthenticated_requests(harness: Harness) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    now = str(int(time.time()))
    body = command_body(harness, "join Urbanism")
    form = "application/x-www-form-urlencoded"
    good = signature(body, now)
    yield "no timestamp", body, {"Content-Type": form, "X-Slack-Signature": good}
    yield (
        "timestamp abc",
        body,
        {"Content-Type": form, "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": good},
    )
    yield (
        "timestamp of 5000 digits",
        body,
        {
            "Content-Type": form,
            "X-Slack-Request-Timestamp": "9" * 5000,
            "X-Slack-Signature": good,
        },
    )
    yield (
        "timestamp in other digits",
        body,
        {
            "Content-Type": form,
            "X-Slack-Request-Timestamp": now[:-1] + "²",  # isdigit() says yes, int() says no
            "X-Slack-Signature": good,
        },
    )
    yield (
        "non-ASCII signature",
        body,
        {
            "Content-Type": form,
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": "v0=é",
        },
    )
    yield "no signature", body, {"Content-Type": form, "X-Slack-Request-Timestamp": now}
    latin1 = "text=caf\xe9".encode("latin-1")  # not UTF-8, whatever its signature says
    yield (
        "non-UTF-8 body, unsigned",
        latin1,
        {
            "Content-Type": form,
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": "v0=00",
        },
    )
    yield (
        "non-UTF-8 body, signed",
        latin1,
        {
            "Content-Type": form,
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": signature(latin1, now),
        },
    )


def test_unauthenticated_requests_get_401_and_nothing_runs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    make_community(harness)
    harness.emulator.reset_calls()
    counts = row_counts(harness)
    caplog.set_level(logging.INFO)
    for case, body, headers in unauthenticated_requests(harness):
        status, answer = raw_post(harness, body, headers)
        assert status == 401, (case, answer)
    assert dispatched(caplog) == []
    assert harness.emulator.calls == []
    assert row_counts(harness) == counts
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # The same command, signed and timed as Slack sends it, runs.
    assert "Urbanism" in say(harness, "join Urbanism", BRUNO)


def test_a_declared_oversized_body_gets_413_before_it_is_sent(harness: Harness) -> None:
    """Content-Length says 100 MB: the answer comes at once, without waiting for (or reading) a byte."""
    conn = connection(harness, timeout=10)
    try:
        conn.putrequest("POST", "/slack/events")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(100 * 1000 * 1000))
        conn.putheader("X-Slack-Request-Timestamp", str(int(time.time())))
        conn.putheader("X-Slack-Signature", "v0=00")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()


def test_a_100_mb_chunked_body_gets_413_and_memory_stays_flat(harness: Harness) -> None:
    chunk = b"x" * (64 * 1024)
    total = 100 * 1000 * 1000
    conn = connection(harness, timeout=60)
    try:
        with PeakRss() as memory:
            conn.putrequest("POST", "/slack/events")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("X-Slack-Request-Timestamp", str(int(time.time())))
            conn.putheader("X-Slack-Signature", "v0=00")
            conn.endheaders()
            sent = 0
            try:
                while sent < total:
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may stop listening once it has answered
            response = conn.getresponse()
            status = response.status
    finally:
        conn.close()
    assert status == 413
    assert memory.growth_mib < 8, f"RSS grew by {memory.growth_mib:.1f} MiB"
    print(f"sent {sent} bytes, RSS +{memory.growth_mib:.1f} MiB")


def test_the_largest_message_slack_sends_is_still_counted(harness: Harness) -> None:
    """A 40,000-character message (Slack's limit) of characters JSON escapes as 12 bytes, with its
    rich-text block repeating it: about 1 MB, under the limit, counted."""
    make_community(harness)
    text = "\U0001d49c" * 40_000
    event = message(harness, ALICE, text)
    event["blocks"] = [
        {
            "type": "rich_text",
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]
    size = len(json.dumps(event).encode())
    assert 0.9 * MiB < size < MAX_BODY_BYTES
    result = harness.slack.event(event)
    assert result.status == 200, result.text
    with harness.db.session() as s:
        assert s.scalar(select(func.sum(ActivityDay.contributions))) == 1


def test_a_signed_message_sent_in_chunks_is_counted_once(harness: Harness) -> None:
    """The body comes in several pieces (chunked, no Content-Length): read whole, its signature checked on
    all of it, the message counted; the same bytes again, as Slack's retry, are not counted twice."""
    make_community(harness)
    body = json.dumps(harness.slack.event_body(message(harness, ALICE), event_id="EvChunked")).encode()
    timestamp = int(time.time())
    pieces = [body[:7], body[7 : len(body) // 2], body[len(body) // 2 :]]

    def send_chunked(retry: bool) -> int:
        conn = connection(harness, timeout=10)
        try:
            conn.putrequest("POST", "/slack/events")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("X-Slack-Request-Timestamp", str(timestamp))
            conn.putheader("X-Slack-Signature", harness.slack.sign(body.decode(), timestamp))
            if retry:
                conn.putheader("X-Slack-Retry-Num", "1")
            conn.endheaders()
            for piece in pieces:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
            return conn.getresponse().status
        finally:
            conn.close()

    assert send_chunked(retry=False) == 200
    assert send_chunked(retry=True) == 200
    with harness.db.session() as s:
        assert s.scalar(select(func.sum(ActivityDay.contributions))) == 1


# ---- 2. one source of bounds for the circle rule -------------------------------------------------------
def test_the_settings_form_refuses_a_grace_period_of_zero(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    view = open_form(harness, "settings Safe streets", ALICE)
    counts = row_counts(harness)
    answer = submit(harness, view, ALICE, demotion_grace_days="0")
    assert answer == {
        "response_action": "errors",
        "errors": {"demotion_grace_days": "Give a whole number in the allowed range."},
    }
    assert community_named(harness, "Safe streets").demotion_grace_days == 45
    assert row_counts(harness) == counts


@pytest.mark.parametrize("edge", ["low", "high"])
def test_whatever_the_form_accepts_the_rule_counts(harness: Harness, edge: str) -> None:
    """Every setting at its lowest (or highest) allowed value: saved, and messages are counted."""
    create_community(harness, ALICE, "Safe streets")
    view = open_form(harness, "settings Safe streets", ALICE)
    values = {
        key: str(low if edge == "low" else high) for key, (_, low, high) in CIRCLE_RULE_SETTINGS.items()
    }
    assert submit(harness, view, ALICE, **values) is None
    saved = community_named(harness, "Safe streets")
    assert {key: str(getattr(saved, key)) for key in CIRCLE_RULE_SETTINGS} == values
    result = harness.slack.event({**message(harness, BRUNO), "channel": "CGENERAL"})
    assert result.status == 200, result.text
    with harness.db.session() as s:
        assert s.scalar(select(ActivityDay.contributions).where(ActivityDay.user_id == BRUNO)) == 1
    assert say(harness, "me", BRUNO)  # the rule explains itself with these settings too
    assert recompute_all(harness.runtime.deps) == 0


@pytest.mark.parametrize(
    "stored",
    [
        {"demotion_grace_days": 0},
        {"demotion_grace_days": -3, "circle_window_days": 0},
        {"inner_min_days": 9, "inner_min_contributions": 4},  # days over contributions
        {"circle_window_days": 100_000, "inner_min_contributions": 0},
    ],
    ids=["grace-0", "negative", "days-over-contributions", "huge-window"],
)
def test_a_community_saved_out_of_bounds_still_counts_messages(
    harness: Harness, stored: dict[str, int]
) -> None:
    """Rows written before the form checked the rule's bounds keep working: the rule clamps them."""
    community_id = make_community(harness)
    with harness.db.session() as s:
        s.execute(update(Community).where(Community.id == community_id).values(**stored))
    assert "Urbanism" in say(harness, "join Urbanism", BRUNO)
    for _ in range(3):
        result = harness.slack.event(message(harness, BRUNO))
        assert result.status == 200, result.text
        harness.clock.advance(timedelta(hours=20))
    with harness.db.session() as s:
        assert s.scalar(select(func.sum(ActivityDay.contributions)).where(ActivityDay.user_id == BRUNO)) == 3
    assert "Urbanism" in say(harness, "me", BRUNO)
    recompute_all(harness.runtime.deps)
    # The moderator who opens the settings is shown what to fix, on the fields out of bounds.
    answer = submit(harness, open_form(harness, "settings Urbanism", ALICE), ALICE)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) <= set(stored), answer


# ---- 3. one failing community never stops the daily pass ----------------------------------------------
def test_a_failing_community_is_logged_and_the_pass_goes_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.emulator.add_channel("CBROKEN", "broken", members=[ALICE])
    with harness.db.session() as s:
        broken = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft("Broken", domain=""),
            channel=ChannelChoice("CBROKEN", "broken", False),
            now=harness.clock.now(),
        )
        s.flush()
        broken_id = int(broken.id)
    make_community(harness)
    promote_bruno(harness)
    assert circle_of(harness, BRUNO) == "inner"
    # A row no form would write today (an unknown timezone, typed by someone): recomputing it raises.
    with harness.db.session() as s:
        s.execute(update(Community).where(Community.id == broken_id).values(timezone="Mars/Olympus_Mons"))
    harness.clock.advance(timedelta(days=80))  # Bruno's grace period is long over

    caplog.set_level(logging.INFO, logger="cdp_bot.scheduler")
    assert recompute_all(harness.runtime.deps) == 1
    assert circle_of(harness, BRUNO) == "outer"

    failures = [r for r in caplog.records if r.getMessage() == "circle recompute failed"]
    assert [r.fields["community"] for r in failures] == [broken_id]  # type: ignore[attr-defined]
    assert failures[0].levelno == logging.ERROR
    summary = [r for r in caplog.records if r.getMessage() == "circles recomputed"]
    assert summary[-1].fields == {"communities": 2, "changes": 1, "failed": 1}  # type: ignore[attr-defined]
    assert "Mars" not in caplog.text  # what someone typed stays out of the log
    assert all("Mars" not in str(getattr(r, "fields", "")) for r in caplog.records)


# ---- 4. SQLite (and PostgreSQL) under concurrent writers ----------------------------------------------
def test_sixteen_concurrent_writers_count_every_event(harness: Harness) -> None:
    posters = [f"UPOSTER{n:02d}" for n in range(16)]
    for user in posters:
        harness.emulator.add_user(user, user.lower())
    community_id = make_community(harness, members=(ALICE, *posters))
    with harness.db.session() as s:
        community = s.get(Community, community_id)
        assert community is not None
        for user in posters:
            svc.new_member(s, community=community, user_id=user, now=harness.clock.now(), via="channel")

    latencies: list[float] = []

    def send(user: str) -> list[int]:
        statuses = []
        for _ in range(40):
            sent = time.perf_counter()
            statuses.append(harness.slack.event(message(harness, user)).status)
            latencies.append(time.perf_counter() - sent)
        return statuses

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [status for batch in pool.map(send, posters) for status in batch]
    elapsed = time.perf_counter() - started
    assert statuses.count(200) == 640, {s: statuses.count(s) for s in set(statuses)}
    with harness.db.session() as s:
        rows = s.execute(
            select(ActivityDay.user_id, func.sum(ActivityDay.contributions)).group_by(ActivityDay.user_id)
        ).all()
    assert dict(rows) == {user: 40 for user in posters}
    latencies.sort()
    print(
        f"640 events from 16 threads on {harness.db.backend}: {elapsed:.1f} s, "
        f"p50 {latencies[320] * 1000:.0f} ms, p99 {latencies[633] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


# ---- 5. the request log names known subcommands only ------------------------------------------------
def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "cdp_bot.request"]  # type: ignore[attr-defined]


def test_an_unknown_subcommand_leaves_no_trace_in_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for library in QUIET_LIBRARIES:  # as `cdp-bot run` sets them, whatever LOG_LEVEL says
        caplog.set_level(logging.WARNING, logger=library)
    caplog.set_level(logging.DEBUG)  # last: it also lowers the capturing handler's level
    secret = "zanzibar-hunter2"
    answer = say(harness, f"{secret} and more words", ALICE)
    assert secret in answer  # the user is told what was not understood...
    say(harness, f"JOIN {secret}", ALICE)
    assert [line["type"] for line in request_lines(caplog)] == ["/cdp unknown", "/cdp join"]
    for record in caplog.records:  # ...and the log keeps none of it
        assert secret not in record.getMessage()
        assert secret not in json.dumps(record.__dict__, default=str)
    assert secret not in caplog.text


def test_a_known_subcommand_is_logged_by_name(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    harness.slack.command("join", ALICE)
    harness.slack.command("", ALICE)
    assert [line["type"] for line in request_lines(caplog)] == ["/cdp join", "/cdp help"]


def test_an_error_log_line_names_the_exception_not_its_message() -> None:
    """Exception messages quote what was typed ("invalid literal for int(): 'bogus'"); the line keeps
    the type and where it was raised."""
    try:
        int("secret-option-value")
    except ValueError as error:
        record = logging.LogRecord("cdp_bot.errors", logging.ERROR, __file__, 1, "unexpected error", (), None)
        record.exc_info = (type(error), error, error.__traceback__)
    line = json.loads(JsonFormatter().format(record))
    assert "secret-option-value" not in json.dumps(line)
    assert line["error"] == "ValueError"
    assert line["error_at"].startswith("tests/test_e2e_edge.py:")
