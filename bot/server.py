"""Run modes: HTTP behind uvicorn (`/slack/events`, `/healthz`, `/readyz`, `/metrics`) or Socket Mode (the
same `/healthz`, `/readyz` and `/metrics` on PORT)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs

import uvicorn
from slack_bolt import BoltRequest
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import backfill, metrics
from bot.app import CdpApp, background_client, build_app, describe_payload, record_request, worker_client
from bot.clock import Clock, SystemClock
from bot.logs import REQUEST_LOGGER, log_fields
from bot.outbox import OutboxWorker
from bot.runtime import Deps
from bot.scheduler import build_scheduler
from bot.settings import HINTS, Settings
from bot.workspaces import INSTALL_PATH, REDIRECT_PATH, Workspaces
from handlers import direct
from handlers.activity import (
    COUNT_ON_LOOP,
    MessageToCount,
    NothingToCount,
    ReactionToCount,
    answered_without_io,
    count_on_loop,
    count_reaction_on_loop,
    counts_on_loop,
    ignored,
    is_message_event,
    message_to_count,
    reaction_to_count,
)
from handlers.direct import DirectCommand, command_to_answer
from handlers.errors import unexpected_error_answer
from handlers.gate import unreadable_by_bolt
from storage.db import Database
from storage.migrate import current_revision, head_revision, upgrade

log = logging.getLogger("cdp_bot.server")
request_log = logging.getLogger(REQUEST_LOGGER)


class StartupError(Exception):
    """A problem an operator can fix; printed as one line, no traceback."""


# Slack's own refusals of a token: the token is what to fix, not the network. Anything else Slack
# answers is reported as it is, and a transport failure as "could not be reached".
TOKEN_REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "access_denied",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
# How long the start-up checks wait for Slack: a network that drops packets fails in seconds, not minutes.
SLACK_CHECK_TIMEOUT = 10
# slack_sdk logs each failed attempt at ERROR; the StartupError line says it once, and says it better.
_check_log = logging.getLogger("cdp_bot.server.slack_check")
_check_log.setLevel(logging.CRITICAL)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _unreachable_reason(exc: BaseException, timeout: int) -> str:
    cause = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(cause, socket.gaierror):
        return f"the host name could not be resolved: {_one_line(cause.strerror or cause)}"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout} s"
    return _one_line(cause) or type(cause).__name__


# What a failed Slack call raises: Slack's ok:false answer, or the transport (URLError, refused, DNS,
# timeout, reset, a reply that is not HTTP).
SLACK_CALL_FAILURES = (SlackApiError, OSError, http.client.HTTPException)


def slack_problem(exc: BaseException, *, method: str, variable: str, api_url: str, timeout: int) -> str:
    """One line for a Slack call that failed at start: a refused token, an error, or no Slack at all."""
    if isinstance(exc, SlackApiError):
        error = _one_line(exc.response.get("error") or "no error code")
        if error in TOKEN_REFUSALS:
            return (
                f"{variable} was not accepted by the Slack API at {api_url} ({error}); "
                f"expected {HINTS[variable]}"
            )
        return (
            f"SLACK_API_URL: the Slack API at {api_url} answered {method} with an error "
            f"(HTTP {exc.response.status_code}: {error[:200]})"
        )
    return (
        f"Slack could not be reached at SLACK_API_URL={api_url} ({_unreachable_reason(exc, timeout)}); "
        "check the network, a proxy (HTTPS_PROXY) and SLACK_API_URL"
    )


def check_slack(settings: Settings, *, timeout: int = SLACK_CHECK_TIMEOUT) -> dict[str, Any]:
    """Prove the tokens before anything is written or started: auth.test with the bot token and, in
    Socket Mode, apps.connections.open with the app-level token. Returns auth.test's answer."""
    # No retry handlers: at start, a clear line at once beats a second wait for the same answer.
    client = WebClient(base_url=settings.slack_api_url, timeout=timeout, logger=_check_log, retry_handlers=[])
    method, variable = "auth.test", "SLACK_BOT_TOKEN"
    try:
        identity = client.auth_test(token=settings.slack_bot_token)
        if settings.slack_app_token is not None:
            method, variable = "apps.connections.open", "SLACK_APP_TOKEN"
            client.apps_connections_open(app_token=settings.slack_app_token)
    except SLACK_CALL_FAILURES as exc:
        problem = slack_problem(
            exc, method=method, variable=variable, api_url=settings.slack_api_url, timeout=timeout
        )
        raise StartupError(problem) from None
    answer = dict(identity.data) if isinstance(identity.data, dict) else {}
    log_fields(
        log,
        "Slack accepted the tokens",
        api_url=settings.slack_api_url,
        team=answer.get("team_id"),
        bot_user=answer.get("user_id"),
        mode="socket" if settings.socket_mode else "http",
    )
    return answer


