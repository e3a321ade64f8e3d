"""Communities over Slack: /cdp create, join, leave, list, info, moderators, settings, dissolve;
their modals and buttons; and the channel events that keep memberships in step with Slack."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import backfill
from bot.domain.communities import CIRCLE_RULE_SETTINGS, mentioned_users, without_mentions
from bot.i18n import format_list, t
from bot.runtime import Deps
from bot.services import communities as service
from bot.services.communities import ChannelChoice, CommunityProblem, JoinOutcome
from bot.views import communities as views
from handlers import registry, slack
from handlers.commands import CommandRequest, subcommand
from handlers.community_forms import FormState, parse_community_form
from handlers.context import deps_of, interaction, user_language
from handlers.payloads import metadata_id

log = logging.getLogger("cdp_bot.communities")

CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def problem_text(problem: CommunityProblem, lang: str) -> str:
    params = {k: format_list(v, lang) if isinstance(v, list) else v for k, v in problem.params.items()}
    return t(problem.key, lang, **params)


def field_errors(errors: dict[str, str], lang: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block: t(key, lang) for block, key in errors.items()}}


def channels_text(community: Any, lang: str) -> str:
    mentions = " ".join(views.channel_mention(c.channel_id) for c in community.channels)
    return t("communities.join.channels", lang, channels=mentions) if mentions else ""


def open_view(client: WebClient, trigger_id: str, view: dict[str, Any], lang: str) -> str | None:
    """Open a modal with a trigger (it expires in 3 s); the user's explanation when Slack refuses."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = slack.slack_error(exc)
        key = (
            "communities.errors.trigger_expired"
            if error == "expired_trigger_id"
            else "communities.errors.modal_failed"
        )
        return t(key, lang, error=error)
    return None


def open_modal(request: CommandRequest, view: dict[str, Any]) -> None:
    """Open a modal from a slash command; say so plainly if Slack refuses."""
    refusal = open_view(request.client, request.body["trigger_id"], view, request.lang)
    if refusal is not None:
        request.reply(refusal)
        return
    request.ack()


def _is_admin(request: CommandRequest) -> bool:
    return slack.is_admin(request.deps, request.client, request.user_id)


# ---- /cdp create -----------------------------------------------------------------------------
@subcommand("create")
def create_subcommand(request: CommandRequest) -> None:
    timezone = slack.timezone_of(request.deps, request.client, request.user_id)
    open_modal(request, views.create_form(request.lang, creator=request.user_id, timezone=timezone))


def create_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    parsed = parse_community_form(view, settings=False)
    draft = parsed.draft
    if draft is not None:
        bots = slack.not_humans(deps, client, [*draft.moderators, *draft.key_people])
        if any(b in draft.moderators for b in bots):
            parsed.errors["moderators"] = "communities.errors.bot_picked"
        elif bots:
            parsed.errors["key_people"] = "communities.errors.bot_picked"
    if parsed.errors or draft is None:
        ack(**field_errors(parsed.errors, lang))
        return
    with deps.db.session() as session:
        errors = service.draft_problems(session, team_id=team_id, draft=draft)
        if parsed.channel_id:
            problem = service.channel_problem(session, team_id=team_id, channel_id=parsed.channel_id)
            if problem:
                errors["channel"] = problem
    if errors:
        ack(**field_errors(errors, lang))
        return
    channel, channel_error = _prepare_channel(client, parsed.channel_id, parsed.new_channel)
    if channel is None:
        ack(**field_errors({"channel" if parsed.channel_id else "new_channel": channel_error or ""}, lang))
        return
    now = deps.clock.now()
    try:
        with deps.db.session() as session:
            community_id = service.create(
                session, team_id=team_id, creator=user_id, draft=draft, channel=channel, now=now
            ).id
    except Exception as exc:
        # Two submissions racing for one name or channel: the unique constraints decide.
        if "unique" in str(exc).lower():
            ack(**field_errors({"name": "communities.errors.name_taken"}, lang))
            return
        raise
    ack()
    deps.background.submit(
        "welcome", _after_creation, deps, client, team_id, community_id, user_id, channel, lang
    )
    backfill.resume_all(deps, client)  # seed the circles from the channel's last 30 days
    log.info("community created", extra={"fields": {"team": team_id, "community": community_id}})


