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
from handlers import gate, payloads
from handlers.registry import REGISTERED
from storage.models import Base, FollowUp
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
    decided_review_id: int = 0  # ALICE's decided review of Trust circle, with "no" items (issue 11 item 5)
    follow_up_id: int = 0  # a follow-up made of it


def seed(harness: Harness) -> Seeded:
    add_channel(harness, "CTRUST", "trust", members=[ALICE, DAVID], is_private=True, bot_is_member=True)
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
        "product_save": save_product_form(harness),
    }
    views["follow_up_create"], decided, follow_up_id = follow_up_form(harness)
    assert {callback: view["callback_id"] for callback, view in views.items()} == {c: c for c in views}
    review_id = json.loads(views["review_checklist"]["private_metadata"])["review_id"]
    harness.runtime.deps.background.drain()
    return Seeded(urbanism, trust, requests(harness)[0].id, review_id, views, decided, follow_up_id)


def follow_up_form(harness: Harness) -> tuple[JSON, int, int]:
    """A decided review of Trust circle answering two items "no": the "Make it a follow-up" modal of one
    (issue 11, item 5), and a follow-up already made of the other; (the modal, the review, the follow-up)."""
    view = open_form(harness, "review Trust circle", ALICE)
    review_id = int(json.loads(view["private_metadata"])["review_id"])
    answers = {f"item_{item}": "yes" for item in checklist.ITEMS}
    answers.update(item_enough_people="no", item_key_people="no", decision="continue")
    assert harness.slack.view_submission(view, ALICE, answers).status == 200
    harness.drain()
    forms = []
    for item in ("key_people", "enough_people"):
        value = f"{review_id}:{item}"
        assert harness.slack.block_action(ALICE, "follow_up_make", value=value, channel="DM").status == 200
        forms.append(harness.emulator.last_view())
    made = {**initial_values(forms[0]), "text": "Invite the mobility office"}
    assert harness.slack.view_submission(forms[0], ALICE, made).text == ""
    with harness.db.session() as session:
        follow_up_id = session.scalars(select(FollowUp.id)).one()
    return forms[1], review_id, follow_up_id


PRODUCT_MESSAGE = {"type": "message", "user": BRUNO, "ts": "1772442000.000100"}  # in #general (Urbanism)


