"""Key people followed up over Slack: the moderators' "Invite them again" button (its value: the
community id), wherever it is shown (/cdp info, the App Home, the review prompt)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.services import communities as community_service
from bot.services import key_people as service
from bot.services.communities import CommunityProblem
from bot.views import key_people as views
from handlers import registry, slack
from handlers.communities import problem_text
from handlers.context import interaction
from handlers.payloads import parse_id, pressed_value


def reinvite_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Send the invitation again to each key person who has not joined; answer how many, to the
    moderator alone. Refused (and nothing sent) for a non-moderator or a dissolved community."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            community = community_service.require_by_id(
                session, team_id=team_id, community_id=parse_id(pressed_value(body)) or 0
            )
            done = service.reinvite(
                session, community=community, user_id=user_id, is_admin=admin, now=deps.clock.now()
            )
            answer = views.reinvited_text(lang, name=community.name, sent=done.sent, missing=done.missing)
        except CommunityProblem as problem:
            answer = problem_text(problem, lang)
        slack.tell(session, body, lang, answer)


def register(app: App) -> None:
    registry.action(app, views.REINVITE_ACTION, reinvite_action)