def _prepare_channel(
    client: WebClient, channel_id: str | None, new_name: str | None
) -> tuple[ChannelChoice | None, str | None]:
    """Make sure the bot is in the channel: join a public one, create a new one; explain a private one."""
    if new_name:
        wanted = new_name.lstrip("#").strip()
        if not CHANNEL_NAME.match(wanted):
            return None, "communities.errors.new_channel_invalid"
        try:
            created = client.conversations_create(name=wanted)["channel"]
        except SlackApiError as exc:
            error = slack.slack_error(exc)
            return (
                None,
                "communities.errors.new_channel_taken"
                if error == "name_taken"
                else "communities.errors.new_channel_invalid",
            )
        return ChannelChoice(str(created["id"]), str(created["name"]), bool(created.get("is_private"))), None
    assert channel_id is not None
    try:
        info = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError:
        return None, "communities.errors.channel_invisible"
    if info.get("is_archived"):
        return None, "communities.errors.channel_archived"
    if not info.get("is_member"):
        if info.get("is_private"):
            return None, "communities.errors.channel_invisible"
        try:
            client.conversations_join(channel=channel_id)
        except SlackApiError:
            return None, "communities.errors.channel_invisible"
    return ChannelChoice(channel_id, str(info.get("name") or ""), bool(info.get("is_private"))), None


def _after_creation(
    deps: Deps,
    client: WebClient,
    team_id: str,
    community_id: int,
    creator: str,
    channel: ChannelChoice,
    lang: str,
) -> None:
    with deps.db.session() as session:
        community = service.require_by_id(session, team_id=team_id, community_id=community_id)
        moderators = service.view(session, community=community, viewer=creator).moderators
        name, domain, language = community.name, community.domain, community.language
        objectives, other, key_people = (
            list(community.objectives),
            community.objectives_other,
            list(community.key_people),
        )
    slack.invite(client, channel.channel_id, [u for u in moderators if u != creator] + [creator])
    text, blocks = views.welcome_message(
        language, name=name, domain=domain, objectives=objectives, other=other, moderators=moderators
    )
    slack.post(client, channel.channel_id, text, blocks)
    for person in key_people:
        person_lang = user_language(deps, client, person)
        slack.post(
            client,
            person,
            views.key_person_invitation(person_lang, name=name, domain=domain, creator=creator),
        )
    slack.post(
        client,
        creator,
        t("communities.created.done", lang, name=name, channel=views.channel_mention(channel.channel_id)),
    )


# ---- /cdp join -------------------------------------------------------------------------------
@subcommand("join")
def join_subcommand(request: CommandRequest) -> None:
    deps = request.deps
    if not request.argument:
        with deps.db.session() as session:
            choices = [
                (c.id, c.name, c.visibility)
                for c in service.joinable(session, team_id=request.team_id, user_id=request.user_id)
            ]
        if not choices:
            request.reply(t("communities.join.none", request.lang))
            return
        open_modal(request, views.join_form(request.lang, choices))
        return
    try:
        with deps.db.session() as session:
            community = service.require(session, team_id=request.team_id, query=request.argument)
            outcome = service.join(
                session, community=community, user_id=request.user_id, now=deps.clock.now()
            )
            community_id = community.id
    except CommunityProblem as problem:
        request.reply(problem_text(problem, request.lang))
        return
    request.reply(
        _after_join(
            deps, request.client, request.team_id, community_id, request.user_id, outcome, request.lang
        )
    )


