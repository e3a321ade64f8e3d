"""Block Kit of a review done together (issue 11, items 4 and 6): the checklist modal's extra parts
(last time, so far, the pulse, decide or save), the moderators' outcome with their agreement per item,
the channel's story, the inner circle's pulse question; and their outbox renderers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.domain import cadence
from bot.domain.checklist import Answer, Decision, ItemAnswer
from bot.i18n import format_day, format_list, t
from bot.views import charts as chart_views
from bot.views.common import Block, context_block, escape_text, plain, section
from bot.views.messages import Rendered, renderer

PULSE_ASK_ACTION = "review_pulse_ask"
PULSE_VOTE_ACTIONS = {answer.value: f"review_pulse_{answer.value}" for answer in Answer}
MODE_FIELD = "mode"
MODE_DECIDE = "decide"
MODE_SAVE = "save"
NOTE_SHOWN = 300  # characters of a note quoted under an item of the modal (the full note is stored)


def short_label(lang: str, item: str) -> str:
    """An item's few words ("Objectives clear"), for the outcome and the story."""
    return t(f"review_together.item.{item}", lang)


def answer_label(lang: str, answer: str) -> str:
    return t(Answer(answer).label_key, lang)


def _mention(user_id: str) -> str:
    return f"<@{user_id}>"


def _quote(note: str, limit: int = NOTE_SHOWN) -> str:
    cut = note if len(note) <= limit else note[: limit - 1] + "…"
    return escape_text(cut)


# ---- the checklist modal's parts -------------------------------------------------------------
def pulse_button(lang: str, review_id: int) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": PULSE_ASK_ACTION,
        "value": str(review_id),
        "text": plain(t("review_together.pulse.ask", lang)),
    }


def my_answer(together: Any, item: str) -> ItemAnswer | None:
    """This moderator's saved answer to `item` (to pre-fill the modal), if any."""
    mine = getattr(together, "mine", None)
    return next((a for a in mine.answers if a.item == item), None) if mine is not None else None


def header_blocks(lang: str, together: Any) -> list[Block]:
    """Who already answered (and what they propose), when the review closes without a decision, and
    the inner circle's pulse so far."""
    if together is None:
        return []
    lines = []
    if together.others:
        people = format_list(
            [
                t(
                    "review_together.proposes",
                    lang,
                    user=_mention(c.user_id),
                    decision=t(c.decision.label_key, lang) if c.decision else "—",
                )
                for c in together.others
            ],
            lang,
        )
        lines.append(t("review_together.others", lang, people=people))
    if together.deadline_day is not None:
        lines.append(t("review_together.deadline", lang, day=format_day(together.deadline_day, lang)))
    if together.pulse is not None:
        lines.append(pulse_text(lang, vars(together.pulse)))
    return [context_block(line[:3000]) for line in lines]


def item_context_blocks(lang: str, item: str, together: Any) -> list[Block]:
    """Under an item: its answer and note at the last completed review, and the co-moderators' answers
    so far (each moderator's own are pre-filled in the fields above)."""
    if together is None:
        return []
    elements = []
    last = together.last.get(item)
    if last is not None:
        answer = answer_label(lang, last.answer.value)
        line = (
            t("review_together.last_time_note", lang, answer=answer, note=_quote(last.note))
            if last.note
            else t("review_together.last_time", lang, answer=answer)
        )
        elements.append({"type": "mrkdwn", "text": line})
    said = []
    for contribution in together.others:
        given = next((a for a in contribution.answers if a.item == item), None)
        if given is not None:
            words = answer_label(lang, given.answer.value)
            if given.note:
                words += f" — “{_quote(given.note, 150)}”"
            said.append(f"{_mention(contribution.user_id)} {words}")
    if said:
        elements.append(
            {"type": "mrkdwn", "text": t("review_together.so_far", lang, answers="; ".join(said))[:3000]}
        )
    return [{"type": "context", "elements": elements}] if elements else []


def mode_blocks(lang: str) -> list[Block]:
    """Decide for the community now, or save my answers for the co-moderators (deciding by default:
    a moderator alone decides as before)."""
    options = [
        {"text": plain(t("review_together.mode_decide", lang)), "value": MODE_DECIDE},
        {"text": plain(t("review_together.mode_save", lang)), "value": MODE_SAVE},
    ]
    return [
        {
            "type": "input",
            "block_id": MODE_FIELD,
            "label": plain(t("review_together.mode_label", lang)),
            "element": {
                "type": "radio_buttons",
                "action_id": MODE_FIELD,
                "options": options,
                "initial_option": options[0],
            },
        }
    ]


# ---- the outcome -----------------------------------------------------------------------------
def pulse_text(lang: str, pulse: dict[str, Any]) -> str:
    yes, partly, no = int(pulse["yes"]), int(pulse["partly"]), int(pulse["no"])
    return t(
        "review_together.pulse.tally",
        lang,
        yes=yes,
        partly=partly,
        no=no,
        answered=yes + partly + no,
        asked=int(pulse["asked"]),
    )


def _counts(lang: str, item: dict[str, Any]) -> str:
    given = [(a, int(item.get(a) or 0)) for a in ("yes", "partly", "no")]
    return ", ".join(t(f"review_together.count.{a}", lang, n=n) for a, n in given if n)


def agreement_line(lang: str, item: dict[str, Any]) -> str:
    """ "Objectives clear: 2 yes" when everyone agreed, "Objectives clear: split: 1 yes, 1 partly"."""
    split = sum(1 for a in ("yes", "partly", "no") if int(item.get(a) or 0)) > 1
    key = "review_together.split" if split else "review_together.agreed"
    return t(key, lang, item=short_label(lang, str(item["item"])), counts=_counts(lang, item))


