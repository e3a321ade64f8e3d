"""The stage: the real app (Runtime, served over HTTP), the emulated Slack around it, a manual clock, and
a recorder of what each person sees.

Built the way the end-to-end tests build it (tests/conftest.py `Harness`), from package code: the app
starts as production starts it, with SLACK_API_URL pointing at the emulator and the emulator's token.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import ManualClock
from bot.outbox import RateLimiter
from bot.server import HttpServer, Runtime
from bot.settings import Settings
from bot.testing.slack_emulator import HttpResult, SignedSender, SlackEmulator

JSON = dict[str, Any]
SPEEDUP = 10_000.0


@dataclass
class Entry:
    """One thing a person (or a channel) saw, at the demo clock's time."""

    at: datetime
    target: str  # a user id (their DMs, ephemerals, modals, Home) or a channel id (its posts)
    kind: str  # typed | answer | dm | ephemeral | post | modal | home | note
    payload: JSON = field(default_factory=dict)  # a message (text, blocks) or a view
    typed: str = ""  # what the person typed or did, for `typed` entries


class Recorder:
    """Turns the emulator's recorded Web API calls into entries, each attributed to whom it reached."""

    def __init__(self, emulator: SlackEmulator) -> None:
        self.emulator = emulator
        self.entries: list[Entry] = []
        self._calls = 0
        self._responses = 0
        self.files: dict[str, bytes] = {}  # uploaded file id -> bytes (the charts)

    def note(
        self, at: datetime, target: str, kind: str, *, typed: str = "", payload: JSON | None = None
    ) -> None:
        self.entries.append(Entry(at, target, kind, payload or {}, typed))

    def collect(self, at: datetime, actor: str | None) -> None:
        """Everything Slack received since the last collect: messages, modals, Homes, uploads."""
        with self.emulator.lock:
            calls = self.emulator.calls[self._calls :]
            self._calls = len(self.emulator.calls)
            responses = self.emulator.responses[self._responses :]
            self._responses = len(self.emulator.responses)
        for call in calls:
            response = call.response or {}
            if not response.get("ok"):
                continue
            params = call.params
            if call.method == "chat.postMessage":
                target = self._person_of(str(params.get("channel") or ""))
                kind = "dm" if target.startswith(("U", "W")) else "post"
                self.note(at, target, kind, payload=_message(params))
            elif call.method == "chat.postEphemeral":
                self.note(at, str(params.get("user") or ""), "ephemeral", payload=_message(params))
            elif call.method in ("views.open", "views.push", "views.update") and actor:
                self.note(at, actor, "modal", payload=dict(response.get("view") or {}))
            elif call.method == "views.publish":
                self.note(
                    at, str(params.get("user_id") or ""), "home", payload=dict(params.get("view") or {})
                )
            elif call.method == "files.completeUploadExternal":
                for item in params.get("files") or []:
                    file_id = str(item.get("id") or "")
                    if file_id and file_id not in self.files:
                        self.files[file_id] = self.emulator.uploaded_bytes(file_id)
        for _, body in responses:
            if actor and isinstance(body, dict) and (body.get("text") or body.get("blocks")):
                self.note(at, actor, "answer", payload=_message(body))

    def _person_of(self, channel: str) -> str:
        """A DM channel (D...) stands for the person it is with."""
        found = self.emulator.channels.get(channel)
        if found and found.get("is_im"):
            return str(found.get("user") or channel)
        return channel


def _message(params: JSON) -> JSON:
    blocks = params.get("blocks")
    if isinstance(blocks, str):  # slack_sdk may send blocks as a JSON string in a form body
        blocks = json.loads(blocks)
    return {"text": params.get("text") or "", "blocks": blocks or []}