def _after_join(
    deps: Deps,
    client: WebClient,
    team_id: str,
    community_id: int,
    user_id: str,
    outcome: JoinOutcome,
    lang: str,
) -> str:
    with deps.db.session() as session:
        community = service.require_by_id(session, team_id=team_id, community_id=community_id)
        name, channels = community.name, [c.channel_id for c in community.channels if not c.is_archived]
        moderators = service.view(session, community=community, viewer=user_id).moderators
        request = service.pending_request(session, community=community, user_id=user_id)
        request_id = request.id if request else None
        listed = channels_text(community, lang)
    if outcome in (JoinOutcome.JOINED, JoinOutcome.REJOINED):
        for channel_id in channels:
            if not slack.invite(client, channel_id, [user_id]):
                listed += " " + t(
                    "communities.join.invite_failed", lang, channel=views.channel_mention(channel_id)
                )
        key = "communities.join.joined" if outcome == JoinOutcome.JOINED else "communities.join.rejoined"
        return t(key, lang, name=name, channels=listed).strip()
    if outcome == JoinOutcome.REQUESTED and request_id is not None:
        for moderator in moderators:
            moderator_lang = user_language(deps, client, moderator)
            text, blocks = views.join_request_message(
                moderator_lang, name=name, requester=user_id, request_id=request_id
            )
            slack.post(client, moderator, text, blocks)
        return t("communities.join.requested", lang, name=name)
    if outcome == JoinOutcome.ALREADY_REQUESTED:
        return t("communities.join.already_requested", lang, name=name)
    return t("communities.join.already", lang, name=name)


def join_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    picked = FormState(view).option("community")
    try:
        with deps.db.session() as session:
            community = service.require_by_id(session, team_id=team_id, community_id=int(picked or 0))
            outcome = service.join(session, community=community, user_id=user_id, now=deps.clock.now())
            community_id = community.id
    except CommunityProblem as problem:
        ack(response_action="errors", errors={"community": problem_text(problem, lang)})
        return
    ack()
    message = _after_join(deps, client, team_id, community_id, user_id, outcome, lang)
    slack.post(client, user_id, message)


# ---- protected communities: approve / decline ------------------------------------------------
def decide_request_action(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Any
) -> None:
    ack()
    deps, lang, moderator, team_id = interaction(context, body)
    action = body["actions"][0]
    approve = action["action_id"] == views.APPROVE_ACTION
    admin = slack.is_admin(deps, client, moderator)
    try:
        with deps.db.session() as session:
            request = service.get_request(session, team_id=team_id, request_id=int(action.get("value") or 0))
            if request is None:
                raise CommunityProblem("communities.errors.request_unknown")
            community = service.require_by_id(session, team_id=team_id, community_id=request.community_id)
            service.decide_request(
                session,
                request=request,
                community=community,
                moderator=moderator,
                approve=approve,
                is_admin=admin,
                now=deps.clock.now(),
            )
            requester, name = request.user_id, community.name
            channels = [c.channel_id for c in community.channels if not c.is_archived]
    except CommunityProblem as problem:
        respond(text=problem_text(problem, lang), response_type="ephemeral", replace_original=False)
        return
    key = "communities.request.approved" if approve else "communities.request.declined"
    respond(
        text=t(key, lang, moderator=views.mention(moderator), user=views.mention(requester), name=name),
        replace_original=True,
    )
    requester_lang = user_language(deps, client, requester)
    if approve:
        for channel_id in channels:
            slack.invite(client, channel_id, [requester])
        message = t(
            "communities.request.approved_requester",
            requester_lang,
            name=name,
            channels=channels_text(community, requester_lang),
        )
    else:
        message = t("communities.request.declined_requester", requester_lang, name=name)
    slack.post(client, requester, message.strip())


# ---- /cdp leave, list, info ------------------------------------------------------------------
@subcommand("leave")
def leave_subcommand(request: CommandRequest) -> None:
    deps = request.deps
    try:
        with deps.db.session() as session:
            community = request.community(session)
            service.leave(session, community=community, user_id=request.user_id, now=deps.clock.now())
            name = community.name
    except CommunityProblem as problem:
        request.reply(problem_text(problem, request.lang))
        return
    request.reply(t("communities.leave.done", request.lang, name=name))


