"""Structured logging: one JSON object per line. Never message text, never tokens."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

REQUEST_LOGGER = "cdp_bot.request"
# Libraries that log payloads (message text, answers) below WARNING: `configure` keeps them at WARNING.
QUIET_LIBRARIES = ("slack_bolt", "slack_sdk", "uvicorn.access", "apscheduler")
_ROOT = Path(__file__).resolve().parent.parent  # the project: where our own frames live


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(error_fields(record.exc_info[1]))
        return json.dumps(entry, ensure_ascii=False, default=str)


def error_fields(exc: BaseException) -> dict[str, str]:
    """What a log line says of an exception: its type, where it was raised, and a driver's or Slack's
    error code when there is one. Never its message, nor the traceback's values: they quote what people
    typed (`invalid literal for int(): 'bogus'`, the SQL parameters of a failed statement)."""
    fields = {"error": type(exc).__name__}
    place = _raised_at(exc.__traceback__)
    if place:
        fields["error_at"] = place
    code = _error_code(exc)
    if code:
        fields["error_code"] = code
    return fields


def _raised_at(tb: TracebackType | None) -> str | None:
    """`path:line` of the innermost frame in our own code (else the innermost frame at all)."""
    ours = last = None
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        last = f"{path.name}:{tb.tb_lineno}"
        if path.is_relative_to(_ROOT) and "site-packages" not in path.parts:
            ours = f"{path.relative_to(_ROOT).as_posix()}:{tb.tb_lineno}"
        tb = tb.tb_next
    return ours or last


def _error_code(exc: BaseException) -> str | None:
    """sqlite3's error name, PostgreSQL's SQLSTATE or Slack's error string: codes, never text."""
    for source in (exc, getattr(exc, "orig", None)):
        for attribute in ("sqlite_errorname", "sqlstate"):
            value = getattr(source, attribute, None)
            if isinstance(value, str) and value:
                return value
    lookup = getattr(getattr(exc, "response", None), "get", None)  # SlackApiError's SlackResponse
    error = lookup("error") if callable(lookup) else None
    return error if isinstance(error, str) and error else None


def configure(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Bolt and slack_sdk log payloads at DEBUG; keep them at WARNING whatever our level is.
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def log_fields(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
