"""The one place configuration is read: environment variables and an optional `.env` file."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.domain import retention
from bot.domain.retention import RetentionPolicy

SLACK_APPS_PAGE = "https://api.slack.com/apps"

# Where each variable comes from, shown next to every problem so an operator can fix it at once.
HINTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": (
        f"the Bot User OAuth Token (xoxb-...): {SLACK_APPS_PAGE} > your app > "
        "OAuth & Permissions > Bot User OAuth Token (install the app to your workspace first)"
    ),
    "SLACK_SIGNING_SECRET": (
        f"the Signing Secret: {SLACK_APPS_PAGE} > your app > Basic Information > App Credentials > "
        "Signing Secret (needed in HTTP mode, i.e. when SLACK_APP_TOKEN is not set)"
    ),
    "SLACK_APP_TOKEN": (
        f"an App-Level Token (xapp-...) for Socket Mode: {SLACK_APPS_PAGE} > your app > Basic Information > "
        "App-Level Tokens > Generate, with the connections:write scope"
    ),
    "SLACK_API_URL": "the Slack Web API base URL, e.g. https://slack.com/api/",
    "DATABASE_URL": (
        "a SQLAlchemy URL, e.g. sqlite:///cdp-bot.db (default) or postgresql+psycopg://user:password@host/db"
    ),
    "PORT": "the HTTP port to listen on, an integer from 1 to 65535 (default 3000)",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR (default INFO)",
    "DEFAULT_LANGUAGE": "en or fr (default en): the language used when a user's locale is unknown",
    "OUTBOX_LEASE_SECONDS": "an integer from 10 to 3600 (default 60)",
    "SLACK_REQUEST_TIMEOUT": (
        "seconds, more than 0 and at most 10 (default 1.5): how long an answer waits for a Slack call "
        "before it answers without it. Slack shows an error when the whole answer takes over 3 s"
    ),
    "ACTIVITY_RETENTION_DAYS": (
        f"a number of days, at least {retention.ACTIVITY_DAYS_MIN} "
        f"(default {retention.ACTIVITY_DAYS_DEFAULT}): "
        "daily activity counts older than that become monthly totals. The floor is one day more than the "
        "longest fixed window read from the daily counts (the onramp's 90-day newcomers); a community "
        "whose circle rule reads further back keeps its days as long as its rule needs them"
    ),
    "CIRCLE_HISTORY_RETENTION_DAYS": (
        f"0 (keep) or a number of days, at least {retention.CIRCLE_HISTORY_DAYS_MIN} (default "
        f"{retention.CIRCLE_HISTORY_DAYS_DEFAULT}): circle changes older than that are deleted. The floor "
        "covers the chart's 104 weeks of members per circle, rebuilt from these changes"
    ),
    "SLACK_CLIENT_ID": (
        f"the Client ID, for installing in several workspaces (OAuth): {SLACK_APPS_PAGE} > your app > "
        "Basic Information > App Credentials > Client ID"
    ),
    "SLACK_CLIENT_SECRET": (
        f"the Client Secret, for installing in several workspaces (OAuth): {SLACK_APPS_PAGE} > your app > "
        "Basic Information > App Credentials > Client Secret"
    ),
    "SLACK_REDIRECT_URI": (
        "the Redirect URL registered under OAuth & Permissions, e.g. https://YOUR-HOST/slack/oauth_redirect"
    ),
    "UNINSTALL_GRACE_DAYS": (
        "an integer from 0 to 3650 (default 30): days a workspace's data is kept after the app is uninstalled"
    ),
}


class Settings(BaseSettings):
    """Typed settings; built once by the CLI and passed to whatever needs them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite:///cdp-bot.db", alias="DATABASE_URL")
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")
    host: str = Field(default="0.0.0.0", alias="HOST")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="LOG_LEVEL")
    default_language: Literal["en", "fr"] = Field(default="en", alias="DEFAULT_LANGUAGE")
    # How long a delivery taken by the outbox worker is its own: if the process dies meanwhile, another
    # (or the next start) sends it after this. Longer than a send can take (each Slack call gives up
    # after 10 s), or two instances could both send it.
    outbox_lease_seconds: int = Field(default=60, ge=10, le=3600, alias="OUTBOX_LEASE_SECONDS")
    # How long an answer waits for one Slack call (a form to open, a person to check) before answering
    # without it: Slack gives the whole answer 3 s. The tests raise it, as their machines are loaded.
    slack_request_timeout: float = Field(default=1.5, gt=0, le=10, alias="SLACK_REQUEST_TIMEOUT")
    # "full": a commit waits for the disk, so nothing acknowledged to Slack is ever lost (the default).
    # "fast": the database flushes a fraction of a second later; an app crash still loses nothing, a
    # crash of the database server or of the machine can lose the last ~0.6 s (README, "Performance").
    commit_durability: Literal["full", "fast"] = Field(default="full", alias="COMMIT_DURABILITY")
    # Several workspaces (OAuth v2): set the client id and secret instead of SLACK_BOT_TOKEN; each
    # workspace's token is then stored at install (README, "Several workspaces (OAuth)").
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    # Only needed when Slack has several Redirect URLs registered for the app: it must then be told which.
    slack_redirect_uri: str | None = Field(default=None, alias="SLACK_REDIRECT_URI")
    # After an uninstall, the workspace's data waits this long (a reinstall meanwhile keeps it all).
    uninstall_grace_days: int = Field(default=30, ge=0, le=3650, alias="UNINSTALL_GRACE_DAYS")

    # Data retention (README, "Data retention"): see HINTS for the floors and why.
    activity_retention_days: int = Field(
        default=retention.ACTIVITY_DAYS_DEFAULT,
        ge=retention.ACTIVITY_DAYS_MIN,
        le=36500,
        alias="ACTIVITY_RETENTION_DAYS",
    )
    circle_history_retention_days: int = Field(
        default=retention.CIRCLE_HISTORY_DAYS_DEFAULT, ge=0, le=36500, alias="CIRCLE_HISTORY_RETENTION_DAYS"
    )

    @field_validator("circle_history_retention_days")
    @classmethod
    def _circle_history_floor(cls, value: int) -> int:
        if 0 < value < retention.CIRCLE_HISTORY_DAYS_MIN:
            raise ValueError(f"must be 0 (keep) or at least {retention.CIRCLE_HISTORY_DAYS_MIN}")
        return value

    @property
    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            activity_days=self.activity_retention_days, circle_history_days=self.circle_history_retention_days
        )

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_redirect_uri",
        mode="before",
    )
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("log_level", "default_language", mode="before")
    @classmethod
    def _normalise_case(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("default_language", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a valid database URL") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def oauth(self) -> bool:
        """Several workspaces: installed through OAuth, each with its own token. A bot token set means
        one workspace, as before, whatever else is set."""
        return self.slack_bot_token is None and (
            self.slack_client_id is not None or self.slack_client_secret is not None
        )

    @property
    def log_level_number(self) -> int:
        return int(logging.getLevelName(self.log_level))

    def missing_for_run(self) -> list[str]:
        """Variables `cdp-bot run` needs that are not set, as one line each. One workspace needs the bot
        token; several (OAuth) need the client id and secret, and HTTP (Slack redirects installers to
        the app, so there is no Socket Mode for them)."""
        values = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_CLIENT_ID": self.slack_client_id,
            "SLACK_CLIENT_SECRET": self.slack_client_secret,
        }
        if self.oauth:
            needed = ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"]
            problems = [f"{name} is not set: {HINTS[name]}" for name in needed if values[name] is None]
            if self.socket_mode:
                problems.append(
                    "SLACK_APP_TOKEN: several workspaces (SLACK_CLIENT_ID) are served over HTTP only, "
                    "where Slack sends installers back to /slack/oauth_redirect; unset SLACK_APP_TOKEN"
                )
            return problems
        needed = ["SLACK_BOT_TOKEN"]
        if not self.socket_mode:
            needed.append("SLACK_SIGNING_SECRET")
        return [f"{name} is not set: {HINTS[name]}" for name in needed if values[name] is None]


class SettingsError(Exception):
    """Raised with one human line per problem; the CLI prints them and exits non-zero."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    by_field = {
        field.validation_alias or field.alias or name: name for name, field in Settings.model_fields.items()
    }
    for error in exc.errors():
        variable = str(error["loc"][0]) if error["loc"] else "?"
        variable = variable if variable in by_field else variable.upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        hint = HINTS.get(variable)
        message = message[:1].lower() + message[1:]
        lines.append(f"{variable}: {message}" + (f" (expected {hint})" if hint else ""))
    return lines
