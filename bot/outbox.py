"""The outbox worker: sends what the app owes Slack, after the answer, once per recipient.

One dispatcher thread claims due deliveries (a lease in the database: several instances share the
outbox, PostgreSQL with SKIP LOCKED) and hands each to a small pool of senders. A sender renders the
message (in the recipient's language), respects Slack's rate tiers (per method and workspace; one
message a second per channel), makes the call, and records the outcome on the row:
- sent: done; where the message landed is kept, for a later chat.update;
- 429: the row comes back after its Retry-After, alone (other recipients go on);
- Slack or the network failing: back off and try again, for up to a day, then give up loudly;
- a refusal about the recipient (gone, a bot, archived channel): skipped, the others still get theirs.

A crash after the deciding commit leaves the rows pending: the next start (or another instance, once
the lease has passed) sends them. The one window left is a crash between Slack's answer and the record
of it: that message may be sent twice, never lost.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.webhook import WebhookClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from bot import metrics
from bot.background import Answering
from bot.clock import Clock
from bot.domain.retention import RetentionPolicy
from bot.i18n import t
from bot.people import People, is_user_id
from bot.services import outbox as service
from bot.views.messages import render
from storage.db import Database
from storage.repositories import outbox as repo
from storage.repositories.outbox import Delivery

log = logging.getLogger("cdp_bot.outbox")

# Refusals about one recipient or one place: retrying would not help, the others still get theirs.
RECIPIENT_ERRORS = {
    "cannot_dm_bot",
    "user_not_found",
    "user_disabled",
    "account_inactive",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "user_is_restricted",
    "user_is_ultra_restricted",
    "cant_invite",
    "cant_invite_self",
    "restricted_action",
    "expired_url",
    "used_url",
    "user_not_in_channel",  # an ephemeral message to someone who already left the channel
}
# Slack said "not now" in words rather than with a status: try again later.
TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "slack_unreachable",
    # Several workspaces with token rotation: the token was refreshed meanwhile (by another instance);
    # the next attempt reads the new one.
    "token_expired",
}
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_FIRST = 5.0  # seconds; doubled at each attempt
# How long the worker lets the requests being answered go first before it takes its next delivery: long
# enough for a burst of answers, short enough that a welcome never waits long behind a busy minute.
ANSWERS_FIRST = 0.25  # seconds
# ...and, once none is left, how long no new one must have started: the next request of a burst (people
# typing one after the other, a client sending one at a time) usually comes within a few milliseconds,
# and a send begun just before it would hold the GIL while it is answered.
ANSWERS_QUIET = 0.01  # seconds
BACKOFF_MAX = 900.0

# Slack's tiers, per method and workspace (https://api.slack.com/docs/rate-limits): Tier 3 allows
# 50+ calls a minute, Tier 4 100+, both with bursts. chat.postMessage: about one message a second per
# channel (its own "special" tier), bursts not guaranteed.
TIER_PER_MINUTE = {
    "conversations.invite": 50,
    "conversations.open": 50,
    "chat.update": 50,
    "users.info": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
    "chat.postEphemeral": 100,  # Tier 4
    "reactions.add": 50,
    "views.publish": 100,
}
POST_INTERVAL = 1.0  # seconds between two messages to one channel
SHORT_WAIT = 2.0  # a sender waits this long for its turn; longer, the row is put back for later


class RateLimiter:
    """Token buckets per key, in this process: `reserve` says how long to wait before the call."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def reserve(self, key: str, *, per_second: float, burst: float) -> float:
        """Take a token for `key` if one is there (0.0); else the seconds until one will be (no token
        taken: the caller asks again then)."""
        with self._lock:
            now = self._monotonic()
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / per_second


class NotInstalledError(Exception):
    """The row's workspace no longer has the app installed (several workspaces): nothing to send with.
    bot.workspaces.NotInstalled derives from it (this module cannot import bot.workspaces: a cycle)."""


class Later(Exception):
    """Not now: come back in `seconds` (a 429's Retry-After, a backoff, the rate limiter)."""

    def __init__(self, seconds: float, error: str) -> None:
        super().__init__(error)
        self.seconds = seconds
        self.error = error


@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None = None
    channel: str | None = None
    ts: str | None = None


SENT = Outcome(repo.SENT)


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


