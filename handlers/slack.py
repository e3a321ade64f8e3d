"""Small Web API helpers the handlers share: profiles, channels, messages. Transport only."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.people import profile
from bot.runtime import Deps

log = logging.getLogger("cdp_bot.slack")


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


def is_human(deps: Deps, client: WebClient, user_id: str) -> bool:
    user = profile(deps, client, user_id)
    if user is None or user_id == "USLACKBOT":
        return False
    return not user.get("is_bot") and not user.get("deleted")


def not_humans(deps: Deps, client: WebClient, user_ids: Iterable[str]) -> list[str]:
    return [u for u in user_ids if not is_human(deps, client, u)]


def is_admin(deps: Deps, client: WebClient, user_id: str) -> bool:
    user = profile(deps, client, user_id) or {}
    return bool(user.get("is_admin") or user.get("is_owner"))


def timezone_of(deps: Deps, client: WebClient, user_id: str, default: str = "UTC") -> str:
    user = profile(deps, client, user_id) or {}
    return str(user.get("tz") or default)


def post(client: WebClient, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None) -> bool:
    """Post a message; a refusal (user gone, channel archived...) is logged, not raised."""
    try:
        client.chat_postMessage(channel=channel, text=text, blocks=list(blocks) if blocks else None)
        return True
    except SlackApiError as exc:
        log.warning("chat.postMessage failed", extra={"fields": {"error": slack_error(exc)}})
        return False


def invite(client: WebClient, channel_id: str, user_ids: Sequence[str]) -> bool:
    """Invite people to a channel; those already in it are fine."""
    ok = True
    for user_id in user_ids:
        try:
            client.conversations_invite(channel=channel_id, users=user_id)
        except SlackApiError as exc:
            if slack_error(exc) != "already_in_channel":
                log.warning("conversations.invite failed", extra={"fields": {"error": slack_error(exc)}})
                ok = False
    return ok
