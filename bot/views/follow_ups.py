"""Block Kit for follow-ups (issue 11, item 5): the offer after a review, the modal, the owner's DM, the
lines on App Home and in the review prompt, the sponsor's field, offer and summary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.domain import checklist
from bot.domain import follow_ups as rules
from bot.i18n import format_day, t
from bot.views.buttons import button
from bot.views.common import Block, context_block, modal_title, plain, section
from bot.views.messages import Rendered, renderer
from bot.views.pairing import mention

MAKE_ACTION = "follow_up_make"  # value: "<review id>:<item>" (bot.domain.follow_ups.button_value)
DONE_ACTION = "follow_up_done"  # value: the follow-up id
SPONSOR_ACTION = "follow_up_sponsor"  # value: the review id
CREATE_CALLBACK = "follow_up_create"
SPONSOR_FIELD = "sponsor"  # the create and settings forms' block and action id
SECTION_MAX = 3000  # characters of a section's text
LINES_SHOWN = 10  # follow-ups listed in a prompt or a moderator's Home section; "and N more" after

View = dict[str, Any]


def _day(value: date | str, lang: str) -> str:
    return format_day(value if isinstance(value, date) else date.fromisoformat(value), lang)


def _fields(line: Any) -> Mapping[str, Any]:
    """A FollowUpLine, or its JSON form in an outbox message (the review prompt)."""
    return line if isinstance(line, Mapping) else vars(line)


# ---- after the review: the offer ---------------------------------------------------------------
def offer_message(
    lang: str,
    *,
    name: str,
    review_id: int,
    items: Sequence[Mapping[str, str]],
    sponsor_offer: bool,
    sponsor: str | None,
) -> Rendered:
    title = t("follow_ups.offer.title", lang, name=name)
    text = title
    blocks: list[Block] = []
    if items:
        blocks.append(section(title))
    for entry in items:
        item, answer = entry["item"], entry["answer"]
        label = t(checklist.Answer(answer).label_key, lang)
        blocks.append(section(f"• {t(checklist.item_key(item), lang)} *{label}*"[:SECTION_MAX]))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"follow_up:{item}",
                "elements": [
                    button(MAKE_ACTION, t("follow_ups.offer.make", lang), rules.button_value(review_id, item))
                ],
            }
        )
    if sponsor_offer and sponsor:
        text = t("follow_ups.sponsor.offer", lang, name=name, sponsor=mention(sponsor))
        blocks.append(section(text))
        blocks.append(
            {
                "type": "actions",
                "block_id": "sponsor",
                "elements": [button(SPONSOR_ACTION, t("follow_ups.sponsor.send", lang), str(review_id))],
            }
        )
    elif sponsor_offer:
        text = t("follow_ups.sponsor.how", lang, name=name)
        blocks.append(context_block(text))
    return (title if items else text), blocks or [section(title)]


@renderer("follow_ups.offer")
def render_offer(
    lang: str,
    *,
    name: str,
    review_id: int,
    items: list[dict[str, str]],
    sponsor_offer: bool,
    sponsor: str | None = None,
) -> Rendered:
    return offer_message(
        lang, name=name, review_id=review_id, items=items, sponsor_offer=sponsor_offer, sponsor=sponsor
    )


# ---- the modal ---------------------------------------------------------------------------------
def create_modal(lang: str, form: Any) -> View:
    """`form` is services.follow_ups.FormData."""
    text: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": rules.TEXT_FIELD,
        "multiline": True,
        "max_length": rules.TEXT_MAX,
    }
    if form.text:
        text["initial_value"] = form.text
    return {
        "type": "modal",
        "callback_id": CREATE_CALLBACK,
        "private_metadata": json.dumps({"review_id": form.review_id, "item": form.item}),
        "title": modal_title(t("follow_ups.form.title", lang)),
        "submit": plain(t("common.save", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": [
            section(
                t("follow_ups.form.intro", lang, name=form.name, item=t(checklist.item_key(form.item), lang))
            ),
            {
                "type": "input",
                "block_id": rules.TEXT_FIELD,
                "label": plain(t("follow_ups.form.text", lang)),
                "hint": plain(t("follow_ups.form.text_hint", lang, max=rules.TEXT_MAX)),
                "element": text,
            },
            {
                "type": "input",
                "block_id": rules.OWNER_FIELD,
                "label": plain(t("follow_ups.form.owner", lang)),
                "element": {
                    "type": "users_select",
                    "action_id": rules.OWNER_FIELD,
                    "initial_user": form.owner_id,
                },
            },
            {
                "type": "input",
                "block_id": rules.DUE_FIELD,
                "label": plain(t("follow_ups.form.due_on", lang)),
                "element": {
                    "type": "datepicker",
                    "action_id": rules.DUE_FIELD,
                    "initial_date": form.due_on.isoformat(),
                },
            },
        ],
    }


# ---- the owner's DM ------------------------------------------------------------------------------
def done_button(lang: str, follow_up_id: int) -> Block:
    return button(DONE_ACTION, t("follow_ups.done_button", lang), str(follow_up_id), style="primary")


@renderer("follow_ups.owned")
def render_owned(
    lang: str, *, name: str, text: str, due_on: str, follow_up_id: int, moderator: str
) -> Rendered:
    said = t(
        "follow_ups.owned", lang, name=name, text=text, day=_day(due_on, lang), moderator=mention(moderator)
    )
    blocks: list[Block] = [
        section(said[:SECTION_MAX]),
        {
            "type": "actions",
            "block_id": f"follow_up:{follow_up_id}",
            "elements": [done_button(lang, follow_up_id)],
        },
    ]
    return said, blocks


# ---- lists: App Home and the review prompt ------------------------------------------------------
def line_text(line: Any, lang: str, *, with_community: bool = False, with_owner: bool = True) -> str:
    fields = _fields(line)
    key = "follow_ups.line.overdue" if fields["overdue"] else "follow_ups.line.due"
    said = t(key, lang, text=fields["text"], day=_day(fields["due_on"], lang))
    if with_owner:
        said += " " + t("follow_ups.line.owner", lang, owner=mention(str(fields["owner_id"])))
    if with_community:
        said = t("follow_ups.line.community", lang, name=fields["community_name"]) + " " + said
    return said


def list_text(lines: Sequence[Any], lang: str, *, title_key: str) -> str:
    """A title and the first LINES_SHOWN follow-ups, one bullet each (owner, date, overdue marked)."""
    said = [t(title_key, lang)] + [f"• {line_text(line, lang)}" for line in lines[:LINES_SHOWN]]
    if len(lines) > LINES_SHOWN:
        said.append(t("follow_ups.line.more", lang, count=len(lines) - LINES_SHOWN))
    return "\n".join(said)[:SECTION_MAX]


def prompt_blocks(lang: str, lines: Sequence[Any]) -> list[Block]:
    """The open follow-ups in the next review's prompt: what was promised since, and what is late."""
    if not lines:
        return []
    return [section(list_text(lines, lang, title_key="follow_ups.prompt.title"))]