class OutboxWorker:
    """Drains the outbox. `start()` it once per process; `wake()` after a commit that wrote to it."""

    def __init__(
        self,
        db: Database,
        client: WebClient,
        people: People,
        *,
        default_language: str,
        senders: int = 4,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock | None = None,
        retention: RetentionPolicy | None = None,
        client_for: Callable[[str], WebClient] | None = None,
        answering: Answering | None = None,
    ) -> None:
        self.db = db
        self.answering = answering
        self.answers_first = ANSWERS_FIRST
        self.retention = retention or RetentionPolicy()  # what the export says is kept (the settings')
        # The domain's clock (a circle, a newcomer waiting, "this month" are read on its calendar), for
        # what is built from the database when sent (App Home); transport times stay real time.
        self.clock = clock
        self._client = client
        # Several workspaces (OAuth): the client with the row's workspace token (bot.workspaces); it
        # raises bot.workspaces.NotInstalled for a workspace that uninstalled the app.
        self._client_for = client_for
        self._row_client = threading.local()
        self.people = people
        self.default_language = default_language
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.backoff_first = BACKOFF_FIRST
        self.limiter = RateLimiter(monotonic)
        self._senders = senders
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._slots = threading.Semaphore(senders)
        self._in_flight: set[int] = set()
        self._targets: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        event.listen(db.sessions, "after_commit", self._after_commit)
        event.listen(db.sessions, "after_rollback", self._after_rollback)

    @property
    def client(self) -> WebClient:
        """The client of the delivery this sender thread is sending: each sender handles one row at a
        time, so the row's workspace client is kept per thread (every sending function reads
        `worker.client`, whichever workspace the row is for)."""
        return getattr(self._row_client, "client", None) or self._client

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> OutboxWorker:
        if self._thread is None:
            self._pool = ThreadPoolExecutor(max_workers=self._senders, thread_name_prefix="cdp-outbox")
            self._thread = threading.Thread(target=self._dispatch, name="cdp-outbox-dispatch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the sends in flight (their rows are recorded), leave the rest for the next start."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        event.remove(self.db.sessions, "after_commit", self._after_commit)
        event.remove(self.db.sessions, "after_rollback", self._after_rollback)

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(service.ENQUEUED, False):
            self.wake()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(service.ENQUEUED, None)

    def drain(self, timeout: float = 30.0, *, include_later: bool = False) -> None:
        """Wait until nothing due is left (tests, demos). With `include_later`, also what waits for a
        Retry-After or a backoff."""
        deadline = time.monotonic() + timeout
        while True:
            self.wake()
            with self.db.session() as session:
                due_by = None if include_later else service.transport_now()
                left = repo.pending_count(session, due_by=due_by)
            with self._lock:
                busy = bool(self._in_flight)
            if left == 0 and not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"outbox: {left} deliveries still pending, {len(self._in_flight)} in flight"
                )
            time.sleep(0.02)

    # ---- dispatching -----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._claim()
            except Exception:
                log.exception("outbox: cannot read the outbox (database down?)")
                claimed = None
                self._stopping.wait(self.poll_seconds)
            if claimed is None:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
                continue
            assert self._pool is not None
            self._pool.submit(self._send_and_record, claimed)

    def _idle_wait(self) -> float:
        """Until the soonest pending delivery falls due, at most `poll_seconds` (other instances write
        too). A delivery already due is waiting for its recipient's previous message: the end of any
        send wakes the dispatcher, so it need not poll for it."""
        try:
            soonest = self.db.one_statement(repo.next_due_at)
        except Exception:
            return self.poll_seconds
        if soonest is None:
            return self.poll_seconds
        delay = (soonest - service.transport_now()).total_seconds()
        return self.poll_seconds if delay <= 0 else max(0.01, min(self.poll_seconds, delay))

    def _claim(self) -> Delivery | None:
        """Wait for a free sender, then take the next due row (None: nothing due)."""
        while not self._slots.acquire(timeout=0.5):
            if self._stopping.is_set():
                return None
        if self.answering is not None:  # the answers people wait for go first (bot.background.Answering)
            self.answering.wait_until_idle(self.answers_first, quiet=ANSWERS_QUIET)
        with self._lock:
            busy = set(self._targets)
        try:
            # One statement, atomic on its own (the row is taken, or not). What the worker does between
            # answers must cost them little (bot.background.Answering).
            now = service.transport_now()
            claim = functools.partial(repo.claim_next, now=now, lease=self.lease, busy=busy)
            row = self.db.one_statement(claim)
        except Exception:
            self._slots.release()
            raise
        if row is None:
            self._slots.release()
            return None
        with self._lock:
            self._in_flight.add(row.id)
            if row.target:
                self._targets.add(row.target)
        return row

    def _put_back(self, row: Delivery, seconds: float, error: str) -> None:
        with self.db.statement_session() as session:  # one statement (see _claim)
            repo.retry_at(
                session,
                message_id=row.id,
                when=service.transport_now() + timedelta(seconds=seconds),
                error=error[:64],
            )

    def _send_and_record(self, row: Delivery) -> None:
        try:
            self._record(row, self._attempt(row))
        except Exception:
            log.exception("outbox: cannot record a delivery", extra={"fields": {"delivery": row.id}})
        finally:
            with self._lock:
                self._in_flight.discard(row.id)
                self._targets.discard(row.target)
            self._slots.release()
            self.wake()  # the next message to the same recipient may go now

    def _attempt(self, row: Delivery) -> Outcome | Later:
        try:
            if self._client_for is not None:
                self._row_client.client = self._client_for(row.team_id)
            return SENDERS[row.kind](self, row)
        except NotInstalledError:
            return Outcome(repo.SKIPPED, "not_installed")
        except SlackTokenRotationError:  # oauth.v2.access failed (Slack down, or another instance's race)
            return self._backoff(row, "token_rotation")
        except Later as later:
            return later
        except SlackApiError as exc:
            return self._classify(row, exc)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            return self._backoff(row, f"network: {type(exc).__name__}")
        except Exception as exc:  # a bug (an unknown kind or renderer, bad arguments): never retried
            log.exception("outbox: cannot send a delivery", extra={"fields": {"delivery": row.id}})
            return Outcome(repo.FAILED, f"bug: {type(exc).__name__}")
        finally:
            self._row_client.client = None

    def _classify(self, row: Delivery, exc: SlackApiError) -> Outcome | Later:
        error = slack_error(exc)
        if exc.response.status_code == 429:
            return Later(float(exc.response.headers.get("Retry-After", 30) or 30), "ratelimited")
        if error in RECIPIENT_ERRORS:
            return Outcome(repo.SKIPPED, error)
        if error in TRANSIENT_ERRORS or exc.response.status_code >= 500:
            return self._backoff(row, error)
        return Outcome(repo.FAILED, error)

    def _backoff(self, row: Delivery, error: str) -> Outcome | Later:
        if service.transport_now() - row.created_at > GIVE_UP_AFTER:
            return Outcome(repo.FAILED, error)
        return Later(min(BACKOFF_MAX, self.backoff_first * 2 ** max(0, row.attempts - 1)), error)

    def _record(self, row: Delivery, outcome: Outcome | Later) -> None:
        fields = {"delivery": row.id, "kind": row.kind, "attempt": row.attempts}
        if isinstance(outcome, Later):
            self._put_back(row, outcome.seconds, outcome.error)
            log.info(
                "outbox: later", extra={"fields": {**fields, "error": outcome.error, "in_s": outcome.seconds}}
            )
            return
        # Most deliveries: one statement (see _claim). A refused copy of a scheduled message (a fallback
        # group) needs a transaction: its group's lock, the outcome and maybe the fallback's rows.
        refused = outcome.status in (repo.SKIPPED, repo.FAILED)
        group = _fallback_group(row) if refused else None
        recorded = functools.partial(
            repo.finish,
            message_id=row.id,
            status=outcome.status,
            now=service.transport_now(),
            error=outcome.error,
            channel=outcome.channel,
            ts=outcome.ts,
        )
        if group is None:
            self.db.one_statement(recorded)
        else:
            with self.db.session() as session:
                # The refused copies of one scheduled message are recorded one after the other (their
                # rows locked in id order on PostgreSQL): of two copies refused at the same moment, the
                # second to record sees the first, so when none reached anyone one of them falls back.
                # A copy that was delivered needs no lock: until recorded it is still pending, which
                # `group_alive` counts as reaching someone, so no refusal falls back meanwhile.
                repo.lock_group(session, group=group)
                recorded(session)
                self._fall_back(session, row, group)
        metrics.observe_delivery(delivered_what(row), outcome.status)
        if outcome.status == repo.FAILED:
            log.error("outbox: gave up", extra={"fields": {**fields, "error": outcome.error}})
        elif outcome.status == repo.SKIPPED:
            log.warning("outbox: recipient refused", extra={"fields": {**fields, "error": outcome.error}})

    def _fall_back(self, session: Session, row: Delivery, group: str) -> None:
        """When no copy of a scheduled message could reach anyone (every moderator deactivated, a bot,
        refused), it goes to its fallback recipients (the creator) instead, once (dedupe keys). `group`:
        the row's fallback group (`_fallback_group`, which also checked it names recipients)."""
        fallback = row.payload["fallback"]
        if repo.group_alive(session, group=group):
            return
        service.messages(
            session,
            [
                {
                    "team_id": row.team_id,
                    "to": str(user_id),
                    "render": row.payload["render"],
                    "args": row.payload.get("args") or {},
                    "once": f"{group}:fallback:{user_id}",
                    "ref": row.ref,
                    "chart": row.payload.get("chart"),
                    "fallback": {"group": f"{group}:fallback", "to": []},
                }
                for user_id in fallback["to"]
            ],
        )
        log.info(
            "outbox: fallback", extra={"fields": {"delivery": row.id, "recipients": len(fallback["to"])}}
        )

    # ---- the calls -------------------------------------------------------------------------------
    def _turn(self, team_id: str, method: str, channel: str | None = None) -> None:
        """Wait for the rate limiter (a short wait here; a longer one puts the row back)."""
        if method == "chat.postMessage" and channel:
            wait = self.limiter.reserve(f"{team_id}:post:{channel}", per_second=1 / POST_INTERVAL, burst=1)
        else:
            per_minute = TIER_PER_MINUTE.get(method, 20)
            wait = self.limiter.reserve(f"{team_id}:{method}", per_second=per_minute / 60, burst=per_minute)
        if wait > SHORT_WAIT:
            raise Later(wait, "rate tier")
        if wait > 0:
            time.sleep(wait)
            self._turn(team_id, method, channel)

    def language_of(self, row: Delivery, fixed: str | None) -> str:
        """The fixed language, else the recipient's (asked of Slack here, after the answer)."""
        if fixed:
            return fixed
        if is_user_id(row.target):
            self._turn(row.team_id, "users.info")
            return self.people.language(self.client, row.target, strict=True)
        return self.default_language

    def post(self, row: Delivery, channel: str, text: str, blocks: list[Any] | None) -> Outcome:
        self._turn(row.team_id, "chat.postMessage", channel)
        response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return Outcome(
            repo.SENT, channel=str(response.get("channel") or channel), ts=str(response.get("ts") or "")
        )


