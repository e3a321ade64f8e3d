"""End to end in Socket Mode (issue 12, item 2): the real `cdp-bot run`, in its own process, connected to
the emulator's WebSocket (bot/testing/socket_mode.py) as it would be to Slack. Every envelope must be
acknowledged with its envelope id within 3 seconds, with the answer as payload when there is one; a
`disconnect` (refresh_requested) and a dropped connection make the app reconnect, and an event whose
acknowledgement was lost is delivered again and still counted once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import SlackEmulator, initial_values
from bot.testing.socket_mode import SocketModeSender
from storage.db import Database
from tests.conftest import ALICE, BRUNO, community_draft
from tests.test_cli import CDP_BOT, clean_env, free_port

CHANNEL = "CSOCK"


def seed(database_url: str) -> None:
    """One community on CSOCK, moderated by Alice (Bruno is in the channel, not yet counted)."""
    db = Database(database_url)
    try:
        with db.session() as session:
            svc.create(
                session,
                team_id="T0CDP",
                creator=ALICE,
                draft=community_draft("Urbanism"),
                channel=ChannelChoice(CHANNEL, "urbanism", False),
                now=datetime.now(UTC),
            )
    finally:
        db.dispose()


def contributions(database_url: str, user: str) -> int:
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            total = connection.execute(
                text("SELECT COALESCE(SUM(contributions), 0) FROM activity_days WHERE user_id = :user"),
                {"user": user},
            ).scalar_one()
            return int(total)
    finally:
        db.dispose()


@pytest.fixture
def socket_app(emulator: SlackEmulator, database_url: str, tmp_path: Path) -> Iterator[SocketModeSender]:
    emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO])
    seed(database_url)
    env = clean_env(
        SLACK_BOT_TOKEN=emulator.token,
        SLACK_APP_TOKEN=emulator.app_token,
        SLACK_API_URL=emulator.api_url,
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=str(port := free_port()),
        LOG_LEVEL="INFO",
    )
    process = subprocess.Popen(
        [CDP_BOT, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                emulator.socket_mode.wait_connected(timeout=0.5)
                break
            except AssertionError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "cdp-bot run did not connect in Socket Mode"
        sender = SocketModeSender(emulator)
        sender.url = f"http://127.0.0.1:{port}"  # the probes and /metrics, served on PORT
        yield sender
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        assert emulator.app_token not in stderr and emulator.token not in stderr


def message(user: str, ts: str) -> dict[str, object]:
    return {"type": "message", "channel": CHANNEL, "user": user, "text": "hello", "ts": ts}


def now_ts(offset: float = 0.0) -> str:
    return f"{datetime.now(UTC).timestamp() + offset:.6f}"


def test_commands_events_and_reconnections_over_socket_mode(
    socket_app: SocketModeSender, emulator: SlackEmulator, database_url: str
) -> None:
    link = socket_app.link

    # A slash command: acknowledged in time, with the answer as the acknowledgement's payload.
    answer = socket_app.command("help", ALICE)
    assert answer.status == 200
    assert "/cdp join" in answer.json()["text"]
    assert max(ack.seconds for ack in link.acks()) < 3

    # Events: acknowledged with no payload, counted once.
    assert socket_app.event(message(BRUNO, now_ts()), event_id="EvSock1").text == ""
    assert contributions(database_url, BRUNO) == 1

    # Slack asks for a new connection: the app opens one and goes on over it.
    link.ask_to_reconnect()
    link.wait_connected(opened=2)
    socket_app.event(message(BRUNO, now_ts(1)), event_id="EvSock2")
    assert contributions(database_url, BRUNO) == 2

    # The network drops the connection, and the acknowledgement of an event was lost with it: the app
    # reconnects, the event comes again (retry_attempt 1) and is acknowledged, but counted once.
    link.lose_acks = 1
    lost = link.send("events_api", socket_app.event_body(message(BRUNO, now_ts(2)), event_id="EvSock3"))
    link.wait_lost(1)
    link.drop()
    link.wait_connected(opened=3)
    assert link.ack_of(lost).envelope_id == lost  # acknowledged this time, on the new connection
    assert contributions(database_url, BRUNO) == 3
    assert link.unacknowledged == []

    # The probes and Prometheus on PORT, though Slack comes over the socket.
    with urllib.request.urlopen(socket_app.url + "/readyz", timeout=5) as response:
        assert json.loads(response.read())["migrations"] == "at head"
    with urllib.request.urlopen(socket_app.url + "/metrics", timeout=5) as response:
        assert 'cdp_events_total{result="counted"} 3.0' in response.read().decode()

    # Interactivity: a view submission with a missing field is answered with its errors, in time.
    opened = socket_app.command("create", ALICE)
    assert opened.status == 200 and not opened.text  # the modal opens (views.open); the ack is empty
    view = emulator.last_view()
    answer = socket_app.view_submission(view, ALICE, {**initial_values(view), "name": ""})
    errors = answer.json()
    assert errors["response_action"] == "errors" and "name" in errors["errors"]


def test_an_envelope_that_cannot_be_parsed_is_logged_and_acknowledged_and_the_connection_stays(
    socket_app: SocketModeSender,
) -> None:
    link = socket_app.link
    opened = link.opened
    link.send_raw("{this is not JSON")  # no envelope id to acknowledge: logged, nothing else
    broken = [
        link.send_envelope(
            {"envelope_id": f"env-broken-{n}", "type": kind, "payload": payload, "retry_attempt": 0}
        )
        for n, (kind, payload) in enumerate(
            [
                ("events_api", "not an object"),
                ("slash_commands", {"command": 7, "user_id": ["U1"]}),
                ("interactive", {"type": "block_actions", "user": 7, "actions": "none"}),
                ("events_api", {"type": "event_callback", "event": {"type": "message", "user": {}}}),
            ]
        )
    ]
    for envelope_id in broken:  # each acknowledged in time, whatever it held
        assert link.ack_of(envelope_id).seconds < 3
    # The same connection goes on: the next command is answered over it.
    answer = socket_app.command("help", ALICE)
    assert answer.status == 200 and "/cdp join" in answer.json()["text"]
    assert link.opened == opened