def _took_part(lang: str, participants: list[str]) -> str:
    return t("review_together.took_part", lang, people=format_list([_mention(u) for u in participants], lang))


def settled_blocks(
    lang: str, *, title: str, outcome: dict[str, Any], pulse: dict[str, Any] | None
) -> list[Block]:
    lines = [t("review_together.agreement_title", lang)] + [agreement_line(lang, i) for i in outcome["items"]]
    footer = [_took_part(lang, list(outcome.get("participants") or []))]
    if pulse is not None:
        footer.append(pulse_text(lang, pulse))
    return [section(title), section("\n".join(lines)[:3000]), context_block(" · ".join(footer)[:3000])]


def story_blocks(
    lang: str,
    *,
    name: str,
    decision: str,
    went_well: list[str],
    adjusted: list[dict[str, Any]],
    participants: list[str],
    next_review_on: str | None,
    pulse: dict[str, Any] | None,
) -> list[Block]:
    """The channel's story of a review (issue 11, item 6): what goes well, what is adjusted (with the
    moderators' notes), the decision, the next review, who took part. A list the chart of the
    community's history can be appended to (one image block, by its caller)."""
    blocks: list[Block] = [section(t("review_together.story.title", lang, name=name))]
    if went_well:
        items = format_list([short_label(lang, i) for i in went_well], lang)
        blocks.append(section(t("review_together.story.went_well", lang, items=items)[:3000]))
    if adjusted:
        lines = [t("review_together.story.adjusted", lang)]
        for entry in adjusted:
            notes = " / ".join(_quote(str(n), 200) for n in entry.get("notes") or [])
            label, answer = short_label(lang, str(entry["item"])), answer_label(lang, str(entry["answer"]))
            key = "review_together.story.adjusted_note" if notes else "review_together.story.adjusted_item"
            lines.append(t(key, lang, item=label, answer=answer, notes=notes))
        blocks.append(section("\n".join(lines)[:3000]))
    said = [t("review_together.story.decision", lang, decision=t(Decision(decision).label_key, lang))]
    if next_review_on and decision != Decision.DISSOLVE:
        said.append(
            t("review_together.story.next", lang, day=format_day(date.fromisoformat(next_review_on), lang))
        )
    blocks.append(section("\n".join(said)))
    footer = [_took_part(lang, participants)] if participants else []
    if pulse is not None:
        footer.append(pulse_text(lang, pulse))
    if footer:
        blocks.append(context_block(" · ".join(footer)[:3000]))
    return blocks


# ---- outbox renderers ------------------------------------------------------------------------
@renderer("review_together.story")
def render_story(lang: str, *, chart: dict[str, Any] | None = None, **story: Any) -> Rendered:
    """The story, then the community's chart (drawn and uploaded by the worker, bot/views/charts.py)."""
    decision = t(Decision(story["decision"]).label_key, lang)
    text = t("review_together.story.text", lang, name=story["name"], decision=decision)
    return text, [*story_blocks(lang, **story), *chart_views.image_blocks(chart, lang)]


@renderer("review_together.settled")
def render_settled(
    lang: str,
    *,
    name: str,
    moderator: str | None,
    outcome: dict[str, Any],
    pulse: dict[str, Any] | None = None,
) -> Rendered:
    """A moderator's prompt once the review is decided (or closed at its deadline): no buttons; the
    decision, how the moderators agreed on each item, who took part, the pulse."""
    decision = t(Decision(outcome["decision"]).label_key, lang)
    if moderator is None:
        title = t("review_together.settled_closed", lang, name=name, decision=decision)
    else:
        title = t("reviews.completed_by", lang, moderator=_mention(moderator), name=name, decision=decision)
    return title, settled_blocks(lang, title=title, outcome=outcome, pulse=pulse)


@renderer("review_together.saved")
def render_saved(
    lang: str, *, name: str, review_id: int, moderator: str, deadline: str | None, timezone: str
) -> Rendered:
    """To the other moderators: one of them answered; add yours or decide (the Start button)."""
    # Imported here: bot.views.reviews imports this module for the checklist modal's parts.
    from bot.views.reviews import START_ACTION

    day = (
        format_day(datetime.fromisoformat(deadline).astimezone(cadence.zone(timezone)).date(), lang)
        if deadline
        else "—"
    )
    text = t("review_together.saved_dm", lang, moderator=_mention(moderator), name=name, day=day)
    button = {
        "type": "button",
        "action_id": START_ACTION,
        "style": "primary",
        "value": str(review_id),
        "text": plain(t("reviews.prompt.start", lang)),
    }
    return text, [section(text), {"type": "actions", "block_id": "review", "elements": [button]}]


@renderer("review_together.closed")
def render_closed(lang: str, *, name: str, decision: str, day: str | None) -> Rendered:
    when = format_day(date.fromisoformat(day), lang) if day else "—"
    label = t(Decision(decision).label_key, lang)
    key = (
        "review_together.closed_dm_dissolve" if decision == Decision.DISSOLVE else "review_together.closed_dm"
    )
    return t(key, lang, name=name, decision=label, day=when), None


@renderer("review_together.pulse")
def render_pulse(lang: str, *, name: str, review_id: int) -> Rendered:
    """The inner circle's question, with one button per answer."""
    text = t("review_together.pulse.question", lang, name=name)
    buttons = [
        {
            "type": "button",
            "action_id": action,
            "value": str(review_id),
            "text": plain(t(Answer(answer).label_key, lang)),
        }
        for answer, action in PULSE_VOTE_ACTIONS.items()
    ]
    return text, [section(text), {"type": "actions", "block_id": "pulse", "elements": buttons}]
