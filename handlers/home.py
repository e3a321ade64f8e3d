"""App Home over Slack: the Home tab opened, and its own buttons (create, pages, my data, review now).

The Home is published by the outbox worker (bot/outbox.py, kind "home"), read from the database when
it is sent: opening the tab records that the person looks at it and queues the publish; later changes
republish it (bot/services/home_refresh.py). Join, Request to join and Info (`home_join`, `home_info`)
are handled with the other "buttons where people are"; Approve / Decline, Start now and Snooze are the
buttons the join requests and review prompts already have, handled where those are.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.i18n import t
from bot.people import is_user_id
from bot.services import communities as community_service
from bot.services import home as home_service
from bot.services import outbox
from bot.services import reviews as review_service
from bot.services.communities import CommunityProblem
from bot.views import communities as community_views
from bot.views import home as views
from handlers import registry, slack
from handlers.activity import forget_modal
from handlers.communities import open_view, problem_text
from handlers.context import deps_of, interaction
from handlers.payloads import parse_id, pressed_value
from handlers.reviews import checklist_form

PAGES_MAX = 1000  # beyond any Home: 1,000 pages of ~90 blocks


def home_opened_callback(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    """The Home tab was opened (the Messages tab sends the same event: nothing to do for it)."""
    if event.get("tab") != "home":
        return
    user_id, team_id = str(event.get("user") or ""), str(body.get("team_id") or "")
    if not is_user_id(user_id) or not team_id:
        return
    deps = deps_of(context)
    with deps.db.session() as session:
        home_service.opened(session, team_id=team_id, user_id=user_id, now=deps.clock.now())


def _open(client: WebClient, body: dict[str, Any], context: BoltContext, view: dict[str, Any]) -> None:
    """Open a modal from a Home button; when Slack refuses, say so (a direct message: a Home has no
    response_url)."""
    deps, lang, user_id, _ = interaction(context, body)
    refusal = open_view(client, body["trigger_id"], view, lang, user_id)
    if refusal is not None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, refusal)


def create_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Create a community": the form `/cdp create` opens."""
    ack()
    deps, lang, user_id, _ = interaction(context, body)
    timezone = slack.timezone_of(deps, client, user_id)
    _open(client, body, context, community_views.create_form(lang, creator=user_id, timezone=timezone))


def page_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """ "Show more" (the page in the value) or "Back to the start"."""
    ack()
    deps, _, user_id, team_id = interaction(context, body)
    more = body["actions"][0].get("action_id") == views.MORE_ACTION
    page = (parse_id(pressed_value(body)) or 0) if more else 0
    with deps.db.session() as session:
        home_service.show_page(session, team_id=team_id, user_id=user_id, page=min(page, PAGES_MAX))


def export_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Export my data": as `/cdp privacy export`, the file arrives in a direct message."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    with deps.db.session() as session:
        outbox.export(session, team_id=team_id, user=user_id, lang=lang)
    text = t("activity.privacy.export_sent", lang)
    _open(client, body, context, community_views.info_modal(lang, t("home.data.export_title", lang), text))


def forget_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Forget me": the confirmation `/cdp privacy forget` opens; nothing is erased before it."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    _open(client, body, context, forget_modal(deps, team_id=team_id, user_id=user_id, lang=lang))


def review_now_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Start now" before the review is due: a review on demand (`/cdp review`), its checklist open."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            community = community_service.require_by_id(
                session, team_id=team_id, community_id=parse_id(pressed_value(body)) or 0
            )
            review = review_service.on_demand(
                session, community=community, user_id=user_id, is_admin=admin, now=deps.clock.now()
            )
            form = checklist_form(session, review=review, community=community, user_id=user_id, lang=lang)
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
    _open(client, body, context, form)


def register(app: App) -> None:
    registry.event(app, "app_home_opened", home_opened_callback)
    registry.action(app, views.CREATE_ACTION, create_action)
    registry.action(app, views.MORE_ACTION, page_action)
    registry.action(app, views.FIRST_ACTION, page_action)
    registry.action(app, views.EXPORT_ACTION, export_action)
    registry.action(app, views.FORGET_ACTION, forget_action)
    registry.action(app, views.REVIEW_NOW_ACTION, review_now_action)
