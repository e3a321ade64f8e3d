"""Structured logging: one JSON object per line. Never message text, never tokens."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

REQUEST_LOGGER = "cdp_bot.request"


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
        if record.exc_info:
            # Exception type and message only: a traceback can quote payload values.
            exc_type, exc, _ = record.exc_info
            entry["error"] = f"{exc_type.__name__ if exc_type else 'Error'}: {exc}"
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Bolt and slack_sdk log payloads at DEBUG; keep them at WARNING whatever our level is.
    for noisy in ("slack_bolt", "slack_sdk", "uvicorn.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def log_fields(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
