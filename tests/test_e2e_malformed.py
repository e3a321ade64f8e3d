"""End to end, signed but malformed Slack payloads (issue 8, section 3): each reproduction the issue
names gets a 200 (a readable answer where a person is waiting), one WARNING line that names the kind
and the field but no value, no ERROR line, and leaves the database exactly as it was."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from bot.domain import checklist
from bot.testing.slack_emulator import HttpResult, SignedSender
from storage.models import Base
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, SIGNING_SECRET, Harness
from tests.test_e2e_communities import (
    add_channel,
    create_community,
    initial_values,
    open_form,
    requests,
    say,
    shown,
)

JSON = dict[str, Any]

UNREADABLE = {
    "en": "Slack sent a request I could not read",
    "fr": "Slack a envoyé une requête que je n'ai pas pu lire",
}
UNREADABLE_FIELD = {
    "en": "I could not read this answer: please choose or type it again.",
    "fr": "Je n'ai pas pu lire cette réponse : choisissez-la ou saisissez-la à nouveau.",
}
TOO_LONG_ID = "U" + "X" * 40  # memberships.user_id is String(32)


# ---- a seeded workspace (tests/test_fuzz.py captures its payloads from it too) ---------------------
@dataclass
class Seeded:
    urbanism: int  # open, on #general; ALICE moderates, BRUNO is a member
    trust: int  # protected, on #trust; CHLOE's request to join waits
    request_id: int
    review_id: int  # ALICE's review of Urbanism, on demand
    views: dict[str, JSON]  # callback_id -> the modal as Slack (the emulator) stores it


def seed(harness: Harness) -> Seeded:
    add_channel(harness, "CTRUST", "trust", members=[ALICE, DAVID])
    urbanism = create_community(harness, ALICE, "Urbanism").id
    trust = create_community(harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected").id
    say(harness, "join Urbanism", BRUNO)
    say(harness, "join Trust circle", CHLOE)
    views = {
        "community_create": open_form(harness, "create", ALICE),
        "community_settings": open_form(harness, "settings Urbanism", ALICE),
        "community_dissolve": open_form(harness, "dissolve Urbanism", ALICE),
        "community_join": open_form(harness, "join", DAVID),
        "review_checklist": open_form(harness, "review Urbanism", ALICE),
        "privacy_forget": open_form(harness, "privacy forget", BRUNO),
    }
    assert {callback: view["callback_id"] for callback, view in views.items()} == {c: c for c in views}
    review_id = json.loads(views["review_checklist"]["private_metadata"])["review_id"]
    harness.runtime.deps.background.drain()
    return Seeded(urbanism, trust, requests(harness)[0].id, review_id, views)


class PayloadRecorder(SignedSender):
    """Builds what SignedSender would post, without posting it: real payloads to break."""

    def __init__(self, harness: Harness) -> None:
        super().__init__(harness.url, SIGNING_SECRET, harness.emulator)
        self.sent: list[tuple[str, str]] = []

    def post(self, body: str, content_type: str, **_: Any) -> HttpResult:
        self.sent.append((body, content_type))
        return HttpResult(200, "", {})


def built(harness: Harness, send: Callable[[SignedSender], object]) -> JSON:
    """The payload (interactivity), body (events) or fields (slash commands) `send` would post."""
    recorder = PayloadRecorder(harness)
    send(recorder)
    body, content_type = recorder.sent[-1]
    if content_type == "application/json":
        parsed: JSON = json.loads(body)
        return parsed
    fields = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
    return json.loads(fields["payload"]) if "payload" in fields else fields


def snapshot(harness: Harness) -> dict[str, list[str]]:
    """Every row of every table: "nothing changed" compares two of these."""
    harness.runtime.deps.background.drain()
    with harness.db.session() as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)).all())
            for table in Base.metadata.sorted_tables
        }


# ---- the reproductions -------------------------------------------------------------------------------
def filled(seeded: Seeded, callback: str) -> JSON:
    """A valid submission of each modal: its initial values, completed where the form needs more."""
    view = seeded.views[callback]
    completed: dict[str, JSON] = {
        "community_create": {"name": "Safe streets", "domain": "Streets", "channel": "CGENERAL"},
        "community_join": {"community": str(seeded.trust)},
        "review_checklist": {
            **{f"item_{item}": "yes" for item in checklist.ITEMS},
            checklist.DECISION_FIELD: "continue",
        },
    }
    return {**initial_values(view), **completed.get(callback, {})}


def submission(harness: Harness, seeded: Seeded, callback: str, user: str = ALICE) -> JSON:
    view = seeded.views[callback]
    values = filled(seeded, callback)
    return built(harness, lambda s: s.view_submission(view, user, values))


def with_metadata(metadata: str, callback: str = "community_dissolve") -> Callable[[Harness, Seeded], JSON]:
    def make(harness: Harness, seeded: Seeded) -> JSON:
        payload = submission(harness, seeded, callback)
        payload["view"]["private_metadata"] = metadata
        return payload

    return make


def with_state(
    callback: str, block: str, state: JSON, user: str = ALICE
) -> Callable[[Harness, Seeded], JSON]:
    def make(harness: Harness, seeded: Seeded) -> JSON:
        payload = submission(harness, seeded, callback, user)
        values = payload["view"]["state"]["values"]
        values[block] = {next(iter(values.get(block) or {block: None})): state}
        return payload

    return make


def approve(harness: Harness, seeded: Seeded) -> JSON:
    return built(
        harness, lambda s: s.block_action(ALICE, "join_request_approve", value=str(seeded.request_id))
    )


def event_body(event: Any) -> Callable[[Harness, Seeded], JSON]:
    return lambda harness, _: built(harness, lambda s: s.event(event))


def changed(make: Callable[[Harness, Seeded], JSON], **changes: Any) -> Callable[[Harness, Seeded], JSON]:
    def make_changed(harness: Harness, seeded: Seeded) -> JSON:
        payload = make(harness, seeded)
        payload.update(changes)
        return payload

    return make_changed


def create_command(user: str) -> Callable[[Harness, Seeded], JSON]:
    def make(harness: Harness, _: Seeded) -> JSON:
        fields = built(harness, lambda s: s.command("create", user))
        del fields["trigger_id"]
        return fields

    return make


def message(user: Any) -> JSON:
    return {"type": "message", "channel": "CGENERAL", "user": user, "text": "hi", "ts": "1772442000.000100"}


@dataclass
class Case:
    make: Callable[[Harness, Seeded], JSON]
    kind: str  # how it is posted: command, interactive, event
    field: str  # what the WARNING line names
    answer: str = "empty"  # empty | update | errors:<block> | command
    lang: str = "en"
    secret: str | None = None  # a value the log line must not show


CASES = {
    "event-null": Case(event_body(None), "event", "event"),
    "event-user-7": Case(event_body(message(7)), "event", "event.user"),
    "event-user-too-long": Case(event_body(message(TOO_LONG_ID)), "event", "event.user", secret=TOO_LONG_ID),
    "member-joined-user-too-long": Case(
        event_body({"type": "member_joined_channel", "user": TOO_LONG_ID, "channel": "CGENERAL"}),
        "event",
        "event.user",
        secret=TOO_LONG_ID,
    ),
    "reaction-item-x": Case(
        event_body({"type": "reaction_added", "user": BRUNO, "reaction": "tada", "item": "x"}),
        "event",
        "event.item",
    ),
    "action-user-7": Case(changed(approve, user=7), "interactive", "user"),
    "action-user-too-long": Case(
        changed(approve, user={"id": TOO_LONG_ID, "team_id": "T0CDP"}),
        "interactive",
        "user.id",
        secret=TOO_LONG_ID,
    ),
    "actions-empty": Case(changed(approve, actions=[]), "interactive", "actions"),
    "action-value-bogus": Case(
        lambda h, s: built(h, lambda x: x.block_action(ALICE, "review_start", value="bogus")),
        "interactive",
        "actions[0].value",
        secret="bogus",
    ),
    "action-value-out-of-int-range": Case(
        lambda h, s: built(h, lambda x: x.block_action(ALICE, "join_request_decline", value="2147483648")),
        "interactive",
        "actions[0].value",
        secret="2147483648",
    ),
    "view-user-7": Case(
        changed(with_metadata('{"community_id": 1}'), user=7), "interactive", "user", "update"
    ),
    "metadata-infinity": Case(
        with_metadata('{"community_id": Infinity}'), "interactive", "view.private_metadata", "update"
    ),
    "metadata-list": Case(with_metadata("[1]"), "interactive", "view.private_metadata", "update"),
    "metadata-out-of-int-range": Case(
        with_metadata('{"community_id": 2147483648}', "community_settings"),
        "interactive",
        "view.private_metadata",
        "update",
        secret="2147483648",
    ),
    "review-metadata-nan": Case(
        with_metadata('{"review_id": NaN}', "review_checklist"),
        "interactive",
        "view.private_metadata",
        "update",
    ),
    "join-option-bogus": Case(
        with_state(
            "community_join", "community", {"type": "static_select", "selected_option": {"value": "bogus"}}
        ),
        "interactive",
        "view.state.values",
        "errors:community",
        secret="bogus",
    ),
    "cadence-option-bogus-fr": Case(
        with_state(
            "community_create",
            "cadence",
            {"type": "static_select", "selected_option": {"value": "bogus", "text": {"type": "plain_text"}}},
            user=BRUNO,
        ),
        "interactive",
        "view.state.values",
        "errors:cadence",
        lang="fr",
        secret="bogus",
    ),
    "checklist-answer-bogus": Case(
        with_state(
            "review_checklist", "decision", {"type": "radio_buttons", "selected_option": {"value": "bogus"}}
        ),
        "interactive",
        "view.state.values",
        "errors:decision",
        secret="bogus",
    ),
    "selected-option-without-value": Case(
        with_state(
            "community_join", "community", {"type": "static_select", "selected_option": {"text": "x"}}
        ),
        "interactive",
        "view.state.values",
        "errors:community",
    ),
    "create-without-trigger-id": Case(create_command(ALICE), "command", "trigger_id", "command"),
    "create-without-trigger-id-fr": Case(
        create_command(BRUNO), "command", "trigger_id", "command", lang="fr"
    ),
}


@pytest.fixture
def seeded(harness: Harness) -> Seeded:
    return seed(harness)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every log record at WARNING or above, from any logger, while the test runs."""
    captured: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = captured.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    yield captured
    root.removeHandler(handler)


