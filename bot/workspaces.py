"""Which token speaks for which workspace.

One workspace (SLACK_BOT_TOKEN): the same three clients as always, built once, whatever the team.
Several workspaces (OAuth): each workspace's bot token comes from slack_sdk's SQLAlchemy installation
store (the app's own database), refreshed through `oauth.v2.access` when token rotation is on and it
is about to expire; the request path, the outbox worker and the scheduled jobs each get a client of
their kind with that token. An org-wide Enterprise Grid install keeps one token for the whole org: the
`workspaces` table says which org a team belongs to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.app import background_client, request_client, worker_client
from bot.clock import Clock
from bot.outbox import NotInstalledError
from bot.settings import Settings
from bot.views import install as pages
from storage.db import Database
from storage.repositories import workspaces as repo

log = logging.getLogger("cdp_bot.workspaces")

Kind = Literal["request", "worker", "jobs"]

# Bolt's default: a rotating token is refreshed when it has less than this left.
ROTATE_BEFORE_MINUTES = 120
# How long a workspace's token is reused without reading the store again. An uninstall seen by this
# process forgets it at once; one seen by another instance is noticed within this (Slack refuses the
# revoked token meanwhile, and the outbox records the refusal).
TOKEN_CACHE_SECONDS = 30.0
# The bot scopes an install asks for: manifest.yml's (tests/test_manifest.py holds them equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "channels:read",
    "groups:read",
    "channels:join",
    "channels:manage",
    "groups:write",
    "channels:history",
    "groups:history",
    "reactions:read",
    "reactions:write",
    "files:write",
    "im:write",
    "mpim:write",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_EXPIRATION_SECONDS = 600  # an "Add to Slack" link is good for ten minutes
MAX_CLIENTS = 2000  # per-token request clients kept; beyond, the cache starts again


class NotInstalled(NotInstalledError):
    """No installation (or no longer one) for this workspace: nothing can be sent there."""


@dataclass(frozen=True)
class _Token:
    bot_token: str
    bot_user_id: str | None
    expires_at: int | None  # Unix seconds, with rotation
    read_at: float  # monotonic


class InstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's store on the app's database, which also records the workspace (and its org) in our
    `workspaces` table at install: a reinstall calls off a pending deletion of its data."""

    def __init__(self, client_id: str, db: Database, clock: Clock) -> None:
        super().__init__(client_id=client_id, engine=db.engine, logger=logging.getLogger("cdp_bot.oauth"))
        self._db = db
        self._clock = clock

    def save(self, installation: Installation) -> None:
        super().save(installation)
        with self._db.session() as session:
            if installation.team_id is not None and not installation.is_enterprise_install:
                repo.record_install(
                    session,
                    team_id=installation.team_id,
                    enterprise_id=installation.enterprise_id,
                    org_install=False,
                    now=self._clock.now(),
                )
            elif installation.enterprise_id is not None:
                repo.record_org_install(session, enterprise_id=installation.enterprise_id)


