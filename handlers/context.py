"""Listener middleware: put the dependencies and the user's language in Bolt's context once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import normalise_language
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


def user_language(deps: Deps, client: WebClient, user_id: str) -> str:
    """The user's Slack locale mapped to fr/en; the configured default when Slack does not say."""
    cached = deps.languages.get(user_id)
    if cached is not None:
        return cached
    default = deps.settings.default_language
    try:
        user = client.users_info(user=user_id, include_locale=True).get("user") or {}
    except SlackApiError as exc:
        log.warning("users.info failed", extra={"fields": {"error": exc.response.get("error")}})
        return default
    language = normalise_language(user.get("locale"), default)
    deps.languages[user_id] = language
    return language


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
