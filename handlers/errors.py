"""One error handler for every listener: a polite message for the user, a log line for us."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.i18n import FALLBACK as DEFAULT_LANGUAGE
from bot.i18n import t
from bot.runtime import Deps
from bot.views.common import error_modal
from handlers import slack
from handlers.context import lang_of

log = logging.getLogger("cdp_bot.errors")


def register(app: App) -> None:
    app.error(unexpected_error_callback)


def unexpected_error_callback(
    error: Exception, body: dict[str, Any], context: BoltContext, response: BoltResponse | None
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
    deps = context.get("deps")
    lang = lang_of(context) if isinstance(deps, Deps) else DEFAULT_LANGUAGE
    message = t("errors.unexpected", lang)
    response.status = 200
    response.headers["content-type"] = ["application/json;charset=utf-8"]
    if kind == "view_submission":
        response.body = json.dumps({"response_action": "update", "view": error_modal(lang, message)})
        return
    if kind == "slash_command":
        response.body = json.dumps(unexpected_error_answer(lang))
        return
    response.body = ""
    if isinstance(deps, Deps) and context.user_id:
        _tell_later(deps, body, lang, message)


def unexpected_error_answer(lang: str) -> dict[str, Any]:
    """A command's answer when its handler failed."""
    return {"response_type": "ephemeral", "text": t("errors.unexpected", lang)}


def _tell_later(deps: Deps, body: dict[str, Any], lang: str, message: str) -> None:
    """A button whose handler failed was acknowledged already: say so through the outbox (the
    response_url, else a DM), never with a Slack call on the request path. If the database is what
    failed, this fails too: logged, and the ack stands."""
    try:
        with deps.db.session() as session:
            slack.tell(session, body, lang, message)
    except Exception:
        log.warning("could not tell the user about an unexpected error", exc_info=True)
