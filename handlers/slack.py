"""Small Web API helpers the handlers share: who people are, Slack's error codes. Transport only.

Every call here is on the request path: it fails fast (bot.app.RequestClient) and the answer goes on
without it where it can. Messages, invites and updates are never sent from here: they go through the
outbox (bot.services.outbox), after the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.people import Person
from bot.runtime import Deps
from bot.services import outbox
from handlers.payloads import pressed_message

TS_MAX = 1e11  # year 5138: anything beyond is not a Slack timestamp


def ts_seconds(value: Any) -> float | None:
    """A Slack `ts` as seconds; None for anything that is not a plausible one."""
    try:
        ts = float(value)
    except (TypeError, ValueError):
        return None
    return ts if math.isfinite(ts) and 0 < ts < TS_MAX else None


def event_moment(body: dict[str, Any], event: dict[str, Any]) -> datetime | None:
    """When Slack says the event happened (its `event_ts`, else the callback's `event_time`): what
    orders a late retry against newer changes."""
    seconds = ts_seconds(event.get("event_ts")) or ts_seconds(body.get("event_time"))
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


def is_human(deps: Deps, client: WebClient, user_id: str) -> bool:
    """A person (not a bot, not deactivated). Unknown when Slack does not answer: then True, since a
    channel's members are people far more often than not, and a bot never posts as a contribution."""
    person = deps.people.get(client, user_id)
    return True if person is None else person.is_human


def people_problem(deps: Deps, client: WebClient, user_ids: Iterable[str]) -> str | None:
    """The field error for people picked in a form: bots or deactivated accounts, or people Slack could
    not tell us about just now (asked in parallel); None when they are all people."""
    return _people_problem(list(deps.people.many(client, user_ids).values()))


def people_problems(deps: Deps, client: WebClient, fields: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """`people_problem` for each field of a form, all its people asked of Slack at once: every round trip
    to Slack counts against the 3 seconds the answer has."""
    picked = {field: [u for u in dict.fromkeys(users) if u] for field, users in fields.items()}
    found = deps.people.many(client, [u for users in picked.values() for u in users])
    problems = {field: _people_problem([found[u] for u in users]) for field, users in picked.items()}
    return {field: problem for field, problem in problems.items() if problem}


def _people_problem(found: list[Person | None]) -> str | None:
    if any(person is not None and not person.is_human for person in found):
        return "communities.errors.bot_picked"
    if any(person is None for person in found):
        return "delivery.people_unchecked"
    return None


def is_admin(deps: Deps, client: WebClient, user_id: str) -> bool:
    """A workspace admin or owner, asked again every few minutes (rights are revoked)."""
    return deps.people.is_admin(client, user_id)


def timezone_of(deps: Deps, client: WebClient, user_id: str, default: str = "UTC") -> str:
    return deps.people.timezone(client, user_id, default)


def answer_in_place(
    session: Any, body: dict[str, Any], lang: str, text: str, *, team_id: str
) -> tuple[str, str] | None:
    """The message whose button was pressed becomes `text` (its buttons gone: chat.update, after the
    ack); when it cannot be found, `text` is told to whoever pressed it. Returns the message replaced
    (its channel and ts), if any."""
    pressed = pressed_message(body)
    if pressed is None:
        tell(session, body, lang, text)
        return None
    outbox.edit(
        session,
        team_id=team_id,
        channel=pressed[0],
        ts=pressed[1],
        render="plain",
        lang=lang,
        text=text,
    )
    return pressed


def tell(session: Any, body: dict[str, Any], lang: str, text: str, *, replace: bool = False) -> None:
    """An ephemeral answer to whoever pressed a button (its response_url), sent after the ack;
    `replace`: instead of the (ephemeral) message whose button was pressed."""
    team = body.get("team") or {}
    outbox.respond(
        session,
        team_id=str(team.get("id") or ""),
        user=str(body["user"]["id"]),
        response_url=body.get("response_url"),
        lang=lang,
        replace=replace,
        render="plain",
        text=text,
    )