def database_problem(url: str, exc: Exception) -> str:
    """One line naming the database (without its password) and what its driver said."""
    shown = make_url(url).render_as_string(hide_password=True)
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"DATABASE_URL: cannot use the database at {shown} ({type(cause).__name__}: {_one_line(cause)})"


@dataclass
class Runtime:
    """The running app: database, Bolt app and the scheduler's clock."""

    deps: Deps
    app: CdpApp
    scheduler: Any

    @classmethod
    def start(cls, settings: Settings, clock: Clock | None = None, *, run_scheduler: bool = True) -> Runtime:
        # First: a refused token or no network leaves no database behind. Several workspaces (OAuth) have
        # no token until someone installs the app: each is proven when its workspace installs.
        identity = {} if settings.oauth else check_slack(settings)
        if settings.oauth:
            log_fields(
                log, "several workspaces (OAuth)", api_url=settings.slack_api_url, install=INSTALL_PATH
            )
        db = Database(settings.database_url, durability=settings.commit_durability)
        try:
            upgrade(db.engine)
        except Exception as exc:
            db.dispose()
            raise StartupError(database_problem(settings.database_url, exc)) from exc
        log_fields(log, "database ready", database=make_url(settings.database_url).render_as_string())
        deps = Deps(settings=settings, db=db, clock=clock or SystemClock())
        deps.workspaces = workspaces = Workspaces(settings, db, deps.clock)
        try:
            app = build_app(deps)
        except Exception as exc:  # Bolt asks auth.test again at start: Slack may have failed in between.
            raise StartupError(
                f"the Slack API at {settings.slack_api_url} failed while the app started ({exc})"
            ) from exc
        deps.bot_user_id = str(identity.get("user_id") or "") or None
        # Pending deliveries (written before a crash or a restart) go out as soon as the worker runs.
        deps.outbox = OutboxWorker(
            db,
            worker_client(settings) if settings.oauth else workspaces.single("worker"),
            deps.people,
            default_language=settings.default_language,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            clock=deps.clock,
            retention=settings.retention_policy,
            # Several workspaces: each delivery goes out with its own workspace's token.
            client_for=(lambda team_id: workspaces.client_for(team_id, "worker")) if settings.oauth else None,
            answering=deps.answering,
        ).start()
        # (OAuth: the backfills take their workspace's client from deps.workspaces; the jobs only write
        # to the outbox.)
        deps.jobs_client = jobs_client = (
            background_client(settings) if settings.oauth else workspaces.single("jobs")
        )
        scheduler = build_scheduler(deps, jobs_client)
        if run_scheduler:
            scheduler.start()
        backfill.resume_all(deps)
        return cls(deps=deps, app=app, scheduler=scheduler)

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.deps.outbox is not None:
            self.deps.outbox.stop()
        self.deps.background.shutdown()
        self.deps.db.dispose()


