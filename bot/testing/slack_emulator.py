"""A loopback Slack: the Web API methods cdp-bot calls, plus a sender of signed Slack requests.

`SlackEmulator` plays a small workspace (users, channels, messages, views) over HTTP on 127.0.0.1,
records every call, answers like Slack (`ok: true` or Slack's own `ok: false` errors), checks the
Block Kit limits Slack enforces, and can be told to answer 429 + Retry-After or an error on demand.
It also receives `response_url` posts and file uploads. Several workspaces (`add_workspace`): each has
its own bot token and bot user, its channels and people answer only to its token (or its Enterprise
Grid org's), and every call records whose token made it (`calls_by`); installs go through OAuth v2
(`oauth_app`, `authorize`, and `oauth.v2.access` in bot/testing/slack_oauth.py).

`SignedSender` posts slash commands, view submissions, block actions and Events API callbacks to the
app's `/slack/events`, signed with v0 HMAC exactly as Slack signs them.

Only the standard library and slack_sdk's signature helper: tests, demos and benchmarks import it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from bot.testing.slack_oauth import OAuthApp

JSON = dict[str, Any]
DEFAULT_TOKEN = "xoxb-emulated-token"
DEFAULT_APP_TOKEN = "xapp-1-emulated-token"
# Methods Slack authenticates with the app-level token (xapp-), not the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Methods Slack authenticates with the app's client id and secret (bot/testing/slack_oauth.py).
CLIENT_AUTH_METHODS = frozenset({"oauth.v2.access"})

# Block Kit limits Slack enforces (https://api.slack.com/reference/block-kit): the emulator refuses
# what Slack would refuse, so a test fails where production would.
MODAL_TITLE_MAX = 24
MODAL_BLOCKS_MAX = 100
MESSAGE_BLOCKS_MAX = 50
MESSAGE_TEXT_MAX = 40_000
SECTION_TEXT_MAX = 3000
PRIVATE_METADATA_MAX = 3000
RESPONSE_URL_USES = 5  # a response_url takes 5 posts within 30 minutes
ID_MAX = 255


@dataclass
class ApiCall:
    method: str
    params: JSON
    token: str | None
    at: float = field(default_factory=time.time)
    response: JSON | None = None
    # The workspace whose token made the call (an org-wide token: its Enterprise Grid org's id).
    team_id: str | None = None


@dataclass
class Workspace:
    """One emulated workspace: its bot token (the app's, once installed) and its bot user."""

    team_id: str
    domain: str
    token: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None


@dataclass
class Fault:
    error: str | None = None  # Slack's error code, answered with ok:false
    status: int = 200
    retry_after: int | None = None  # with status 429
    times: int = 1


@dataclass
class Upload:
    file_id: str
    filename: str
    content: bytes = b""
    completed: JSON | None = None


class SlackApiFailure(Exception):
    def __init__(self, error: str, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = dict(headers or {})


class SlackEmulator:
    """A fake Slack workspace served on loopback. Start it, point SLACK_API_URL at `api_url`."""

    def __init__(
        self,
        team_id: str = "T0CDP",
        team_domain: str = "cdp-test",
        token: str = DEFAULT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> None:
        # Several workspaces (add_workspace); the first one is the default of every method and helper.
        self.default = Workspace(team_id, team_domain, token, bot_user_id, bot_id)
        self.workspaces: dict[str, Workspace] = {team_id: self.default}
        # The bot tokens Slack accepts, and whose they are (a team id, or an org id for an org-wide token).
        self.token_owner: dict[str, str] = {token: team_id}
        # Tokens that were valid and are no longer (rotated away, revoked): Slack names why.
        self.dead_tokens: dict[str, str] = {}
        self._current = threading.local()  # the workspace of the call being answered
        self.oauth: OAuthApp | None = None  # the app's OAuth credentials, once `oauth_app` is called
        self.app_token = app_token
        self.users: dict[str, JSON] = {}
        self.channels: dict[str, JSON] = {}
        self.history: dict[str, list[JSON]] = {}
        self.views: dict[str, JSON] = {}
        self.calls: list[ApiCall] = []
        self.responses: list[tuple[str, JSON]] = []
        self._response_uses: dict[str, int] = {}
        self._expired_responses: set[str] = set()
        self.uploads: dict[str, Upload] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.unknown_emoji: set[str] = set()  # names reactions.add refuses (invalid_name)
        # Seconds every Web API call waits before it is answered (Slack is far away, or slow today).
        self.latency = 0.0
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Socket Mode's WebSocket (bot/testing/socket_mode.py), started by the first apps.connections.open.
        self._socket_mode: Any = None
        self.add_user(bot_user_id, "cdp-bot", is_bot=True)

    # ---- workspaces ------------------------------------------------------------------------
    def _workspace(self) -> Workspace:
        return getattr(self._current, "workspace", None) or self.default

    @property
    def team_id(self) -> str:
        return self._workspace().team_id

    @property
    def team_domain(self) -> str:
        return self._workspace().domain

    @property
    def token(self) -> str:
        return self._workspace().token

    @property
    def bot_user_id(self) -> str:
        return self._workspace().bot_user_id

    @property
    def bot_id(self) -> str:
        return self._workspace().bot_id

    def add_workspace(
        self,
        team_id: str,
        domain: str | None = None,
        *,
        token: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> Workspace:
        """Another workspace, with its own bot user. Its token is accepted once the app is installed
        there (`authorize` + oauth.v2.access), or at once with `token=`."""
        workspace = Workspace(
            team_id,
            domain or team_id.lower(),
            token or f"xoxb-{team_id.lower()}-{secrets.token_hex(4)}",
            bot_user_id or f"UBOT{team_id[-3:]}",
            bot_id or f"BBOT{team_id[-3:]}",
            enterprise_id,
        )
        with self.lock:
            self.workspaces[team_id] = workspace
            if token is not None:
                self.token_owner[token] = team_id
        self.add_user(workspace.bot_user_id, "cdp-bot", is_bot=True, team_id=team_id)
        return workspace

    def oauth_app(self, client_id: str, client_secret: str, **options: Any) -> OAuthApp:
        """Installs go through OAuth v2 (bot/testing/slack_oauth.py): the app's credentials."""
        from bot.testing import slack_oauth

        return slack_oauth.oauth_app(self, client_id, client_secret, **options)

    def authorize(self, team_id: str, *, org_wide: bool = False, installer: str = "UINSTALLER") -> str:
        """An admin of `team_id` approves the install: the code Slack hands the redirect URL."""
        from bot.testing import slack_oauth

        return slack_oauth.authorize(self, team_id, org_wide=org_wide, installer=installer)

    def workspace(self, team_id: str) -> Workspace:
        return self.workspaces[team_id]

    def calls_by(self, team_id: str, method: str | None = None) -> list[ApiCall]:
        """The calls made with that workspace's token (or its org's), of `method` if given."""
        with self.lock:
            return [c for c in self.calls if c.team_id == team_id and (method is None or c.method == method)]

    def revoke(self, token: str, error: str = "token_revoked") -> None:
        with self.lock:
            if self.token_owner.pop(token, None) is not None:
                self.dead_tokens[token] = error

    def _teams_of(self, owner: str) -> set[str]:
        """The workspaces a token may touch: its own, or every workspace of its org."""
        if owner in self.workspaces:
            return {owner}
        return {w.team_id for w in self.workspaces.values() if w.enterprise_id == owner}

    def _check_team(self, method: str, params: JSON, owner: str) -> None:
        """A token reaches only its own workspace's channels and people, as in Slack."""
        teams = self._teams_of(owner)
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is not None and channel.get("team_id", self.default.team_id) not in teams:
            raise SlackApiFailure("channel_not_found")
        for key in ("user", "user_id", "users"):
            for user_id in str(params.get(key) or "").split(","):
                user = self.users.get(user_id.strip())
                if user is not None and user.get("team_id") not in teams:
                    raise SlackApiFailure("user_not_found")

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> SlackEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                emulator._serve(self)

            def do_GET(self) -> None:
                emulator._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # serve_forever polls for shutdown every 0.5 s by default: every test would wait that long to stop.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="slack-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def socket_mode(self) -> Any:
        """The Socket Mode link (a bot.testing.socket_mode.SocketModeLink), started on first use: tests
        deliver envelopes through it and see the app's acknowledgements."""
        with self.lock:
            if self._socket_mode is None:
                from bot.testing.socket_mode import SocketModeLink  # needs `websockets` (a test dependency)

                self._socket_mode = SocketModeLink().start()
            return self._socket_mode

    def stop(self) -> None:
        if self._socket_mode is not None:
            self._socket_mode.stop()
            self._socket_mode = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def new_response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

    # ---- the workspace ---------------------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        locale: str = "en-US",
        tz: str = "Europe/Paris",
        is_bot: bool = False,
        deleted: bool = False,
        is_admin: bool = False,
        team_id: str | None = None,
    ) -> JSON:
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": team_id or self.default.team_id,
            "name": name,
            "real_name": name.title(),
            "deleted": deleted,
            "is_bot": is_bot,
            "is_admin": is_admin,
            "is_owner": False,
            "tz": tz,
            "locale": locale,
            "profile": {"display_name": name, "real_name": name.title()},
        }
        with self.lock:
            self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_is_member: bool | None = None,
        is_archived: bool = False,
        team_id: str | None = None,
    ) -> JSON:
        member_set = set(members)
        workspace = self.workspaces[team_id or self.default.team_id]
        if bot_is_member if bot_is_member is not None else not is_private:
            member_set.add(workspace.bot_user_id)
        channel = {
            "id": channel_id,
            "team_id": workspace.team_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": False,
            "is_im": False,
            "is_private": is_private,
            "is_archived": is_archived,
            "created": int(time.time()),
            "members": member_set,
        }
        with self.lock:
            self.channels[channel_id] = channel
            self.history.setdefault(channel_id, [])
        return channel

    def add_message(self, channel_id: str, user: str | None, ts: str, **extra: Any) -> JSON:
        """Put a message in a channel's history, newest kept first; with a `thread_ts` other than its own
        `ts` it is a reply in that thread (conversations.replies, not conversations.history)."""
        message = {"type": "message", "ts": ts, **({"user": user} if user else {}), **extra}
        with self.lock:
            messages = self.history.setdefault(channel_id, [])
            messages.append(message)
            messages.sort(key=lambda m: float(m["ts"]), reverse=True)
        return message

    # ---- faults ----------------------------------------------------------------------------
    def fail(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        """The next `times` calls of `method` answer ok:false with `error`."""
        with self.lock:
            self.faults.setdefault(method, []).append(Fault(error=error, status=status, times=times))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with Retry-After."""
        with self.lock:
            self.faults.setdefault(method, []).append(
                Fault(error="ratelimited", status=429, retry_after=retry_after, times=times)
            )

    def clear_faults(self, method: str) -> None:
        """Slack answers `method` normally again (the faults still queued for it are dropped)."""
        with self.lock:
            self.faults.pop(method, None)

    def _take_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    # ---- what happened ---------------------------------------------------------------------
    def uploaded_bytes(self, file_id: str) -> bytes:
        """What was uploaded as `file_id` (a test decodes it: a chart is a PNG)."""
        with self.lock:
            return self.uploads[file_id].content

    def calls_to(self, method: str) -> list[JSON]:
        with self.lock:
            return [call.params for call in self.calls if call.method == method]

    def successful_calls_to(self, method: str) -> list[JSON]:
        with self.lock:
            return [
                c.params for c in self.calls if c.method == method and c.response and c.response.get("ok")
            ]

    def messages_to(self, channel: str) -> list[JSON]:
        """chat.postMessage calls that reached `channel` (a channel id, or a user id for a DM)."""
        return [p for p in self.successful_calls_to("chat.postMessage") if p.get("channel") == channel]

    def delivered(self, target: str) -> list[tuple[str, JSON]]:
        """The messages posted to `target` (a channel, or a user: their DM), each with the channel it
        landed in, as they look now, after any chat.update: what the person sees in Slack."""
        with self.lock:
            found: list[tuple[str, JSON]] = []
            for call in self.calls:
                response = call.response or {}
                if call.method != "chat.postMessage" or not response.get("ok"):
                    continue
                if call.params.get("channel") != target:
                    continue
                stored = self.history.get(response["channel"], [])
                found.extend((response["channel"], m) for m in stored if m["ts"] == response["ts"])
            return found

    def current_messages_to(self, target: str) -> list[JSON]:
        return [message for _, message in self.delivered(target)]

    def reactions_on(self, channel_id: str, ts: str) -> list[str]:
        """The emoji names the app added to a message (reactions.add), as Slack shows them on it."""
        with self.lock:
            message = next((m for m in self.history.get(channel_id, []) if m["ts"] == ts), None)
            reactions = (message or {}).get("reactions") or []
            return [r["name"] for r in reactions if self.bot_user_id in r["users"]]

    def ephemerals_to(self, user: str) -> list[JSON]:
        return [p for p in self.successful_calls_to("chat.postEphemeral") if p.get("user") == user]

    def opened_views(self) -> list[JSON]:
        with self.lock:
            return [
                c.response["view"]
                for c in self.calls
                if c.method == "views.open" and c.response and c.response.get("ok")
            ]

    def last_view(self) -> JSON:
        """The view most recently opened, pushed or updated (as Slack stores it, with its id)."""
        with self.lock:
            for call in reversed(self.calls):
                if (
                    call.method in ("views.open", "views.push", "views.update")
                    and call.response
                    and call.response.get("ok")
                ):
                    return dict(call.response["view"])
        raise AssertionError("no view was opened")

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.responses.clear()

    # ---- HTTP plumbing ---------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = urlparse(handler.path)
        if path.path.startswith("/response/"):
            self._record_response(handler, path.path, raw)
            return
        if path.path.startswith("/upload/"):
            self._receive_upload(handler, path.path.rsplit("/", 1)[-1], raw)
            return
        if not path.path.startswith("/api/"):
            self._send(handler, 404, {"ok": False, "error": "unknown_url"})
            return
        method = path.path[len("/api/") :]
        params = self._params(handler, raw, path.query)
        token = params.pop("token", None)
        auth = handler.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if self.latency:
            time.sleep(self.latency)
        if method in CLIENT_AUTH_METHODS and auth.lower().startswith("basic "):
            params["_client_auth"] = auth[6:].strip()  # oauth.v2.access: the app's client id and secret
        call = ApiCall(method=method, params=params, token=token, team_id=self.token_owner.get(token or ""))
        with self.lock:
            self.calls.append(call)
        status, body, headers = self._answer(method, params, token)
        call.response = body
        self._send(handler, status, body, headers)

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler, raw: bytes, query: str) -> JSON:
        params: JSON = {k: v[0] for k, v in parse_qs(query).items()}
        content_type = handler.headers.get("content-type", "")
        if raw and content_type.startswith("application/json"):
            params.update(json.loads(raw.decode("utf-8")))
        elif raw:
            params.update({k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()})
        for key in ("view", "blocks", "attachments", "files"):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: JSON | str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode("utf-8")
        handler.send_response(status)
        handler.send_header("content-type", "application/json; charset=utf-8")
        handler.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _record_response(self, handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> None:
        """A response_url post. Slack takes up to 5 per URL within 30 minutes, then answers 404."""
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        with self.lock:
            uses = self._response_uses.get(path, 0)
            if path in self._expired_responses or uses >= RESPONSE_URL_USES:
                error = "used_url" if uses >= RESPONSE_URL_USES else "expired_url"
                self._send(handler, 404, error)
                return
            self._response_uses[path] = uses + 1
            self.responses.append((path, payload))
        self._send(handler, 200, "ok")

    def expire_response_urls(self) -> None:
        """Every response_url handed out so far is past its 30 minutes (buttons pressed long ago)."""
        with self.lock:
            self._expired_responses.update(f"/response/{n}" for n in range(1, next(self._ids)))

    def _receive_upload(self, handler: BaseHTTPRequestHandler, file_id: str, raw: bytes) -> None:
        with self.lock:
            upload = self.uploads.get(file_id)
            if upload is None:
                self._send(handler, 404, {"ok": False, "error": "file_not_found"})
                return
            upload.content = raw
        self._send(handler, 200, "OK - 200")

    def _answer(self, method: str, params: JSON, token: str | None) -> tuple[int, JSON, dict[str, str]]:
        fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, {"ok": False, "error": fault.error}, headers
        owner: str | None = None
        if method in CLIENT_AUTH_METHODS:
            pass  # the app's client id and secret, checked by the method (bot/testing/slack_oauth.py)
        elif method in APP_TOKEN_METHODS:
            if token != self.app_token:
                error = "not_allowed_token_type" if token in self.token_owner else "invalid_auth"
                return 200, {"ok": False, "error": error if token else "not_authed"}, {}
        else:
            owner = self.token_owner.get(token or "")
            if owner is None:
                # Slack tells a known token of the wrong kind, or one no longer valid, from an unknown one.
                error = "not_allowed_token_type" if token == self.app_token else "invalid_auth"
                error = self.dead_tokens.get(token or "", error)
                return 200, {"ok": False, "error": error if token else "not_authed"}, {}
        implementation = METHODS.get(method)
        if implementation is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            with self.lock:
                if owner is not None:
                    self._check_team(method, params, owner)
                    teams = self._teams_of(owner)
                    # The call's workspace: its own, or (an org's token) the one the call names.
                    self._current.workspace = self.workspaces.get(owner) or self._named_workspace(
                        params, teams
                    )
                try:
                    result = implementation(self, params)
                finally:
                    self._current.workspace = None
        except SlackApiFailure as failure:
            return failure.status, {"ok": False, "error": failure.error}, failure.headers
        return 200, {"ok": True, **result}, {}

    def _named_workspace(self, params: JSON, teams: set[str]) -> Workspace | None:
        """An org-wide token's call: the workspace of the channel or person it touches, if any."""
        channel = self.channels.get(str(params.get("channel") or ""))
        user = self.users.get(str(params.get("user") or params.get("user_id") or ""))
        team = (channel or user or {}).get("team_id") or (sorted(teams)[0] if teams else None)
        return self.workspaces.get(str(team)) if team else None

    # ---- helpers for the method implementations ---------------------------------------------
    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def user(self, user_id: Any) -> JSON:
        user = self.users.get(str(user_id or ""))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return user

    def channel(self, channel_id: Any, *, visible_to_bot: bool = True) -> JSON:
        channel = self.channels.get(str(channel_id or ""))
        if channel is None:
            raise SlackApiFailure("channel_not_found")
        if visible_to_bot and channel["is_private"] and self.bot_user_id not in channel["members"]:
            raise SlackApiFailure("channel_not_found")
        return channel

    def public_channel(self, channel: JSON) -> JSON:
        shown = {k: v for k, v in channel.items() if k != "members"}
        shown["is_member"] = self.bot_user_id in channel["members"]
        shown["num_members"] = len(channel["members"])
        return shown

    def im_for(self, user_id: str) -> JSON:
        for channel in self.channels.values():
            if channel["is_im"] and channel.get("user") == user_id:
                return channel
        channel_id = self.new_id("D")
        channel = {
            "id": channel_id,
            "team_id": self.users.get(user_id, {}).get("team_id", self.team_id),
            "name": channel_id,
            "is_im": True,
            "is_private": True,
            "is_channel": False,
            "is_group": False,
            "is_archived": False,
            "user": user_id,
            "members": {user_id, self.bot_user_id},
        }
        self.channels[channel_id] = channel
        self.history[channel_id] = []
        return channel


# ---- Block Kit checks ------------------------------------------------------------------------
def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def check_blocks(blocks: Any, limit: int) -> None:
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > limit:
        raise SlackApiFailure("invalid_blocks")
    block_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            raise SlackApiFailure("invalid_blocks")
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids or len(str(block_id)) > ID_MAX:
                raise SlackApiFailure("invalid_blocks")
            block_ids.add(block_id)
        if block["type"] == "section":
            if len(_text_of(block.get("text"))) > SECTION_TEXT_MAX:
                raise SlackApiFailure("invalid_blocks")
            if "text" not in block and "fields" not in block:
                raise SlackApiFailure("invalid_blocks")
            for item in block.get("fields") or []:
                if len(_text_of(item)) > 2000:
                    raise SlackApiFailure("invalid_blocks")
        if block["type"] == "input" and (
            "label" not in block or "element" not in block or len(_text_of(block["label"])) > 2000
        ):
            raise SlackApiFailure("invalid_blocks")
        if block["type"] == "actions" and len(block.get("elements") or []) > 25:
            raise SlackApiFailure("invalid_blocks")
        for element in [block.get("element"), block.get("accessory"), *(block.get("elements") or [])]:
            if isinstance(element, dict) and "options" in element and len(element["options"]) > 100:
                raise SlackApiFailure("invalid_blocks")
        if block["type"] == "image":
            _check_image(block)


def _check_image(block: JSON) -> None:
    """An image block: alt text (at most 2000 characters), and either a public `image_url` or a
    `slack_file` naming an uploaded file by `id` (F...) or `url`, never both
    (https://docs.slack.dev/reference/block-kit/composition-objects/slack-file-object)."""
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not alt or len(alt) > 2000:
        raise SlackApiFailure("invalid_blocks")
    if ("image_url" in block) == ("slack_file" in block):
        raise SlackApiFailure("invalid_blocks")
    slack_file = block.get("slack_file")
    if slack_file is not None:
        if not isinstance(slack_file, dict) or ("id" in slack_file) == ("url" in slack_file):
            raise SlackApiFailure("invalid_blocks")
        if "id" in slack_file and not re.fullmatch(r"F[A-Z0-9]{8,}", str(slack_file["id"])):
            raise SlackApiFailure("invalid_blocks")


def check_files(s: SlackEmulator, blocks: Any) -> None:
    """Slack shows a `slack_file` image only when that file was uploaded (and the upload completed):
    an unknown or unfinished file is refused with invalid_blocks, as Slack does."""
    for block in blocks or []:
        if not isinstance(block, dict) or block.get("type") != "image":
            continue
        file_id = (block.get("slack_file") or {}).get("id")
        if file_id is None:
            continue
        upload = s.uploads.get(str(file_id))
        if upload is None or upload.completed is None or not upload.content:
            raise SlackApiFailure("invalid_blocks")


def check_view(view: Any) -> None:
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise SlackApiFailure("invalid_arguments")
    if view["type"] == "modal":
        for key in ("title", "submit", "close"):
            if key in view and len(_text_of(view[key])) > MODAL_TITLE_MAX:
                raise SlackApiFailure("invalid_arguments")
        if "title" not in view:
            raise SlackApiFailure("invalid_arguments")
        has_input = any(b.get("type") == "input" for b in view.get("blocks") or [] if isinstance(b, dict))
        if has_input and "submit" not in view:
            raise SlackApiFailure("invalid_arguments")
    if len(str(view.get("private_metadata") or "")) > PRIVATE_METADATA_MAX:
        raise SlackApiFailure("invalid_arguments")
    if len(str(view.get("callback_id") or "")) > ID_MAX:
        raise SlackApiFailure("invalid_arguments")
    check_blocks(view.get("blocks") or [], MODAL_BLOCKS_MAX)


def check_message(params: JSON) -> None:
    text, blocks = params.get("text"), params.get("blocks")
    if not text and not blocks and not params.get("attachments"):
        raise SlackApiFailure("no_text")
    if text and len(str(text)) > MESSAGE_TEXT_MAX:
        raise SlackApiFailure("msg_too_long")
    check_blocks(blocks, MESSAGE_BLOCKS_MAX)


# ---- the Web API methods ---------------------------------------------------------------------
def _auth_test(s: SlackEmulator, p: JSON) -> JSON:
    enterprise = s._workspace().enterprise_id
    org_wide = s.oauth is not None and enterprise is not None and s.oauth.org_installed(enterprise)
    return {
        "url": f"https://{s.team_domain}.slack.com/",
        "team": s.team_domain,
        "user": "cdp-bot",
        "team_id": s.team_id,
        "user_id": s.bot_user_id,
        "bot_id": s.bot_id,
        **({"enterprise_id": enterprise} if enterprise else {}),
        "is_enterprise_install": org_wide,
    }


def _apps_connections_open(s: SlackEmulator, p: JSON) -> JSON:
    return {"url": s.socket_mode.url(s.new_id("T"))}


def _message_channel(s: SlackEmulator, target: Any) -> JSON:
    target = str(target or "")
    if target.startswith(("U", "W")):
        user = s.user(target)
        if user["is_bot"]:
            raise SlackApiFailure("cannot_dm_bot")
        if user["deleted"]:
            raise SlackApiFailure("user_disabled")
        return s.im_for(target)
    channel = s.channel(target)
    if channel["is_archived"]:
        raise SlackApiFailure("is_archived")
    if not channel["is_im"] and s.bot_user_id not in channel["members"]:
        raise SlackApiFailure("not_in_channel")
    return channel


def _chat_post_message(s: SlackEmulator, p: JSON) -> JSON:
    check_message(p)
    check_files(s, p.get("blocks"))
    channel = _message_channel(s, p.get("channel"))
    ts = s.next_ts()
    message = {
        "type": "message",
        "ts": ts,
        "user": s.bot_user_id,
        "bot_id": s.bot_id,
        "text": p.get("text", ""),
    }
    if p.get("blocks"):
        message["blocks"] = p["blocks"]
    if p.get("thread_ts"):
        message["thread_ts"] = p["thread_ts"]
    s.history.setdefault(channel["id"], []).insert(0, message)
    return {"channel": channel["id"], "ts": ts, "message": message}


def _chat_post_ephemeral(s: SlackEmulator, p: JSON) -> JSON:
    check_message(p)
    check_files(s, p.get("blocks"))
    user = s.user(p.get("user"))
    channel = s.channel(p.get("channel"))
    if user["id"] not in channel["members"]:
        raise SlackApiFailure("user_not_in_channel")
    return {"message_ts": s.next_ts()}


def _chat_update(s: SlackEmulator, p: JSON) -> JSON:
    check_message(p)
    check_files(s, p.get("blocks"))
    channel = s.channel(p.get("channel"))
    message = next((m for m in s.history.get(channel["id"], []) if m["ts"] == p.get("ts")), None)
    if message is None:
        raise SlackApiFailure("message_not_found")
    # Slack replaces the text and the blocks (no blocks given: the message has none any more).
    message["text"] = p.get("text", "")
    message["blocks"] = p.get("blocks") or []
    message["edited"] = {"user": s.bot_user_id, "ts": s.next_ts()}
    return {"channel": channel["id"], "ts": p["ts"], "text": p.get("text", "")}


def _chat_delete(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"))
    messages = s.history.get(channel["id"], [])
    if not any(m["ts"] == p.get("ts") for m in messages):
        raise SlackApiFailure("message_not_found")
    s.history[channel["id"]] = [m for m in messages if m["ts"] != p.get("ts")]
    return {"channel": channel["id"], "ts": p["ts"]}


def _store_view(s: SlackEmulator, view: Any, view_id: str | None = None, root: str | None = None) -> JSON:
    check_view(view)
    check_files(s, view.get("blocks"))
    view_id = view_id or s.new_id("V")
    stored = {
        **view,
        "id": view_id,
        "team_id": s.team_id,
        "state": {"values": {}},
        "hash": s.new_id("H"),
        "root_view_id": root or view_id,
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
    }
    s.views[view_id] = stored
    return stored


def _views_open(s: SlackEmulator, p: JSON) -> JSON:
    trigger = str(p.get("trigger_id") or "")
    if not trigger:
        raise SlackApiFailure("invalid_arguments")
    if trigger.startswith("expired"):
        raise SlackApiFailure("expired_trigger_id")
    return {"view": _store_view(s, p.get("view"))}


def _views_push(s: SlackEmulator, p: JSON) -> JSON:
    return _views_open(s, p)


def _views_update(s: SlackEmulator, p: JSON) -> JSON:
    view_id = p.get("view_id")
    if not view_id and p.get("external_id"):
        view_id = next((v["id"] for v in s.views.values() if v.get("external_id") == p["external_id"]), None)
    if not view_id or view_id not in s.views:
        raise SlackApiFailure("not_found")
    if p.get("hash") and p["hash"] != s.views[view_id]["hash"]:
        raise SlackApiFailure("hash_conflict")
    return {"view": _store_view(s, p.get("view"), view_id=view_id, root=s.views[view_id]["root_view_id"])}


def _views_publish(s: SlackEmulator, p: JSON) -> JSON:
    s.user(p.get("user_id"))
    return {"view": _store_view(s, p.get("view"))}


def _conversations_info(s: SlackEmulator, p: JSON) -> JSON:
    return {"channel": s.public_channel(s.channel(p.get("channel")))}


def _page(items: list[Any], p: JSON, default_limit: int = 100) -> tuple[list[Any], str]:
    start = int(p.get("cursor") or 0)
    limit = max(1, min(int(p.get("limit") or default_limit), 1000))
    chunk = items[start : start + limit]
    next_cursor = str(start + limit) if start + limit < len(items) else ""
    return chunk, next_cursor


def _conversations_members(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"))
    members, cursor = _page(sorted(channel["members"]), p)
    return {"members": members, "response_metadata": {"next_cursor": cursor}}


def _conversations_join(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"), visible_to_bot=False)
    if channel["is_private"] or channel["is_im"]:
        raise SlackApiFailure("method_not_supported_for_channel_type")
    if channel["is_archived"]:
        raise SlackApiFailure("is_archived")
    channel["members"].add(s.bot_user_id)
    return {"channel": s.public_channel(channel)}


def _conversations_invite(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"))
    if s.bot_user_id not in channel["members"]:
        raise SlackApiFailure("not_in_channel")
    if channel["is_archived"]:
        raise SlackApiFailure("is_archived")
    users = [u for u in str(p.get("users") or "").split(",") if u]
    if not users:
        raise SlackApiFailure("no_user")
    for user_id in users:
        if user_id == s.bot_user_id:
            raise SlackApiFailure("cant_invite_self")
        if s.user(user_id)["deleted"]:
            raise SlackApiFailure("user_is_deactivated")
    if all(u in channel["members"] for u in users):
        raise SlackApiFailure("already_in_channel")
    channel["members"].update(users)
    return {"channel": s.public_channel(channel)}


def _conversations_kick(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"))
    if p.get("user") not in channel["members"]:
        raise SlackApiFailure("not_in_channel")
    channel["members"].discard(p.get("user"))
    return {}


def _in_range(p: JSON) -> Callable[[JSON], bool]:
    """The `oldest`/`latest` filter of history and replies; `inclusive` (default false) decides whether
    messages exactly at oldest/latest are included."""
    oldest = float(p.get("oldest") or 0)
    latest = float(p.get("latest") or 9e12)
    inclusive = str(p.get("inclusive", "false")).lower() in ("true", "1")

    def check(message: JSON) -> bool:
        ts = float(message["ts"])
        return oldest <= ts <= latest if inclusive else oldest < ts < latest

    return check


def _is_reply(message: JSON) -> bool:
    return bool(message.get("thread_ts")) and message["thread_ts"] != message["ts"]


def _readable_channel(s: SlackEmulator, p: JSON) -> JSON:
    channel = s.channel(p.get("channel"))
    if s.bot_user_id not in channel["members"]:
        raise SlackApiFailure("not_in_channel")
    return channel


def _with_thread(message: JSON, replies: list[JSON]) -> JSON:
    """A parent as Slack shows it: with `thread_ts`, `reply_count` and `latest_reply`."""
    if not replies or "reply_count" in message:
        return message
    return {
        **message,
        "thread_ts": message["ts"],
        "reply_count": len(replies),
        "reply_users": sorted({str(r["user"]) for r in replies if r.get("user")}),
        "latest_reply": max(replies, key=lambda r: float(r["ts"]))["ts"],
    }


def _conversations_history(s: SlackEmulator, p: JSON) -> JSON:
    """Parent messages only, newest first: thread replies are not in the history, as in Slack, except
    those also sent to the channel (`thread_broadcast`)."""
    channel = _readable_channel(s, p)
    stored = s.history.get(channel["id"], [])
    replies: dict[str, list[JSON]] = {}
    for m in stored:
        if _is_reply(m):
            replies.setdefault(str(m["thread_ts"]), []).append(m)
    in_range = _in_range(p)
    messages = [
        _with_thread(m, replies.get(str(m["ts"]), []))
        for m in stored
        if in_range(m) and (not _is_reply(m) or m.get("subtype") == "thread_broadcast")
    ]
    chunk, cursor = _page(messages, p, default_limit=100)
    return {"messages": chunk, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


def _conversations_replies(s: SlackEmulator, p: JSON) -> JSON:
    """A thread: its parent first, then the replies in `oldest`/`latest`, oldest first, paginated."""
    channel = _readable_channel(s, p)
    stored = s.history.get(channel["id"], [])
    thread_ts = str(p.get("ts") or "")
    if not thread_ts:
        raise SlackApiFailure("invalid_arguments")
    parent = next((m for m in stored if m["ts"] == thread_ts and not _is_reply(m)), None)
    if parent is None:
        raise SlackApiFailure("thread_not_found")
    replies = sorted(
        (m for m in stored if _is_reply(m) and m["thread_ts"] == thread_ts), key=lambda m: float(m["ts"])
    )
    in_range = _in_range(p)
    messages = [_with_thread(parent, replies), *(r for r in replies if in_range(r))]
    chunk, cursor = _page(messages, p, default_limit=1000)
    return {"messages": chunk, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


def _conversations_create(s: SlackEmulator, p: JSON) -> JSON:
    name = str(p.get("name") or "")
    if not name:
        raise SlackApiFailure("invalid_name_required")
    if len(name) > 80:
        raise SlackApiFailure("invalid_name_maxlength")
    if name != name.lower() or any(ch in name for ch in " .,#@"):
        raise SlackApiFailure("invalid_name_specials")
    if any(c["name"] == name for c in s.channels.values() if not c["is_im"]):
        raise SlackApiFailure("name_taken")
    is_private = str(p.get("is_private", "false")).lower() in ("true", "1")
    channel = s.add_channel(s.new_id("C"), name, is_private=is_private, bot_is_member=True)
    return {"channel": s.public_channel(channel)}


def _conversations_open(s: SlackEmulator, p: JSON) -> JSON:
    users = [u for u in str(p.get("users") or "").split(",") if u]
    if len(users) > 1:
        return _conversations_open_mpim(s, users)
    if len(users) != 1:
        raise SlackApiFailure("invalid_arguments")
    return {"channel": {"id": _message_channel(s, users[0])["id"]}}


def _conversations_list(s: SlackEmulator, p: JSON) -> JSON:
    types = str(p.get("types") or "public_channel").split(",")
    wanted = [
        s.public_channel(c)
        for c in s.channels.values()
        if not c["is_im"]
        and not c.get("is_mpim")
        and (
            ("private_channel" in types and c["is_private"] and s.bot_user_id in c["members"])
            or ("public_channel" in types and not c["is_private"])
        )
        and not (str(p.get("exclude_archived", "false")).lower() == "true" and c["is_archived"])
    ]
    chunk, cursor = _page(wanted, p)
    return {"channels": chunk, "response_metadata": {"next_cursor": cursor}}


def _users_info(s: SlackEmulator, p: JSON) -> JSON:
    user = dict(s.user(p.get("user")))
    if str(p.get("include_locale", "false")).lower() not in ("true", "1"):
        user.pop("locale", None)
    return {"user": user}


def _users_list(s: SlackEmulator, p: JSON) -> JSON:
    members, cursor = _page(list(s.users.values()), p, default_limit=200)
    return {"members": members, "response_metadata": {"next_cursor": cursor}}


def _team_info(s: SlackEmulator, p: JSON) -> JSON:
    return {"team": {"id": s.team_id, "domain": s.team_domain, "name": s.team_domain}}


def _files_get_upload_url(s: SlackEmulator, p: JSON) -> JSON:
    if not p.get("filename") or not p.get("length"):
        raise SlackApiFailure("invalid_arguments")
    file_id = s.new_id("F")
    s.uploads[file_id] = Upload(file_id=file_id, filename=str(p["filename"]))
    return {"upload_url": f"{s.base_url}/upload/{file_id}", "file_id": file_id}


def _files_complete_upload(s: SlackEmulator, p: JSON) -> JSON:
    files = p.get("files") or []
    if not files:
        raise SlackApiFailure("invalid_arguments")
    done = []
    for item in files:
        upload = s.uploads.get(item.get("id"))
        if upload is None:
            raise SlackApiFailure("file_not_found")
        upload.completed = {
            "channel_id": p.get("channel_id"),
            "title": item.get("title"),
            "initial_comment": p.get("initial_comment"),
        }
        done.append({"id": upload.file_id, "name": upload.filename, "title": item.get("title")})
    if p.get("channel_id"):
        _message_channel(s, p["channel_id"])
    return {"files": done}


_EMOJI_NAME = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


def _reactions_add(s: SlackEmulator, p: JSON) -> JSON:
    """An emoji on a message, as Slack keeps it on the message (`reactions`: name, users, count). The
    same emoji twice by the same user: already_reacted, like Slack."""
    channel = s.channel(p.get("channel"))
    if channel["is_archived"]:
        raise SlackApiFailure("is_archived")
    name = str(p.get("name") or "").strip(":")
    if not _EMOJI_NAME.fullmatch(name) or name in s.unknown_emoji:
        raise SlackApiFailure("invalid_name")
    message = next((m for m in s.history.get(channel["id"], []) if m["ts"] == p.get("timestamp")), None)
    if message is None:
        raise SlackApiFailure("message_not_found")
    reactions: list[JSON] = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        reactions.append(reaction)
    if s.bot_user_id in reaction["users"]:
        raise SlackApiFailure("already_reacted")
    reaction["users"].append(s.bot_user_id)
    reaction["count"] += 1
    return {}


METHODS: dict[str, Callable[[SlackEmulator, JSON], JSON]] = {
    "auth.test": _auth_test,
    "apps.connections.open": _apps_connections_open,
    "chat.postMessage": _chat_post_message,
    "chat.postEphemeral": _chat_post_ephemeral,
    "chat.update": _chat_update,
    "chat.delete": _chat_delete,
    "views.open": _views_open,
    "views.push": _views_push,
    "views.update": _views_update,
    "views.publish": _views_publish,
    "conversations.info": _conversations_info,
    "conversations.members": _conversations_members,
    "conversations.join": _conversations_join,
    "conversations.invite": _conversations_invite,
    "conversations.kick": _conversations_kick,
    "conversations.history": _conversations_history,
    "conversations.replies": _conversations_replies,
    "conversations.create": _conversations_create,
    "conversations.open": _conversations_open,
    "conversations.list": _conversations_list,
    "users.info": _users_info,
    "users.list": _users_list,
    "team.info": _team_info,
    "files.getUploadURLExternal": _files_get_upload_url,
    "files.completeUploadExternal": _files_complete_upload,
    # Issue 10 (first posts): the app's reaction on a newcomer's first message.
    "reactions.add": _reactions_add,
    # Pairing (issue 10, item 3): conversations.open with 2+ users is a group DM; see _conversations_open.
}


def _conversations_open_mpim(s: SlackEmulator, users: list[str]) -> JSON:
    """A group DM of the bot and 2 to 8 people (Slack's limit): the same set always gets the same
    channel (as Slack answers), recorded in `s.channels` with `is_mpim`, so messages land there."""
    if len(users) > 8 or len(set(users)) != len(users):
        raise SlackApiFailure("invalid_arguments")
    for user_id in users:
        user = s.user(user_id)
        if user["is_bot"]:
            raise SlackApiFailure("cannot_dm_bot")
        if user["deleted"]:
            raise SlackApiFailure("user_disabled")
    members = {*users, s.bot_user_id}
    with s.lock:
        for channel in s.channels.values():
            if channel.get("is_mpim") and channel["members"] == members:
                return {"channel": {"id": channel["id"], "is_mpim": True}}
        channel_id = s.new_id("G")
        s.channels[channel_id] = {
            "id": channel_id,
            "name": "mpdm-" + "--".join(sorted(s.user(u)["name"] for u in users)) + "-1",
            "is_channel": False,
            "is_group": False,
            "is_im": False,
            "is_mpim": True,
            "is_private": True,
            "is_archived": False,
            "created": int(time.time()),
            "members": members,
        }
        s.history.setdefault(channel_id, [])
    return {"channel": {"id": channel_id, "is_mpim": True}}


# ---- the signed request sender ---------------------------------------------------------------
_TRIGGERS = itertools.count(1)


def new_trigger_id() -> str:
    """Like Slack's: unique to one command or interaction, whichever sender made it (the app refuses a
    trigger_id it has seen: a replay)."""
    return f"{int(time.time())}.{next(_TRIGGERS)}.{secrets.token_hex(8)}"


@dataclass
class HttpResult:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SignedSender:
    """Posts Slack-shaped, v0-signed requests to the app's `/slack/events`, as Slack does."""

    def __init__(
        self, url: str, signing_secret: str, emulator: SlackEmulator, *, team_id: str | None = None
    ) -> None:
        self.url = url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.emulator = emulator
        self._ids = itertools.count(1)
        self._team_id = team_id  # another workspace's requests (several workspaces); else the default

    @property
    def team_id(self) -> str:
        return self._team_id or self.emulator.team_id

    @property
    def _workspace(self) -> Workspace:
        return self.emulator.workspaces.get(self.team_id) or self.emulator.default

    def _grid(self) -> JSON:
        """What Slack adds to a request from a workspace of an Enterprise Grid org."""
        enterprise = self._workspace.enterprise_id
        if enterprise is None:
            return {}
        org_wide = self.emulator.oauth is not None and self.emulator.oauth.org_installed(enterprise)
        return {"enterprise_id": enterprise, "is_enterprise_install": org_wide}

    # -- raw --
    def sign(self, body: str, timestamp: int) -> str:
        verifier = SignatureVerifier(self.signing_secret)
        signature = verifier.generate_signature(timestamp=str(timestamp), body=body)
        return str(signature)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        timestamp = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature if signature is not None else self.sign(body, timestamp),
            **(headers or {}),
        }
        request = urllib.request.Request(
            self.url, data=body.encode("utf-8"), headers=all_headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResult(response.status, response.read().decode("utf-8"), dict(response.headers))
        except urllib.error.HTTPError as error:
            return HttpResult(error.code, error.read().decode("utf-8"), dict(error.headers))

    def post_form(self, fields: Mapping[str, str], **kwargs: Any) -> HttpResult:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def post_payload(self, payload: JSON, **kwargs: Any) -> HttpResult:
        return self.post_form({"payload": json.dumps(payload)}, **kwargs)

    # -- slash commands --
    def command_fields(
        self,
        text: str,
        user: str,
        channel: str = "CGENERAL",
        command: str = "/cdp",
        trigger_id: str | None = None,
    ) -> dict[str, str]:
        user_obj = self.emulator.users.get(user, {})
        channel_obj = self.emulator.channels.get(channel, {})
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": self._workspace.domain,
            "channel_id": channel,
            "channel_name": str(channel_obj.get("name", "general")),
            "user_id": user,
            "user_name": str(user_obj.get("name", user.lower())),
            "command": command,
            "text": text,
            "api_app_id": "ACDPBOT",
            "is_enterprise_install": "false",
            "response_url": self.emulator.new_response_url(),
            "trigger_id": trigger_id or new_trigger_id(),
            **{k: str(v).lower() if isinstance(v, bool) else v for k, v in self._grid().items()},
        }

    def command(self, text: str, user: str, channel: str = "CGENERAL", **kwargs: Any) -> HttpResult:
        return self.post_form(self.command_fields(text, user, channel, **kwargs))

    # -- interactivity --
    def _user(self, user: str) -> JSON:
        return {
            "id": user,
            "username": self.emulator.users.get(user, {}).get("name", user),
            "team_id": self.team_id,
        }

    def view_submission(self, view: JSON, user: str, values: Mapping[str, Any] | None = None) -> HttpResult:
        """Submit `view` (as the emulator stored it) with `values` keyed by action_id (or block_id)."""
        submitted = dict(view)
        submitted["state"] = {"values": state_values(view, values or {})}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self._workspace.domain},
            "user": self._user(user),
            "api_app_id": "ACDPBOT",
            "token": "legacy-verification-token",
            "trigger_id": new_trigger_id(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        return self.post_payload(payload)

    def message_shortcut(self, user: str, callback_id: str, channel: str, message: JSON) -> HttpResult:
        """A message shortcut (`message_action`) run on `message` of `channel`, as Slack sends it."""
        payload = {
            "type": "message_action",
            "callback_id": callback_id,
            "team": {"id": self.team_id, "domain": self._workspace.domain},
            "user": self._user(user),
            "channel": {"id": channel, "name": self.emulator.channels.get(channel, {}).get("name", "")},
            "api_app_id": "ACDPBOT",
            "token": "legacy-verification-token",
            "trigger_id": new_trigger_id(),
            "action_ts": f"{time.time():.6f}",
            "message_ts": message["ts"],
            "message": message,
            "response_url": self.emulator.new_response_url(),
            "is_enterprise_install": False,
        }
        return self.post_payload(payload)

    def view_closed(self, view: JSON, user: str) -> HttpResult:
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id},
            "user": self._user(user),
            "api_app_id": "ACDPBOT",
            "view": view,
            "is_cleared": False,
        }
        return self.post_payload(payload)

    def block_action(
        self,
        user: str,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str = "actions",
        action_type: str = "button",
        view: JSON | None = None,
        channel: str | None = None,
        message: JSON | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> HttpResult:
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id,
            "type": action_type,
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        action.update(extra or {})
        payload: JSON = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": self._workspace.domain},
            "user": self._user(user),
            "api_app_id": "ACDPBOT",
            "token": "legacy-verification-token",
            "trigger_id": new_trigger_id(),
            "actions": [action],
            "is_enterprise_install": False,
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = view
        else:
            message = message or {"ts": self.emulator.next_ts(), "text": ""}
            payload["container"] = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {
                "id": channel,
                "name": self.emulator.channels.get(channel or "", {}).get("name", ""),
            }
            payload["message"] = message
            payload["response_url"] = self.emulator.new_response_url()
        return self.post_payload(payload)

    # -- Events API --
    def event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        event_time: int | None = None,
        team_id: str | None = None,
    ) -> HttpResult:
        body = self.event_body(event, event_id=event_id, event_time=event_time, team_id=team_id)
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.post(json.dumps(body), "application/json", headers=headers)

    def event_body(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        team_id: str | None = None,
    ) -> JSON:
        """The Events API callback Slack wraps `event` in."""
        team = team_id or self.team_id
        workspace = self.emulator.workspaces.get(team) or self._workspace
        return {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": "ACDPBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": event_time or int(time.time()),
            "authorizations": [
                {"team_id": team, "user_id": workspace.bot_user_id, "is_bot": True, **self._grid()}
            ],
            **self._grid(),
        }


def initial_values(view: JSON) -> JSON:
    """What Slack would submit for a form left untouched: every input's initial value, by action_id."""
    values: JSON = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block["element"]
        action_id, kind = element["action_id"], element["type"]
        if kind in ("plain_text_input", "number_input"):
            values[action_id] = element.get("initial_value")
        elif kind in ("static_select", "radio_buttons"):
            values[action_id] = (element.get("initial_option") or {}).get("value")
        elif kind == "checkboxes":
            values[action_id] = [o["value"] for o in element.get("initial_options") or []]
        elif kind == "multi_users_select":
            values[action_id] = list(element.get("initial_users") or [])
        elif kind == "multi_conversations_select":
            values[action_id] = list(element.get("initial_conversations") or [])
        elif kind == "conversations_select":
            values[action_id] = element.get("initial_conversation")
        elif kind == "users_select":
            values[action_id] = element.get("initial_user")
        elif kind == "datepicker":
            values[action_id] = element.get("initial_date")
    return values


def state_values(view: JSON, values: Mapping[str, Any]) -> JSON:
    """Build `view.state.values` as Slack does, from a {action_id or block_id: value} mapping."""
    state: JSON = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block["element"]
        action_id, block_id = element.get("action_id", ""), block.get("block_id", "")
        given = values.get(action_id, values.get(block_id))
        state.setdefault(block_id, {})[action_id] = element_state(element, given)
    return state


def _options(element: JSON) -> list[JSON]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: JSON, value: Any) -> JSON | None:
    if value is None:
        return None
    for option in _options(element):
        if option.get("value") == value:
            return option
    raise AssertionError(f"no option {value!r} in {element.get('action_id')}")


def element_state(element: JSON, value: Any) -> JSON:
    kind = element["type"]
    state: JSON = {"type": kind}
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        state["value"] = value
    elif kind in ("static_select", "radio_buttons", "external_select"):
        state["selected_option"] = _option(element, value)
    elif kind in ("checkboxes", "multi_static_select"):
        state["selected_options"] = [_option(element, v) for v in value or []]
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "multi_users_select":
        state["selected_users"] = list(value or [])
    elif kind == "conversations_select":
        state["selected_conversation"] = value
    elif kind == "channels_select":
        state["selected_channel"] = value
    elif kind in ("multi_conversations_select", "multi_channels_select"):
        state["selected_conversations" if kind.startswith("multi_conv") else "selected_channels"] = list(
            value or []
        )
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "timepicker":
        state["selected_time"] = value
    else:
        state["value"] = value
    return state


from bot.testing import slack_oauth  # noqa: E402  (it reads this module's helpers)

METHODS["oauth.v2.access"] = slack_oauth.oauth_v2_access
