"""Pairing over Slack: "Introduce me to someone", "Introduce them", the pairing switch (button and
`/cdp pairing on|off`), the check-back's answers. Transport only: parse, call bot.services.pairing,
answer ephemerally (after the ack, through the outbox)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain import pairing as rules
from bot.domain.commands import canonical_verb
from bot.i18n import t
from bot.services import outbox
from bot.services import pairing as service
from bot.services.communities import CommunityProblem
from bot.views import pairing as views
from handlers import registry, slack
from handlers.commands import CommandRequest, subcommand
from handlers.communities import problem_text
from handlers.context import interaction
from handlers.payloads import parse_id, pressed_message, pressed_value


def intro_me_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Introduce me to someone" (the welcome; value: the community id)."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    # The middleware has just asked Slack who they are (their language): the time zone is in the cache.
    person = deps.people.get(client, user_id)
    with deps.db.session() as session:
        try:
            result = service.request_intro(
                session,
                team_id=team_id,
                community_id=parse_id(pressed_value(body)) or 0,
                user_id=user_id,
                newcomer_tz=person.timezone if person else None,
                now=deps.clock.now(),
                known=deps.people.known_reachable,
                known_zone=deps.people.known_timezone,
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        if not result.new:
            key = "pairing.request.already"
        else:
            key = "pairing.request.queued" if result.available else "pairing.request.queued_none"
        slack.tell(session, body, lang, t(key, lang, name=result.name))


def introduce_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Introduce them" in the named lurker alert (moderators; value: {"c": id, "u": [users]})."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    try:
        parsed = rules.parse_introduce_value(json.loads(pressed_value(body)))
    except ValueError:
        parsed = None
    if parsed is None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, t("pairing.errors.bad_value", lang))
        return
    community_id, users = parsed
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            done = service.introduce_now(
                session,
                team_id=team_id,
                community_id=community_id,
                moderator=user_id,
                is_admin=admin,
                users=users,
                now=deps.clock.now(),
                known=deps.people.known_reachable,
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        groups = (("scheduled", done.scheduled), ("waiting", done.waiting), ("skipped", done.skipped))
        lines = [
            t(views.INTRODUCED_KEYS[kind], lang, name=done.name, people=views.people(found, lang))
            for kind, found in groups
            if found
        ]
        slack.tell(session, body, lang, "\n".join(lines))


def _switch(deps: Any, *, team_id: str, user_id: str, on: bool, lang: str) -> str:
    with deps.db.session() as session:
        changed = service.set_pairing(session, team_id=team_id, user_id=user_id, on=on, now=deps.clock.now())
    if not changed:
        return t("pairing.toggle.already_on" if on else "pairing.toggle.already_off", lang)
    return t("pairing.toggle.on" if on else "pairing.toggle.off", lang)


def toggle_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The pairing switch (value "on" | "off"), in pairing's messages and on App Home."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    value = pressed_value(body)
    if value not in ("on", "off"):
        text = t("pairing.errors.bad_value", lang)
    else:
        text = _switch(deps, team_id=team_id, user_id=user_id, on=value == "on", lang=lang)
    with deps.db.session() as session:
        slack.tell(session, body, lang, text)


@subcommand("pairing")
def pairing_subcommand(request: CommandRequest) -> None:
    """`/cdp pairing` shows the switch; `/cdp pairing on|off` sets it."""
    deps, lang = request.deps, request.lang
    words = request.argument.split()
    if not words:
        with deps.db.session() as session:
            on = service.pairing_status(session, team_id=request.team_id, user_id=request.user_id)
        request.ack(**views.status_message(lang, on=on))
        return
    verb = canonical_verb("pairing", words[0]) if len(words) == 1 else None
    if verb not in ("on", "off"):
        request.reply(t("pairing.errors.bad_argument", lang))
        return
    request.reply(_switch(deps, team_id=request.team_id, user_id=request.user_id, on=verb == "on", lang=lang))


def outcome_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Did you talk?" yes / not yet / no (value: the intro id)."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    actions = body.get("actions") or [{}]
    pressed = views.OUTCOME_ACTIONS.get(str(actions[0].get("action_id")), rules.Outcome.NOT_YET)
    with deps.db.session() as session:
        try:
            result = service.record_outcome(
                session,
                team_id=team_id,
                intro_id=parse_id(pressed_value(body)) or 0,
                user_id=user_id,
                pressed=pressed,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        answer = views.outcome_label(result.outcome, lang)
        if result.answer == rules.OutcomeAnswer.RECORDED:
            text = t(views.OUTCOME_THANKS[result.outcome], lang)
        elif result.answer == rules.OutcomeAnswer.SAME:
            text = t("pairing.outcome.same", lang)
        else:
            text = t("pairing.outcome.already", lang, person=views.mention(result.by or ""), answer=answer)
        slack.tell(session, body, lang, text)
        pressed_at = pressed_message(body)
        final = result.answer == rules.OutcomeAnswer.RECORDED and result.outcome != rules.Outcome.NOT_YET
        if final and pressed_at is not None:
            # The check-back loses its buttons: both see who answered what.
            outbox.edit(
                session,
                team_id=team_id,
                channel=pressed_at[0],
                ts=pressed_at[1],
                render="plain",
                lang=lang,
                text=t("pairing.outcome.answered", lang, person=views.mention(user_id), answer=answer),
            )


def register(app: App) -> None:
    registry.action(app, views.INTRO_ME_ACTION, intro_me_action)
    registry.action(app, views.INTRODUCE_ACTION, introduce_action)
    registry.action(app, views.TOGGLE_ACTION, toggle_action)
    for action_id in views.OUTCOME_ACTIONS:
        registry.action(app, action_id, outcome_action)
