"""Circles over Slack: counting message and reaction events, /cdp me, /cdp circles, /cdp privacy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import metrics
from bot.backfill import is_contribution
from bot.domain.commands import canonical_verb
from bot.domain.retention import RetentionPolicy
from bot.i18n import format_list, t
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services import communities as community_service
from bot.services import outbox
from bot.services import privacy as privacy_service
from bot.services import retention as retention_service
from bot.services.circles import InThread
from bot.services.communities import CommunityProblem
from bot.views import communities as community_views
from bot.views.common import context_block, ephemeral, plain, section
from bot.views.standings import standing_lines
from handlers import registry, slack
from handlers.commands import CommandRequest, subcommand
from handlers.communities import open_modal, problem_text
from handlers.context import deps_of, interaction
from handlers.gate import check

log = logging.getLogger("cdp_bot.activity")

FORGET_CALLBACK = "privacy_forget"


_ts = slack.ts_seconds  # an implausible `ts` is ignored, not an error


# ---- counting --------------------------------------------------------------------------------
def answered_without_io(deps: Deps, payload: dict[str, Any]) -> bool:
    """True for a message or reaction event in a channel the binding cache, still fresh, knows no
    community counts: its listener below returns before any SQL or Slack call, and no other listener or
    middleware does I/O for it (Bolt's authorization has its auth.test answer from the start), so the
    HTTP server may dispatch it on its event loop (bot/server.py). False whenever unsure."""
    if payload.get("type") != "event_callback":
        return False
    event = payload.get("event")
    if not isinstance(event, dict):
        return False
    kind = event.get("type")
    if kind == "message":
        channel = event.get("channel")
    elif kind == "reaction_added":
        item = event.get("item")
        channel = item.get("channel") if isinstance(item, dict) else None
    else:
        return False
    if not isinstance(channel, str) or not channel:
        return False
    team_id = str(payload.get("team_id") or "")
    return circle_service.surely_uncounted(deps.db.engine, team_id=team_id, channel_id=channel)


# Set by the HTTP server (a list) when it counts messages itself, on its event loop, before it answers.
COUNT_ON_LOOP = "cdp_count_on_loop"


@dataclass(frozen=True)
class MessageToCount:
    team_id: str
    event_id: str | None
    channel_id: str
    user_id: str
    ts: float
    now: datetime
    message_ts: str | None  # Slack's own string (first posts: what reactions.add needs)


@dataclass(frozen=True)
class NothingToCount:
    """A human's message in a channel no community counts (the binding cache, still fresh, knows it):
    all `message_callback` does for it is to measure it as ignored."""


NOTHING_TO_COUNT = NothingToCount()


def _to_count(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], bot_user_id: str | None
) -> MessageToCount | NothingToCount | None:
    """The count a message event owes; NOTHING_TO_COUNT for a human's contribution in a channel no
    community counts (most messages, known without a session); None for anything that is not a human's
    contribution. The text is never read beyond this check, never stored."""
    channel_id, ts = str(event.get("channel") or ""), _ts(event.get("ts"))
    if not channel_id or ts is None or not is_contribution(event, bot_user_id):
        return None
    team_id = str(body.get("team_id") or "")
    if circle_service.surely_uncounted(deps.db.engine, team_id=team_id, channel_id=channel_id):
        return NOTHING_TO_COUNT
    return MessageToCount(
        team_id=team_id,
        event_id=body.get("event_id"),
        channel_id=channel_id,
        user_id=str(event["user"]),
        ts=ts,
        now=deps.clock.now(),
        message_ts=str(event["ts"]),  # Slack's own string: what reactions.add needs
    )


def message_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    """Count who posted where and when."""
    deps = deps_of(context)
    message = _to_count(deps, body, event, context.bot_user_id)
    if not isinstance(message, MessageToCount):
        ignored()
        return
    later = context.get(COUNT_ON_LOOP)
    if isinstance(later, list):
        later.append(message)  # the HTTP server awaits `count_on_loop` before it answers Slack
        return
    count_in_thread(deps, message)


def is_message_event(payload: dict[str, Any]) -> bool:
    event = payload.get("event")
    return (
        payload.get("type") == "event_callback" and isinstance(event, dict) and event.get("type") == "message"
    )


def counts_on_loop(deps: Deps, payload: dict[str, Any]) -> bool:
    """True when the HTTP server may dispatch this event on its event loop and then await the count of
    what `message_callback` set aside (PostgreSQL; a message event): the listener itself does no I/O."""
    return deps.db.awaits_statements and is_message_event(payload)


def count_in_thread(deps: Deps, message: MessageToCount) -> None:
    """Count one message in the calling (worker) thread: Bolt's dispatch on SQLite (several workspaces, a
    payload the server leaves to Bolt) and Socket Mode's."""
    outcome = circle_service.record_contribution(deps.db, **vars(message))
    metrics.observe_event(outcome.result)


