"""The app factory: build_app(deps) -> a Bolt App with every handlers/ module registered."""

from __future__ import annotations

import logging
import math
import threading
import time
import urllib.error
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from bot import metrics
from bot.background import Answering
from bot.domain.commands import known_subcommand, parse
from bot.logs import REQUEST_LOGGER, log_fields
from bot.runtime import Deps
from bot.settings import Settings
from handlers.commands import SUBCOMMANDS

request_log = logging.getLogger(REQUEST_LOGGER)
log = logging.getLogger("cdp_bot.slack")


def describe_request(req: BoltRequest) -> dict[str, Any]:
    """Kind, team and type of a Slack request, for the log line. Never text, never tokens."""
    return describe_payload(req.body if isinstance(req.body, dict) else {})


def describe_payload(body: dict[str, Any]) -> dict[str, Any]:
    """`describe_request` of a payload (a request answered without Bolt's dispatch: bot/server.py)."""
    kind = str(body.get("type") or ("slash_command" if "command" in body else "unknown"))
    team = body.get("team_id") or (body["team"].get("id") if isinstance(body.get("team"), dict) else None)
    detail: str | None = None
    if kind == "slash_command":
        # The subcommand's name only when it is one of ours: any other word is what someone typed.
        name = known_subcommand(parse(str(body.get("text") or "")).name, SUBCOMMANDS)
        detail = f"{body.get('command')} {name or 'unknown'}"
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
    """A Bolt App that writes one structured line per request, whatever the transport, and says while it
    answers one (`answering`: the outbox worker lets answers go first)."""

    answering: Answering | None = None

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        if self.answering is None:
            response = super().dispatch(req)
        else:
            with self.answering.request():
                response = super().dispatch(req)
        seconds = time.perf_counter() - started
        fields = describe_request(req)
        if req.headers.get("x-slack-retry-num"):
            fields["retry"] = req.headers["x-slack-retry-num"][0]
        record_request(fields, response.status, seconds)
        return response


def record_request(fields: dict[str, Any], status: int, seconds: float) -> None:
    """A request's one log line and its metrics (by kind and outcome), whichever path answered it: Bolt's
    dispatch, a message counted without it, a request refused before it (bot/server.py)."""
    outcome = "ok" if status < 400 else "error"
    log_fields(
        request_log,
        "request",
        **fields,
        status=status,
        outcome=outcome,
        latency_ms=round(seconds * 1000, 1),
    )
    metrics.observe_request(str(fields["kind"]), outcome, seconds)


class CountingClient(WebClient):
    """A WebClient whose calls are counted by method and error (bot/metrics.py): every client of the app
    is one, so /metrics sees the request path, the outbox and the scheduled jobs alike."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            metrics.observe_slack_call(api_method, slack_error_code(exc))
            raise
        except Exception:
            metrics.observe_slack_call(api_method, "unreachable")
            raise
        metrics.observe_slack_call(api_method)
        return response


def slack_error_code(exc: SlackApiError) -> str:
    """Slack's error code (`ratelimited` for a 429), else the HTTP status: a closed set of labels."""
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    if exc.response.status_code == 429:
        return "ratelimited"
    return str(error) if error else f"http_{exc.response.status_code}"


