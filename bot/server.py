"""Run modes: HTTP behind uvicorn (`/slack/events`, `/healthz`) or Socket Mode."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import backfill
from bot.app import CdpApp, build_app
from bot.clock import Clock, SystemClock
from bot.logs import REQUEST_LOGGER, log_fields
from bot.runtime import Deps
from bot.scheduler import build_scheduler
from bot.settings import Settings
from handlers.gate import unreadable_by_bolt
from storage.db import Database
from storage.migrate import upgrade

log = logging.getLogger("cdp_bot.server")
request_log = logging.getLogger(REQUEST_LOGGER)


class StartupError(Exception):
    """A problem an operator can fix; printed as one line, no traceback."""


@dataclass
class Runtime:
    """The running app: database, Bolt app and the scheduler's clock."""

    deps: Deps
    app: CdpApp
    scheduler: Any

    @classmethod
    def start(cls, settings: Settings, clock: Clock | None = None, *, run_scheduler: bool = True) -> Runtime:
        db = Database(settings.database_url)
        try:
            upgrade(db.engine)
        except Exception as exc:
            raise StartupError(
                f"DATABASE_URL: cannot migrate the database ({type(exc).__name__}: {exc})"
            ) from exc
        deps = Deps(settings=settings, db=db, clock=clock or SystemClock())
        try:
            app = build_app(deps)
        except Exception as exc:  # Bolt checks the token with auth.test at start.
            raise StartupError(
                f"SLACK_BOT_TOKEN was not accepted by the Slack API at {settings.slack_api_url} ({exc})"
            ) from exc
        deps.bot_user_id = str(app.client.auth_test().get("user_id") or "") or None
        scheduler = build_scheduler(deps, app.client)
        if run_scheduler:
            scheduler.start()
        backfill.resume_all(deps, app.client)
        return cls(deps=deps, app=app, scheduler=scheduler)

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.deps.background.shutdown()
        self.deps.db.dispose()


def malformed(body: bytes, content_type: str) -> bool:
    """True when a (correctly signed) body is not a Slack payload we could ever dispatch."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
            return True
        return not (isinstance(parsed, dict) and isinstance(parsed.get("type"), str))
    form = parse_qs(text)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except (ValueError, RecursionError):
            return True
        return not (isinstance(payload, dict) and isinstance(payload.get("type"), str))
    return not ("command" in form or "ssl_check" in form)


def asgi_app(runtime: Runtime) -> Starlette:
    settings = runtime.deps.settings
    verifier = SignatureVerifier(settings.slack_signing_secret or "")

    def rejected(status: int, reason: str, started: float) -> Response:
        log_fields(
            request_log,
            "request",
            kind="rejected",
            reason=reason,
            status=status,
            outcome="error",
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return PlainTextResponse(reason, status_code=status)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        # Checked before anything is parsed: a forged or stale (over 5 minutes) request touches nothing.
        if not verifier.is_valid(
            body=body,
            timestamp=request.headers.get("x-slack-request-timestamp", ""),
            signature=request.headers.get("x-slack-signature", ""),
        ):
            return rejected(401, "invalid signature or timestamp", started)
        if malformed(body, request.headers.get("content-type", "")):
            return rejected(400, "malformed body", started)
        try:
            bolt_request = to_bolt_request(request, body)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            # Bolt could not even find the user or team in it (`"user": 7`): the payload gate answers.
            bolt_response = await run_in_threadpool(
                unreadable_by_bolt,
                runtime.deps,
                runtime.app.client,
                body,
                request.headers.get("content-type", ""),
            )
            return to_starlette_response(bolt_response)
        bolt_response = await run_in_threadpool(runtime.app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        healthy = await run_in_threadpool(runtime.deps.db.ping)
        return JSONResponse(
            {"ok": healthy, "database": "up" if healthy else "down"}, status_code=200 if healthy else 503
        )

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def uvicorn_config(runtime: Runtime, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        asgi_app(runtime),
        host=host,
        port=port,
        log_config=None,  # our JSON logging stays in charge
        access_log=False,  # one line per request is ours (bot.app.CdpApp.dispatch)
        lifespan="off",
        timeout_graceful_shutdown=10,
    )


class HttpServer:
    """uvicorn in a background thread: how tests, demos and benchmarks serve the real app."""

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = uvicorn.Server(uvicorn_config(runtime, host, port))
        self.thread = threading.Thread(target=self.server.run, name="cdp-http", daemon=True)

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
    log_fields(log, "serving HTTP", host=settings.host, port=settings.port, path="/slack/events")
    # uvicorn re-raises the signal it caught once it has shut down; with a Python handler in place
    # that re-raise lands here instead of killing the process, so `run` can close the runtime and exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            sig, lambda number, _frame: log_fields(log, "stopped", signal=signal.Signals(number).name)
        )
    uvicorn.Server(uvicorn_config(runtime, settings.host, settings.port)).run()


def serve_socket_mode(runtime: Runtime) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(runtime.app, runtime.deps.settings.slack_app_token)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler.connect()  # type: ignore[no-untyped-call]
    log_fields(log, "connected in Socket Mode")
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]