def delivered_what(row: Delivery) -> str:
    """What a delivery was, for /metrics: a message's renderer (reviews.prompt, reviews.alert...), else
    the row's kind (invite, welcome, home...)."""
    render = row.payload.get("render") if isinstance(row.payload, dict) else None
    return str(render) if render else row.kind


def _send_message(worker: OutboxWorker, row: Delivery) -> Outcome:
    payload = row.payload
    if "fallback" in payload and is_user_id(row.target):
        # A scheduled job chose this person from the database (a moderator); whether they can still
        # receive (not deactivated, not a bot) is asked here, at send time, through the people cache.
        worker._turn(row.team_id, "users.info")
        person = worker.people.get(worker.client, row.target, max_age=worker.people.rights_ttl)
        if person is not None and not person.is_human:
            return Outcome(repo.SKIPPED, "unreachable")
    lang = worker.language_of(row, payload.get("lang"))
    if payload.get("chart") is not None:  # the community's chart goes with it (bot/chart_delivery.py)
        from bot.chart_delivery import send_with_chart

        return send_with_chart(worker, row, lang)
    text, blocks = render(payload["render"], lang, payload.get("args") or {})
    return worker.post(row, row.target, text, blocks)


def _send_invite(worker: OutboxWorker, row: Delivery) -> Outcome:
    channel = str(row.payload["channel"])
    worker._turn(row.team_id, "conversations.invite")
    try:
        worker.client.conversations_invite(channel=channel, users=row.target)
    except SlackApiError as exc:
        error = slack_error(exc)
        if error == "already_in_channel":
            return SENT
        if exc.response.status_code == 429 or error not in RECIPIENT_ERRORS:
            raise
        if error not in ("user_not_found", "user_disabled", "account_inactive", "cannot_dm_bot"):
            # They cannot be added (a guest, a channel we left...): say so, with the way in.
            with worker.db.session() as session:
                service.text(
                    session,
                    team_id=row.team_id,
                    to=row.target,
                    key_name="delivery.invite_failed_dm",
                    once=f"invite-failed:{row.id}",
                    channel=f"<#{channel}>",
                )
        return Outcome(repo.SKIPPED, error)
    return SENT