def send(harness: Harness, kind: str, payload: JSON) -> HttpResult:
    if kind == "command":
        return harness.slack.post_form(payload)
    if kind == "interactive":
        return harness.slack.post_payload(payload)
    return harness.slack.post(json.dumps(payload), "application/json")


@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_payload_is_answered_and_changes_nothing(
    harness: Harness, seeded: Seeded, records: list[logging.LogRecord], name: str
) -> None:
    case = CASES[name]
    payload = case.make(harness, seeded)
    before = snapshot(harness)
    records.clear()

    result = send(harness, case.kind, payload)

    assert result.status == 200, result.text
    answer = result.json()
    if case.answer == "empty":
        assert answer is None
    elif case.answer == "command":
        assert answer["response_type"] == "ephemeral"
        assert UNREADABLE[case.lang] in answer["text"]
    elif case.answer == "update":
        assert answer["response_action"] == "update"
        assert UNREADABLE[case.lang] in shown(answer["view"])
    else:
        block = case.answer.split(":", 1)[1]
        assert answer == {"response_action": "errors", "errors": {block: UNREADABLE_FIELD[case.lang]}}
    assert snapshot(harness) == before
    assert requests(harness)[0].status == "pending"
    # One WARNING line naming the kind and the field, no value; nothing at ERROR.
    assert [r.levelname for r in records] == ["WARNING"], [(r.name, r.getMessage()) for r in records]
    fields = getattr(records[0], "fields", {})
    assert fields["field"].startswith(case.field), fields
    assert fields["kind"] in ("slash_command", "block_actions", "view_submission", "event_callback")
    line = records[0].getMessage() + json.dumps(fields, ensure_ascii=False)
    for secret in filter(None, [case.secret, "Infinity", "NaN", "UALICE", "UBRUNO"]):
        assert secret not in line


def test_the_same_payloads_well_formed_are_accepted(harness: Harness, seeded: Seeded) -> None:
    """The cases above break real payloads: unbroken, the same payloads do their work."""
    result = harness.slack.post_payload(approve(harness, seeded))
    assert result.status == 200
    assert requests(harness)[0].status == "approved"
    payload = with_metadata(json.dumps({"community_id": seeded.urbanism}))(harness, seeded)
    assert harness.slack.post_payload(payload).json() is None  # dissolved
    fields = built(harness, lambda s: s.command("create", ALICE))
    assert harness.slack.post_form(fields).text == ""  # the modal opened
