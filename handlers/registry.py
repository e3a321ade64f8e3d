"""Register listeners and remember what was registered, so manifest.yml can be checked against it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App

Listener = Callable[..., Any]

REGISTERED: dict[str, set[str]] = {
    "commands": set(),
    "events": set(),
    "actions": set(),
    "views": set(),
    "shortcuts": set(),
}


def command(app: App, name: str, listener: Listener) -> None:
    REGISTERED["commands"].add(name)
    app.command(name)(listener)


def event(app: App, name: str, listener: Listener, **matcher: Any) -> None:
    REGISTERED["events"].add(name)
    app.event({"type": name, **matcher} if matcher else name)(listener)


def action(app: App, action_id: str, listener: Listener) -> None:
    REGISTERED["actions"].add(action_id)
    app.action(action_id)(listener)


def shortcut(app: App, callback_id: str, listener: Listener) -> None:
    """A global or message shortcut (manifest.yml `features.shortcuts`)."""
    REGISTERED["shortcuts"].add(callback_id)
    app.shortcut(callback_id)(listener)


def view(app: App, callback_id: str, listener: Listener) -> None:
    REGISTERED["views"].add(callback_id)
    app.view(callback_id)(listener)
    app.view_closed(callback_id)(_ack_only)


def _ack_only(ack: Any) -> None:
    ack()
