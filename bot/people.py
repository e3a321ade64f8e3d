"""The people of the workspace as Slack describes them (users.info), cached with a stated expiry.

One users.info call (with the locale) answers everything the app asks about a person: language, time
zone, bot or human, deactivated, admin. It is cached per process: what rarely changes (language, time
zone, bot-ness) for an hour, what matters for trust (admin rights, deactivation) for five minutes, so a
demoted admin loses their rights within minutes and a restart is never needed. On the request path the
call fails fast (see bot.app.RequestClient): when Slack does not answer, the user still gets an answer,
in the default language.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import normalise_language

log = logging.getLogger("cdp_bot.people")

PROFILE_TTL = 3600.0  # language, time zone, bot-ness
RIGHTS_TTL = 300.0  # admin rights and deactivation: trust, so asked again after five minutes
# How long the scheduled jobs trust what they know of a person without asking (the outbox worker still
# checks at send time, so a stale "reachable" costs a fallback, never a lost message).
KNOWN_TTL = 86400.0
# Slack's answers about a person that will not change by asking again.
UNKNOWN_PERSON = {"user_not_found", "user_not_visible", "account_inactive"}


def is_user_id(value: str) -> bool:
    """A member id (a DM goes to it), as opposed to a channel id."""
    return value[:1] in ("U", "W")


@dataclass(frozen=True)
class Person:
    user_id: str
    language: str | None  # fr / en, None when Slack has no locale we speak
    timezone: str | None
    is_bot: bool
    deleted: bool
    is_admin: bool

    @property
    def is_human(self) -> bool:
        return not self.is_bot and not self.deleted and self.user_id != "USLACKBOT"

    @classmethod
    def from_slack(cls, user: dict[str, Any]) -> Person:
        locale = str(user.get("locale") or "")
        spoken = locale.replace("_", "-").split("-")[0].lower() in ("fr", "en")
        return cls(
            user_id=str(user.get("id") or ""),
            language=normalise_language(locale) if spoken else None,
            timezone=str(user["tz"]) if user.get("tz") else None,
            is_bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
            is_admin=bool(user.get("is_admin") or user.get("is_owner")),
        )


class People:
    """users.info, cached. `get` answers None when Slack could not say (never raises)."""

    def __init__(self, default_language: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.default_language = default_language
        self._monotonic = monotonic
        # How long an answer about admin rights and deactivation is trusted (tests shorten it).
        self.rights_ttl = RIGHTS_TTL
        self._cache: dict[str, tuple[Person, float]] = {}
        self._gone: dict[str, float] = {}  # people Slack said it does not know, and when
        self._asked: dict[str, float] = {}  # people whose lookup a scheduled job wrote to the outbox
        self._lock = threading.Lock()

    def fetch(self, client: WebClient, user_id: str) -> Person:
        """Ask Slack now; SlackApiError when it refuses (rate limit, unknown person, unreachable)."""
        user = dict(client.users_info(user=user_id, include_locale=True).get("user") or {})
        person = Person.from_slack({**user, "id": user.get("id") or user_id})
        with self._lock:
            self._cache[user_id] = (person, self._monotonic())
        return person

    def get(self, client: WebClient, user_id: str, *, max_age: float = PROFILE_TTL) -> Person | None:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None and self._monotonic() - cached[1] <= max_age:
            return cached[0]
        try:
            return self.fetch(client, user_id)
        except SlackApiError as exc:
            log.info("users.info failed", extra={"fields": {"error": str(exc.response.get("error"))}})
            # An older answer beats none: a language is still right, rights are refused below.
            return cached[0] if cached is not None and max_age >= PROFILE_TTL else None

    def language(self, client: WebClient, user_id: str, *, strict: bool = False) -> str:
        """fr / en from the person's Slack locale; the default when Slack does not say. `strict` (the
        outbox worker) lets a rate limit or an outage raise, so the message waits for the right words."""
        if strict:
            person = self._known(user_id, PROFILE_TTL)
            if person is None:
                try:
                    person = self.fetch(client, user_id)
                except SlackApiError as exc:
                    if str(exc.response.get("error")) not in UNKNOWN_PERSON:
                        raise
        else:
            person = self.get(client, user_id)
        return (person.language if person else None) or self.default_language

    def is_admin(self, client: WebClient, user_id: str) -> bool:
        """A workspace admin or owner, asked again after `rights_ttl`; False when Slack does not answer."""
        person = self.get(client, user_id, max_age=self.rights_ttl)
        return person is not None and person.is_admin

    def timezone(self, client: WebClient, user_id: str, default: str = "UTC") -> str:
        person = self.get(client, user_id)
        return (person.timezone if person else None) or default

    def many(
        self, client: WebClient, user_ids: Iterable[str], *, max_age: float = PROFILE_TTL
    ) -> dict[str, Person | None]:
        """Several people at once: the calls Slack must answer go in parallel (a form names several)."""
        wanted = [u for u in dict.fromkeys(user_ids) if u]  # "" is a forgotten person: nobody to ask
        if len(wanted) <= 1:
            return {u: self.get(client, u, max_age=max_age) for u in wanted}
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            found = pool.map(lambda u: self.get(client, u, max_age=max_age), wanted)
            return dict(zip(wanted, found, strict=True))

    def known_reachable(self, user_id: str, *, max_age: float = KNOWN_TTL) -> bool | None:
        """What this process already knows, without asking Slack: True (can receive a DM), False
        (deactivated, a bot, unknown to Slack), None (never asked, or asked too long ago). Scheduled
        jobs decide with this; the outbox worker asks Slack at send time (see bot.outbox)."""
        with self._lock:
            gone = self._gone.get(user_id)
        if gone is not None and self._monotonic() - gone <= max_age:
            return False
        person = self._known(user_id, max_age)
        return None if person is None else person.is_human

    def known_language(self, user_id: str) -> str | None:
        """The language `language` would answer without a Slack call (the profile is fresh), else None:
        the HTTP server answers a command itself only then (handlers/direct.py)."""
        person = self._known(user_id, PROFILE_TTL)
        return None if person is None else person.language or self.default_language

    def known_timezone(self, user_id: str, *, max_age: float = KNOWN_TTL) -> str | None:
        """The person's time zone if this process already knows it (no Slack call): pairing chooses a
        partner in the newcomer's zone, and waits for the newcomer's working hours, with it."""
        person = self._known(user_id, max_age)
        return None if person is None else person.timezone

    def _known(self, user_id: str, max_age: float) -> Person | None:
        """The person as this process last heard of them from Slack, if not longer than `max_age` ago."""
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is None or self._monotonic() - cached[1] > max_age:
            return None
        return cached[0]

    def to_ask(self, user_ids: Iterable[str], *, max_age: float = KNOWN_TTL) -> list[str]:
        """Of these people, those this process neither knows nor asked the outbox to look up within
        `max_age`; they are noted as asked (a scheduled job asks the worker once a day, not each pass)."""
        now = self._monotonic()
        wanted = []
        with self._lock:
            for user_id in dict.fromkeys(user_ids):
                cached = self._cache.get(user_id)
                if cached is not None and now - cached[1] <= max_age:
                    continue
                asked = self._asked.get(user_id)
                if asked is not None and now - asked <= max_age:
                    continue
                self._asked[user_id] = now
                wanted.append(user_id)
        return wanted

    def lookup(self, client: WebClient, user_id: str) -> None:
        """Refresh what is known of one person (the outbox worker's `lookup` deliveries); a person
        Slack does not know (any more) is remembered as unreachable."""
        try:
            self.fetch(client, user_id)
        except SlackApiError as exc:
            if str(exc.response.get("error")) not in UNKNOWN_PERSON:
                raise
            with self._lock:
                self._gone[user_id] = self._monotonic()

    def reachable(self, client: WebClient, user_ids: Iterable[str]) -> list[str]:
        """People who can receive a DM now: not bots, not deactivated (asked again after `rights_ttl`)."""
        found = self.many(client, user_ids, max_age=self.rights_ttl)
        return [u for u, person in found.items() if person is not None and person.is_human]
