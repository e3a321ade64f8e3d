"""The inner circle's pulse of a review (issue 11, item 4): a moderator asks, each member answers once,
anonymously. The review done together itself goes through handlers/reviews.py (the checklist modal)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.i18n import t
from bot.services import review_together as together_service
from bot.services.communities import CommunityProblem
from bot.views import review_together as views
from handlers import registry, slack
from handlers.communities import problem_text
from handlers.context import interaction
from handlers.payloads import parse_id, pressed_action


def _pressed(body: dict[str, Any]) -> tuple[str, int]:
    """The pressed button's action id and the review id it carries (0: unreadable)."""
    action = pressed_action(body)
    return str(action.get("action_id") or ""), parse_id(action.get("value")) or 0


def ask_pulse_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            community, count = together_service.ask_pulse(
                session,
                team_id=team_id,
                review_id=_pressed(body)[1],
                user_id=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        slack.tell(
            session, body, lang, t("review_together.pulse.asked", lang, name=community.name, count=count)
        )


def vote_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    action_id, review_id = _pressed(body)
    answer = next((a for a, action in views.PULSE_VOTE_ACTIONS.items() if action == action_id), None)
    with deps.db.session() as session:
        try:
            community = together_service.vote(
                session, team_id=team_id, review_id=review_id, user_id=user_id, answer=answer
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        text = t("review_together.pulse.thanks", lang, name=community.name)
        # The question loses its buttons; what was answered is not written anywhere.
        slack.answer_in_place(session, body, lang, text, team_id=team_id)


def register(app: App) -> None:
    registry.action(app, views.PULSE_ASK_ACTION, ask_pulse_action)
    for action in views.PULSE_VOTE_ACTIONS.values():
        registry.action(app, action, vote_action)