def message_to_count(deps: Deps, payload: dict[str, Any]) -> MessageToCount | NothingToCount | None:
    """The count a plain human message owes, read straight from the (signed, parsed) payload, so the HTTP
    server can answer it without Bolt's dispatch (bot/server.py): its count in a counted channel, or
    NOTHING_TO_COUNT in a channel no community counts; None whenever Bolt must see it (any other event,
    a payload the gate refuses, a message that is not a human's contribution, several workspaces). What
    Bolt would do for such a message is exactly `message_callback`: no other listener or middleware acts
    on it (the gate validates it, as here; IgnoringSelfEvents drops only the app's own, which are not
    contributions; AttachContext reads no language for an event), and a single workspace's authorization
    is the token checked at start."""
    if deps.settings.slack_bot_token is None or check(payload) is not None:
        return None
    message = _to_count(deps, payload, payload["event"], deps.bot_user_id)
    if isinstance(message, NothingToCount) and {"user", "user_id"} & payload.keys():
        return None  # Bolt's self-event check would read that user rather than the event's
    return message  # None for a bot's message, an edit, a system message: Bolt's middleware may act on it


@dataclass(frozen=True)
class ReactionToCount:
    team_id: str
    event_id: str | None
    channel_id: str
    user_id: str
    ts: float
    now: datetime


def reaction_to_count(deps: Deps, payload: dict[str, Any]) -> ReactionToCount | NothingToCount | None:
    """What `reaction_callback` would do for a person's reaction, read straight from the (signed, parsed)
    payload, so the HTTP server can answer it without Bolt's dispatch (bot/server.py): its count, or
    NOTHING_TO_COUNT in a channel the binding cache, still fresh, knows no community counts. None whenever
    Bolt must see it: the app's own reaction (Bolt's IgnoringSelfEvents drops it before any listener), a
    payload the gate refuses, a reaction without its channel or time, several workspaces."""
    event = payload.get("event")
    if (
        deps.settings.slack_bot_token is None
        or payload.get("type") != "event_callback"
        or not isinstance(event, dict)
        or event.get("type") != "reaction_added"
        or {"user", "user_id"} & payload.keys()  # Bolt's self-event check would read that user
    ):
        return None
    user = event.get("user")
    if not isinstance(user, str) or not user or user == deps.bot_user_id or check(payload) is not None:
        return None
    return _reaction_to_count(deps, payload, event, deps.bot_user_id)


