"""Block Kit for checklist reviews and momentum alerts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from types import SimpleNamespace
from typing import Any

from bot.domain import checklist
from bot.domain.momentum import Alert, AlertKind, Message
from bot.i18n import format_day, format_number, t
from bot.views import buttons
from bot.views import charts as chart_views
from bot.views import follow_ups as follow_up_views
from bot.views import key_people as key_people_views
from bot.views import onramp as onramp_views
from bot.views import review_together as together_views
from bot.views import stages as stage_views
from bot.views.common import Block, context_block, modal_title, plain, section
from bot.views.messages import Rendered, renderer

START_ACTION = "review_start"
SNOOZE_ACTION = "review_snooze"
GREETED_ACTION = "alert_greeted"
CHECKLIST_CALLBACK = "review_checklist"

View = dict[str, Any]


def prompt_message(
    lang: str, summary: Any, review_id: int, *, level: int = 0, chart: dict[str, Any] | None = None
) -> tuple[str, list[Block]]:
    """The review DM; `summary` is services.reviews.ReviewSummary. Level 1 and 2 are the reminders.
    `chart`: the community's chart (bot.views.charts), drawn and uploaded by the outbox worker."""
    title = t("reviews.prompt.title", lang, name=summary.name)
    if level == 1:
        title = t("reviews.prompt.reminder", lang, name=summary.name) + "\n" + title
    elif level == 2:
        title = t("reviews.prompt.escalated", lang, name=summary.name) + "\n" + title
    counts = summary.counts
    circles = t(
        "reviews.prompt.circles", lang, core=counts["core"], inner=counts["inner"], outer=counts["outer"]
    )
    if summary.previous_counts is not None:
        core, inner, outer = summary.previous_counts
        circles += " " + t("reviews.prompt.circles_before", lang, core=core, inner=inner, outer=outer)
    # No review before: the new members are counted since the community started.
    new_members = (
        "reviews.prompt.new_members_first"
        if summary.previous_counts is None
        else "reviews.prompt.new_members"
    )
    if summary.usual_week is None:  # a new or never active community has no usual week yet
        activity = t("reviews.prompt.activity_no_history", lang, this_week=summary.this_week)
    else:
        activity = t(
            "reviews.prompt.activity",
            lang,
            this_week=summary.this_week,
            usual=format_number(summary.usual_week, lang),
            weeks=summary.weeks_compared,
        )
    facts = [
        circles,
        t(new_members, lang, count=summary.new_members),
        t("reviews.prompt.lurking", lang, count=summary.lurking),
        activity,
    ]
    stage = stage_views.prompt_line(  # issue 11 item 9 (a prompt written before it has no path)
        tuple(getattr(summary, "objectives", None) or ()), getattr(summary, "stage", None), lang
    )
    if stage is not None:
        facts.append(stage)
    missing = tuple(getattr(summary, "key_people_missing", None) or ())  # issue 11 item 7
    if missing:
        facts.append(key_people_views.missing_text(lang, missing))
    blocks: list[Block] = [
        section(title),
        section("\n".join(facts)),
        *chart_views.image_blocks(chart, lang),
        *first_post_blocks(lang, getattr(summary, "first_posts", None) or ()),
        *onramp_views.blocks(lang, getattr(summary, "onramp", None), getattr(summary, "onramp_before", None)),
        *follow_up_views.prompt_blocks(lang, tuple(getattr(summary, "follow_ups", None) or ())),
        {
            "type": "actions",
            "block_id": "review",
            "elements": [
                {
                    "type": "button",
                    "action_id": START_ACTION,
                    "style": "primary",
                    "value": str(review_id),
                    "text": plain(t("reviews.prompt.start", lang)),
                },
                {
                    "type": "button",
                    "action_id": SNOOZE_ACTION,
                    "value": str(review_id),
                    "text": plain(t("reviews.prompt.snooze", lang)),
                },
                together_views.pulse_button(lang, review_id),  # issue 11, item 4: the inner circle's pulse
            ],
        },
    ]
    community_id: int = summary.community_id if hasattr(summary, "community_id") else 0
    if missing and community_id:  # the moderators' "Invite them again"
        blocks.append(key_people_views.reinvite_button(lang, community_id))
    return title, blocks


