"""End to end: signed requests into the running HTTP app, answers checked as a user would see them."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

import pytest

from bot.server import Runtime
from bot.testing.slack_emulator import SlackEmulator
from tests.conftest import ALICE, BRUNO, DAVID, Harness, app_settings


def test_help_in_english(harness: Harness) -> None:
    result = harness.slack.command("help", ALICE)
    assert result.status == 200
    answer = result.json()
    assert answer["response_type"] == "ephemeral"
    assert "communities of practice" in answer["text"]
    assert "`/cdp help`: show this list" in answer["text"]


def test_bare_command_is_help_in_french(harness: Harness) -> None:
    answer = harness.slack.command("", BRUNO).json()
    assert answer["response_type"] == "ephemeral"
    assert "communautés de pratique" in answer["text"]
    assert "`/cdp aide` : afficher cette liste" in answer["text"]


def test_help_in_turn_to_english_and_french_readers_stays_in_each_ones_language(harness: Harness) -> None:
    """The help is rendered once per language and kept: each reader still gets their own."""
    for user, expected in (
        (ALICE, "`/cdp help`: show this list"),
        (BRUNO, "`/cdp aide` : afficher cette liste"),
    ) * 2:
        answer = harness.slack.command("help", user).json()
        assert expected in answer["text"]
        assert expected in json.dumps(answer["blocks"], ensure_ascii=False)


def test_french_canadian_locale_is_french(harness: Harness) -> None:
    answer = harness.slack.command("help", DAVID).json()
    assert "communautés de pratique" in answer["text"]


def test_unknown_subcommand_suggests_the_closest(harness: Harness) -> None:
    answer = harness.slack.command("hlep me", ALICE).json()
    assert answer["response_type"] == "ephemeral"
    assert "I don't know `/cdp hlep`. Did you mean `/cdp help`?" in answer["text"]
    assert "`/cdp help`: show this list" in answer["text"]  # the help follows


def test_unknown_subcommand_in_french(harness: Harness) -> None:
    answer = harness.slack.command("hepl", BRUNO).json()
    assert "Je ne connais pas `/cdp hepl`. Vouliez-vous dire `/cdp help` ?" in answer["text"]


def test_unknown_subcommand_with_nothing_close(harness: Harness) -> None:
    answer = harness.slack.command("zzzzzzzz", ALICE).json()
    assert "I don't know `/cdp zzzzzzzz`." in answer["text"]
    assert "Did you mean" not in answer["text"]


def test_user_locale_unknown_falls_back_to_default(harness: Harness) -> None:
    harness.emulator.fail("users.info", "user_not_found")
    answer = harness.slack.command("help", "UNOBODY").json()
    assert "show this list" in answer["text"]


def test_forged_signature_is_refused_and_changes_nothing(harness: Harness) -> None:
    fields = harness.slack.command_fields("help", ALICE)
    harness.emulator.reset_calls()
    from urllib.parse import urlencode

    result = harness.slack.post(
        urlencode(fields), "application/x-www-form-urlencoded", signature="v0=" + "0" * 64
    )
    assert result.status == 401
    assert harness.emulator.calls == []  # no Slack call, no users.info, nothing


def test_missing_signature_is_refused(harness: Harness) -> None:
    fields = harness.slack.command_fields("help", ALICE)
    from urllib.parse import urlencode

    result = harness.slack.post(urlencode(fields), "application/x-www-form-urlencoded", signature="")
    assert result.status == 401


def test_stale_timestamp_is_refused(harness: Harness) -> None:
    result = harness.slack.post_form(
        harness.slack.command_fields("help", ALICE), timestamp=int(time.time()) - 6 * 60
    )
    assert result.status == 401


def test_malformed_json_is_400(harness: Harness) -> None:
    assert harness.slack.post("{not json", "application/json").status == 400
    assert harness.slack.post("[1, 2]", "application/json").status == 400


def test_malformed_form_is_400(harness: Harness) -> None:
    assert harness.slack.post("payload=%7Bbroken", "application/x-www-form-urlencoded").status == 400
    assert harness.slack.post("hello=world", "application/x-www-form-urlencoded").status == 400
    assert harness.slack.post("\xff\xfe", "application/x-www-form-urlencoded").status in (400, 401)


def test_healthz(harness: Harness) -> None:
    with urllib.request.urlopen(harness.url + "/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True, "database": "up"}


def test_only_a_post_to_the_request_url_reaches_slacks_handler(harness: Harness) -> None:
    """POSTs to /slack/events skip Starlette's router (bot/server.py); every other request still goes
    through it and gets its usual answer."""

    def status(path: str, method: str) -> int:
        request = urllib.request.Request(harness.url + path, data=b"" if method == "POST" else None)
        request.method = method
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert status("/slack/events", "GET") == 405
    assert status("/slack/events", "PUT") == 405
    assert status("/slack/elsewhere", "POST") == 404
    assert status("/slack/events", "POST") == 401  # unsigned: refused by our handler, not Starlette
    assert status("/healthz", "GET") == 200


def test_one_structured_log_line_per_request(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cdp_bot.request")
    harness.slack.command("help secret-words-here", ALICE)
    lines = [r for r in caplog.records if r.name == "cdp_bot.request"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["kind"] == "slash_command"
    assert fields["team"] == harness.emulator.team_id
    assert fields["type"] == "/cdp help"
    assert fields["outcome"] == "ok" and fields["status"] == 200
    assert isinstance(fields["latency_ms"], float)
    assert "secret-words-here" not in caplog.text
    assert harness.emulator.token not in caplog.text


def test_starting_with_the_token_in_the_environment_warns_of_nothing(
    emulator: SlackEmulator,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bolt reads SLACK_BOT_TOKEN itself and warned, at every start, that it would not use it."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", emulator.token)
    caplog.set_level(logging.INFO)
    runtime = Runtime.start(app_settings(emulator, database_url), run_scheduler=False)
    runtime.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
