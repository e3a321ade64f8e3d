"""manifest.yml declares what the app handles, and the app handles what manifest.yml declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers.registry import REGISTERED
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parent.parent


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def declared_events() -> set[str]:
    """Event types as Bolt sees them: `message.channels` and `message.groups` arrive as `message`."""
    events = manifest()["settings"].get("event_subscriptions", {}).get("bot_events", [])
    return {event.split(".")[0] for event in events}


def test_manifest_shape() -> None:
    data = manifest()
    assert data["features"]["bot_user"]["display_name"]
    commands = data["features"]["slash_commands"]
    assert all(c["usage_hint"] and c["description"] for c in commands)
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is True
    scopes = data["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert "commands" in scopes and "chat:write" in scopes


def test_every_registered_command_and_event_is_declared(harness: Harness) -> None:
    # The harness has built the app, so every handler module has registered its listeners.
    declared_commands = {c["command"] for c in manifest()["features"]["slash_commands"]}
    assert REGISTERED["commands"] == declared_commands
    assert REGISTERED["events"] == declared_events()


def test_interactivity_is_declared_when_actions_or_views_exist(harness: Harness) -> None:
    if REGISTERED["actions"] or REGISTERED["views"]:
        assert manifest()["settings"]["interactivity"]["is_enabled"] is True


@pytest.mark.parametrize("event_type", sorted(declared_events()))
def test_every_declared_event_is_handled(harness: Harness, event_type: str) -> None:
    """Bolt answers 404 to an event nobody listens to; every declared one must get 200."""
    event: dict[str, Any] = {"type": event_type, "user": "UALICE", "channel": "CUNBOUND", "event_ts": "1.0"}
    if event_type.endswith("_rename"):
        event["channel"] = {"id": "CUNBOUND", "name": "renamed"}
    assert harness.slack.event(event).status == 200