class Stage:
    """The real app on loopback, the emulated workspace, the demo clock, and what everyone saw."""

    def __init__(self, database_url: str, start: datetime, *, default_language: str = "en") -> None:
        self.emulator = SlackEmulator(team_domain="cdp-demo").start()
        secret = secrets.token_hex(16)
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN=self.emulator.token,
            SLACK_SIGNING_SECRET=secret,
            SLACK_API_URL=self.emulator.api_url,
            DATABASE_URL=database_url,
            DEFAULT_LANGUAGE=default_language,
            # A demo's database is thrown away: no need to wait for the disk at each commit.
            COMMIT_DURABILITY="fast",
            LOG_LEVEL="WARNING",
        )
        self.clock = ManualClock(start)
        try:
            self.runtime = Runtime.start(settings, clock=self.clock, run_scheduler=False)
        except BaseException:
            self.emulator.stop()
            raise
        assert self.runtime.deps.outbox is not None
        # The outbox paces its calls to Slack's rate tiers in real time (a message a second per channel,
        # 50 to 100 calls a minute per method). The demo plays six months in under a minute, so its Slack
        # (the emulator) runs on the demo's pace too: the tiers are kept, on a clock SPEEDUP times faster.
        self.runtime.deps.outbox.limiter = RateLimiter(lambda: time.monotonic() * SPEEDUP)
        self.server = HttpServer(self.runtime)
        self.slack = SignedSender(self.server.start(), secret, self.emulator)
        self.recorder = Recorder(self.emulator)

    def close(self) -> None:
        self.server.stop()
        self.runtime.close()
        self.emulator.stop()

    # ---- time and delivery ------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def set(self, when: datetime) -> None:
        self.clock.set(when)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def settle(self, actor: str | None = None, *, include_later: bool = False) -> None:
        """Wait for the backfills and the outbox, then record what Slack received. A delivery Slack
        refused for now (a backoff, in real seconds) goes out at a later settle; `include_later` waits
        for it too (the last one)."""
        deps = self.runtime.deps
        deps.background.drain(30.0)
        assert deps.outbox is not None
        deps.outbox.drain(30.0, include_later=include_later)
        self.recorder.collect(self.now(), actor)

    # ---- what people do ---------------------------------------------------------------------
    def command(self, user: str, text: str, channel: str) -> JSON | None:
        """`user` types `/cdp text`; returns the modal it opened, if any."""
        self.settle()
        self.recorder.note(self.now(), user, "typed", typed=f"/cdp {text}".strip())
        before = len(self.emulator.opened_views())
        result = self.slack.command(text, user, channel=channel)
        self._answer(result, user)
        self.settle(user)
        views = self.emulator.opened_views()
        return self.emulator.last_view() if len(views) > before else None

    def submit(self, user: str, view: JSON, values: JSON, what: str) -> JSON | None:
        """`user` fills in `view` and submits it; returns the answer (field errors, or None when closed)."""
        self.settle()
        self.recorder.note(self.now(), user, "typed", typed=what)
        result = self.slack.view_submission(view, user, values)
        self.settle(user)
        answer = result.json() if result.text else None
        return answer if isinstance(answer, dict) else None

    def press(
        self, user: str, action_id: str, value: str, what: str, *, block_id: str, channel: str | None = None
    ) -> None:
        """`user` presses a button of a message they received."""
        self.settle()
        self.recorder.note(self.now(), user, "typed", typed=what)
        result = self.slack.block_action(user, action_id, value=value, block_id=block_id, channel=channel)
        self._answer(result, user)
        self.settle(user)

    def event(self, event: JSON, actor: str | None = None) -> None:
        """An Events API callback, at the demo clock's time (the app decides the day from it)."""
        result = self.slack.event(event, event_time=int(self.now().timestamp()))
        if result.status != 200:
            raise RuntimeError(f"the app refused an event: {result.status} {result.text[:200]}")
        if actor is not None:
            self.settle(actor)

    def _answer(self, result: HttpResult, user: str) -> None:
        if result.status != 200:
            raise RuntimeError(f"the app answered {result.status}: {result.text[:200]}")
        body = result.json() if result.text else None
        if isinstance(body, dict) and (body.get("text") or body.get("blocks")):
            self.recorder.note(self.now(), user, "answer", payload=_message(body))
