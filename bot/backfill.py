"""Seed the counters of a newly bound channel from its last 30 days of history (metadata only).

Runs in the background, never inside a command. Each page of conversations.history, with the thread
replies of its messages (conversations.replies: the history holds parents only), is counted and its
cursor saved in one transaction, so a restart resumes where it stopped and never counts a page
twice. Only messages older than the binding are read: live events count everything after it.
Slack may allow one history or replies call a minute: a 429 is waited out (Retry-After), not dropped.

Several instances: every instance resumes the unfinished backfills, but one reads a channel's history at
a time: the one holding its lease in the database (storage.repositories.backfills), renewed before each
Slack call. The others leave that channel alone; one whose holder died takes it over once the lease has
passed (`resume_all` runs every few minutes, bot/scheduler.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.logs import error_fields
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services.outbox import transport_now
from storage.repositories import backfills as lease_repo
from storage.repositories import communities as community_repo

log = logging.getLogger("cdp_bot.backfill")

PAGE_SIZE = 200
# How long a backfill's lease lasts without renewal: longer than any one Slack call and its Retry-After
# (Slack asks for a minute at most on these methods), short enough that a crashed holder's channel is
# taken over within minutes.
LEASE = timedelta(minutes=5)
REPLIES_PAGE_SIZE = 200
NOT_CONTRIBUTIONS = {
    "bot_message",
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "channel_archive",
    "channel_unarchive",
    "group_join",
    "group_leave",
    "message_changed",
    "message_deleted",
    "pinned_item",
    "unpinned_item",
    "tombstone",
    "reminder_add",
    "bot_add",
    "bot_remove",
}
CONTRIBUTING_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def is_contribution(message: dict[str, Any], bot_user_id: str | None) -> bool:
    """A human's top-level message or thread reply; bots, the app itself and system messages are not."""
    user = message.get("user")
    if not user or message.get("bot_id") or user == bot_user_id:
        return False
    return message.get("subtype") in CONTRIBUTING_SUBTYPES


class _HeldElsewhere(Exception):
    """Another instance holds this channel's backfill: this one leaves it alone."""


class _Lease:
    """This process's hold on one binding's backfill, renewed before every Slack call it makes."""

    def __init__(self, deps: Deps, binding_id: int) -> None:
        self.deps = deps
        self.binding_id = binding_id

    def renew(self) -> None:
        now = transport_now()
        with self.deps.db.session() as session:
            held = lease_repo.hold(
                session,
                binding_id=self.binding_id,
                owner=self.deps.instance_id,
                now=now,
                until=now + LEASE,
            )
        if not held:
            raise _HeldElsewhere

    def release(self) -> None:
        with self.deps.db.session() as session:
            lease_repo.release(session, binding_id=self.binding_id, owner=self.deps.instance_id)


class _Stopped(Exception):
    """Slack refused a call for another reason than a rate limit: the backfill stops, to resume later."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


def _call(
    method: Callable[..., SlackResponse],
    name: str,
    sleep: Callable[[float], None],
    lease: _Lease,
    **params: Any,
) -> SlackResponse:
    """One Web API call, a 429 waited out (Retry-After) and tried again, any other error raised. The
    lease is renewed before each attempt: no other instance makes this call meanwhile."""
    while True:
        lease.renew()
        try:
            return method(**params)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                wait = float(exc.response.headers.get("Retry-After", 60))
                log.info(
                    "backfill rate limited",
                    extra={"fields": {"method": name, "channel": params.get("channel"), "retry_after": wait}},
                )
                sleep(wait)
                continue
            raise _Stopped(name, str(exc.response.get("error") or exc.response.status_code)) from exc


def _next_cursor(page: SlackResponse) -> str:
    return str((page.get("response_metadata") or {}).get("next_cursor") or "")


def _ts(message: dict[str, Any]) -> float | None:
    try:
        return float(message["ts"])
    except (KeyError, TypeError, ValueError):
        return None


def _has_replies(message: dict[str, Any]) -> bool:
    count = message.get("reply_count")
    return isinstance(count, int) and count > 0 and bool(message.get("ts"))


def _thread_replies(
    client: WebClient,
    *,
    channel_id: str,
    thread_ts: str,
    oldest: str,
    latest: str,
    bot_user_id: str | None,
    sleep: Callable[[float], None],
    lease: _Lease,
) -> list[dict[str, Any]]:
    """The replies of one thread in (oldest, latest), every page of them, without the parent."""
    replies: list[dict[str, Any]] = []
    cursor = ""
    while True:
        try:
            page = _call(
                client.conversations_replies,
                "conversations.replies",
                sleep,
                lease,
                channel=channel_id,
                ts=thread_ts,
                oldest=oldest,
                latest=latest,
                inclusive=False,
                limit=REPLIES_PAGE_SIZE,
                cursor=cursor or None,
            )
        except _Stopped as stopped:
            if stopped.error == "thread_not_found":  # deleted since the history page was read
                return replies
            raise
        for message in page.get("messages") or []:
            # The parent comes first (it is in the history); a reply also sent to the channel
            # (thread_broadcast) is in the history too: both are counted there, not here.
            if str(message.get("ts")) == thread_ts or message.get("subtype") == "thread_broadcast":
                continue
            if is_contribution(message, bot_user_id):
                replies.append(message)
        cursor = _next_cursor(page)
        if not cursor:
            return replies


def backfill_channel(
    deps: Deps, client: WebClient, binding_id: int, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Backfill one bound channel to the end; returns the number of contributions counted.

    A page of history and the replies of its threads are read first, then counted with the cursor
    moved past them in one transaction: a restart re-reads that page and its threads, never counts
    them twice. Returns at once (0) when another instance holds the channel's lease.
    """
    lease = _Lease(deps, binding_id)
    try:
        return _backfill(deps, client, binding_id, sleep, lease)
    except _HeldElsewhere:
        log.info("backfill held by another instance", extra={"fields": {"binding": binding_id}})
        return 0
    finally:
        try:
            lease.release()
        except Exception as exc:  # the database went away: the lease passes on its own within LEASE
            log.warning(
                "backfill lease not released", extra={"fields": {"binding": binding_id, **error_fields(exc)}}
            )


