"""Fuzz (issue 8): real signed payloads of every kind the app handles, broken by hypothesis, posted over
HTTP into the real app. Whatever arrives, the app answers below 500, logs nothing at ERROR, and still
answers /healthz. Fixed seed and a bounded budget, so it runs in the normal suite."""

from __future__ import annotations

import copy
import json
import logging
import math
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.commands import SUBCOMMANDS
from handlers.registry import REGISTERED
from tests.conftest import ALICE, BRUNO, CHLOE, Harness
from tests.test_e2e_malformed import PRODUCT_MESSAGE, Seeded, built, filled, seed

EXAMPLES = 1000  # per database; each example posts one or two payloads
JSON = dict[str, Any]
Path = tuple[str | int, ...]


# ---- what Slack sends, captured from the emulator's SignedSender in a seeded workspace ---------------
@dataclass(frozen=True)
class Sample:
    kind: str  # command | interactive | event
    label: str  # e.g. "/cdp join", "view_submission community_settings", "event reaction_added"
    data: Any  # form fields, the interactivity payload, or the Events API body


COMMAND_ARGUMENTS = {
    "join": "Urbanism",
    "leave": "Urbanism",
    "info": "Urbanism",
    "moderators": "add <@UCHLOE> Urbanism",
    "settings": "Urbanism",
    "dissolve": "Urbanism",
    "review": "Urbanism",
    "circles": "Urbanism",
    "privacy": "export",
}


def capture(harness: Harness, seeded: Seeded) -> list[Sample]:
    samples: list[Sample] = []

    def add(kind: str, label: str, send: Any) -> None:
        samples.append(Sample(kind, label, built(harness, send)))

    for name in SUBCOMMANDS:  # every subcommand, and the forms that open a modal without argument
        text = f"{name} {COMMAND_ARGUMENTS.get(name, '')}".strip()
        add("command", f"/cdp {name}", lambda s, text=text: s.command(text, BRUNO))
    add("command", "/cdp join (form)", lambda s: s.command("join", CHLOE))
    add("command", "/cdp privacy forget", lambda s: s.command("privacy forget", CHLOE))

    assert REGISTERED["views"] <= set(seeded.views), "capture a real view of every callback"
    for callback in sorted(REGISTERED["views"]):
        view = seeded.views[callback]
        values = filled(seeded, callback)
        add(
            "interactive",
            f"view_submission {callback}",
            lambda s, v=view, x=values: s.view_submission(v, ALICE, x),
        )
        add("interactive", f"view_closed {callback}", lambda s, v=view: s.view_closed(v, ALICE))

    assert REGISTERED["shortcuts"] == {"save_product"}, "capture a real payload of every shortcut"
    add(
        "interactive",
        "message_action save_product",
        lambda s: s.message_shortcut(ALICE, "save_product", "CGENERAL", PRODUCT_MESSAGE),
    )

    values = {
        "join_request_approve": seeded.request_id,
        "join_request_decline": seeded.request_id,
        "review_start": seeded.review_id,
        "review_snooze": seeded.review_id,
        "alert_greeted": seeded.urbanism,
        "community_join_suggested": seeded.urbanism,  # the Join button under "did you mean X?"
        "onramp_not_now": seeded.urbanism,  # "Not now" under a newcomer's welcome
        # Pairing (issue 10, item 3)
        "onramp_intro_me": seeded.urbanism,
        "lurkers_introduce": json.dumps({"c": seeded.urbanism, "u": [BRUNO]}),
        "pairing_toggle": "off",
        "pairing_outcome_yes": 1,
        "pairing_outcome_notyet": 1,
        "pairing_outcome_no": 1,
        # App Home's own buttons
        "home_create": "create",
        "home_more": "1",
        "home_first": "0",
        "home_export": "export",
        "home_forget": "forget",
        "home_review_now": seeded.urbanism,
        "home_join": seeded.urbanism,
        "home_info": seeded.urbanism,
        "directory_page": 2,
        "help_list": "list",
        "help_me": "me",
        "help_create": "create",
        "lurkers_post_welcome": json.dumps({"c": seeded.urbanism, "u": [BRUNO]}),
        "key_people_reinvite": seeded.urbanism,  # issue 11 item 7
        # Follow-ups and the sponsor (issue 11 item 5)
        "follow_up_make": f"{seeded.decided_review_id}:enough_people",
        "follow_up_done": seeded.follow_up_id,
        "follow_up_sponsor": seeded.decided_review_id,
        # The inner circle's pulse of a review (issue 11 item 4)
        "review_pulse_ask": seeded.review_id,
        "review_pulse_yes": seeded.review_id,
        "review_pulse_partly": seeded.review_id,
        "review_pulse_no": seeded.review_id,
    }
    assert REGISTERED["actions"] <= set(values), "give every block action a real value"
    for action_id in sorted(REGISTERED["actions"]):
        value = str(values[action_id])
        add(
            "interactive",
            f"block_actions {action_id}",
            lambda s, a=action_id, v=value: s.block_action(ALICE, a, value=v),
        )

    ts = f"{harness.clock.now().timestamp():.6f}"
    events: dict[str, JSON] = {
        "message": {"type": "message", "channel": "CGENERAL", "user": BRUNO, "text": "hi", "ts": ts},
        "reaction_added": {
            "type": "reaction_added",
            "user": BRUNO,
            "reaction": "tada",
            "item": {"type": "message", "channel": "CGENERAL", "ts": ts},
            "event_ts": ts,
        },
        "member_joined_channel": {"type": "member_joined_channel", "user": CHLOE, "channel": "CGENERAL"},
        "member_left_channel": {"type": "member_left_channel", "user": BRUNO, "channel": "CGENERAL"},
    }
    for prefix, channel in (("channel", "CGENERAL"), ("group", "CTRUST")):
        events[f"{prefix}_archive"] = {"type": f"{prefix}_archive", "channel": channel, "user": ALICE}
        events[f"{prefix}_unarchive"] = {"type": f"{prefix}_unarchive", "channel": channel, "user": ALICE}
        events[f"{prefix}_rename"] = {
            "type": f"{prefix}_rename",
            "channel": {"id": channel, "name": "renamed", "created": 1772442000},
        }
    events["app_home_opened"] = {"type": "app_home_opened", "user": CHLOE, "channel": "DCHLOE", "tab": "home"}
    assert REGISTERED["events"] <= set(events), "capture an event of every type the app listens to"
    for event_type in sorted(REGISTERED["events"]):
        add("event", f"event {event_type}", lambda s, e=events[event_type]: s.event(e))
    return samples


