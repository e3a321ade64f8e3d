"""Products over Slack: `/cdp product add [community] <link> <title>`, `/cdp products [community]`, the
message shortcut "Save as a product of this CdP" and its modal. Transport only: parse, call
bot.services.products, answer ephemerally."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain import products as rules
from bot.domain.commands import canonical_verb
from bot.i18n import t
from bot.services import communities as community_service
from bot.services import products as service
from bot.services.communities import CommunityProblem
from bot.views import products as views
from handlers import registry, slack
from handlers.commands import CommandRequest, subcommand
from handlers.communities import open_view, problem_text
from handlers.context import interaction
from handlers.payloads import metadata_id


@subcommand("product")
def product_subcommand(request: CommandRequest) -> None:
    """`/cdp product add [community] <link> <title>`: the link is the word with `://`."""
    lang = request.lang
    words = request.argument.split(maxsplit=1)
    verb, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
    parsed = rules.parse_add(rest) if canonical_verb("product", verb) == "add" else None
    if parsed is None:
        request.reply(t("products.errors.usage", lang))
        return
    try:
        with request.deps.db.session() as session:
            community = request.community(session, parsed.community)
            product = service.save(
                session,
                community=community,
                user_id=request.user_id,
                link=parsed.link,
                title=parsed.title,
                now=request.deps.clock.now(),
            )
            text = t("products.saved.done", lang, name=community.name, title=views.link_text(product))
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    request.reply(text)


@subcommand("products")
def products_subcommand(request: CommandRequest) -> None:
    """`/cdp products [community]`: newest first, where the community's details show."""
    lang = request.lang
    try:
        with request.deps.db.session() as session:
            community = request.community(session)
            shown = community_service.view(session, community=community, viewer=request.user_id)
            if not shown.shows_details:
                raise CommunityProblem("products.errors.protected", name=community.name)
            text, blocks = views.listing(community.name, service.listed(session, community=community), lang)
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    request.reply(text, blocks)


def _message_ts(body: dict[str, Any]) -> str:
    message = body.get("message")
    ts = body.get("message_ts") or (message.get("ts") if isinstance(message, dict) else None)
    return ts if isinstance(ts, str) else ""


def save_shortcut(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The message shortcut: check the message's channel is one of a community the user belongs to,
    then open the modal with the message's permalink (built from the payload, not its text)."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    channel = body.get("channel")
    channel_id = str(channel.get("id") or "") if isinstance(channel, dict) else ""
    ts = _message_ts(body)
    with deps.db.session() as session:
        try:
            community = service.require_channel_community(
                session, team_id=team_id, channel_id=channel_id, user_id=user_id
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        community_id, name = community.id, community.name
    domain = str((body.get("team") or {}).get("domain") or "app")
    view = views.save_form(
        lang, community_id=community_id, name=name, link=rules.permalink(domain, channel_id, ts)
    )
    refusal = open_view(client, str(body.get("trigger_id") or ""), view, lang, user_id)
    if refusal is not None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, refusal)


def _typed(view: dict[str, Any], block_id: str) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    element = values.get(block_id) if isinstance(values, dict) else None
    value = element.get("value") if isinstance(element, dict) else None
    return value if isinstance(value, str) else ""


def save_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    """The modal's Save: a bad link or title is a field error; any other refusal replaces the modal's
    fields with one error on the title (the community was dissolved, or they left it, meanwhile)."""
    deps, lang, user_id, team_id = interaction(context, body)
    try:
        with deps.db.session() as session:
            community = community_service.require_by_id(
                session, team_id=team_id, community_id=metadata_id(view, "community_id") or 0
            )
            service.save(
                session,
                community=community,
                user_id=user_id,
                link=_typed(view, "link"),
                title=_typed(view, "title"),
                now=deps.clock.now(),
            )
    except CommunityProblem as problem:
        ack(response_action="errors", errors={problem.field or "title": problem_text(problem, lang)})
        return
    ack()


def register(app: App) -> None:
    registry.shortcut(app, views.SAVE_SHORTCUT, save_shortcut)
    registry.view(app, views.SAVE_CALLBACK, save_submission)
