"""Listener middleware: put the dependencies and the user's language in Bolt's context once, and
refuse a replayed command or interaction before any listener sees it."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot.i18n import LANGUAGES, t
from bot.runtime import Deps
from bot.services import replays
from bot.services.replays import ReplayClaim
from bot.views.common import ephemeral

log = logging.getLogger(__name__)

INTERACTIVE = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


def register(app: App, deps: Deps) -> None:
    app.middleware(AttachContext(deps, app.client))


class AttachContext(Middleware):
    """Puts the dependencies, the request client and the acting user's language in Bolt's context, and
    refuses a replay. A Middleware subclass, not a function: Bolt builds a function middleware's
    keyword arguments by inspection on every request (~25 us each, on every event)."""

    def __init__(self, deps: Deps, request_client: WebClient) -> None:
        self.deps = deps
        # Bolt gives each request a new plain WebClient copied from app.client's settings, not the app's
        # RequestClient itself: the pause after a 429 (shared by all requests) and the fast
        # "slack_unreachable" refusal would be lost, so a timeout would raise through the listeners. Every
        # listener gets this one (one workspace, one bot token; several workspaces would need one such
        # client per team: `workspaces`, in OAuth mode).
        self.request_client = request_client
        workspaces = deps.workspaces
        self.workspaces = workspaces if workspaces is not None and workspaces.oauth else None

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        context, body, deps = req.context, req.body, self.deps
        context["deps"] = deps
        client = self.request_client
        if self.workspaces is not None:
            # Several workspaces: the token Bolt's authorize found for this request's workspace (none
            # for the events that need no installation, app_uninstalled and tokens_revoked).
            token = context.bot_token
            if token is not None:
                client = self.workspaces.client_for_token(token, "request")
            self.workspaces.seen(context.team_id, context.enterprise_id, bool(context.is_enterprise_install))
        context["client"] = client
        user_id = acting_user(body)
        if user_id is not None:
            # A form says which language it was opened in: its submission needs no Slack call for it.
            context["lang"] = language_of_view(body) or deps.people.language(client, user_id)
        if replayed(deps, body):
            return replay_refused(body, lang_of(context))
        return next()


def with_language(view: dict[str, Any], lang: str, user_id: str) -> dict[str, Any]:
    """The modal, remembering in its private_metadata the language it is written in, for whom."""
    raw = view.get("private_metadata") or ""
    try:
        metadata = json.loads(raw) if raw else {}
    except ValueError:
        return view
    if not isinstance(metadata, dict):
        return view
    return {**view, "private_metadata": json.dumps({**metadata, "lang": lang, "for": user_id})}


def language_of_view(body: dict[str, Any]) -> str | None:
    """The language a submitted (or closed) modal was written in, when it says (see with_language) and
    the person submitting it is the one it was opened for."""
    view = body.get("view")
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if body.get("type") not in ("view_submission", "view_closed") or not isinstance(raw, str) or not raw:
        return None
    try:
        metadata = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(metadata, dict) or metadata.get("for") != acting_user(body):
        return None
    lang = metadata.get("lang")
    return lang if lang in LANGUAGES else None


def replay_key(body: dict[str, Any]) -> str | None:
    """Slack never resends a command or an interaction, and gives each one a fresh trigger_id: the
    same trigger_id twice is somebody replaying a signed request (valid for 5 minutes)."""
    trigger = body.get("trigger_id")
    interactive = "command" in body or body.get("type") in INTERACTIVE
    if not interactive or not isinstance(trigger, str) or not trigger:
        return None
    return "trigger:" + (trigger if len(trigger) <= 56 else hashlib.sha256(trigger.encode()).hexdigest()[:56])


def replay_claim(body: dict[str, Any]) -> ReplayClaim | None:
    """What a command or an interaction claims before anything is done (None: nothing to claim)."""
    key = replay_key(body)
    if key is None:
        return None
    team = body.get("team")
    team_id = str(body.get("team_id") or (team.get("id") if isinstance(team, dict) else "") or "")[:32]
    return ReplayClaim(team_id, key)


def replayed(deps: Deps, body: dict[str, Any]) -> bool:
    claim = replay_claim(body)
    if claim is None:
        return False
    # A light commit: a claim lost in a database crash would only let that one replay through.
    first = replays.first_use(deps.db, team_id=claim.team_id, key=claim.key, now=deps.clock.now())
    if not first:
        log_replay(body)
    return not first


def log_replay(body: dict[str, Any]) -> None:
    kind = "slash_command" if "command" in body else str(body.get("type"))
    log.warning("replayed request refused", extra={"fields": {"kind": kind}})


def replay_refused(body: dict[str, Any], lang: str) -> BoltResponse:
    """Nothing is done again; a command says so, an interaction changes nothing."""
    if "command" in body:
        return BoltResponse(
            status=200,
            body=json.dumps(command_replay_refused(lang)),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    return BoltResponse(status=200, body="")


def command_replay_refused(lang: str) -> dict[str, Any]:
    return ephemeral(t("delivery.replayed", lang))


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