# ---- how to break them ------------------------------------------------------------------------------
def deep(depth: int) -> Any:
    node: Any = "x"
    for level in range(depth):
        node = [node] if level % 2 else {"a": node}
    return node


SPECIAL_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    7,
    2147483647,
    2147483648,
    2**63,
    10**30,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    "",
    " ",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "0x10",
    "١٢",  # digits int() accepts
    " 7 ",
    "bogus",
    "U" + "X" * 40,  # a Slack id longer than the columns
    "ualice",
    "UALICE\n",
    "C" * 32,
    "x" * 5000,
    "é" * 3000,
    "\u202e\u0000\ufeff",
    "<@UALICE>",
    # Well-formed but wrong for the place: they pass the gate and reach the handlers.
    "UDAVID",
    "UBOT",
    "USLACKBOT",
    "CTRUST",
    "TOTHER",
    "1",
    "2",
    "999999",
    '{"community_id": Infinity}',
    "[1]",
    '{"community_id": 2147483648}',
    '{"review_id": -1}',
    "{",
    [],
    {},
    [1],
    {"id": 7},
    {"value": 7},
    deep(60),
]

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
)
junk = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    json_leaves,
    st.recursive(
        json_leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    ),
)


def paths(node: Any, prefix: Path = ()) -> list[Path]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def at(node: Any, path: Path) -> Any:
    for step in path:
        node = node[step]
    return node


def mutate(data: st.DataObject, root: Any, kind: str) -> tuple[Any, str]:
    """One change somewhere in the payload: drop, replace, duplicate or truncate; or the same inside a
    string that holds JSON (private_metadata)."""
    candidates = [p for p in paths(root) if p] if kind == "command" else paths(root)
    candidates = [p for p in candidates if kind != "command" or len(p) == 1]
    path = data.draw(st.sampled_from(candidates), label="path")
    op = data.draw(
        st.sampled_from(["drop", "replace", "replace", "duplicate", "truncate", "inside"]), label="op"
    )
    target = at(root, path)
    if op == "inside" and isinstance(target, str) and target.startswith(("{", "[")):
        try:
            inner = json.loads(target)
        except ValueError:
            inner = None
        if isinstance(inner, (dict, list)):
            changed, how = mutate(data, inner, "json")
            return replace(root, path, json.dumps(changed)), f"inside {path}: {how}"
    if op == "drop" and path:
        parent = at(root, path[:-1])
        del parent[path[-1]]
        return root, f"drop {path}"
    if op == "duplicate" and isinstance(target, list) and target:
        target.append(copy.deepcopy(target[data.draw(st.integers(0, len(target) - 1))]))
        return root, f"duplicate in {path}"
    if op == "truncate" and isinstance(target, (str, list)) and target:
        return replace(root, path, target[: data.draw(st.integers(0, len(target) - 1))]), f"truncate {path}"
    value = copy.deepcopy(data.draw(junk, label="value"))  # SPECIAL_VALUES' objects stay as they are
    if kind == "command" and not isinstance(value, str):
        value = json.dumps(value)
    return replace(root, path, value), f"replace {path}"