def _send_update(worker: OutboxWorker, row: Delivery) -> Outcome:
    """Every delivered copy of `ref`, each rewritten in its recipient's language."""
    payload = row.payload
    with worker.db.session() as session:
        copies = [
            (c.target, c.status, c.result_channel, c.result_ts)
            for c in repo.copies(session, ref=payload["ref"])
        ]
    if any(status == repo.PENDING for _, status, _, _ in copies):
        # A copy is being sent right now: update it too, once it has landed.
        raise Later(1.0, "a copy is still on its way")
    besides = payload.get("besides")
    for target, status, channel, ts in copies:
        if status != repo.SENT or not channel or not ts or [channel, ts] == besides:
            continue
        lang = worker.people.language(worker.client, target, strict=True) if is_user_id(target) else None
        text, blocks = render(payload["render"], lang or worker.default_language, payload.get("args") or {})
        worker._turn(row.team_id, "chat.update")
        try:
            worker.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])
        except SlackApiError as exc:
            if exc.response.status_code == 429 or slack_error(exc) not in RECIPIENT_ERRORS:
                raise
    return SENT


def _send_edit(worker: OutboxWorker, row: Delivery) -> Outcome:
    payload = row.payload
    text, blocks = render(payload["render"], payload["lang"], payload.get("args") or {})
    worker._turn(row.team_id, "chat.update")
    worker.client.chat_update(channel=payload["channel"], ts=payload["ts"], text=text, blocks=blocks or [])
    return SENT


