"""Checklist reviews over Slack: /cdp review, the prompt's buttons, the checklist modal, alert buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain import cadence, checklist
from bot.domain.checklist import ChecklistResult, Decision
from bot.domain.review_together import Outcome
from bot.i18n import format_day, t
from bot.services import communities as community_service
from bot.services import follow_ups as follow_up_service
from bot.services import lurkers as lurker_service
from bot.services import outbox
from bot.services import review_together as together_service
from bot.services import reviews as review_service
from bot.services import stages as stage_service
from bot.services.communities import CommunityProblem
from bot.views import buttons as button_views
from bot.views import communities as community_views
from bot.views import review_together as together_views
from bot.views import reviews as views
from bot.views import stages as stage_views
from handlers import registry, slack
from handlers.commands import CommandRequest, subcommand
from handlers.communities import open_modal, open_view, problem_text, settings_form_for, stale
from handlers.community_forms import FormState
from handlers.context import interaction, with_language
from handlers.payloads import metadata_id, parse_id, pressed_value


def checklist_form(session: Any, *, review: Any, community: Any, user_id: str, lang: str) -> dict[str, Any]:
    """The checklist modal of `review` as `user_id` finds it: the last review's answers, their own saved
    answers, the co-moderators' so far, the pulse (a review done together, issue 11 item 4)."""
    together = together_service.modal_state(
        session, review=review, user_id=user_id, timezone=community.timezone
    )
    return views.checklist_modal(
        lang,
        name=community.name,
        review_id=review.id,
        together=together,
        next_stage=stage_service.question_next(community),  # issue 11 item 9
    )


@subcommand("review")
def review_subcommand(request: CommandRequest) -> None:
    """A review on demand (moderators): the checklist opens at once."""
    deps, lang = request.deps, request.lang
    try:
        with deps.db.session() as session:
            community = request.community(session)
            admin = slack.is_admin(deps, request.client, request.user_id)
            review = review_service.on_demand(
                session, community=community, user_id=request.user_id, is_admin=admin, now=deps.clock.now()
            )
            form = checklist_form(
                session, review=review, community=community, user_id=request.user_id, lang=lang
            )
    except CommunityProblem as problem:
        request.reply(problem_text(problem, lang))
        return
    open_modal(request, form)


def _action_value(body: dict[str, Any]) -> int:
    """The id a button carries (a review, a community); 0 (nothing found) when unreadable."""
    return parse_id(pressed_value(body)) or 0


def start_review_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    with deps.db.session() as session:
        try:
            review, community = review_service.open_review(
                session, team_id=team_id, review_id=_action_value(body), user_id=user_id, is_admin=admin
            )
            form = checklist_form(session, review=review, community=community, user_id=user_id, lang=lang)
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
    # The modal needs the trigger (3 seconds): opened here, the one Slack call this answer needs.
    refusal = open_view(client, body["trigger_id"], form, lang, user_id)
    if refusal is not None:
        with deps.db.session() as session:
            slack.tell(session, body, lang, refusal)