def parsed_payload(body: bytes, content_type: str) -> dict[str, Any] | None:
    """A (correctly signed) body as the Slack payload it holds: the JSON object of an event, the
    interaction's `payload`, or a slash command's form fields; None when it is not a payload we could
    ever dispatch."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
            return None
        return parsed if isinstance(parsed, dict) and isinstance(parsed.get("type"), str) else None
    form = parse_qs(text)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except (ValueError, RecursionError):
            return None
        return payload if isinstance(payload, dict) and isinstance(payload.get("type"), str) else None
    if "command" in form or "ssl_check" in form:
        return {name: values[0] for name, values in form.items()}
    return None


def malformed(body: bytes, content_type: str) -> bool:
    """True when a (correctly signed) body is not a Slack payload we could ever dispatch."""
    return parsed_payload(body, content_type) is None


# Slack's payloads are bounded: a message's text is cut at 40,000 characters
# (https://api.slack.com/changelog/2018-04-truncating-really-long-messages), a modal has at most 100
# blocks and 3,000 characters of private_metadata (https://docs.slack.dev/reference/views/modal-views).
# The largest, a 40,000-character message of characters JSON escapes as 12 bytes each, repeated by its
# rich-text block, stays under 1 MB; twice that leaves room and still bounds what a request can hold.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_TIMESTAMP_DIGITS = 12  # a Unix time in seconds has 10 until the year 2286
EVENTS_PATH = "/slack/events"  # Slack's Request URL for events, commands and interactivity (manifest.yml)


class BodyTooLarge(Exception):
    pass


# The request headers `slack_events` reads, by the name ASGI gives them (lowercase bytes) and ours.
SLACK_HEADERS = {
    b"x-slack-request-timestamp": "timestamp",
    b"x-slack-signature": "signature",
    b"x-slack-retry-num": "retry",
    b"content-type": "content_type",
    b"content-length": "content_length",
}


def slack_headers(scope: Scope) -> dict[str, str]:
    """The headers `slack_events` reads, by our names: the first of each, as Starlette's `Headers.get`
    answers. Read in one pass over the request's, without a Starlette Request: with `read_body` (and the
    metric children bot/metrics.py looks up once), a counted message took 3-9% less time in side-by-side
    runs against the previous commit (bench/ab_events.py, 2026-12-01)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        ours = SLACK_HEADERS.get(name)
        if ours is not None and ours not in found:
            found[ours] = value.decode("latin-1")
    return found


async def read_body(receive: Receive, declared: str, limit: int) -> bytes:
    """The body, read message by message from the ASGI server and abandoned past `limit` bytes: never held
    whole when too big. `declared`: the Content-Length header, if any (a chunked body has none: counted as
    it comes). ClientDisconnect when the client leaves first, as Starlette's `Request.stream` raises."""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)  # one chunk (the usual body) comes back as it is, not copied


def plausible_headers(timestamp: str, signature: str) -> bool:
    """Headers the signature check can work on: Slack sends a decimal Unix time and an ASCII `v0=` hash.
    (The SDK's verifier raises on anything else, e.g. int("abc"), or compare_digest on non-ASCII.)"""
    return (
        0 < len(timestamp) <= MAX_TIMESTAMP_DIGITS
        and timestamp.isascii()
        and timestamp.isdigit()
        and signature.isascii()
        and signature.startswith("v0=")
    )


