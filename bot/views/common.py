"""Small Block Kit helpers shared by every view."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

MODAL_TITLE_MAX = 24  # Block Kit: a modal title is at most 24 characters.


def plain(text: str, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def escape_text(text: str) -> str:
    """Words typed by someone (a title, a note) shown as text, never as Slack markup (a link's label
    cannot hold `|` or angle brackets)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "¦")


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def modal_title(text: str) -> dict[str, Any]:
    return plain(text if len(text) <= MODAL_TITLE_MAX else text[: MODAL_TITLE_MAX - 1] + "…")


def error_modal(lang: str, message: str) -> dict[str, Any]:
    from bot.i18n import t

    return {
        "type": "modal",
        "title": modal_title(t("errors.unexpected_title", lang)),
        "close": plain(t("common.close", lang)),
        "blocks": [section(message)],
    }


def ephemeral(text: str, blocks: list[Block] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        payload["blocks"] = blocks
    return payload
