"""Listener middleware: put the dependencies and the user's language in Bolt's context once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.people import user_language as user_language  # re-exported for the handlers
from bot.runtime import Deps

log = logging.getLogger(__name__)

INTERACTIVE = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


def register(app: App, deps: Deps) -> None:
    @app.middleware
    def attach_context(
        context: BoltContext, body: dict[str, Any], client: WebClient, next: Callable[[], None]
    ) -> None:
        context["deps"] = deps
        user_id = acting_user(body)
        if user_id is not None:
            context["lang"] = user_language(deps, client, user_id)
        next()


def acting_user(body: dict[str, Any]) -> str | None:
    """The person who typed the command or pressed the button; None for Events API callbacks."""
    if "command" in body:
        return str(body.get("user_id") or "") or None
    if body.get("type") in INTERACTIVE:
        user = body.get("user") or {}
        return str(user.get("id") or "") or None
    return None


class Interaction(NamedTuple):
    """Who pressed or submitted what, where, in which language: read once per modal or button."""

    deps: Deps
    lang: str
    user_id: str
    team_id: str


def interaction(context: BoltContext, body: dict[str, Any]) -> Interaction:
    return Interaction(deps_of(context), lang_of(context), str(body["user"]["id"]), str(body["team"]["id"]))


def deps_of(context: BoltContext) -> Deps:
    deps = context["deps"]
    assert isinstance(deps, Deps)
    return deps


def lang_of(context: BoltContext) -> str:
    language = context.get("lang")
    return str(language) if language else deps_of(context).settings.default_language