def _reaction_to_count(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], bot_user_id: str | None
) -> ReactionToCount | NothingToCount | None:
    """The count a reaction event owes (as `_to_count` for a message); NOTHING_TO_COUNT in a channel no
    community counts (known without a session); None for one that lacks its channel, time or person, or
    is the app's own."""
    item = event.get("item") or {}
    channel_id, ts = str(item.get("channel") or ""), _ts(event.get("event_ts") or item.get("ts"))
    user_id = str(event.get("user") or "")
    if not channel_id or not user_id or ts is None or user_id == bot_user_id:
        return None
    team_id = str(body.get("team_id") or "")
    if circle_service.surely_uncounted(deps.db.engine, team_id=team_id, channel_id=channel_id):
        return NOTHING_TO_COUNT
    return ReactionToCount(
        team_id=team_id,
        event_id=body.get("event_id"),
        channel_id=channel_id,
        user_id=user_id,
        ts=ts,
        now=deps.clock.now(),
    )


def ignored() -> None:
    """What `message_callback` and `reaction_callback` do for an event they do not count."""
    metrics.observe_event(circle_service.Counted.IGNORED)


async def count_on_loop(deps: Deps, messages: list[MessageToCount], in_thread: InThread) -> None:
    """Count the messages `message_callback` set aside (one per event), on the event loop."""
    for message in messages:
        outcome = await circle_service.record_contribution_on_loop(deps.db, in_thread, **vars(message))
        metrics.observe_event(outcome.result)


async def count_reaction_on_loop(deps: Deps, reaction: ReactionToCount, in_thread: InThread) -> None:
    """Count a reaction `reaction_to_count` found, on the event loop."""
    result = await circle_service.record_reaction_on_loop(deps.db, in_thread, **vars(reaction))
    metrics.observe_event(result)


def reaction_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    deps = deps_of(context)
    reaction = _reaction_to_count(deps, body, event, context.bot_user_id)
    if not isinstance(reaction, ReactionToCount):
        ignored()
        return
    metrics.observe_event(circle_service.record_reaction(deps.db, **vars(reaction)))


# ---- /cdp me ---------------------------------------------------------------------------------
def _circle_name(circle: str, lang: str) -> str:
    return t(f"circles.name.{circle}", lang)


@subcommand("me")
def me_subcommand(request: CommandRequest) -> None:
    deps = request.deps
    with deps.db.reading() as connection:
        standings = circle_service.standings(
            connection, team_id=request.team_id, user_id=request.user_id, now=deps.clock.now()
        )
    request.ack(**me_answer(standings, request.lang, deps.settings.retention_policy))


def me_answer(
    standings: list[circle_service.Standing], lang: str, retention_policy: RetentionPolicy
) -> dict[str, Any]:
    """`/cdp me`'s ephemeral answer: the person's circle in each community, and why."""
    policy = retention_service.policy_text(retention_policy, lang)
    if not standings:
        return ephemeral(
            t("activity.me.none", lang), [section(t("activity.me.none", lang)), context_block(policy)]
        )
    blocks = [section(t("activity.me.title", lang))]
    # Dissolved communities come last, without circles or nudges: only what is still stored.
    standings = sorted(standings, key=lambda standing: standing.community.status == "dissolved")
    for standing in standings[:20]:
        if standing.community.status == "dissolved":
            lines = [
                t("activity.me.dissolved", lang, name=standing.community.name),
                t("activity.me.stored", lang, days=standing.stored_days),
            ]
            blocks.append(section("\n".join(lines)[:3000]))
            continue
        lines = standing_lines(standing, lang, title_key="activity.me.community")
        for channel_id, channel_decision in standing.per_channel:
            lines.append(
                t(
                    "activity.me.channel",
                    lang,
                    channel=community_views.channel_mention(channel_id),
                    circle=_circle_name(channel_decision.circle, lang),
                )
            )
        lines.append(t("activity.me.stored", lang, days=standing.stored_days))
        blocks.append(section("\n".join(lines)[:3000]))
    blocks = blocks[:49]
    blocks.append(context_block(policy))
    return ephemeral(t("activity.me.title", lang), blocks)