class Workspaces:
    """`client_for(team_id, kind)`: the client to speak to that workspace with."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.oauth = settings.oauth
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._clients: dict[tuple[str, Kind], WebClient] = {}
        self._seen: set[str] = set()
        if not self.oauth:
            # One token: built once, as before (the request path's cost does not change).
            self._single: dict[Kind, WebClient] = {
                "request": request_client(settings),
                "worker": worker_client(settings),
                "jobs": background_client(settings),
            }
            return
        assert settings.slack_client_id is not None and settings.slack_client_secret is not None
        self.installation_store = InstallationStore(settings.slack_client_id, db, clock)
        self.state_store = SQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_EXPIRATION_SECONDS,
            engine=db.engine,
            logger=logging.getLogger("cdp_bot.oauth"),
        )
        # oauth.v2.access goes to SLACK_API_URL like every other call (the emulator plays it in tests).
        self.rotator = TokenRotator(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            client=WebClient(base_url=settings.slack_api_url, timeout=10),
        )

    # ---- Bolt's OAuth flow and authorize --------------------------------------------------------
    def oauth_flow(self, client: WebClient) -> OAuthFlow:
        """Bolt's install flow on our stores, with pages in the installer's language. `client` (the
        app's, no token) makes the oauth.v2.access call, at SLACK_API_URL."""
        assert self.settings.slack_client_id is not None
        default = self.settings.default_language

        def language(request: BoltRequest) -> str:
            return pages.browser_language(_header(request, "accept-language"), default)

        def success(args: SuccessArgs) -> BoltResponse:
            installation = args.installation
            team = installation.team_name or installation.enterprise_name or installation.team_id or ""
            log.info(
                "installed",
                extra={"fields": {"team": installation.team_id, "org": installation.enterprise_id}},
            )
            return _html(200, pages.installed_page(team, language(args.request)))

        def failure(args: FailureArgs) -> BoltResponse:
            log.warning("installation refused", extra={"fields": {"reason": args.reason}})
            return _html(
                args.suggested_status_code,
                pages.failure_page(args.reason, INSTALL_PATH, language(args.request)),
            )

        settings = OAuthSettings(
            client_id=self.settings.slack_client_id,
            client_secret=self.settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=self.settings.slack_redirect_uri,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            callback_options=CallbackOptions(success=success, failure=failure),
            installation_store=self.installation_store,
            # One query per request (the workspace's latest bot), not two (the installer's user token).
            installation_store_bot_only=True,
            token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
            state_store=self.state_store,
            state_expiration_seconds=STATE_EXPIRATION_SECONDS,
            logger=logging.getLogger("cdp_bot.oauth"),
        )
        return InstallFlow(
            client=client, settings=settings, logger=logging.getLogger("cdp_bot.oauth"), language=language
        )

    def authorize(self) -> InstallationStoreAuthorize:
        """Bolt's authorize on our store, with its token rotation calling SLACK_API_URL (OAuthSettings'
        own would call slack.com), and auth.test asked once per token rather than per request."""
        return InstallationStoreAuthorize(
            logger=logging.getLogger("cdp_bot.oauth"),
            installation_store=self.installation_store,
            client_id=self.settings.slack_client_id,
            client_secret=self.settings.slack_client_secret,
            token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
            bot_only=True,
            cache_enabled=True,
            client=self.rotator.client,
        )

    # ---- clients -----------------------------------------------------------------------------
    def single(self, kind: Kind) -> WebClient:
        """The one-workspace client of this kind (SLACK_BOT_TOKEN)."""
        return self._single[kind]

    def client_for(self, team_id: str, kind: Kind) -> WebClient:
        """The client to speak to `team_id` with. Raises NotInstalled (OAuth) when it has no token."""
        if not self.oauth:
            return self._single[kind]
        return self.client_for_token(self._token(team_id).bot_token, kind)

    def client_for_token(self, token: str, kind: Kind) -> WebClient:
        """A client of this kind for a token Bolt's authorize found (the request path): reused, so a
        429's pause (RequestClient) holds for every request of the workspace."""
        key = (token, kind)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                if len(self._clients) >= MAX_CLIENTS:
                    self._clients.clear()
                client = self._clients.setdefault(key, self._build(token, kind))
        return client

    def _build(self, token: str, kind: Kind) -> WebClient:
        settings = self.settings.model_copy(update={"slack_bot_token": token})
        if kind == "request":
            built: WebClient = request_client(settings)
        elif kind == "worker":
            built = worker_client(settings)
        else:
            built = background_client(settings)
        return built

    def bot_user_id(self, team_id: str, default: str | None = None) -> str | None:
        """The app's bot user in that workspace (its own messages are not contributions)."""
        if not self.oauth:
            return default
        try:
            return self._token(team_id).bot_user_id
        except NotInstalled:
            return None

    # ---- tokens ------------------------------------------------------------------------------
    def _token(self, team_id: str) -> _Token:
        cached = self._tokens.get(team_id)
        now = time.monotonic()
        if cached is not None and now - cached.read_at < TOKEN_CACHE_SECONDS and not self._expiring(cached):
            return cached
        with self._lock:  # one rotation at a time in this process (a refresh token is used once)
            token = self._read(team_id)
            self._tokens[team_id] = token
        return token

    @staticmethod
    def _expiring(token: _Token) -> bool:
        return token.expires_at is not None and token.expires_at <= time.time() + ROTATE_BEFORE_MINUTES * 60

    def _read(self, team_id: str) -> _Token:
        with self.db.session() as session:
            workspace = repo.find(session, team_id=team_id)
            enterprise_id = workspace.enterprise_id if workspace is not None else None
            org_install = bool(workspace is not None and workspace.org_install)
        bot = self.installation_store.find_bot(
            enterprise_id=enterprise_id,
            team_id=None if org_install else team_id,
            is_enterprise_install=org_install,
        )
        if bot is None or not bot.bot_token:
            raise NotInstalled(team_id)
        bot = self._rotated(bot)
        return _Token(
            bot_token=str(bot.bot_token),
            bot_user_id=bot.bot_user_id,
            expires_at=bot.bot_token_expires_at,
            read_at=time.monotonic(),
        )

    def _rotated(self, bot: Bot) -> Bot:
        if bot.bot_refresh_token is None:
            return bot
        refreshed = self.rotator.perform_bot_token_rotation(
            bot=bot, minutes_before_expiration=ROTATE_BEFORE_MINUTES
        )
        if refreshed is None:
            return bot
        self.installation_store.save_bot(refreshed)
        log.info("bot token refreshed", extra={"fields": {"team": bot.team_id, "org": bot.enterprise_id}})
        return refreshed

    def forget(self, team_ids: list[str]) -> None:
        """Uninstalled: no token of theirs is used again by this process."""
        with self._lock:
            for team_id in team_ids:
                self._tokens.pop(team_id, None)

    # ---- org-wide installs -------------------------------------------------------------------
    def seen(self, team_id: str | None, enterprise_id: str | None, org_install: bool) -> None:
        """A request from a workspace of an org-wide install: remember which org it belongs to, once, so
        the outbox and the jobs find the org's token for it."""
        if not self.oauth or not org_install or not team_id or not enterprise_id or team_id in self._seen:
            return
        with self.db.session() as session:
            repo.record_seen(session, team_id=team_id, enterprise_id=enterprise_id, now=self.clock.now())
        self._seen.add(team_id)


class InstallFlow(OAuthFlow):
    """Bolt's OAuthFlow with our "Add to Slack" page (in the installer's language)."""

    def __init__(
        self,
        *,
        client: WebClient,
        settings: OAuthSettings,
        logger: logging.Logger,
        language: Callable[[BoltRequest], str],
    ) -> None:
        super().__init__(client=client, settings=settings, logger=logger)
        self._language = language

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        return pages.install_page(url, self._language(request))


def _header(request: BoltRequest, name: str) -> str | None:
    values = request.headers.get(name)
    return values[0] if values else None


def _html(status: int, body: str) -> BoltResponse:
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