SLACK_HOOKS = "https://hooks.slack.com/"


def slack_hosted(url: str, api_url: str) -> bool:
    """A response_url the app will post to: Slack's hooks host (hooks.slack.com, or `hooks.` + the host of
    SLACK_API_URL, e.g. GovSlack's), or the host of SLACK_API_URL itself (a proxy, the emulator). Anything
    else (a mangled payload) is not posted to: the answer goes by DM instead."""
    parsed, api = urllib.parse.urlsplit(url), urllib.parse.urlsplit(api_url)
    if url.startswith(SLACK_HOOKS) or (parsed.scheme == "https" and parsed.netloc == f"hooks.{api.netloc}"):
        return True
    return parsed.scheme in ("http", "https") and (parsed.scheme, parsed.netloc) == (api.scheme, api.netloc)


def _send_response(worker: OutboxWorker, row: Delivery) -> Outcome:
    """An ephemeral answer through the response_url; once that has expired (30 minutes, 5 uses), a DM."""
    payload = row.payload
    text, blocks = render(payload["render"], payload["lang"], payload.get("args") or {})
    url = payload.get("url")
    if url and slack_hosted(str(url), worker.client.base_url):
        response = WebhookClient(url, timeout=10, retry_handlers=[]).send(
            text=text,
            blocks=blocks,
            response_type="ephemeral",
            replace_original=bool(payload.get("replace")),
        )
        if response.status_code == 429:
            raise Later(float(response.headers.get("Retry-After", 30)), "ratelimited")
        if response.status_code >= 500:
            raise Later(BACKOFF_FIRST, f"response_url {response.status_code}")
        if response.status_code == 200:
            return SENT
    return worker.post(row, row.target, text, blocks)


def _send_export(worker: OutboxWorker, row: Delivery) -> Outcome:
    """The person's data as a JSON file in their DM, gathered now (the outbox never holds a copy)."""
    from bot.services import privacy

    lang = str(row.payload.get("lang") or worker.default_language)
    with worker.db.session() as session:
        data = privacy.export(
            session,
            team_id=row.team_id,
            user_id=row.target,
            lang=lang,
            now=service.transport_now(),
            retention=worker.retention,
        )
    worker._turn(row.team_id, "conversations.open")
    channel = str(worker.client.conversations_open(users=row.target)["channel"]["id"])
    worker._turn(row.team_id, "files.getUploadURLExternal")
    worker.client.files_upload_v2(
        channel=channel,
        content=privacy.export_json(data),
        filename="cdp-bot-my-data.json",
        title=t("activity.privacy.export_title", lang),
        initial_comment=t("activity.privacy.export_comment", lang),
    )
    return SENT


def _fallback_group(row: Delivery) -> str | None:
    fallback = row.payload.get("fallback") if isinstance(row.payload, dict) else None
    if isinstance(fallback, dict) and fallback.get("to") and fallback.get("group"):
        return str(fallback["group"])
    return None