# ---- /cdp circles ----------------------------------------------------------------------------
@subcommand("circles")
def circles_subcommand(request: CommandRequest) -> None:
    lang, deps = request.lang, request.deps
    try:
        with deps.db.session() as session:
            community = request.community(session)
            overview = circle_service.overview(session, community=community, now=deps.clock.now())
            moderator = community_service.is_moderator(session, community=community, user_id=request.user_id)
            name = community.name
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    lines = [t("activity.circles.counts", lang, name=name, **overview.counts)]
    if overview.per_channel:  # sub-issues: the rule applied to each channel's activity alone
        lines.append(t("activity.circles.by_channel", lang))
        lines.extend(
            t(
                "activity.circles.channel",
                lang,
                channel=community_views.channel_mention(channel.channel_id),
                **channel.counts,
            )
            for channel in overview.per_channel
        )
    if moderator or slack.is_admin(deps, request.client, request.user_id):
        lines.append(t("activity.circles.who", lang))
        for place in ("core", "inner", "outer"):
            people = [u for u, p in overview.members if p == place]
            label = t("activity.me.core", lang) if place == "core" else _circle_name(place, lang)
            lines.append(
                t("activity.circles.line", lang, place=label, people=community_views.people(people, lang))
            )
        lines.extend(
            t(
                "activity.circles.channel_inner",
                lang,
                channel=community_views.channel_mention(channel.channel_id),
                people=community_views.people(channel.inner, lang),
            )
            for channel in overview.per_channel
        )
        lines.append(
            t("activity.circles.lurking", lang, people=community_views.people(overview.lurking, lang))
            if overview.lurking
            else t("activity.circles.no_lurking", lang)
        )
    request.reply("\n".join(lines))


# ---- /cdp privacy ----------------------------------------------------------------------------
@subcommand("privacy")
def privacy_subcommand(request: CommandRequest) -> None:
    verb = canonical_verb("privacy", request.argument)  # export|exporter, forget|oublier
    if verb == "export":
        export(request)
    elif verb == "forget":
        open_modal(
            request,
            forget_modal(request.deps, team_id=request.team_id, user_id=request.user_id, lang=request.lang),
        )
    else:
        request.reply(t("activity.privacy.usage", request.lang))


def forget_modal(deps: Deps, *, team_id: str, user_id: str, lang: str) -> dict[str, Any]:
    """The confirmation before forgetting someone (`/cdp privacy forget`, App Home's "Forget me")."""
    with deps.db.session() as session:
        alone = privacy_service.last_moderator_of(session, team_id=team_id, user_id=user_id)
    blocks = [section(t("activity.privacy.forget_confirm", lang))]
    if alone:  # warned like `/cdp leave`, but not refused: see privacy_service.forget
        names = format_list([f"*{name}*" for name in alone], lang)
        blocks.append(section(t("activity.privacy.forget_last_moderator", lang, names=names)))
    return {
        "type": "modal",
        "callback_id": FORGET_CALLBACK,
        "title": plain(t("activity.privacy.forget_title", lang)),
        "submit": plain(t("activity.privacy.forget_submit", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": blocks,
    }


def export(request: CommandRequest) -> None:
    """The file is gathered and uploaded after the answer (the outbox): the answer says it is coming."""
    with request.deps.db.session() as session:
        outbox.export(session, team_id=request.team_id, user=request.user_id, lang=request.lang)
    request.reply(t("activity.privacy.export_sent", request.lang))


def forget_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    with deps.db.session() as session:
        rows = privacy_service.forget(session, team_id=team_id, user_id=user_id, now=deps.clock.now())
    ack(
        response_action="update",
        view=community_views.info_modal(
            lang,
            t("activity.privacy.forget_title", lang),
            t("activity.privacy.forgotten", lang, rows=rows),
        ),
    )


def register_counting(app: App) -> None:
    """The listeners of the busiest requests by far: registered before every other (see register_all)."""
    registry.event(app, "message", message_callback)
    registry.event(app, "reaction_added", reaction_callback)


def register(app: App) -> None:
    registry.view(app, FORGET_CALLBACK, forget_submission)
