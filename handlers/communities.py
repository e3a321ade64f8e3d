"""Communities over Slack: /cdp create, join, leave, list, info, moderators, settings, dissolve;
their modals and buttons; and the channel events that keep memberships in step with Slack."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import backfill
from bot.domain.commands import canonical_verb
from bot.domain.communities import CIRCLE_RULE_SETTINGS, mentioned_users, without_mentions
from bot.i18n import format_list, t
from bot.services import communities as service
from bot.services import follow_ups as follow_up_service
from bot.services import key_people as key_people_service
from bot.services import outbox
from bot.services import pairing as pairing_service
from bot.services import welcome as welcome_service
from bot.services.communities import ChannelChoice, CommunityProblem, JoinOutcome
from bot.views import communities as views
from bot.views import follow_ups as follow_up_views
from bot.views import key_people as key_people_views
from handlers import pairing_form, registry, slack, welcome
from handlers.commands import CommandRequest, subcommand
from handlers.community_forms import FormState, parse_community_form
from handlers.context import deps_of, interaction, with_language
from handlers.payloads import metadata_id

log = logging.getLogger("cdp_bot.communities")

# Slack's own failures (as opposed to a refusal about the channel): the person may simply try again.
SLACK_FAILING = {"ratelimited", "slack_unreachable", "internal_error", "fatal_error", "service_unavailable"}
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def problem_text(problem: CommunityProblem, lang: str) -> str:
    params = {k: format_list(v, lang) if isinstance(v, list) else v for k, v in problem.params.items()}
    return t(problem.key, lang, **params)


def field_errors(errors: dict[str, str], lang: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block: t(key, lang) for block, key in errors.items()}}


def open_view(
    client: WebClient, trigger_id: str, view: dict[str, Any], lang: str, user_id: str
) -> str | None:
    """Open a modal with a trigger (it expires in 3 s) for `user_id`; the user's explanation when Slack
    refuses."""
    try:
        client.views_open(trigger_id=trigger_id, view=with_language(view, lang, user_id))
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
    refusal = open_view(request.client, request.body["trigger_id"], view, request.lang, request.user_id)
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
    known: dict[str, dict[str, Any] | str] = {}
    sponsor = FormState(view).user(follow_up_views.SPONSOR_FIELD)  # issue 11 item 5, optional
    if draft is not None:
        picked = {"moderators": draft.moderators, "key_people": draft.key_people, "sponsor": [sponsor or ""]}
        # The channel is asked about while the people are: one round trip to Slack less before the answer.
        with ThreadPoolExecutor(max_workers=1) as pool:
            channel_id = parsed.channel_id
            info = pool.submit(_channel_info, client, channel_id) if channel_id else None
            parsed.errors.update(slack.people_problems(deps, client, picked))
            if channel_id and info is not None:
                known[channel_id] = info.result()
    if parsed.errors or draft is None:
        ack(**field_errors(parsed.errors, lang))
        return
    with deps.db.session() as session:
        # The channel first, the name last: each read sees what was committed before it (PostgreSQL's read
        # committed), so a submission of the same form whose creation lands between them, and is seen
        # by the channel's read, is seen by the name's too: the person is told the name is taken.
        errors: dict[str, str] = {}
        if parsed.channel_id:
            problem = service.channel_problem(session, team_id=team_id, channel_id=parsed.channel_id)
            if problem:
                errors["channel"] = problem
        errors.update(service.draft_problems(session, team_id=team_id, draft=draft))
    if errors:
        ack(**field_errors(errors, lang))
        return
    channel_field = "channel" if parsed.channel_id else "new_channel"
    channel, channel_error = _prepare_channel(
        client, parsed.channel_id, parsed.new_channel, private=draft.visibility == "protected", known=known
    )
    if channel is None:
        ack(**field_errors({channel_field: channel_error or ""}, lang))
        return
    now = deps.clock.now()
    try:
        with deps.db.session() as session:
            community = service.create(
                session, team_id=team_id, creator=user_id, draft=draft, channel=channel, now=now
            )
            follow_up_service.set_sponsor(community, sponsor)
            _announce_creation(session, community, channel_id=channel.channel_id, creator=user_id, lang=lang)
            community_id = community.id
    except CommunityProblem as problem:  # a channel Slack made public although we asked for a private one
        ack(response_action="errors", errors={channel_field: problem_text(problem, lang)})
        return
    except Exception as exc:
        # Two submissions racing for one name or channel: the unique constraints decide.
        if "unique" in str(exc).lower():
            ack(**field_errors({"name": "communities.errors.name_taken"}, lang))
            return
        raise
    ack()
    backfill.resume_all(deps)  # seed the circles from the channel's last 30 days
    log.info("community created", extra={"fields": {"team": team_id, "community": community_id}})


def _channel_info(client: WebClient, channel_id: str) -> dict[str, Any] | str:
    """conversations.info, or the field error to show when Slack refuses."""
    try:
        return dict(client.conversations_info(channel=channel_id)["channel"])
    except SlackApiError as exc:
        return _refusal(exc, "communities.errors.channel_invisible")


def _refusal(exc: SlackApiError, otherwise: str) -> str:
    """The field error for a Slack refusal: "Slack is busy" when Slack is the problem (rate-limited,
    failing, too slow), not something about the channel the person picked."""
    busy = exc.response.status_code == 429 or exc.response.status_code >= 500
    return "delivery.slack_busy" if busy or slack.slack_error(exc) in SLACK_FAILING else otherwise


def _prepare_channel(
    client: WebClient,
    channel_id: str | None,
    new_name: str | None,
    *,
    private: bool = False,
    known: dict[str, dict[str, Any] | str] | None = None,
) -> tuple[ChannelChoice | None, str | None]:
    """Make sure the bot is in the channel: join a public one, create a new one; explain a private one.
    `private`: for a protected community, which lives in private channels only (a public channel lets
    anyone read it and join the community without approval): create it private, refuse a public one
    before joining it."""
    if new_name:
        wanted = new_name.lstrip("#").strip()
        if not CHANNEL_NAME.match(wanted):
            return None, "communities.errors.new_channel_invalid"
        try:
            created = client.conversations_create(name=wanted, is_private=private)["channel"]
        except SlackApiError as exc:
            error = slack.slack_error(exc)
            if error == "name_taken":
                return None, "communities.errors.new_channel_taken"
            return None, _refusal(exc, "communities.errors.new_channel_invalid")
        return ChannelChoice(str(created["id"]), str(created["name"]), bool(created.get("is_private"))), None
    assert channel_id is not None
    # `known`: conversations.info already asked (a text: the refusal), see create_submission.
    info = known[channel_id] if known and channel_id in known else _channel_info(client, channel_id)
    if isinstance(info, str):
        return None, info
    if info.get("is_archived"):
        return None, "communities.errors.channel_archived"
    if private and not info.get("is_private"):
        return None, service.PUBLIC_CHANNEL_PROTECTED
    if not info.get("is_member"):
        if info.get("is_private"):
            return None, "communities.errors.channel_invisible"
        try:
            client.conversations_join(channel=channel_id)
        except SlackApiError as exc:
            return None, _refusal(exc, "communities.errors.channel_invisible")
    return ChannelChoice(channel_id, str(info.get("name") or ""), bool(info.get("is_private"))), None


def _announce_creation(session: Any, community: Any, *, channel_id: str, creator: str, lang: str) -> None:
    """What a new community owes Slack, written with it: its people into the channel, the welcome
    there, an invitation to each key person, a word to the creator."""
    team_id, name = community.team_id, community.name
    moderators = service.moderators(session, community=community)
    for person in [u for u in moderators if u != creator] + [creator]:
        outbox.invite(session, team_id=team_id, channel=channel_id, user=person)
    outbox.message(
        session,
        team_id=team_id,
        to=channel_id,
        render="communities.welcome",
        lang=community.language,
        name=name,
        domain=community.domain,
        objectives=list(community.objectives),
        other=community.objectives_other,
        moderators=moderators,
    )
    for person in community.key_people:
        outbox.message(
            session,
            team_id=team_id,
            to=person,
            render="communities.key_person",
            name=name,
            domain=community.domain,
            creator=creator,
            community_id=community.id,
            protected=community.visibility == "protected",
        )
    outbox.message(
        session,
        team_id=team_id,
        to=creator,
        render="communities.created",
        lang=lang,
        name=name,
        channel_id=channel_id,
        key_people=list(community.key_people),
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
            answer = _join(session, community, request.user_id, request.lang, deps.clock.now())
    except CommunityProblem as problem:
        _join_refused(request, problem)
        return
    request.reply(answer)


def _join(session: Any, community: Any, user_id: str, lang: str, now: Any) -> str:
    """Join (or ask to join) in this transaction; what it owes Slack goes to the outbox with it. Only
    the request that changed something writes anything: a second click, a concurrent `/cdp join`, finds
    the member (or the pending request) already there and sends nothing."""
    outcome = service.join(session, community=community, user_id=user_id, now=now)
    team_id, name = community.team_id, community.name
    if outcome in (JoinOutcome.JOINED, JoinOutcome.REJOINED):
        _invite_everywhere(session, community, user_id)
        return joined_text(outcome, name, [c.channel_id for c in community.channels], lang)
    if outcome == JoinOutcome.REQUESTED:
        request = service.pending_request(session, community=community, user_id=user_id)
        assert request is not None
        for moderator in service.moderators(session, community=community):
            outbox.message(
                session,
                team_id=team_id,
                to=moderator,
                render="communities.join_request",
                once=f"join-request:{request.id}:{moderator}",
                ref=request_ref(request.id),
                name=name,
                requester=user_id,
                request_id=request.id,
            )
        return t("communities.join.requested", lang, name=name)
    if outcome == JoinOutcome.ALREADY_REQUESTED:
        return t("communities.join.already_requested", lang, name=name)
    return joined_text(JoinOutcome.ALREADY, name, [], lang)


def joined_text(outcome: JoinOutcome, name: str, channel_ids: list[str], lang: str) -> str:
    """The answer to someone who joined (or joined again), or found they were in already."""
    if outcome == JoinOutcome.ALREADY:
        return t("communities.join.already", lang, name=name)
    key = "communities.join.joined" if outcome == JoinOutcome.JOINED else "communities.join.rejoined"
    return t(key, lang, name=name, channels=views.channels_sentence(channel_ids, lang)).strip()


def _invite_everywhere(session: Any, community: Any, user_id: str) -> None:
    """A new member (or moderator) is added to every channel of the community that is still open."""
    for binding in community.channels:
        if not binding.is_archived:
            outbox.invite(session, team_id=community.team_id, channel=binding.channel_id, user=user_id)


def request_ref(request_id: int) -> str:
    """The copies of one join request (one per moderator), updated together once it is decided."""
    return f"join-request:{request_id}"


def join_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    picked = FormState(view).option("community")
    try:
        with deps.db.session() as session:
            community = service.require_by_id(session, team_id=team_id, community_id=int(picked or 0))
            answer = _join(session, community, user_id, lang, deps.clock.now())
            outbox.message(session, team_id=team_id, to=user_id, render="plain", lang=lang, text=answer)
    except CommunityProblem as problem:
        ack(response_action="errors", errors={"community": problem_text(problem, lang)})
        return
    ack()


# ---- "did you mean X?": the Join button -----------------------------------------------------
def _join_refused(request: CommandRequest, problem: CommunityProblem) -> None:
    """`/cdp join X` did not name a community clearly: when X looks like one, ask, with a Join button."""
    text = problem_text(problem, request.lang)
    suggested = problem.params.get("community_id")
    if problem.key == "communities.errors.did_you_mean" and isinstance(suggested, int):
        name = str(problem.params.get("name") or "")
        request.reply(text, views.join_suggestion(request.lang, text=text, name=name, community_id=suggested))
        return
    request.reply(text)


def join_suggestion_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """The Join button under "did you mean X?": joins X exactly as `/cdp join X` would (protected
    communities: a request to the moderators), and the answer replaces the question."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    try:
        community_id = int(str((body.get("actions") or [{}])[0].get("value") or 0))
    except (ValueError, AttributeError):
        community_id = 0
    if not 0 < community_id < 2**31:  # beyond the column: no such community (PostgreSQL would refuse it)
        community_id = 0
    with deps.db.session() as session:
        try:
            community = service.require_by_id(session, team_id=team_id, community_id=community_id)
            answer = _join(session, community, user_id, lang, deps.clock.now())
        except CommunityProblem as problem:
            answer = problem_text(problem, lang)
        slack.tell(session, body, lang, answer, replace=True)


