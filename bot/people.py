"""The people of the workspace as Slack describes them (users.info), cached per process."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import normalise_language
from bot.runtime import Deps

log = logging.getLogger("cdp_bot.people")


def profile(deps: Deps, client: WebClient, user_id: str, *, fresh: bool = False) -> dict[str, Any] | None:
    """users.info, cached per process (bot-ness and admin rights rarely change); None if unknown."""
    if not fresh and user_id in deps.profiles:
        return deps.profiles[user_id]
    try:
        user = dict(client.users_info(user=user_id).get("user") or {})
    except SlackApiError as exc:
        log.warning("users.info failed", extra={"fields": {"error": str(exc.response.get("error"))}})
        return None
    deps.profiles[user_id] = user
    return user


def user_language(deps: Deps, client: WebClient, user_id: str) -> str:
    """The user's Slack locale mapped to fr/en; the configured default when Slack does not say."""
    cached = deps.languages.get(user_id)
    if cached is not None:
        return cached
    default = deps.settings.default_language
    try:
        user = client.users_info(user=user_id, include_locale=True).get("user") or {}
    except SlackApiError as exc:
        log.warning("users.info failed", extra={"fields": {"error": exc.response.get("error")}})
        return default
    language = normalise_language(user.get("locale"), default)
    deps.languages[user_id] = language
    return language


def reachable(deps: Deps, client: WebClient, user_ids: list[str]) -> list[str]:
    """People who can receive a DM now: not bots, not deactivated (asked afresh: people leave)."""
    result = []
    for user_id in dict.fromkeys(user_ids):
        user = profile(deps, client, user_id, fresh=True)
        if user is not None and not user.get("is_bot") and not user.get("deleted"):
            result.append(user_id)
    return result