@subcommand("list")
def list_subcommand(request: CommandRequest) -> None:
    with request.deps.db.session() as session:
        entries = service.directory(session, team_id=request.team_id, viewer=request.user_id)
        text, blocks = views.directory_message(entries, request.lang)
    request.reply(text, blocks)


@subcommand("info")
def info_subcommand(request: CommandRequest) -> None:
    try:
        with request.deps.db.session() as session:
            community = request.community(session)
            text, blocks = views.info_message(
                service.view(session, community=community, viewer=request.user_id), request.lang
            )
    except CommunityProblem as problem:
        request.reply(problem_text(problem, request.lang))
        return
    request.reply(text, blocks)


# ---- /cdp moderators -------------------------------------------------------------------------
@subcommand("moderators")
def moderators_subcommand(request: CommandRequest) -> None:
    deps, lang = request.deps, request.lang
    words = request.argument.split(maxsplit=1)
    verb = words[0].lower() if words else ""
    if verb not in ("add", "remove"):
        try:
            with deps.db.session() as session:
                community = request.community(session)
                shown = service.view(session, community=community, viewer=request.user_id)
                moderators, name, hidden = shown.moderators, community.name, not shown.shows_details
        except CommunityProblem as problem:
            request.reply(problem_text(problem, lang))
            return
        if hidden:  # a protected community keeps its core group inside, as in /cdp list and info
            request.reply(t("communities.info.protected", lang))
            return
        request.reply(
            t("communities.moderators.list", lang, name=name, moderators=views.people(moderators, lang))
            + "\n"
            + t("communities.moderators.usage", lang)
        )
        return
    rest = words[1] if len(words) > 1 else ""
    users = mentioned_users(rest)
    if not users:
        request.reply(t("communities.moderators.usage", lang))
        return
    if verb == "add" and slack.not_humans(deps, request.client, users):
        request.reply(t("communities.errors.bot_picked", lang))
        return
    query = without_mentions(rest)
    admin = _is_admin(request)
    try:
        with deps.db.session() as session:
            community = request.community(session, query)
            if verb == "add":
                changed = service.add_moderators(
                    session,
                    community=community,
                    actor=request.user_id,
                    is_admin=admin,
                    user_ids=users,
                    now=deps.clock.now(),
                )
            else:
                changed = service.remove_moderators(
                    session, community=community, actor=request.user_id, is_admin=admin, user_ids=users
                )
            name, channels = community.name, [c.channel_id for c in community.channels if not c.is_archived]
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    key = "communities.moderators.added" if verb == "add" else "communities.moderators.removed"
    request.reply(t(key, lang, users=views.people(users, lang), name=name))
    if verb == "add":
        for user_id in changed:
            for channel_id in channels:
                slack.invite(request.client, channel_id, [user_id])
            user_lang = user_language(deps, request.client, user_id)
            slack.post(
                request.client,
                user_id,
                t(
                    "communities.moderators.added_dm",
                    user_lang,
                    actor=views.mention(request.user_id),
                    name=name,
                ),
            )


# ---- /cdp settings ---------------------------------------------------------------------------
@subcommand("settings")
def settings_subcommand(request: CommandRequest) -> None:
    deps = request.deps
    try:
        with deps.db.session() as session:
            community = request.community(session)
            service.require_active(community)
            service.require_moderator(
                session, community=community, user_id=request.user_id, is_admin=_is_admin(request)
            )
            form = settings_form_for(session, community=community, lang=request.lang)
    except CommunityProblem as problem:
        request.reply(problem_text(problem, request.lang))
        return
    open_modal(request, form)