# ---- protected communities: approve / decline ------------------------------------------------
def decide_request_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, moderator, team_id = interaction(context, body)
    action = body["actions"][0]
    approve = action["action_id"] == views.APPROVE_ACTION
    admin = slack.is_admin(deps, client, moderator)
    with deps.db.session() as session:
        try:
            request = service.get_request(session, team_id=team_id, request_id=int(action.get("value") or 0))
            if request is None:
                raise CommunityProblem("communities.errors.request_unknown")
            community = service.require_by_id(session, team_id=team_id, community_id=request.community_id)
            # Compare-and-set: of an approve and a decline pressed together, one decides, the other is told.
            service.decide_request(
                session,
                request=request,
                community=community,
                moderator=moderator,
                approve=approve,
                is_admin=admin,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        _announce_decision(session, community, request.id, request.user_id, moderator, approve)


def _announce_decision(
    session: Any, community: Any, request_id: int, requester: str, moderator: str, approve: bool
) -> None:
    """Every moderator's copy of the request loses its buttons and says who decided; the requester is
    told, and added to the channels when approved."""
    team_id, name = community.team_id, community.name
    key = "communities.request.approved" if approve else "communities.request.declined"
    outbox.update_copies(
        session,
        team_id=team_id,
        ref=request_ref(request_id),
        render="text",
        key_name=key,
        params={"moderator": views.mention(moderator), "user": views.mention(requester), "name": name},
    )
    channels = [c.channel_id for c in community.channels if not c.is_archived]
    if approve:
        _invite_everywhere(session, community, requester)
    outbox.message(
        session,
        team_id=team_id,
        to=requester,
        render="communities.request_answer",
        approved=approve,
        name=name,
        channels=channels,
    )


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
    """The directory, a page at a time (`/cdp list 2`), each entry with its Join and Info buttons."""
    typed = request.argument.strip()
    page = int(typed) if re.fullmatch(r"[0-9]{1,6}", typed) else 1
    with request.deps.db.session() as session:
        entries = service.directory(session, team_id=request.team_id, viewer=request.user_id)
        text, blocks = views.directory_message(entries, request.lang, page=page)
    request.reply(text, blocks)


@subcommand("info")
def info_subcommand(request: CommandRequest) -> None:
    try:
        with request.deps.db.session() as session:
            community = request.community(session)
            shown = service.view(session, community=community, viewer=request.user_id)
            text, blocks = views.info_message(shown, request.lang)
            if shown.shows_details:  # issue 11 item 7: the key people, joined or not yet
                blocks += key_people_views.blocks(
                    request.lang,
                    key_people_service.statuses(session, community=community),
                    community_id=community.id,
                    can_reinvite=community.status == "active"
                    and shown.membership is not None
                    and shown.membership.left_at is None
                    and shown.membership.role == "core",
                )
    except CommunityProblem as problem:
        _join_refused(request, problem)  # "did you mean X?" comes with its Join and Info buttons
        return
    request.reply(text, blocks)


# ---- /cdp moderators -------------------------------------------------------------------------
@subcommand("moderators")
def moderators_subcommand(request: CommandRequest) -> None:
    deps, lang = request.deps, request.lang
    words = request.argument.split(maxsplit=1)
    verb = (canonical_verb("moderators", words[0]) or "") if words else ""  # add|ajouter, remove|retirer
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
    if verb == "add":
        refusal = slack.people_problem(deps, request.client, users)
        if refusal:
            request.reply(t(refusal, lang))
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
                _announce_moderators(session, community, changed, actor=request.user_id)
            else:
                service.remove_moderators(
                    session, community=community, actor=request.user_id, is_admin=admin, user_ids=users
                )
            name = community.name
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    key = "communities.moderators.added" if verb == "add" else "communities.moderators.removed"
    request.reply(t(key, lang, users=views.people(users, lang), count=len(users), name=name))


def _announce_moderators(session: Any, community: Any, added: list[str], *, actor: str) -> None:
    """New moderators (only those this request made: `added`) join the channels and hear why."""
    for user_id in added:
        _invite_everywhere(session, community, user_id)
        outbox.text(
            session,
            team_id=community.team_id,
            to=user_id,
            key_name="communities.moderators.added_dm",
            actor=views.mention(actor),
            name=community.name,
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
        "sponsor": community.sponsor_id,
        "moderators": service.view(session, community=community, viewer=community.created_by).moderators,
        "visibility": community.visibility,
        "language": community.language,
        "timezone": community.timezone,
        "cadence": community.review_cadence_weeks,
        "channels": [c.channel_id for c in community.channels],
        "promotion_dm": community.promotion_dm,
        "review_outcome_in_channel": community.review_outcome_in_channel,
        "first_post_emoji": community.first_post_emoji,
        "stage": community.stage,  # issue 11, item 9
        **{key: getattr(community, key) for key in CIRCLE_RULE_SETTINGS},
        **welcome.settings_values(community),
        # Pairing (issue 10, item 3)
        "pairing_enabled": community.pairing_enabled,
        "pairing_after_days": community.pairing_after_days,
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
    welcome_form = welcome.parse_settings(view)
    parsed.errors.update(welcome_form.errors)
    pairing_settings, pairing_errors = pairing_form.parse(view)  # issue 10, item 3
    parsed.errors.update(pairing_errors)
    draft = parsed.draft
    form = FormState(view)  # the sponsor (issue 11 item 5): a form opened before it existed keeps it
    sponsor_given, sponsor = form.has(follow_up_views.SPONSOR_FIELD), form.user(follow_up_views.SPONSOR_FIELD)
    if draft is not None:
        picked = {"moderators": draft.moderators, "key_people": draft.key_people, "sponsor": [sponsor or ""]}
        parsed.errors.update(slack.people_problems(deps, client, picked))
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
    protected = draft.visibility == "protected"
    for channel_id in parsed.channels:
        if channel_id in current:
            binding = next(c for c in community.channels if c.channel_id == channel_id)
            # Bound as public and the community becomes (or stays) protected: ask Slack again, the
            # channel may have been made private since; refused otherwise, before anything changes.
            if not (protected and not binding.is_private):
                choices.append(ChannelChoice(channel_id, binding.name, binding.is_private))
                continue
        choice, error = _prepare_channel(client, channel_id, None, private=protected)
        if error == service.PUBLIC_CHANNEL_PROTECTED:
            error = service.PUBLIC_CHANNELS_PROTECTED  # the settings form's words: several channels
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
            if welcome_form.present:
                welcome_service.apply_settings(
                    community, enabled=welcome_form.enabled, text=welcome_form.text
                )
            if sponsor_given:
                follow_up_service.set_sponsor(community, sponsor)
            if pairing_settings is not None:
                pairing_service.configure(
                    community,
                    enabled=pairing_settings.enabled,
                    after_days=pairing_settings.after_days,
                )
            outbox.text(
                session,
                team_id=team_id,
                to=user_id,
                key_name="communities.settings.saved",
                lang=lang,
                name=community.name,
            )
    except CommunityProblem as problem:
        if problem.field:
            ack(response_action="errors", errors={problem.field: problem_text(problem, lang)})
        else:
            stale(ack, lang, problem_text(problem, lang))
        return
    ack()
    backfill.resume_all(deps)  # channels bound just now


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
            # Compare-and-set on the status: of two submissions, one dissolves and announces.
            service.dissolve(
                session, community=community, actor=user_id, is_admin=admin, now=deps.clock.now()
            )
            for binding in community.channels:
                if not binding.is_archived:
                    outbox.text(
                        session,
                        team_id=team_id,
                        to=binding.channel_id,
                        key_name="communities.dissolve.announce",
                        lang=community.language,
                        name=community.name,
                        moderator=views.mention(user_id),
                    )
            outbox.text(
                session,
                team_id=team_id,
                to=user_id,
                key_name="communities.dissolve.done",
                lang=lang,
                name=community.name,
            )
    except CommunityProblem as problem:
        stale(ack, lang, problem_text(problem, lang))
        return
    ack()


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
            session,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            now=deps.clock.now(),
            at=slack.event_moment(body, event),
        )


def member_left_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    deps = deps_of(context)
    user_id, channel_id = str(event.get("user") or ""), str(event.get("channel") or "")
    team_id = str(body.get("team_id") or event.get("team") or "")
    if not user_id or not channel_id:
        return
    with deps.db.session() as session:
        service.leave_via_channel(
            session,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            now=deps.clock.now(),
            at=slack.event_moment(body, event),
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
    registry.action(app, views.JOIN_SUGGESTION_ACTION, join_suggestion_action)
    registry.event(app, "member_joined_channel", member_joined_callback)
    registry.event(app, "member_left_channel", member_left_callback)
    for prefix in ("channel", "group"):  # public and private channels
        registry.event(app, f"{prefix}_archive", channel_archive_callback)
        registry.event(app, f"{prefix}_unarchive", channel_unarchive_callback)
        registry.event(app, f"{prefix}_rename", channel_rename_callback)