def moderated_lines(lang: str, lines: Sequence[Any]) -> list[str]:
    """The lines a moderated community's section of App Home adds."""
    if not lines:
        return []
    return [list_text(lines, lang, title_key="follow_ups.home.community_title")]


def mine_blocks(lang: str, line: Any) -> list[Block]:
    """One follow-up the reader owns, on their App Home, with its Done button."""
    fields = _fields(line)
    return [
        section(line_text(line, lang, with_community=True, with_owner=False)[:SECTION_MAX]),
        {
            "type": "actions",
            "block_id": f"follow_up:{fields['follow_up_id']}",
            "elements": [done_button(lang, int(fields["follow_up_id"]))],
        },
    ]


# ---- the sponsor -----------------------------------------------------------------------------------
def sponsor_input(lang: str, sponsor: str | None) -> Block:
    """The create and settings forms' optional sponsor."""
    element: dict[str, Any] = {
        "type": "users_select",
        "action_id": SPONSOR_FIELD,
        "placeholder": plain(t("follow_ups.sponsor.placeholder", lang)),
    }
    if sponsor:
        element["initial_user"] = sponsor
    return {
        "type": "input",
        "block_id": SPONSOR_FIELD,
        "label": plain(t("follow_ups.sponsor.label", lang)),
        "hint": plain(t("follow_ups.sponsor.hint", lang)),
        "element": element,
        "optional": True,
    }


def sponsor_info(lang: str, sponsor: str | None) -> list[Block]:
    """/cdp info's line about the sponsor (nothing when none is named)."""
    return [section(t("follow_ups.sponsor.info", lang, sponsor=mention(sponsor)))] if sponsor else []


@renderer("follow_ups.sponsor_summary")
def render_sponsor_summary(
    lang: str,
    *,
    name: str,
    decision: str,
    answers: list[dict[str, str]],
    next_review_on: str | None,
    moderator: str,
) -> Rendered:
    title = t("follow_ups.sponsor.summary_title", lang, name=name, moderator=mention(moderator))
    label = (
        t(checklist.Decision(decision).label_key, lang)
        if decision in {d.value for d in checklist.Decision}
        else "—"
    )
    lines = []
    for entry in answers:
        if entry.get("item") not in checklist.ITEMS or entry.get("answer") not in {
            a.value for a in checklist.Answer
        }:
            continue
        answer = t(checklist.Answer(entry["answer"]).label_key, lang)
        line = f"• {t(checklist.item_key(entry['item']), lang)} *{answer}*"
        if entry.get("note"):
            line += f"\n    _{entry['note']}_"
        lines.append(line)
    day = _day(next_review_on, lang) if next_review_on else "—"
    blocks: list[Block] = [
        section(title),
        section(t("follow_ups.sponsor.summary_decision", lang, decision=label, day=day)),
    ]
    # Eight items with notes of 500 characters: cut into sections that each stay under the limit.
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_MAX:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line[:SECTION_MAX])
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return title, blocks