def settings_form_for(session: Any, *, community: Any, lang: str) -> dict[str, Any]:
    """The settings modal filled with the community as it is (also opened by a review's "adjust")."""
    values = {
        "name": community.name,
        "domain": community.domain,
        "objectives": community.objectives,
        "objectives_other": community.objectives_other,
        "key_people": community.key_people,
        "moderators": service.view(session, community=community, viewer=community.created_by).moderators,
        "visibility": community.visibility,
        "language": community.language,
        "timezone": community.timezone,
        "cadence": community.review_cadence_weeks,
        "channels": [c.channel_id for c in community.channels],
        "promotion_dm": community.promotion_dm,
        "review_outcome_in_channel": community.review_outcome_in_channel,
        **{key: getattr(community, key) for key in CIRCLE_RULE_SETTINGS},
    }
    return views.settings_form(lang, values=values, community_id=community.id)


def _metadata_id(view: dict[str, Any]) -> int:
    """The community of a settings or dissolve modal; 0 (no such community) when unreadable."""
    return metadata_id(view, "community_id") or 0


def stale(ack: Ack, lang: str, text: str) -> None:
    """A form submitted after the community changed: replace it with an explanation, change nothing."""
    ack(response_action="update", view=views.info_modal(lang, t("errors.unexpected_title", lang), text))


def settings_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    community_id = _metadata_id(view)
    parsed = parse_community_form(view, settings=True)
    draft = parsed.draft
    if draft is not None and slack.not_humans(deps, client, draft.moderators):
        parsed.errors["moderators"] = "communities.errors.bot_picked"
    if draft is not None and slack.not_humans(deps, client, draft.key_people):
        parsed.errors["key_people"] = "communities.errors.bot_picked"
    if parsed.errors or draft is None:
        ack(**field_errors(parsed.errors, lang))
        return
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        community = service.find_by_id(session, team_id=team_id, community_id=community_id)
        if community is None or community.status != "active":
            name = community.name if community else "?"
            stale(ack, lang, t("communities.errors.stale", lang, name=name))
            return
        try:  # refuse before any Slack side effect (joining a channel) happens
            service.require_moderator(session, community=community, user_id=user_id, is_admin=admin)
        except CommunityProblem as refusal:
            stale(ack, lang, problem_text(refusal, lang))
            return
        errors = service.draft_problems(session, team_id=team_id, draft=draft, community_id=community_id)
        current = {c.channel_id for c in community.channels}
        for channel_id in parsed.channels:
            if channel_id not in current:
                problem = service.channel_problem(
                    session, team_id=team_id, channel_id=channel_id, community_id=community_id
                )
                if problem:
                    errors["channels"] = problem
    if errors:
        ack(**field_errors(errors, lang))
        return
    choices = []
    for channel_id in parsed.channels:
        if channel_id in current:
            binding = next(c for c in community.channels if c.channel_id == channel_id)
            choices.append(ChannelChoice(channel_id, binding.name, binding.is_private))
            continue
        choice, error = _prepare_channel(client, channel_id, None)
        if choice is None:
            ack(**field_errors({"channels": error or ""}, lang))
            return
        choices.append(choice)
    try:
        with deps.db.session() as session:
            community = service.require_by_id(session, team_id=team_id, community_id=community_id)
            service.update_settings(
                session,
                community=community,
                actor=user_id,
                is_admin=admin,
                draft=draft,
                channels=choices,
                now=deps.clock.now(),
            )
            name = community.name
    except CommunityProblem as problem:
        if problem.field:
            ack(response_action="errors", errors={problem.field: problem_text(problem, lang)})
        else:
            stale(ack, lang, problem_text(problem, lang))
        return
    ack()
    backfill.resume_all(deps, client)  # channels bound just now
    slack.post(client, user_id, t("communities.settings.saved", lang, name=name))