def asgi_app(runtime: Runtime) -> ASGIApp:
    settings = runtime.deps.settings
    verifier = SignatureVerifier(settings.slack_signing_secret or "")
    several = settings.oauth

    def rejected(status: int, reason: str, started: float) -> Response:
        record_request({"kind": "rejected", "reason": reason}, status, time.perf_counter() - started)
        return PlainTextResponse(reason, status_code=status)

    async def slack_events(scope: Scope, receive: Receive) -> Response:
        started = time.perf_counter()
        headers = slack_headers(scope)
        timestamp, signature = headers.get("timestamp", ""), headers.get("signature", "")
        # Checked before anything is parsed: a forged or stale (over 5 minutes) request touches nothing.
        if not plausible_headers(timestamp, signature):
            return rejected(401, "invalid signature or timestamp", started)
        try:
            body = await read_body(receive, headers.get("content_length", ""), MAX_BODY_BYTES)
        except BodyTooLarge:
            return rejected(413, "body too large", started)
        except ClientDisconnect:
            return rejected(400, "client disconnected", started)
        try:
            text = body.decode("utf-8")  # Slack sends UTF-8; anything else was not signed by Slack
        except UnicodeDecodeError:
            return rejected(401, "invalid signature or timestamp", started)
        if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            return rejected(401, "invalid signature or timestamp", started)
        payload = parsed_payload(body, headers.get("content_type", ""))
        if payload is None:
            return rejected(400, "malformed body", started)
        # An answer in progress, whichever path gives it: the outbox worker lets it go first
        # (bot.background.Answering; CdpApp.dispatch holds it too, for Socket Mode).
        with runtime.deps.answering.request():
            return await answer(scope, receive, headers, body, payload, started)

    async def answer(
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        body: bytes,
        payload: dict[str, Any],
        started: float,
    ) -> Response:
        """`headers`: what slack_headers read; `scope` and `receive` become a Starlette Request only for
        Bolt (its body already read: `body`)."""
        retry = headers.get("retry")
        if is_message_event(payload):
            message = message_to_count(runtime.deps, payload)
            if isinstance(message, MessageToCount):
                return await count_directly(runtime, payload, message, retry, started)
            if isinstance(message, NothingToCount):
                ignored()
                return answered_event(payload, retry, 200, started)
        elif (reaction := reaction_to_count(runtime.deps, payload)) is not None:
            if isinstance(reaction, ReactionToCount):
                return await count_directly(runtime, payload, reaction, retry, started)
            ignored()
            return answered_event(payload, retry, 200, started)
        elif (command := command_to_answer(runtime.deps, payload)) is not None:
            answered = await answer_directly(runtime, command, started)
            if answered is not None:
                return answered
        try:
            bolt_request = to_bolt_request(Request(scope, receive), body)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            # Bolt could not even find the user or team in it (`"user": 7`): the payload gate answers.
            bolt_response = await run_in_threadpool(
                unreadable_by_bolt,
                runtime.deps,
                runtime.app.client,
                body,
                headers.get("content_type", ""),
            )
            return to_starlette_response(bolt_response)
        if several:
            # Bolt's authorize reads the workspace's installation (the database) for every request: never
            # on the event loop.
            bolt_response = await run_in_threadpool(runtime.app.dispatch, bolt_request)
        elif answered_without_io(runtime.deps, payload):
            # Pure computation (most events: a channel no community counts): dispatched on the event
            # loop, like Bolt's own Starlette adapter does; the hop to a worker thread and back would
            # cost more (~60 us of CPU, ~150 us of latency here) than the dispatch itself.
            bolt_response = runtime.app.dispatch(bolt_request)
        elif counts_on_loop(runtime.deps, payload):
            return await count_message(runtime, bolt_request, started)
        else:
            bolt_response = await run_in_threadpool(runtime.app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    routes = [Route(EVENTS_PATH, slack_events, methods=["POST"]), *ops_routes(runtime)]
    if several:
        routes += install_routes(runtime)
    routed = Starlette(routes=routes)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Slack's requests, nearly all of this server's, go straight to `slack_events`, past Starlette's
        # router and its two middleware (their send wrappers wrap each of the response's two messages):
        # ~60 us per request here, ~4% of a counted message's time (2026-11-30, bench/ab_events.py).
        # `slack_events` answers every refusal itself; an unexpected exception reaches uvicorn, which logs
        # it and answers 500, as Starlette's ServerErrorMiddleware did. Any other path, or another method
        # (405), goes through Starlette.
        if scope["type"] == "http" and scope["path"] == EVENTS_PATH and scope["method"] == "POST":
            response = await slack_events(scope, receive)
            await response(scope, receive, send)
        else:
            await routed(scope, receive, send)

    return app


def install_routes(runtime: Runtime) -> list[Route]:
    """Several workspaces: "Add to Slack" and Slack's redirect back, through Bolt's OAuthFlow (as Bolt's
    own Starlette adapter maps them)."""
    flow = runtime.app.oauth_flow
    assert flow is not None

    async def install(request: Request) -> Response:
        bolt_request = to_bolt_request(request, b"")
        return to_starlette_response(await run_in_threadpool(flow.handle_installation, bolt_request))

    async def oauth_redirect(request: Request) -> Response:
        bolt_request = to_bolt_request(request, b"")
        return to_starlette_response(await run_in_threadpool(flow.handle_callback, bolt_request))

    return [
        Route(INSTALL_PATH, install, methods=["GET"]),
        Route(REDIRECT_PATH, oauth_redirect, methods=["GET"]),
    ]


def ops_routes(runtime: Runtime) -> list[Route]:
    """What an operator's probes and Prometheus read: served beside /slack/events over HTTP, and on PORT
    by a small server of their own in Socket Mode."""

    async def healthz(_: Request) -> Response:
        healthy = await run_in_threadpool(runtime.deps.db.ping)
        return JSONResponse(
            {"ok": healthy, "database": "up" if healthy else "down"}, status_code=200 if healthy else 503
        )

    async def readyz(_: Request) -> Response:
        ready = await run_in_threadpool(readiness, runtime.deps.db)
        return JSONResponse(ready, status_code=200 if ready["ok"] else 503)

    async def metrics_text(_: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition, runtime.deps.db)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]


def readiness(db: Database) -> dict[str, Any]:
    """Ready to serve: the database answers and its schema is this release's (migrations at head: a
    process started against a database another release migrated further, or not yet migrated, is not)."""
    try:
        current = current_revision(db.engine)
    except Exception:
        return {"ok": False, "database": "down", "migrations": "unknown"}
    head = head_revision()
    state = "at head" if current == head else f"at {current or 'none'}, expected {head}"
    return {"ok": current == head, "database": "up", "migrations": state}


