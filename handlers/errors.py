"""One error handler for every listener: a polite message for the user, a log line for us."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.i18n import t
from bot.views.common import error_modal
from handlers.context import lang_of

log = logging.getLogger("cdp_bot.errors")


def register(app: App) -> None:
    app.error(unexpected_error_callback)


def unexpected_error_callback(
    error: Exception,
    body: dict[str, Any],
    context: BoltContext,
    response: BoltResponse | None,
    respond: Respond | None,
    client: WebClient,
) -> None:
    kind = "slash_command" if "command" in body else str(body.get("type"))
    log.error(
        "unexpected error",
        exc_info=error,
        extra={"fields": {"kind": kind, "team": context.team_id, "user": context.user_id}},
    )
    if kind == "event_callback" or response is None:
        # Keep the 500 for events: Slack retries, and the retry is counted once.
        return
    lang = lang_of(context)
    message = t("errors.unexpected", lang)
    response.status = 200
    response.headers["content-type"] = ["application/json;charset=utf-8"]
    if kind == "view_submission":
        response.body = json.dumps({"response_action": "update", "view": error_modal(lang, message)})
        return
    if kind == "slash_command":
        response.body = json.dumps({"response_type": "ephemeral", "text": message})
        return
    response.body = ""
    if respond is not None and body.get("response_url"):
        respond(text=message, response_type="ephemeral", replace_original=False)
    elif context.user_id:
        client.chat_postMessage(channel=context.user_id, text=message)
