"""End to end: `/cdp help` and `/cdp me` answered by the HTTP server itself, on its event loop, without
Bolt's dispatch (handlers/direct.py), for someone whose language the app knows, on PostgreSQL. The same
answers as through Bolt, the same replay guard, the same apology when the database fails; whoever Bolt
must answer (a language to learn, SQLite) is answered as before."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.background import Answering
from bot.people import People
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from tests import test_e2e_circles as circles_e2e
from tests.conftest import ALICE, BRUNO, Harness

CHANNEL = circles_e2e.CHANNEL
SUB_ISSUE = "CSUB"
REPLAYED_FR = "Cette demande a déjà été traitée : rien n'a été refait."
APOLOGY_FR = "Toutes nos excuses : une erreur est survenue de notre côté et rien n'a été modifié."
NO_COMMUNITY_FR = "Vous n'êtes encore membre d'aucune communauté."


def answer(harness: Harness, command: str, user: str, **kwargs: Any) -> dict[str, Any]:
    result = harness.slack.command(command, user, **kwargs)
    assert result.status == 200, result.text
    body = result.json()
    assert isinstance(body, dict)
    return body


def a_community_with_a_sub_issue(harness: Harness) -> None:
    """Urbanism, bound to CURB and to a sub-issue channel; Bruno posted in both."""
    circles_e2e.make_community(harness)
    harness.emulator.add_channel(SUB_ISSUE, "urbanism-bikes", members=[ALICE, BRUNO])
    with harness.db.session() as session:
        community = svc.require(session, team_id=harness.emulator.team_id, query="Urbanism")
        svc.bind_channel(
            session,
            community=community,
            channel=ChannelChoice(SUB_ISSUE, "urbanism-bikes", False),
            now=harness.clock.now(),
        )
    circles_e2e.post(harness, BRUNO)
    harness.slack.event({**circles_e2e.message(harness, BRUNO), "channel": SUB_ISSUE})
    harness.clock.advance(timedelta(days=1))
    circles_e2e.post(harness, BRUNO)
    harness.drain()


@contextmanager
def threads_of_driver_statements(harness: Harness) -> Iterator[list[str]]:
    """The thread of each statement the app sends on a driver connection (skipping SQLAlchemy's execution:
    the counting statement, the replay claim and `/cdp me`'s reads on the event loop) during the block."""
    seen: list[str] = []

    def observe(_statement: str, _dbapi: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            seen.append(threading.current_thread().name)

    harness.db.statement_observers.append(observe)
    try:
        yield seen
    finally:
        harness.db.statement_observers.remove(observe)


def test_me_and_help_answer_the_same_whichever_path_answers(harness: Harness) -> None:
    a_community_with_a_sub_issue(harness)
    harness.runtime.deps.people = People(harness.runtime.deps.settings.default_language)  # nothing known
    users_info = len(harness.emulator.calls_to("users.info"))
    first = {user: answer(harness, "me", user) for user in (ALICE, BRUNO)}  # Bolt: their languages learnt
    assert len(harness.emulator.calls_to("users.info")) == users_info + 2
    again = {user: answer(harness, "me", user) for user in (ALICE, BRUNO)}  # known now: on PostgreSQL, direct
    assert again == first
    assert len(harness.emulator.calls_to("users.info")) == users_info + 2  # no Slack call for it
    bruno = "\n".join(block["text"]["text"] for block in again[BRUNO]["blocks"] if "text" in block)
    assert "*Urbanism*" in bruno and f"<#{SUB_ISSUE}>" in bruno and f"<#{CHANNEL}>" in bruno, bruno
    assert again[BRUNO]["text"] != again[ALICE]["text"]  # French, then English
    assert answer(harness, "aide", BRUNO) == answer(harness, "help", BRUNO)
    assert answer(harness, "help", ALICE)["text"] != answer(harness, "help", BRUNO)["text"]


def test_someone_with_no_community_is_told_so_in_their_language(harness: Harness) -> None:
    for _ in range(2):  # through Bolt, then directly
        assert answer(harness, "me", BRUNO)["text"].startswith(NO_COMMUNITY_FR)


def test_a_known_person_s_me_is_answered_on_the_event_loop(harness: Harness) -> None:
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite answers through Bolt, in a worker thread")
    a_community_with_a_sub_issue(harness)
    answer(harness, "help", BRUNO)  # learns Bruno's language
    with threads_of_driver_statements(harness) as threads:
        answer(harness, "me", BRUNO)
        answer(harness, "help", BRUNO)
    # me: the claim, the memberships with their windows, the sub-issue's channels; help: the claim. All on
    # the server's event loop: no worker thread, no Bolt dispatch.
    assert threads == ["cdp-http"] * 4


@pytest.mark.parametrize("command", ["me", "help"])
def test_a_replayed_command_is_refused_on_either_path(harness: Harness, command: str) -> None:
    circles_e2e.make_community(harness)
    for known in (False, True):  # Bruno's language unknown (Bolt answers), then known (answered directly)
        if known:
            answer(harness, "help", BRUNO)
        fields = harness.slack.command_fields(command, BRUNO)
        first = harness.slack.post_form(fields)
        assert first.status == 200 and REPLAYED_FR not in first.text, first.text
        again = harness.slack.post_form(fields)  # the same trigger_id: somebody replaying the request
        assert again.status == 200
        assert again.json() == {"response_type": "ephemeral", "text": REPLAYED_FR}


REFUSE_CLAIMS = {
    "postgresql": "ALTER TABLE processed_events ADD CONSTRAINT ck_refused CHECK (event_id = '') NOT VALID",
    "sqlite": "CREATE TRIGGER refused BEFORE INSERT ON processed_events BEGIN SELECT RAISE(ABORT, 'no'); END",
}
ACCEPT_CLAIMS = {
    "postgresql": "ALTER TABLE processed_events DROP CONSTRAINT ck_refused",
    "sqlite": "DROP TRIGGER refused",
}


def test_a_database_failure_gets_the_apology_in_the_person_s_language(harness: Harness) -> None:
    circles_e2e.make_community(harness)
    circles_e2e.post(harness, BRUNO)  # a member now
    answer(harness, "help", BRUNO)  # learns Bruno's language
    with harness.db.engine.begin() as connection:  # no claim can be written any more
        connection.execute(text(REFUSE_CLAIMS[harness.db.backend]))
    try:
        for command in ("me", "help"):
            reply = answer(harness, command, BRUNO)
            assert reply["response_type"] == "ephemeral" and reply["text"].startswith(APOLOGY_FR), reply
    finally:
        with harness.db.engine.begin() as connection:
            connection.execute(text(ACCEPT_CLAIMS[harness.db.backend]))
    assert "*Urbanism*" in json.dumps(answer(harness, "me", BRUNO), ensure_ascii=False)  # answered again


def test_answers_given_without_bolt_hold_the_outbox_back_like_bolt_s(harness: Harness) -> None:
    """The outbox worker waits while an answer is being made (bot.background.Answering): a direct answer
    and a message counted without Bolt are answers like Bolt's."""
    circles_e2e.make_community(harness)
    circles_e2e.post(harness, BRUNO)
    answer(harness, "help", BRUNO)  # learns Bruno's language
    held: list[str] = []

    class Recording(Answering):
        @contextmanager
        def request(self) -> Iterator[None]:
            held.append(threading.current_thread().name)
            with super().request():
                yield

    harness.runtime.deps.answering = Recording()
    circles_e2e.post(harness, BRUNO)
    answer(harness, "me", BRUNO)
    # SQLite: the message is counted without Bolt too, but /cdp me goes through Bolt (CdpApp holds its own)
    expected = ["cdp-http", "cdp-http"] if harness.db.backend == "postgresql" else ["cdp-http"]
    assert held == expected