# ---- /cdp dissolve ---------------------------------------------------------------------------
@subcommand("dissolve")
def dissolve_subcommand(request: CommandRequest) -> None:
    try:
        with request.deps.db.session() as session:
            community = request.community(session)
            service.require_active(community)
            service.require_moderator(
                session, community=community, user_id=request.user_id, is_admin=_is_admin(request)
            )
            name, community_id = community.name, community.id
    except CommunityProblem as problem:
        request.reply(problem_text(problem, request.lang))
        return
    open_modal(request, views.dissolve_form(request.lang, name=name, community_id=community_id))


def dissolve_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    try:
        with deps.db.session() as session:
            community = service.require_by_id(session, team_id=team_id, community_id=_metadata_id(view))
            service.dissolve(
                session, community=community, actor=user_id, is_admin=admin, now=deps.clock.now()
            )
            name, language = community.name, community.language
            channels = [c.channel_id for c in community.channels if not c.is_archived]
    except CommunityProblem as problem:
        stale(ack, lang, problem_text(problem, lang))
        return
    ack()
    for channel_id in channels:
        slack.post(
            client,
            channel_id,
            t("communities.dissolve.announce", language, name=name, moderator=views.mention(user_id)),
        )
    slack.post(client, user_id, t("communities.dissolve.done", lang, name=name))


# ---- Slack-side changes ----------------------------------------------------------------------
def member_joined_callback(
    body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps = deps_of(context)
    user_id, channel_id = str(event.get("user") or ""), str(event.get("channel") or "")
    team_id = str(body.get("team_id") or event.get("team") or "")
    if not user_id or not channel_id or user_id == context.bot_user_id:
        return
    with deps.db.session() as session:
        if service.community_for_channel(session, team_id=team_id, channel_id=channel_id) is None:
            return
    if not slack.is_human(deps, client, user_id):
        return  # a bot user is never a member
    with deps.db.session() as session:
        service.join_via_channel(
            session, team_id=team_id, channel_id=channel_id, user_id=user_id, now=deps.clock.now()
        )


def member_left_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    deps = deps_of(context)
    user_id, channel_id = str(event.get("user") or ""), str(event.get("channel") or "")
    team_id = str(body.get("team_id") or event.get("team") or "")
    if not user_id or not channel_id:
        return
    with deps.db.session() as session:
        service.leave_via_channel(
            session, team_id=team_id, channel_id=channel_id, user_id=user_id, now=deps.clock.now()
        )


def _channel_id(event: dict[str, Any]) -> str:
    channel = event.get("channel")
    return str(channel.get("id") if isinstance(channel, dict) else channel or "")


def channel_archive_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    _record(context, body, _channel_id(event), archived=True)


def channel_unarchive_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    _record(context, body, _channel_id(event), archived=False)


def channel_rename_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    channel = event.get("channel") or {}
    name = str(channel.get("name") or "") if isinstance(channel, dict) else ""
    _record(context, body, _channel_id(event), name=name or None)


def _record(context: BoltContext, body: dict[str, Any], channel_id: str, **change: Any) -> None:
    deps = deps_of(context)
    with deps.db.session() as session:
        service.record_channel_change(
            session, team_id=str(body.get("team_id") or ""), channel_id=channel_id, **change
        )


def register(app: App) -> None:
    registry.view(app, views.CREATE_CALLBACK, create_submission)
    registry.view(app, views.SETTINGS_CALLBACK, settings_submission)
    registry.view(app, views.DISSOLVE_CALLBACK, dissolve_submission)
    registry.view(app, views.JOIN_CALLBACK, join_submission)
    registry.action(app, views.APPROVE_ACTION, decide_request_action)
    registry.action(app, views.DECLINE_ACTION, decide_request_action)
    registry.event(app, "member_joined_channel", member_joined_callback)
    registry.event(app, "member_left_channel", member_left_callback)
    for prefix in ("channel", "group"):  # public and private channels
        registry.event(app, f"{prefix}_archive", channel_archive_callback)
        registry.event(app, f"{prefix}_unarchive", channel_unarchive_callback)
        registry.event(app, f"{prefix}_rename", channel_rename_callback)