async def count_message(runtime: Runtime, bolt_request: BoltRequest, started: float) -> Response:
    """A message event on PostgreSQL: Bolt dispatches it on the event loop (its listener only sets the
    count aside), then the count is awaited there (handlers.activity.count_on_loop): one statement and
    no worker thread for the usual message. Answered once the count is committed, like every event; a
    failed count answers 500, as a failed listener does, and Slack's retry is counted once."""
    later: list[MessageToCount] = []
    bolt_request.context[COUNT_ON_LOOP] = later
    bolt_response = runtime.app.dispatch(bolt_request)
    if later and bolt_response.status == 200:
        try:
            await count_on_loop(runtime.deps, later, run_in_threadpool)
        except Exception as error:
            log.error("unexpected error", exc_info=error, extra={"fields": {"kind": "event_callback"}})
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            log_fields(
                request_log,
                "request",
                kind="event_callback",
                status=500,
                outcome="error",
                latency_ms=latency_ms,
            )
            return PlainTextResponse("", status_code=500)
    return to_starlette_response(bolt_response)


async def count_directly(
    runtime: Runtime,
    payload: dict[str, Any],
    count: MessageToCount | ReactionToCount,
    retry: str | None,
    started: float,
) -> Response:
    """A human message or a person's reaction in a channel that may be counted, counted without Bolt's
    dispatch, which would only run `message_callback` or `reaction_callback` for it
    (handlers.activity.message_to_count and reaction_to_count say when); half the CPU of such an event
    was Bolt's request, middleware and listener matching. The count is made from the event loop
    (bot.services.circles.record_contribution_on_loop, record_reaction_on_loop: on PostgreSQL awaited
    there, on SQLite run there, together with the counts of other events sent at once; in a worker thread
    when another process holds SQLite's write lock). Logged and measured as
    CdpApp.dispatch does, answered once the count is committed; a failed count answers 500, so Slack
    retries it, and the retry is counted once."""
    status = 200
    try:
        if isinstance(count, MessageToCount):
            await count_on_loop(runtime.deps, [count], run_in_threadpool)
        else:
            await count_reaction_on_loop(runtime.deps, count, run_in_threadpool)
    except Exception as error:
        log.error("unexpected error", exc_info=error, extra={"fields": {"kind": "event_callback"}})
        status = 500
    return answered_event(payload, retry, status, started)


def answered_event(payload: dict[str, Any], retry: str | None, status: int, started: float) -> Response:
    """An event answered without Bolt's dispatch, logged and measured as CdpApp.dispatch does; `retry`:
    Slack's X-Slack-Retry-Num, if any."""
    fields = describe_payload(payload)
    if retry:
        fields["retry"] = retry
    record_request(fields, status, time.perf_counter() - started)
    return Response(b"", status_code=status)


async def answer_directly(runtime: Runtime, command: DirectCommand, started: float) -> Response | None:
    """A command answered without Bolt's dispatch, on the event loop (handlers/direct.py says which and
    why). Logged and measured as CdpApp.dispatch does; a failure answers what Bolt's error handler would:
    the generic apology in the person's language. None: Bolt answers it after all (handlers.direct.answer
    wrote nothing)."""
    try:
        body = await direct.answer(runtime.deps, command)
    except Exception as error:
        log.error("unexpected error", exc_info=error, extra={"fields": {"kind": "slash_command"}})
        body = unexpected_error_answer(command.lang)
    if body is None:  # Bolt answers it after all (nothing was written)
        return None
    record_request(describe_payload(command.payload), 200, time.perf_counter() - started)
    return JSONResponse(body)


def uvicorn_config(runtime: Runtime, host: str, port: int, *, ops_only: bool = False) -> uvicorn.Config:
    """`ops_only`: Socket Mode's server, with only the probes and /metrics (Slack comes over the socket)."""
    return uvicorn.Config(
        Starlette(routes=ops_routes(runtime)) if ops_only else asgi_app(runtime),
        host=host,
        port=port,
        log_config=None,  # our JSON logging stays in charge
        access_log=False,  # one line per request is ours (bot.app.CdpApp.dispatch)
        lifespan="off",
        timeout_graceful_shutdown=10,
    )


