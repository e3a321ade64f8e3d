"""Follow-ups over Slack (issue 11, item 5): "Make it a follow-up" (opens the modal), its submission,
"Done" (the owner's DM, their App Home), and "Send the summary" to the sponsor."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain import checklist
from bot.domain import follow_ups as rules
from bot.i18n import t
from bot.services import follow_ups as service
from bot.services.communities import CommunityProblem
from bot.views import follow_ups as views
from handlers import registry, slack
from handlers.communities import open_view, problem_text, stale
from handlers.community_forms import FormState
from handlers.context import interaction
from handlers.payloads import metadata_id, parse_id, pressed_value


def make_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Open the modal, prefilled with the moderator's note, the moderator as owner, two weeks later."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    target = rules.read_button_value(pressed_value(body))
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            if target is None:
                raise CommunityProblem("follow_ups.errors.unknown_review")
            form = service.form_for(
                session,
                team_id=team_id,
                review_id=target[0],
                item=target[1],
                user_id=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
    # The modal needs the trigger (3 seconds): opened here, the one Slack call this answer needs.
    refusal = open_view(client, body["trigger_id"], views.create_modal(lang, form), lang, user_id)
    if refusal is not None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, refusal)


def _item_of(view: dict[str, Any]) -> str | None:
    try:
        metadata = json.loads(str(view.get("private_metadata") or ""))
    except ValueError:
        return None
    item = metadata.get("item") if isinstance(metadata, dict) else None
    return item if isinstance(item, str) and item in checklist.ITEMS else None


def create_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    review_id, item = metadata_id(view, "review_id") or 0, _item_of(view)
    state = FormState(view)
    owner = state.user(rules.OWNER_FIELD)
    # The owner is asked of Slack before the database: a bot or someone Slack does not know is a field
    # error, like a missing text or a past date.
    errors = slack.people_problems(deps, client, {rules.OWNER_FIELD: [owner] if owner else []})
    admin = slack.is_admin(deps, client, user_id)
    now = deps.clock.now()
    try:
        with deps.db.session() as session:
            if item is None:
                raise CommunityProblem("follow_ups.errors.unknown_review")
            draft = service.check(
                session,
                team_id=team_id,
                review_id=review_id,
                user_id=user_id,
                is_admin=admin,
                text=state.text(rules.TEXT_FIELD),
                owner_id=owner,
                due_on=state.date(rules.DUE_FIELD),
                now=now,
            )
            if isinstance(draft, dict):
                errors = {**draft, **errors}
            if errors or isinstance(draft, dict):
                ack(
                    response_action="errors",
                    errors={field: t(key, lang, max=rules.TEXT_MAX) for field, key in errors.items()},
                )
                return
            service.create(
                session,
                team_id=team_id,
                review_id=review_id,
                item=item,
                user_id=user_id,
                is_admin=admin,
                draft=draft,
                lang=lang,
                now=now,
            )
    except CommunityProblem as problem:
        stale(ack, lang, problem_text(problem, lang))
        return
    ack()


def done_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Done": marked once (compare-and-set); a second press says it was already, by whom."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            done = service.mark_done(
                session,
                team_id=team_id,
                follow_up_id=parse_id(pressed_value(body)) or 0,
                user_id=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
            answer = t("follow_ups.marked_done", lang, text=done.text, name=done.name)
        except CommunityProblem as problem:
            answer = problem_text(problem, lang)
        slack.tell(session, body, lang, answer)


def sponsor_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Send the summary": to the community's sponsor, once per review."""
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            sent = service.send_summary(
                session,
                team_id=team_id,
                review_id=parse_id(pressed_value(body)) or 0,
                user_id=user_id,
                is_admin=admin,
            )
            key = "follow_ups.sponsor.sent" if sent.sent else "follow_ups.sponsor.already_sent"
            answer = t(key, lang, name=sent.name, sponsor=f"<@{sent.sponsor}>")
        except CommunityProblem as problem:
            answer = problem_text(problem, lang)
        slack.tell(session, body, lang, answer)


def register(app: App) -> None:
    registry.action(app, views.MAKE_ACTION, make_action)
    registry.action(app, views.DONE_ACTION, done_action)
    registry.action(app, views.SPONSOR_ACTION, sponsor_action)
    registry.view(app, views.CREATE_CALLBACK, create_submission)
