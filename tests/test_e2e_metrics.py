"""End to end: what an operator sees on `GET /metrics` and `GET /readyz` (issue 12, item 3), through
the real app served over HTTP, the Slack emulator and a real database. The registry belongs to the
process (tests share it), so every check reads a difference between two scrapes."""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError
from sqlalchemy import text

from bot.clock import ManualClock
from bot.server import Runtime, start_ops_server
from bot.testing.slack_emulator import SlackEmulator
from tests.conftest import ALICE, BRUNO, Harness, app_settings
from tests.test_cli import free_port
from tests.test_e2e_circles import make_community, message, say

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(harness: Harness) -> Samples:
    with urllib.request.urlopen(harness.url + "/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        body = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_requests_events_and_slack_calls_are_counted(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    before = scrape(harness)

    assert harness.slack.command("help", ALICE).status == 200
    event = message(harness, BRUNO)
    assert harness.slack.event(event, event_id="EvMETRICS1").status == 200
    assert harness.slack.event(event, event_id="EvMETRICS1", retry_num=1).status == 200
    elsewhere = {**message(harness, BRUNO), "channel": "CNOBODY"}
    assert harness.slack.event(elsewhere, event_id="EvMETRICS2").status == 200
    forged = harness.slack.post_form(harness.slack.command_fields("help", ALICE), signature="v0=forged")
    assert forged.status == 401

    after = scrape(harness)
    assert grew(before, after, "cdp_requests_total", kind="slash_command", outcome="ok") == 1
    assert grew(before, after, "cdp_requests_total", kind="event_callback", outcome="ok") == 3
    assert grew(before, after, "cdp_requests_total", kind="rejected", outcome="error") == 1
    assert grew(before, after, "cdp_request_seconds_count", kind="slash_command") == 1
    assert grew(before, after, "cdp_events_total", result="counted") == 1
    assert grew(before, after, "cdp_events_total", result="duplicate") == 1
    assert grew(before, after, "cdp_events_total", result="ignored") == 1


def test_slack_errors_and_rate_limits_are_counted_by_method(harness: Harness) -> None:
    before = scrape(harness)
    harness.emulator.rate_limit("users.info", retry_after=0)
    harness.emulator.fail("users.info", "user_not_found")
    for _ in range(3):
        with contextlib.suppress(SlackApiError):  # the refusal itself is what is counted
            harness.jobs_client.users_info(user=ALICE)
    after = scrape(harness)
    # The jobs' client waits out the 429 and asks again: both the 429 and the answer are counted.
    assert grew(before, after, "cdp_slack_calls_total", method="users.info", error="ratelimited") == 1
    assert grew(before, after, "cdp_slack_calls_total", method="users.info", error="user_not_found") == 1
    assert grew(before, after, "cdp_slack_calls_total", method="users.info", error="") == 2


def test_outbox_backlog_age_and_deliveries(harness: Harness) -> None:
    before = scrape(harness)
    make_community(harness)
    harness.slack.answer_only = True  # what the join owes Slack stays in the outbox for a moment
    harness.emulator.rate_limit("conversations.invite", retry_after=60)
    say(harness, "join Urbanism", BRUNO)
    harness.drain()  # the invite is put back for a minute (Retry-After): still pending
    waiting = scrape(harness)
    assert value(waiting, "cdp_outbox_backlog") >= 1
    assert value(waiting, "cdp_outbox_oldest_age_seconds") >= 0
    assert (
        grew(before, waiting, "cdp_slack_calls_total", method="conversations.invite", error="ratelimited")
        == 1
    )
    with harness.db.engine.begin() as connection:  # Retry-After passed
        connection.execute(text("UPDATE outbox SET not_before = created_at WHERE status = 'pending'"))
    harness.drain()
    done = scrape(harness)
    assert value(done, "cdp_outbox_backlog") == 0
    assert value(done, "cdp_outbox_oldest_age_seconds") == 0
    assert grew(before, done, "cdp_outbox_deliveries_total", what="invite", status="sent") == 1
    assert (
        value(done, "cdp_backfill_channels", status="done") >= 1
        or value(done, "cdp_backfill_channels", status="pending") >= 1
    )


def test_scheduled_jobs_are_counted_and_timed(harness: Harness) -> None:
    before = scrape(harness)
    job = harness.runtime.scheduler.get_job("prune_outbox")
    job.func(*job.args)
    after = scrape(harness)
    assert grew(before, after, "cdp_job_runs_total", job="prune_outbox", outcome="ok") == 1
    assert grew(before, after, "cdp_job_seconds_count", job="prune_outbox") == 1


def test_readyz_says_the_database_answers_and_the_schema_is_current(harness: Harness) -> None:
    with urllib.request.urlopen(harness.url + "/readyz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True, "database": "up", "migrations": "at head"}
    with harness.db.engine.begin() as connection:  # another release's schema (or none yet)
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        urllib.request.urlopen(harness.url + "/readyz", timeout=5)
        raise AssertionError("/readyz answered 200 on a schema that is not at head")
    except urllib.error.HTTPError as error:
        assert error.code == 503
        answer = json.loads(error.read())
        assert answer["ok"] is False and answer["migrations"] == f"at 0001, expected {head}"
    finally:
        with harness.db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_socket_mode_serves_probes_and_metrics_on_port(
    emulator: SlackEmulator, database_url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Socket Mode has no /slack/events: a small server of its own answers the probes and Prometheus on
    PORT; a port already taken is logged and the app goes on without them."""
    port = free_port()
    settings = app_settings(emulator, database_url, HOST="127.0.0.1", PORT=str(port))
    runtime = Runtime.start(settings, clock=clock, run_scheduler=False)
    try:
        ops = start_ops_server(runtime)
        assert ops is not None
        try:
            for path in ("/healthz", "/readyz", "/metrics"):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    assert response.status == 200
            with pytest.raises(urllib.error.HTTPError) as refused:  # Slack's requests come over the socket
                urllib.request.urlopen(f"http://127.0.0.1:{port}/slack/events", data=b"{}", timeout=5)
            assert refused.value.code == 404
            caplog.set_level(logging.WARNING, logger="cdp_bot.server")
            assert start_ops_server(runtime) is None  # the same port again: taken
            assert any("the port is taken" in r.getMessage() for r in caplog.records)
        finally:
            ops.stop()
    finally:
        runtime.close()
