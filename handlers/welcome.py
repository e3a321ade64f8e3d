"""The welcome, once, over Slack: the "Not now" button, and the welcome's fields of the settings modal.

The welcome itself is decided by the join use-cases (bot.services.communities -> bot.services.welcome)
and sent by the outbox; "Introduce me to someone" (onramp_intro_me) belongs to the pairing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.welcome import text_problem
from bot.services import welcome as service
from bot.views import welcome as views
from handlers import registry, slack
from handlers.community_forms import FormState
from handlers.context import interaction
from handlers.payloads import pressed_action


def not_now_action(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """ "Not now": a kind word takes the welcome's place (its response_url, also for an ephemeral
    message); nothing else changes, since reading is fine."""
    ack()
    deps, lang, _, team_id = interaction(context, body)
    with deps.db.session() as session:
        outcome, name = service.not_now(session, team_id=team_id, community_id=_community_id(body))
        slack.tell(session, body, lang, views.not_now_answer(lang, outcome, name), replace=True)


def _community_id(body: dict[str, Any]) -> int:
    """The button's community id; 0 (no such community) when it is no id at all."""
    action = pressed_action(body)
    try:
        value = int(str(action.get("value") or 0))
    except ValueError:
        return 0
    return value if 0 < value < 2**31 else 0  # beyond the column: no such community


@dataclass
class WelcomeForm:
    """The welcome's fields as submitted; `present` is False for a settings form opened before the
    welcome had settings (then they are left as they are)."""

    present: bool
    enabled: bool = True
    text: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def parse_settings(view: dict[str, Any]) -> WelcomeForm:
    state = FormState(view)
    if not state.has(views.OPTIONS_BLOCK) and not state.has(views.TEXT_BLOCK):
        return WelcomeForm(present=False)
    text = state.text(views.TEXT_BLOCK)
    problem = text_problem(text)
    return WelcomeForm(
        present=True,
        enabled=views.ENABLED_OPTION in state.options(views.OPTIONS_BLOCK),
        # The default text, in whichever language, is stored as none: it follows the community's language.
        text="" if views.is_default_text(text) else text,
        errors={views.TEXT_BLOCK: problem} if problem else {},
    )


def settings_values(community: Any) -> dict[str, Any]:
    """What the settings modal shows of the welcome (see bot.views.welcome.settings_blocks)."""
    return {
        "welcome_enabled": community.welcome_enabled,
        "welcome_text": community.welcome_text,
        "welcome_language": community.language,
    }


def register(app: App) -> None:
    registry.action(app, views.NOT_NOW_ACTION, not_now_action)
