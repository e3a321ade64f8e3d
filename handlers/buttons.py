"""Buttons where people are (issue 10, item 6): Join / Request to join and Info (under each directory
entry, "did you mean X?", the key-person invitation, App Home), the directory's next page, the help
message's buttons; and the named lurker alert's "Post a welcome in the channel" (item 4).

Each button does exactly what its command does: Join calls the join use-case `/cdp join` calls (a
protected community: the request to its moderators); the help's buttons run the subcommand itself."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.i18n import t
from bot.services import communities as service
from bot.services import lurkers as lurker_service
from bot.services import outbox
from bot.services.communities import CommunityProblem
from bot.views import buttons as views
from bot.views import communities as community_views
from handlers import registry, slack
from handlers.commands import SUBCOMMANDS, CommandRequest
from handlers.communities import _join, problem_text
from handlers.context import interaction
from handlers.payloads import parse_id, pressed_action


def _answer(
    session: Any, body: dict[str, Any], lang: str, text: str, blocks: list[Any] | None, **kw: Any
) -> None:
    """An ephemeral answer with blocks to whoever pressed (its response_url; a DM from App Home)."""
    outbox.respond(
        session,
        team_id=str((body.get("team") or {}).get("id") or ""),
        user=str(body["user"]["id"]),
        response_url=body.get("response_url"),
        lang=lang,
        render="buttons.prebuilt",
        text=text,
        blocks=blocks,
        **kw,
    )


# ---- Join / Request to join ------------------------------------------------------------------------
def join_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """Joins (an open community) or asks its moderators (a protected one) exactly as `/cdp join` does;
    a second press, a member, a dissolved community: the same clear answer as the command, nothing
    changed. Under "did you mean X?" the answer replaces the question; elsewhere (the directory, an
    invitation) the message stays."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    action = pressed_action(body)
    community_id = parse_id(action.get("value"))
    replace = action.get("block_id") == "join_suggestion"
    with deps.db.session() as session:
        community = (
            service.find_by_id(session, team_id=team_id, community_id=community_id) if community_id else None
        )
        if community is None:
            answer = t("buttons.join.unreadable", lang)
        else:
            try:
                answer = _join(session, community, user_id, lang, deps.clock.now())
            except CommunityProblem as problem:
                answer = problem_text(problem, lang)
        slack.tell(session, body, lang, answer, replace=replace)


# ---- Info --------------------------------------------------------------------------------------------
def info_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """What `/cdp info` shows (a protected community: name and domain only, to people outside it)."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    community_id = parse_id(pressed_action(body).get("value"))
    with deps.db.session() as session:
        community = (
            service.find_by_id(session, team_id=team_id, community_id=community_id) if community_id else None
        )
        if community is None:
            slack.tell(session, body, lang, t("buttons.join.unreadable", lang))
            return
        text, blocks = community_views.info_message(
            service.view(session, community=community, viewer=user_id), lang
        )
        _answer(session, body, lang, text, blocks)


# ---- the help's buttons and the directory's pages: the subcommand itself -----------------------------
class _Reply(Ack):
    """Takes what a subcommand answers (its ack), to send it through the button's response_url."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.payload: dict[str, Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        self.payload = dict(kwargs)
        if args:
            self.payload["text"] = args[0]
        return BoltResponse(status=200, body="")


def _run(
    name: str,
    argument: str,
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    *,
    replace: bool = False,
) -> None:
    """Run `/cdp <name> <argument>` for whoever pressed, as if typed where the button was (a modal opens
    with the button's trigger_id); what it answers goes back ephemerally."""
    deps, lang, user_id, team_id = interaction(context, body)
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    command = {
        "user_id": user_id,
        "team_id": team_id,
        "channel_id": channel,
        "trigger_id": body.get("trigger_id"),
        "text": f"{name} {argument}".strip(),
    }
    reply = _Reply()
    SUBCOMMANDS[name](CommandRequest(reply, respond, client, context, command, argument, lang))
    text, blocks = reply.payload.get("text"), reply.payload.get("blocks")
    if not text and not blocks:
        return  # a modal opened: nothing to say
    with deps.db.session() as session:
        _answer(session, body, lang, str(text or ""), list(blocks) if blocks else None, replace=replace)


def help_action(
    ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    ack()
    name = views.HELP_ACTIONS.get(str(pressed_action(body).get("action_id")), "help")
    _run(name, "", body, respond, client, context)


def page_action(
    ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    """The directory's next page, in place of the page whose button was pressed."""
    ack()
    page = parse_id(pressed_action(body).get("value")) or 1
    _run("list", str(min(page, 999_999)), body, respond, client, context, replace=True)


# ---- the named lurker alert: "Post a welcome in the channel" -----------------------------------------
def post_welcome_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The app posts a welcome in the community's channel, crediting the moderator who pressed and
    mentioning the newcomers not greeted yet, who are then marked greeted (one press wins: a second
    says they already were)."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    target = views.read_lurkers_value(pressed_action(body).get("value"))
    if target is None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, t("buttons.lurkers.unreadable", lang))
        return
    community_id, named = target
    admin = slack.is_admin(deps, client, user_id)
    # Someone who left the workspace is never welcomed (asked of Slack in parallel; unknown: welcomed).
    # Deactivation is trusted only as long as rights are (an earlier welcome may have cached them).
    found = deps.people.many(client, named, max_age=deps.people.rights_ttl)
    user_ids = [u for u in named if (person := found.get(u)) is None or person.is_human]
    with deps.db.session() as session:
        try:
            welcome = lurker_service.post_welcome(
                session,
                team_id=team_id,
                community_id=community_id,
                user_ids=user_ids,
                moderator=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        if not welcome.welcomed:
            slack.tell(session, body, lang, t("buttons.lurkers.already", lang, count=len(named)))
            return
        community = welcome.community
        outbox.message(
            session,
            team_id=team_id,
            to=welcome.channel_id,
            render="buttons.lurkers_welcome",
            lang=community.language,
            once=f"lurkers-welcome:{community.id}:{welcome.welcomed[0]}:{int(deps.clock.now().timestamp())}",
            name=community.name,
            moderator=user_id,
            newcomers=welcome.welcomed,
        )
        answer = t(
            "buttons.lurkers.posted",
            lang,
            newcomers=views.newcomers_text(welcome.welcomed, len(welcome.welcomed), lang),
            channel=community_views.channel_mention(welcome.channel_id),
            count=len(welcome.welcomed),
        )
        slack.tell(session, body, lang, answer)


def register(app: App) -> None:
    registry.action(app, views.JOIN_ACTION, join_action)
    registry.action(app, views.INFO_ACTION, info_action)
    registry.action(app, views.PAGE_ACTION, page_action)
    for action_id in views.HELP_ACTIONS:
        registry.action(app, action_id, help_action)
    registry.action(app, views.POST_WELCOME_ACTION, post_welcome_action)