def first_post_blocks(lang: str, lines: Any, *, title_key: str = "first_posts.prompt.title") -> list[Block]:
    """Newcomers' first posts since the last review (issue 10): who, when, and whether anyone replied.
    `lines` are services.first_posts.FirstPostLine, or their JSON form from the outbox."""
    said = []
    for line in lines:
        item = line if isinstance(line, dict) else vars(line)
        user, hours, minutes = str(item["user_id"]), int(item["hours_ago"]), item.get("reply_minutes")
        if minutes is None:
            said.append(t("first_posts.prompt.waiting", lang, user=user, hours=hours))
        elif int(minutes) < 120:
            key = "first_posts.prompt.replied_minutes"
            said.append(t(key, lang, user=user, hours=hours, minutes=int(minutes)))
        else:
            key = "first_posts.prompt.replied_hours"
            said.append(t(key, lang, user=user, hours=hours, reply_hours=int(minutes) // 60))
    if not said:
        return []
    return [section("\n".join([t(title_key, lang), *said])[:3000])]


def _options(keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"text": plain(text), "value": value} for value, text in keys]


def checklist_modal(
    lang: str, *, name: str, review_id: int, together: Any = None, next_stage: str | None = None
) -> View:
    """One yes / partly / no question per checklist item, each with an optional note, then the decision.
    `together` (services.review_together.ModalState): the last review's answers, this moderator's saved
    ones (pre-filled), the co-moderators' so far, the pulse, and whether to decide or save for the others.
    Built from one small function per part, so that a new part is one more line here."""
    blocks: list[Block] = [section(t("checklist.intro", lang, community=name))]
    blocks += together_views.header_blocks(lang, together)
    for item in checklist.ITEMS:
        blocks += item_blocks(lang, item, together)
    blocks.append(decision_block(lang, together))
    blocks += stage_views.question_blocks(lang, next_stage)  # issue 11 item 9: move on to the next stage?
    blocks += together_views.mode_blocks(lang)
    return {
        "type": "modal",
        "callback_id": CHECKLIST_CALLBACK,
        "private_metadata": json.dumps({"review_id": review_id}),
        "title": modal_title(t("reviews.title", lang)),
        "submit": plain(t("common.save", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": blocks,
    }


def _answer_options(lang: str) -> list[dict[str, Any]]:
    return _options([(a.value, t(a.label_key, lang)) for a in checklist.Answer])


def _initial(options: list[dict[str, Any]], value: str | None) -> dict[str, Any]:
    """`initial_option` when a value was saved (it must be one of the options, as Slack requires)."""
    chosen = next((o for o in options if o["value"] == value), None)
    return {"initial_option": chosen} if chosen is not None else {}


def item_blocks(lang: str, item: str, together: Any = None) -> list[Block]:
    """An item's question, its note, and what the moderators said of it (last time, so far)."""
    mine = together_views.my_answer(together, item)
    options = _answer_options(lang)
    note: dict[str, Any] = {"initial_value": mine.note} if mine is not None and mine.note else {}
    return [
        {
            "type": "input",
            "block_id": f"item_{item}",
            "label": plain(t(checklist.item_key(item), lang)),
            "element": {
                "type": "radio_buttons",
                "action_id": f"item_{item}",
                "options": options,
                **_initial(options, mine.answer.value if mine is not None else None),
            },
        },
        {
            "type": "input",
            "block_id": f"note_{item}",
            "optional": True,
            "label": plain(t("checklist.note_label", lang)),
            "hint": plain(t("checklist.note_hint", lang, max=checklist.NOTE_MAX)),
            "element": {
                "type": "plain_text_input",
                "action_id": f"note_{item}",
                "max_length": checklist.NOTE_MAX,
                **note,
            },
        },
        *together_views.item_context_blocks(lang, item, together),
    ]


def decision_block(lang: str, together: Any = None) -> Block:
    decisions = _options([(d.value, t(d.label_key, lang)) for d in checklist.Decision])
    mine = getattr(together, "mine", None)
    proposed = mine.decision.value if mine is not None and mine.decision is not None else None
    return {
        "type": "input",
        "block_id": checklist.DECISION_FIELD,
        "label": plain(t("checklist.decision_label", lang)),
        "element": {
            "type": "radio_buttons",
            "action_id": checklist.DECISION_FIELD,
            "options": decisions,
            **_initial(decisions, proposed),
        },
    }


def snoozed_text(lang: str, name: str, until: Any) -> str:
    return t("reviews.snoozed", lang, name=name, day=format_day(until, lang))


def alert_message(
    lang: str, *, name: str, alert: Alert, community_id: int, newcomers: list[str] | None = None
) -> tuple[str, list[Block]]:
    """Why, with the figures, and one suggested action. "Newcomers waiting" names them (`newcomers`,
    the first few) with three buttons: post a welcome, introduce them, mark them as greeted."""
    title = t("alerts.intro", lang, title=t("momentum.title", lang), name=name)
    reason = t(alert.reason.key, lang, **alert.reason.params)
    suggestion = t(alert.suggestion.key, lang, **alert.suggestion.params)
    blocks: list[Block] = [section(title), section(reason), context_block("👉 " + suggestion)]
    if alert.kind == AlertKind.NEWCOMERS_WAITING and newcomers:
        total = int(alert.figures.get("count") or len(newcomers))
        blocks += buttons.lurker_blocks(
            lang, community_id=community_id, newcomers=newcomers, total=total, greeted_action=GREETED_ACTION
        )
    elif alert.kind == AlertKind.NEWCOMERS_WAITING:  # an alert written before it named them
        blocks.append(
            {
                "type": "actions",
                "block_id": "alert",
                "elements": [
                    {
                        "type": "button",
                        "action_id": GREETED_ACTION,
                        "value": str(community_id),
                        "text": plain(t("alerts.greet", lang)),
                    },
                ],
            }
        )
    return f"{title}\n{reason}", blocks


# ---- outbox renderers (bot.views.messages): JSON arguments back into what the views above take -----
@renderer("reviews.prompt")
def render_prompt(
    lang: str, *, summary: dict[str, Any], review_id: int, level: int, chart: dict[str, Any] | None = None
) -> Rendered:
    previous = summary.get("previous_counts")
    next_on = summary.get("next_review_on")
    restored = SimpleNamespace(
        **{
            **summary,
            "counts": Counter(summary.get("counts") or {}),
            "previous_counts": tuple(previous) if previous is not None else None,
            "next_review_on": date.fromisoformat(next_on) if next_on else None,
        }
    )
    return prompt_message(lang, restored, review_id, level=level, chart=chart)


@renderer("reviews.alert")
def render_alert(
    lang: str, *, name: str, community_id: int, alert: dict[str, Any], newcomers: list[str] | None = None
) -> Rendered:
    restored = Alert(
        kind=AlertKind(alert["kind"]),
        reason=Message.from_dict(alert["reason"]),
        suggestion=Message.from_dict(alert["suggestion"]),
        figures=dict(alert.get("figures") or {}),
    )
    return alert_message(lang, name=name, alert=restored, community_id=community_id, newcomers=newcomers)


@renderer("reviews.prompt_settled")
def render_prompt_settled(
    lang: str, *, name: str, moderator: str, snoozed_until: str | None = None, decision: str | None = None
) -> Rendered:
    """A review prompt once a moderator snoozed or completed the review: no buttons, who did what."""
    if snoozed_until is not None:
        day = format_day(date.fromisoformat(snoozed_until), lang)
        return t("reviews.snoozed_by", lang, moderator=f"<@{moderator}>", name=name, day=day), None
    label = t(checklist.Decision(decision).label_key, lang) if decision else ""
    return t("reviews.completed_by", lang, moderator=f"<@{moderator}>", name=name, decision=label), None
