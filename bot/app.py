"""The app factory: build_app(deps) -> a Bolt App with every handlers/ module registered."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.logs import REQUEST_LOGGER, log_fields
from bot.runtime import Deps

request_log = logging.getLogger(REQUEST_LOGGER)


def describe_request(req: BoltRequest) -> dict[str, Any]:
    """Kind, team and type of a Slack request, for the log line. Never text, never tokens."""
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    kind = str(body.get("type") or ("slash_command" if "command" in body else "unknown"))
    team = body.get("team_id") or (body["team"].get("id") if isinstance(body.get("team"), dict) else None)
    detail: str | None = None
    if kind == "slash_command":
        text = str(body.get("text") or "").strip()
        detail = f"{body.get('command')} {text.split(' ', 1)[0]}".strip()  # the subcommand only
    elif kind == "event_callback":
        event = _dict(body.get("event"))
        detail = str(event.get("type")) + (f"/{event['subtype']}" if event.get("subtype") else "")
    elif kind == "block_actions":
        actions = body.get("actions")
        detail = ",".join(
            str(_dict(a).get("action_id")) for a in (actions if isinstance(actions, list) else [])
        )
    elif kind in ("view_submission", "view_closed"):
        detail = str(_dict(body.get("view")).get("callback_id"))
    return {"kind": kind, "team": team, "type": detail}


def _dict(value: Any) -> dict[str, Any]:
    """A part of a payload the gate may have refused: the log line still describes it, never raises."""
    return value if isinstance(value, dict) else {}


class CdpApp(App):
    """A Bolt App that writes one structured line per request, whatever the transport."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        response = super().dispatch(req)
        fields = describe_request(req)
        if req.headers.get("x-slack-retry-num"):
            fields["retry"] = req.headers["x-slack-retry-num"][0]
        log_fields(
            request_log,
            "request",
            **fields,
            status=response.status,
            outcome="ok" if response.status < 400 else "error",
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response


def make_client(deps: Deps) -> WebClient:
    # Slack's 429 comes with Retry-After; slack_sdk's handler waits it out, so a message still goes out.
    return WebClient(
        token=deps.settings.slack_bot_token,
        base_url=deps.settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=3)],
    )


def build_app(deps: Deps) -> CdpApp:
    from handlers import first_middleware

    settings = deps.settings
    app = CdpApp(
        client=make_client(deps),
        signing_secret=settings.slack_signing_secret,
        request_verification_enabled=not settings.socket_mode,
        before_authorize=first_middleware(deps),  # refuses payloads our handlers could not read
        # Finish the work (and commit it) before answering Slack: an acknowledged event is never lost,
        # and a failed one gets a 500 so Slack retries it.
        process_before_response=True,
        logger=logging.getLogger("slack_bolt.App"),
    )
    from handlers import register_all

    register_all(app, deps)
    return app