def _send_lookup(worker: OutboxWorker, row: Delivery) -> Outcome:
    """users.info of one person, to refresh what the scheduled jobs know (bot.people.known_reachable)."""
    worker._turn(row.team_id, "users.info")
    worker.people.lookup(worker.client, row.target)
    return Outcome(repo.SENT)


def _send_welcome(worker: OutboxWorker, row: Delivery) -> Outcome:
    """A newcomer's welcome (bot.services.welcome), gathered now: the moderators, channels and text as
    they are, in the newcomer's language (their Slack locale, else the community's); ephemeral in the
    channel they joined, else a DM. Nobody who left the workspace, nor a bot, is welcomed."""
    from bot.services import welcome
    from bot.views.welcome import welcome_message

    payload = row.payload
    said = worker.db.one_statement(
        functools.partial(welcome.content, team_id=row.team_id, community_id=int(payload["community_id"]))
    )
    if said is None or not said.still_due:
        return Outcome(repo.SKIPPED, "welcome_off")  # dissolved or switched off since they joined
    worker._turn(row.team_id, "users.info")
    person = worker.people.get(worker.client, row.target, max_age=worker.people.rights_ttl)
    if person is not None and not person.is_human:
        return Outcome(repo.SKIPPED, "unreachable")
    lang = (person.language if person is not None else None) or said.language
    text, blocks = welcome_message(lang, said)
    channel = payload.get("channel")
    if not channel:
        return worker.post(row, row.target, text, blocks)
    worker._turn(row.team_id, "chat.postEphemeral")
    worker.client.chat_postEphemeral(channel=str(channel), user=row.target, text=text, blocks=blocks)
    return Outcome(repo.SENT, channel=str(channel))


def _send_reaction(worker: OutboxWorker, row: Delivery) -> Outcome:
    """An emoji on a message (a newcomer's first post). Already there (a retry after Slack took it, or
    a person added the same one as the app): done. An emoji the workspace does not have: skipped."""
    worker._turn(row.team_id, "reactions.add")
    try:
        worker.client.reactions_add(channel=row.target, timestamp=row.payload["ts"], name=row.payload["name"])
    except SlackApiError as exc:
        error = slack_error(exc)
        if error == "already_reacted":
            return SENT
        if error in ("invalid_name", "too_many_reactions", "too_many_emoji"):
            return Outcome(repo.SKIPPED, error)
        raise
    return SENT


def _send_ephemeral(worker: OutboxWorker, row: Delivery) -> Outcome:
    """Sentences only `row.target` sees in a channel; they are no longer there: skipped."""
    payload = row.payload
    lang = worker.language_of(row, payload.get("lang"))
    text = " ".join(t(line["key_name"], lang, **(line.get("params") or {})) for line in payload["lines"])
    worker._turn(row.team_id, "chat.postEphemeral")
    try:
        worker.client.chat_postEphemeral(channel=payload["channel"], user=row.target, text=text)
    except SlackApiError as exc:
        if slack_error(exc) == "user_not_in_channel":
            return Outcome(repo.SKIPPED, "user_not_in_channel")
        raise
    return SENT


def _send_home(worker: OutboxWorker, row: Delivery) -> Outcome:
    """The person's App Home (views.publish), read from the database now and written in their language."""
    from bot.chart_delivery import home_with_charts
    from bot.services import home
    from bot.views.home import home_view

    lang = worker.language_of(row, None)
    now = worker.clock.now() if worker.clock is not None else service.transport_now()
    with worker.db.session() as session:
        data = home.gather(session, team_id=row.team_id, user_id=row.target, now=now)
    page = int(row.payload.get("page") or 0)
    data = home_with_charts(worker, row, data, lang, page)  # the charts of the communities they moderate
    view = home_view(data, lang, page=page)
    worker._turn(row.team_id, "views.publish")
    worker.client.views_publish(user_id=row.target, view=view)
    return SENT


SENDERS: dict[str, Callable[[OutboxWorker, Delivery], Outcome]] = {
    service.LOOKUP: _send_lookup,
    service.MESSAGE: _send_message,
    service.INVITE: _send_invite,
    service.UPDATE: _send_update,
    service.EDIT: _send_edit,
    service.RESPOND: _send_response,
    service.EXPORT: _send_export,
    service.WELCOME: _send_welcome,
    service.REACT: _send_reaction,
    service.EPHEMERAL: _send_ephemeral,
    service.HOME: _send_home,
}

# Pairing's group DMs (issue 10, item 3): a sender of its own module, registered here.
from bot.pairing_delivery import send_pairing  # noqa: E402

SENDERS[service.PAIRING] = send_pairing