def snooze_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    now = deps.clock.now()
    with deps.db.session() as session:
        try:
            community, until = review_service.snooze(
                session,
                team_id=team_id,
                review_id=_action_value(body),
                user_id=user_id,
                is_admin=admin,
                now=now,
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        text = views.snoozed_text(lang, community.name, until)
        # The prompt loses its buttons: the review comes back on its own.
        pressed = slack.answer_in_place(session, body, lang, text, team_id=team_id)
        # The other moderators' prompts too: the review is in hand, it comes back next week.
        outbox.update_copies(
            session,
            team_id=team_id,
            ref=review_service.prompt_ref(_action_value(body)),
            render="reviews.prompt_settled",
            besides=pressed,
            name=community.name,
            moderator=user_id,
            snoozed_until=until.isoformat(),
        )


def greeted_action(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps, lang, user_id, team_id = interaction(context, body)
    admin = slack.is_admin(deps, client, user_id)
    actions = body.get("actions")
    value = (
        actions[0].get("value")
        if isinstance(actions, list) and actions and isinstance(actions[0], dict)
        else None
    )
    if not parse_id(value):  # a named alert's button: these newcomers (bot.views.buttons.lurkers_value)
        named_greeted(body, value, deps=deps, lang=lang, user_id=user_id, team_id=team_id, admin=admin)
        return
    with deps.db.session() as session:
        try:
            count = review_service.mark_greeted(
                session,
                team_id=team_id,
                community_id=_action_value(body),
                user_id=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
            name = community_service.require_by_id(
                session, team_id=team_id, community_id=_action_value(body)
            ).name
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        slack.tell(session, body, lang, t("alerts.greeted", lang, count=count, name=name))


def named_greeted(
    body: dict[str, Any], value: object, *, deps: Any, lang: str, user_id: str, team_id: str, admin: bool
) -> None:
    """ "Mark as greeted" under a named alert: the newcomers it names, not greeted yet, are marked."""
    target = button_views.read_lurkers_value(value)
    with deps.db.session() as session:
        if target is None:
            slack.tell(session, body, lang, t("buttons.lurkers.unreadable", lang))
            return
        try:
            community, marked = lurker_service.mark_greeted(
                session,
                team_id=team_id,
                community_id=target[0],
                user_ids=target[1],
                moderator=user_id,
                is_admin=admin,
                now=deps.clock.now(),
            )
        except CommunityProblem as problem:
            slack.tell(session, body, lang, problem_text(problem, lang))
            return
        if not marked:
            answer = t("buttons.lurkers.already", lang, count=len(target[1]))
        else:
            answer = t("alerts.greeted", lang, count=len(marked), name=community.name)
        slack.tell(session, body, lang, answer)


def _review_id(view: dict[str, Any]) -> int:
    return metadata_id(view, "review_id") or 0


def _parse(view: dict[str, Any]) -> ChecklistResult | dict[str, str]:
    state = FormState(view)
    answers = {item: state.option(f"item_{item}") for item in checklist.ITEMS}
    notes = {item: state.text(f"note_{item}") for item in checklist.ITEMS}
    parsed = checklist.validate(answers, notes, state.option(checklist.DECISION_FIELD))
    if isinstance(parsed, ChecklistResult):
        return parsed
    # An error about an item's note belongs on the note's field, the others on the answer's.
    return {
        (f"note_{field}" if key == checklist.ERROR_NOTE_TOO_LONG else f"item_{field}")
        if field in checklist.ITEMS
        else field: key
        for field, key in parsed.items()
    }


def checklist_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps, lang, user_id, team_id = interaction(context, body)
    parsed = _parse(view)
    if not isinstance(parsed, ChecklistResult):  # the same answers are needed to save or to decide
        ack(
            response_action="errors",
            errors={block: t(key, lang, max=checklist.NOTE_MAX) for block, key in parsed.items()},
        )
        return
    admin = slack.is_admin(deps, client, user_id)
    if FormState(view).option(together_views.MODE_FIELD) == together_views.MODE_SAVE:
        save_answers(ack, view, parsed, deps=deps, lang=lang, user_id=user_id, team_id=team_id, admin=admin)
        return
    try:
        with deps.db.session() as session:
            # Compare-and-set on completion: of two submissions, one completes and announces. Everyone's
            # saved answers are part of it (a review done together, issue 11 item 4).
            review, community, outcome = together_service.decide(
                session,
                team_id=team_id,
                review_id=_review_id(view),
                user_id=user_id,
                is_admin=admin,
                result=parsed,
                now=deps.clock.now(),
            )
            _announce_outcome(session, community, outcome, review_id=review.id, user_id=user_id, lang=lang)
            stage_service.after_review(  # issue 11 item 9: "Move on to the next stage?" answered yes
                session,
                community=community,
                review_id=review.id,
                decision=outcome.decision,
                move_to=stage_views.answer(FormState(view).option(stage_views.QUESTION)),
                user_id=user_id,
                lang=lang,
                now=deps.clock.now(),
            )
            follow_up_service.after_review(  # issue 11 item 5: the items to follow up, the sponsor
                session, community=community, result=parsed, review_id=review.id, user_id=user_id, lang=lang
            )
            if outcome.decision == Decision.ADJUST:
                follow_up: dict[str, Any] | None = settings_form_for(session, community=community, lang=lang)
            elif outcome.decision == Decision.DISSOLVE:
                follow_up = community_views.dissolve_form(
                    lang, name=community.name, community_id=community.id
                )
            else:
                follow_up = None
    except CommunityProblem as problem:
        stale(ack, lang, problem_text(problem, lang))
        return
    if follow_up is not None:
        # adjust: the settings; dissolve: its confirmation (both remembering the language they speak)
        ack(response_action="update", view=with_language(follow_up, lang, user_id))
    else:
        ack()


def save_answers(
    ack: Ack,
    view: dict[str, Any],
    parsed: ChecklistResult,
    *,
    deps: Any,
    lang: str,
    user_id: str,
    team_id: str,
    admin: bool,
) -> None:
    """ "Save my answers; the others can add theirs": kept for the co-moderators, who are told."""
    try:
        with deps.db.session() as session:
            community, deadline, others = together_service.save(
                session,
                team_id=team_id,
                review_id=_review_id(view),
                user_id=user_id,
                is_admin=admin,
                result=parsed,
                now=deps.clock.now(),
            )
            day = (
                format_day(deadline.astimezone(cadence.zone(community.timezone)).date(), lang)
                if deadline
                else "—"
            )
            key = "review_together.saved" if others else "review_together.saved_alone"
            text = t(key, lang, name=community.name, day=day)
    except CommunityProblem as problem:
        stale(ack, lang, problem_text(problem, lang))
        return
    ack(
        response_action="update",
        view=community_views.info_modal(lang, t("review_together.saved_title", lang), text),
    )


def _announce_outcome(
    session: Any, community: Any, outcome: Outcome, *, review_id: int, user_id: str, lang: str
) -> None:
    """Every moderator's prompt shows the outcome; the channels get the story (if the community wants
    that); and a word to the moderator."""
    team_id, name = community.team_id, community.name
    together_service.announce(session, community, outcome, review_id=review_id, decider=user_id)
    if outcome.decision == Decision.DISSOLVE:
        outbox.text(
            session, team_id=team_id, to=user_id, key_name="reviews.done_dissolving", lang=lang, name=name
        )
    else:
        next_on = community.next_review_on
        day = format_day(next_on, lang) if next_on else "—"
        outbox.text(
            session, team_id=team_id, to=user_id, key_name="reviews.done", lang=lang, name=name, day=day
        )


def register(app: App) -> None:
    registry.action(app, views.START_ACTION, start_review_action)
    registry.action(app, views.SNOOZE_ACTION, snooze_action)
    registry.action(app, views.GREETED_ACTION, greeted_action)
    registry.view(app, views.CHECKLIST_CALLBACK, checklist_submission)