def _backfill(
    deps: Deps, client: WebClient, binding_id: int, sleep: Callable[[float], None], lease: _Lease
) -> int:
    counted = 0
    while True:
        with deps.db.session() as session:
            binding = community_repo.channel_by_id(session, binding_id)
            if binding is None or binding.backfill_status == "done":
                return counted
            community = community_repo.get(
                session, team_id=binding.team_id, community_id=binding.community_id
            )
            if community is None:
                return counted
            oldest = binding.bound_at - timedelta(days=community.circle_window_days)
            channel_id, cursor, latest = binding.channel_id, binding.backfill_cursor, binding.bound_at
            team_id = binding.team_id
        speaker = _speaker(deps, client, team_id)
        if speaker is None:
            return counted
        client, bot_user_id = speaker
        bounds = {"oldest": f"{oldest.timestamp():.6f}", "latest": f"{latest.timestamp():.6f}"}
        try:
            page = _call(
                client.conversations_history,
                "conversations.history",
                sleep,
                lease,
                channel=channel_id,
                inclusive=False,
                limit=PAGE_SIZE,
                cursor=cursor or None,
                **bounds,
            )
            found = [m for m in page.get("messages") or [] if is_contribution(m, bot_user_id)]
            for parent in page.get("messages") or []:
                if _has_replies(parent):
                    found += _thread_replies(
                        client,
                        channel_id=channel_id,
                        thread_ts=str(parent["ts"]),
                        bot_user_id=bot_user_id,
                        sleep=sleep,
                        lease=lease,
                        **bounds,
                    )
        except _Stopped as stopped:
            log.warning(
                "backfill stopped",
                extra={"fields": {"channel": channel_id, "method": stopped.method, "error": stopped.error}},
            )
            return counted
        # Only what Slack placed strictly inside the window before the binding: live events count the rest.
        low, high = float(bounds["oldest"]), float(bounds["latest"])
        messages = [(str(m["user"]), ts) for m in found if (ts := _ts(m)) is not None and low < ts < high]
        next_cursor = _next_cursor(page)
        with deps.db.session() as session:
            binding = community_repo.channel_by_id(session, binding_id, lock=True)
            if binding is None or binding.backfill_cursor != cursor or binding.backfill_status == "done":
                return counted  # another worker took this page
            community = community_repo.get(
                session, team_id=binding.team_id, community_id=binding.community_id
            )
            assert community is not None
            counted += circle_service.backfill_rows(
                session, community=community, channel_id=channel_id, messages=messages, now=deps.clock.now()
            )
            binding.backfill_cursor = next_cursor or None
            if not next_cursor:
                binding.backfill_status = "done"
                # Circles mean something on day one: promote whoever the history qualifies.
                circle_service.recompute(session, community=community, now=deps.clock.now())
        if not next_cursor:
            log.info("backfill done", extra={"fields": {"channel": channel_id, "counted": counted}})
            return counted


def _speaker(deps: Deps, client: WebClient, team_id: str) -> tuple[WebClient, str | None] | None:
    """The client and the app's bot user for the channel's workspace: with several workspaces (OAuth),
    that workspace's own token; None when it is no longer installed (nothing to read)."""
    workspaces = deps.workspaces
    if workspaces is None or not workspaces.oauth:
        return client, deps.bot_user_id
    from bot.workspaces import NotInstalled

    try:
        return workspaces.client_for(team_id, "jobs"), workspaces.bot_user_id(team_id)
    except NotInstalled:
        log.warning("backfill stopped: not installed", extra={"fields": {"team": team_id}})
        return None


def start(deps: Deps, client: WebClient, binding_ids: list[int]) -> None:
    for binding_id in binding_ids:
        with deps.lock:
            if binding_id in deps.backfilling:
                continue
            deps.backfilling.add(binding_id)
        deps.background.submit("backfill", _run, deps, client, binding_id)


def _run(deps: Deps, client: WebClient, binding_id: int) -> None:
    try:
        backfill_channel(deps, client, binding_id)
    finally:
        with deps.lock:
            deps.backfilling.discard(binding_id)


def resume_all(deps: Deps, client: WebClient | None = None) -> None:
    """Start every backfill not done yet (channels bound just now, or interrupted by a restart), in
    the background, with the jobs' client (it may wait out a 429: it is off the request path)."""
    with deps.db.session() as session:
        pending = [b.id for b in community_repo.pending_backfills(session)]
    jobs_client = client or deps.jobs_client
    assert jobs_client is not None, "Runtime.start sets deps.jobs_client"
    start(deps, jobs_client, pending)