def save_product_form(harness: Harness) -> JSON:
    """The message shortcut "Save as a product of this CdP" on a message of Urbanism's channel."""
    assert harness.slack.message_shortcut(ALICE, "save_product", "CGENERAL", PRODUCT_MESSAGE).status == 200
    return harness.emulator.last_view()


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
        "product_save": {"title": "Street design guide"},
        "follow_up_create": {"text": "Ask the planning office"},
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
    # PostgreSQL refuses NUL in text: Slack never sends one, a broken payload may.
    "channel-renamed-with-nul": Case(
        event_body({"type": "group_rename", "channel": {"id": "CTRUST", "name": "a\u0000b", "created": 1}}),
        "event",
        "event.channel.name",
    ),
    "form-text-with-nul": Case(
        with_state("community_create", "name", {"type": "plain_text_input", "value": "Safe\u0000streets"}),
        "interactive",
        "view.state.values",
        "errors:name",
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


# ---- and what Slack really sends still passes ---------------------------------------------------------
# Shapes from Slack's documentation (api.slack.com: the events' pages, "block_actions payloads",
# "view_submission payloads", "Slash commands"), with our action and callback ids: the gate must not be
# stricter than Slack is. Enterprise users (W...), DMs (D...), private channels (G...), null fields.
ENVELOPE = {
    "token": "XXYYZZ",
    "team_id": "T123ABC456",
    "api_app_id": "A123ABC456",
    "type": "event_callback",
    "authed_users": ["U123ABC456"],
    "authorizations": [
        {
            "enterprise_id": None,
            "team_id": "T123ABC456",
            "user_id": "U0BOT0001",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ],
    "event_id": "Ev123ABC456",
    "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMTIzIn0",
    "event_time": 1234567890,
    "is_ext_shared_channel": False,
    "context_team_id": "T123ABC456",
    "context_enterprise_id": None,
}
DOCUMENTED_EVENTS = [
    {
        "type": "message",
        "channel": "C123ABC456",
        "user": "U123ABC456",
        "text": "Hi",
        "ts": "1355517523.000005",
    },
    {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C123ABC456",
        "ts": "1358878755.000001",
        "message": {"type": "message", "user": "U123ABC456", "text": "Hi", "ts": "1355517523.000005"},
        "previous_message": {
            "type": "message",
            "user": "U123ABC456",
            "text": "Ho",
            "ts": "1355517523.000005",
        },
        "event_ts": "1358878755.000001",
    },
    {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": "C123ABC456", "ts": "1.2"},
    {
        "type": "message",
        "subtype": "bot_message",
        "channel": "C123ABC456",
        "ts": "1358877455.000010",
        "text": "Pushing is the answer",
        "bot_id": "BB12033",
        "username": "github",
        "icons": {},
    },
    {
        "type": "message",
        "channel": "D123ABC456",
        "user": "W123ABC456",
        "text": "in a DM",
        "ts": "1355517523.000005",
        "channel_type": "im",
        "team": "T123ABC456",
        "blocks": [{"type": "rich_text", "block_id": "a1B", "elements": []}],
        "client_msg_id": "5c6c5ef8-0f1a-4c6b-8e0b-2d1a8b5a9b8c",
    },
    {
        "type": "reaction_added",
        "user": "U123ABC456",
        "reaction": "thumbsup",
        "item_user": "U222222222",
        "item": {"type": "message", "channel": "C123ABC456", "ts": "1360782400.498405"},
        "event_ts": "1360782804.083113",
    },
    {
        "type": "reaction_added",
        "user": "U123ABC456",
        "reaction": "thumbsup",
        "item": {"type": "file", "file": "F123ABC456"},
        "event_ts": "1360782804.083113",
    },
    {
        "type": "member_joined_channel",
        "user": "W123ABC456",
        "channel": "C123ABC456",
        "channel_type": "C",
        "team": "T123ABC456",
        "inviter": "U123ABC456",
    },
    {
        "type": "member_left_channel",
        "user": "W123ABC456",
        "channel": "G123ABC456",
        "channel_type": "G",
        "team": "T1",
    },
    {"type": "channel_archive", "channel": "C024BE91L", "user": "U024BE7LH", "is_moved": 0},
    {"type": "channel_unarchive", "channel": "C024BE91L", "user": "U024BE7LH"},
    {"type": "channel_rename", "channel": {"id": "C02ELGNBH", "name": "new_name", "created": 1360782804}},
    {"type": "group_archive", "channel": "G024BE91L"},
    {"type": "group_unarchive", "channel": "G024BE91L"},
    {
        "type": "group_rename",
        "channel": {
            "id": "G02ELGNBH",
            "name": "new_name",
            "created": 1360782804,
            "is_channel": False,
            "is_group": True,
            "is_mpim": False,
        },
    },
]
DOCUMENTED_INTERACTIONS = [
    {
        "type": "block_actions",
        "team": {"id": "T9TK3CUKW", "domain": "example"},
        "user": {"id": "UA8RXUSPL", "username": "jtorrance", "name": "jtorrance", "team_id": "T9TK3CUKW"},
        "api_app_id": "AABA1ABCD",
        "token": "9s8d9as89d8as9d8as989",
        "container": {
            "type": "message",
            "message_ts": "1548261231.000200",
            "channel_id": "DBR2V3XEX",
            "is_ephemeral": False,
        },
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "DBR2V3XEX", "name": "directmessage"},
        "message": {
            "bot_id": "BAH5CA16Z",
            "type": "message",
            "text": "",
            "user": "UAJ2RU415",
            "ts": "1548261231.000200",
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
        "actions": [
            {
                "action_id": "join_request_approve",
                "block_id": "=qXel",
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "value": "42",
                "type": "button",
                "style": "primary",
                "action_ts": "1548426417.840180",
            }
        ],
    },
    {
        "type": "view_submission",
        "team": {"id": "T0MJRM1A7", "domain": "pandamonium"},
        "user": {"id": "W0MJRM1A7", "username": "ada", "name": "ada", "team_id": "T0MJRM1A7"},
        "api_app_id": "A0MJRM1A7",
        "token": "Shh_its_a_seekrit",
        "trigger_id": "12466734323.1395872398.0ba3b0a5a2b7c2b1a5b5a5a2b7c2b1a5",
        "view": {
            "id": "VNHU13V36",
            "team_id": "T0MJRM1A7",
            "type": "modal",
            "private_metadata": '{"community_id": 42}',
            "callback_id": "community_dissolve",
            "state": {"values": {}},
            "hash": "156663117.cd33ad1f",
            "title": {"type": "plain_text", "text": "Dissolve"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Dissolve"},
            "blocks": [{"type": "section", "block_id": "kR1", "text": {"type": "mrkdwn", "text": "Sure?"}}],
            "previous_view_id": None,
            "root_view_id": "VNHU13V36",
            "app_id": "A0MJRM1A7",
            "external_id": "",
            "app_installed_team_id": "T0MJRM1A7",
            "bot_id": "B0MJRM1A7",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    },
    {
        "token": "XXYYZZ",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    },
]
DOCUMENTED_COMMAND = {
    "token": "gIkuvaNzQIHg97ATvDxqgjtO",
    "team_id": "T0001",
    "team_domain": "example",
    "enterprise_id": "E0001",
    "enterprise_name": "Globular Construct Inc",
    "channel_id": "C2147483705",
    "channel_name": "test",
    "user_id": "U2147483697",
    "user_name": "Steve",
    "command": "/cdp",
    "text": "join Urbanism",
    "response_url": "https://hooks.slack.com/commands/1234/5678",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "api_app_id": "A123456",
    "is_enterprise_install": "false",
}


@pytest.mark.parametrize(
    "payload",
    [
        *({**ENVELOPE, "event": event} for event in DOCUMENTED_EVENTS),
        *DOCUMENTED_INTERACTIONS,
        DOCUMENTED_COMMAND,
    ],
    ids=lambda p: str(
        p.get("command")
        or (p.get("event") or {}).get("subtype")
        or (p.get("event") or {}).get("type")
        or p["type"]
    ),
)
def test_what_slack_documents_passes_the_gate(payload: JSON) -> None:
    assert gate.check(payload) is None


def test_the_gate_knows_every_event_and_form_the_app_handles(harness: Harness) -> None:
    """A new event type or form needs its model here, or its payloads reach the handler unchecked."""
    assert REGISTERED["events"] <= set(payloads.EVENTS)
    assert set(payloads.CHOICES) | set(payloads.METADATA_IDS) <= REGISTERED["views"]
    assert REGISTERED["actions"] >= payloads.ID_ACTIONS


@pytest.mark.parametrize("kind", ["event", "interactive"])
def test_a_payload_nested_deeper_than_the_parser_goes_is_a_400(
    harness: Harness, records: list[logging.LogRecord], kind: str
) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    if kind == "event":
        result = harness.slack.post('{"type": "event_callback", "event": ' + nested + "}", "application/json")
    else:
        result = harness.slack.post_form({"payload": '{"type": "block_actions", "actions": ' + nested + "}"})
    assert result.status == 400
    assert [r for r in records if r.levelno >= logging.ERROR] == []