class RequestClient(CountingClient):
    """The client of the request path (the one Bolt hands to listeners): a short timeout, no retries,
    and no sleeping through a 429. A method Slack rate-limited is not called again before its
    Retry-After has passed: the caller gets the same SlackApiError at once, and answers without it
    (DESIGN.md, the request path). Network failures become SlackApiError("slack_unreachable"), so every
    caller handles one kind of refusal."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        # urllib takes a float timeout; slack_sdk only annotates it as int.
        super().__init__(timeout=timeout, retry_handlers=[], **kwargs)  # type: ignore[arg-type]
        self._paused: dict[str, float] = {}
        self._pause_lock = threading.Lock()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        with self._pause_lock:
            until = self._paused.get(api_method, 0.0)
        if time.monotonic() < until:
            raise self._refusal(
                api_method, "ratelimited", 429, {"Retry-After": str(math.ceil(until - time.monotonic()))}
            )
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                wait = float(exc.response.headers.get("Retry-After", 30) or 30)
                with self._pause_lock:
                    self._paused[api_method] = time.monotonic() + wait
            raise
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.info(
                "Slack did not answer in time",
                extra={"fields": {"method": api_method, "error": type(exc).__name__}},
            )
            raise self._refusal(api_method, "slack_unreachable", 503, {}) from exc

    def _refusal(self, api_method: str, error: str, status: int, headers: dict[str, str]) -> SlackApiError:
        response = SlackResponse(
            client=self,
            http_verb="POST",
            api_url=f"{self.base_url}{api_method}",
            req_args={},
            data={"ok": False, "error": error},
            headers=headers,
            status_code=status,
        )
        return SlackApiError(f"{api_method}: {error}", response)  # type: ignore[no-untyped-call]


def request_client(settings: Settings) -> RequestClient:
    return RequestClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=settings.slack_request_timeout,
    )


def worker_client(settings: Settings) -> WebClient:
    """The outbox worker's client: no retries of its own, the outbox owns them (Retry-After, backoff)."""
    return CountingClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10, retry_handlers=[]
    )


def background_client(settings: Settings) -> WebClient:
    """Scheduled jobs and the backfill: off the request path, they may wait out a 429 (Retry-After)."""
    return CountingClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), CountedRateLimitRetries(max_retry_count=3)],
    )


class CountedRateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's wait-and-retry on a 429, which also counts the 429 it waits out: the retry happens
    inside one `api_call`, so CountingClient alone would see only the final answer."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            metrics.observe_slack_call(request.url.rsplit("/", 1)[-1].split("?", 1)[0], "ratelimited")
        return bool(super()._can_retry(state=state, request=request, response=response, error=error))


class _SameTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then warns that
    the token is unused (slack_bolt/app/app.py): it is the same token, the warning only alarms operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def not_installed_message() -> str:
    """What Bolt answers a command or an interaction from a workspace with no installation: one text
    for every request, so in both languages."""
    from bot.i18n import t

    return f"{t('install.uninstalled', 'en')}\n{t('install.uninstalled', 'fr')}"


def build_app(deps: Deps) -> CdpApp:
    from handlers import first_middleware

    settings = deps.settings
    bolt_logger = logging.getLogger("slack_bolt.App")
    bolt_logger.addFilter(_SameTokenWarning())
    workspaces = deps.workspaces
    several: dict[str, Any] = {}
    if workspaces is not None and workspaces.oauth:
        # Several workspaces: Bolt's authorize finds each request's workspace token in the installation
        # store; the app's own client has no token (it only makes the install's oauth.v2.access call).
        client: WebClient = request_client(settings.model_copy(update={"slack_bot_token": None}))
        several = {
            "oauth_flow": workspaces.oauth_flow(client),
            "authorize": workspaces.authorize(),
            "user_facing_authorize_error_message": not_installed_message(),
        }
    else:
        client = workspaces.single("request") if workspaces is not None else request_client(settings)
    app = CdpApp(
        name="cdp-bot",  # without it, Bolt inspects the call stack to name the app
        client=client,
        signing_secret=settings.slack_signing_secret,
        # The HTTP server checks the signature and timestamp before anything is parsed (bot/server.py
        # slack_events: a forged request touches nothing); Bolt checking them again cost a second HMAC per
        # request. Socket Mode has no signature. Every request reaching dispatch is checked once.
        request_verification_enabled=False,
        before_authorize=first_middleware(deps),  # refuses payloads our handlers could not read
        # Finish the work (and commit it) before answering Slack: an acknowledged event is never lost,
        # and a failed one gets a 500 so Slack retries it.
        process_before_response=True,
        logger=bolt_logger,
        **several,
    )
    from handlers import register_all

    register_all(app, deps)
    app.answering = deps.answering
    return app