def replace(root: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    at(root, path[:-1])[path[-1]] = value
    return root


def encode(kind: str, data: Any) -> tuple[str, str]:
    if kind == "command":
        return urlencode(data), "application/x-www-form-urlencoded"
    if kind == "interactive":
        return urlencode({"payload": json.dumps(data)}), "application/x-www-form-urlencoded"
    return json.dumps(data), "application/json"


def raw_mutation(data: st.DataObject, kind: str, original: Any, body: str) -> tuple[str, str]:
    """Changes only the text can carry: a key given twice, a second payload field, a cut body."""
    op = data.draw(st.sampled_from(["none"] * 6 + ["duplicate_key", "truncate_body"]), label="raw")
    if op == "truncate_body" and body:
        return body[: data.draw(st.integers(0, len(body) - 1))], "truncate body"
    if op == "duplicate_key" and isinstance(original, dict) and original:
        key = data.draw(st.sampled_from(sorted(original, key=str)))
        other = data.draw(junk)
        if kind == "event" and body.startswith("{"):
            pair = f"{json.dumps(key)}: {json.dumps(other)}"
            first = data.draw(st.booleans())
            body = "{" + pair + ", " + body[1:] if first else body[:-1] + ", " + pair + "}"
            return body, f"duplicate key {key!r}"
        extra = urlencode({"payload" if kind == "interactive" else key: json.dumps(other)})
        return (extra + "&" + body) if data.draw(st.booleans()) else (body + "&" + extra), "duplicate field"
    return body, ""


# ---- the test -----------------------------------------------------------------------------------------
@pytest.fixture
def errors() -> Iterator[list[logging.LogRecord]]:
    """Log records at ERROR or above, from any logger and any thread, while the test runs."""
    captured: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = captured.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    yield captured
    root.removeHandler(handler)


def test_fuzzed_signed_payloads_never_get_a_500_nor_an_error_line(
    harness: Harness, errors: list[logging.LogRecord]
) -> None:
    seeded = seed(harness)
    samples = capture(harness, seeded)
    kinds = {sample.label.split(" ")[0] for sample in samples}
    assert kinds == {"/cdp", "view_submission", "view_closed", "block_actions", "message_action", "event"}
    sent: list[tuple[str, str, int]] = []
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples), label="sample")
        payload = copy.deepcopy(sample.data)
        if sample.kind == "event" and isinstance(payload, dict):
            payload["event_id"] = f"EvFUZZ{len(sent):06d}"  # a new delivery, not a retry
        hows = []
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            payload, how = mutate(data, payload, sample.kind)
            hows.append(how)
            if sample.kind == "command" and not isinstance(payload, dict):
                break
        body, content_type = encode(sample.kind, payload)
        body, how = raw_mutation(data, sample.kind, payload, body)
        hows.append(how)
        times = 2 if data.draw(st.integers(0, 9), label="resend") == 0 else 1  # Slack retries, replays
        for _ in range(times):
            before = len(errors)
            result = harness.slack.post(body, content_type)
            sent.append((sample.label, "; ".join(filter(None, hows)), result.status))
            if result.status >= 500 or len(errors) > before:
                logged = [
                    f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" for r in errors[before:] if r.exc_info
                ]
                failures.append(
                    f"{result.status} {sample.label}: {'; '.join(filter(None, hows))}\n    {body[:300]!r}"
                    + "".join(f"\n    {line[:300]}" for line in logged)
                )

    fuzz()
    harness.runtime.deps.background.drain()
    with urllib.request.urlopen(f"{harness.url}/healthz", timeout=10) as response:
        assert response.status == 200
    fives = [s for s in sent if s[2] >= 500]
    statuses = Counter(status for _, _, status in sent)
    print(f"fuzz: {len(sent)} payloads sent, answers {dict(statuses)}, {len(errors)} ERROR records")
    assert not failures, f"{len(fives)} of {len(sent)} payloads got >= 500:\n" + "\n".join(failures[:40])
    assert [(r.name, r.getMessage()) for r in errors] == []
    assert len(sent) >= EXAMPLES