class _PromptServer(uvicorn.Server):
    """uvicorn for tests, demos and benchmarks, which start and stop a server per test. Stock uvicorn
    notices `should_exit` only every 0.1 s and then sleeps another 0.1 s for connections to wind down,
    even when there are none: most of a short test's time. This one notices within 10 ms and, with
    nothing in flight, closes at once; with requests in flight, uvicorn's graceful shutdown runs as is."""

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            for _ in range(10):  # on_tick keeps its 0.1 s cadence (it counts ticks for the Date header)
                await asyncio.sleep(0.01)
                if self.should_exit:
                    break
            counter = (counter + 1) % 864000
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # No await between this check and closing the listeners: no connection can slip in between.
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class HttpServer:
    """uvicorn in a background thread: how tests, demos and benchmarks serve the real app."""

    def __init__(
        self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0, *, ops_only: bool = False
    ) -> None:
        self.server = _PromptServer(uvicorn_config(runtime, host, port, ops_only=ops_only))
        self.thread = threading.Thread(target=self._serve, name="cdp-http", daemon=True)

    def _serve(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot listen: `start` says so
            self.server.run()

    def start(self, timeout: float = 10.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve_http(runtime: Runtime) -> None:
    """Blocks; uvicorn handles SIGTERM/SIGINT: stop accepting, finish in-flight requests, return."""
    settings = runtime.deps.settings
    log_fields(log, "serving HTTP", host=settings.host, port=settings.port, path=EVENTS_PATH)
    # uvicorn re-raises the signal it caught once it has shut down; with a Python handler in place
    # that re-raise lands here instead of killing the process, so `run` can close the runtime and exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            sig, lambda number, _frame: log_fields(log, "stopped", signal=signal.Signals(number).name)
        )
    uvicorn.Server(uvicorn_config(runtime, settings.host, settings.port)).run()


def socket_mode_handler(runtime: Runtime, app_token: str | None) -> Any:
    """Bolt's Socket Mode handler, which also acknowledges an envelope Bolt cannot even read (a user id
    that is a number, say): Bolt's own raises while building its request, so the envelope would go
    unacknowledged and Slack would deliver it again and again. Answered as over HTTP (the payload gate's
    refusal, logged once), and acknowledged whatever the answer. Any other envelope: Bolt's way, where a
    failed listener's 500 is left unacknowledged so that Slack delivers the event again."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
    from slack_sdk.socket_mode.response import SocketModeResponse

    class Handler(SocketModeHandler):
        def handle(self, client: Any, req: Any) -> None:
            started = time.time()
            try:
                bolt_request = BoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))
            except (AttributeError, TypeError, KeyError, IndexError, ValueError):
                body = json.dumps(req.payload).encode()
                refused = unreadable_by_bolt(runtime.deps, runtime.app.client, body, "application/json")
                if refused.status == 200:
                    send_response(client, req, refused, started)
                else:
                    client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
                return
            send_response(client, req, runtime.app.dispatch(bolt_request), started)

    return Handler(runtime.app, app_token)


def serve_socket_mode(runtime: Runtime) -> None:
    settings = runtime.deps.settings
    handler = socket_mode_handler(runtime, settings.slack_app_token)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        handler.connect()
    except SLACK_CALL_FAILURES as exc:  # checked at start; the token was revoked since, or the network left
        handler.close()
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
        problem = slack_problem(
            exc,
            method="apps.connections.open",
            variable="SLACK_APP_TOKEN",
            api_url=settings.slack_api_url,
            timeout=SLACK_CHECK_TIMEOUT,
        )
        raise StartupError(problem) from None
    log_fields(log, "connected in Socket Mode")
    ops = start_ops_server(runtime)
    stop.wait()
    handler.close()
    if ops is not None:
        ops.stop()


def start_ops_server(runtime: Runtime) -> HttpServer | None:
    """Socket Mode's /healthz, /readyz and /metrics on HOST:PORT. A port already taken is logged and the
    app runs on without them: the probes are an operator's convenience, Slack does not need them."""
    settings = runtime.deps.settings
    server = HttpServer(runtime, settings.host, settings.port, ops_only=True)
    try:
        url = server.start()
    except RuntimeError:
        log_fields(
            log,
            "health and metrics not served: the port is taken",
            logging.WARNING,
            host=settings.host,
            port=settings.port,
        )
        return None
    log_fields(log, "serving health and metrics", url=url, paths="/healthz /readyz /metrics")
    return server
