"""Pairing's Block Kit: the intro in the group DM, its check-back, the pairing switch, the answers."""

from __future__ import annotations

from typing import Any

from bot.domain.pairing import AFTER_DAYS_DEFAULT, AFTER_DAYS_MAX, AFTER_DAYS_MIN, Outcome
from bot.i18n import format_list, t
from bot.views.common import Block, context_block, ephemeral, plain, section
from bot.views.messages import Rendered, renderer

INTRO_ME_ACTION = "onramp_intro_me"  # value: the community id (rendered in the welcome, by C1)
INTRODUCE_ACTION = "lurkers_introduce"  # value: {"c": community id, "u": [users]} (the lurker alert)
TOGGLE_ACTION = "pairing_toggle"  # value: "on" | "off"
OUTCOME_ACTIONS: dict[str, Outcome] = {
    "pairing_outcome_yes": Outcome.YES,
    "pairing_outcome_notyet": Outcome.NOT_YET,
    "pairing_outcome_no": Outcome.NO,
}


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def people(user_ids: list[str], lang: str) -> str:
    return format_list([mention(u) for u in user_ids], lang)


def toggle_button(lang: str, *, on: bool) -> dict[str, Any]:
    """The switch: offers the other state."""
    return {
        "type": "button",
        "action_id": TOGGLE_ACTION,
        "value": "off" if on else "on",
        "text": plain(t("pairing.toggle.button_off" if on else "pairing.toggle.button_on", lang)),
    }


def status_message(lang: str, *, on: bool) -> dict[str, Any]:
    """`/cdp pairing`: where the switch is, and the button to flip it."""
    text = t("pairing.toggle.status_on" if on else "pairing.toggle.status_off", lang)
    return ephemeral(text, [section(text), {"type": "actions", "elements": [toggle_button(lang, on=on)]}])


OUTCOME_LABELS = {
    Outcome.YES.value: "pairing.check_back.yes",
    Outcome.NOT_YET.value: "pairing.check_back.not_yet",
    Outcome.NO.value: "pairing.check_back.no",
}
OUTCOME_THANKS = {
    Outcome.YES.value: "pairing.outcome.yes",
    Outcome.NOT_YET.value: "pairing.outcome.not_yet",
    Outcome.NO.value: "pairing.outcome.no",
}
INTRODUCED_KEYS = {
    "scheduled": "pairing.introduce.scheduled",
    "waiting": "pairing.introduce.waiting",
    "skipped": "pairing.introduce.skipped",
}


def outcome_label(outcome: str, lang: str) -> str:
    return t(OUTCOME_LABELS[outcome], lang)


@renderer("pairing.intro")
def render_intro(
    lang: str,
    *,
    intro_id: int,
    newcomer: str,
    partner: str,
    name: str,
    domain: str,
    ice_breaker: str,
    objective: str | None = None,
) -> Rendered:
    text = t("pairing.intro.text", lang, newcomer=mention(newcomer), partner=mention(partner), name=name)
    label = t(f"communities.objective.{objective}", lang) if objective else ""
    question = t(ice_breaker, lang, domain=domain, objective=label)
    blocks: list[Block] = [
        section(text),
        section(t("pairing.intro.ice_breaker", lang, question=question)),
        context_block(t("pairing.intro.footer", lang)),
        {
            "type": "actions",
            "block_id": f"pairing_intro_{intro_id}",
            "elements": [{**toggle_button(lang, on=True), "text": plain(t("pairing.intro.stop", lang))}],
        },
    ]
    return text, blocks


@renderer("pairing.check_back")
def render_check_back(lang: str, *, intro_id: int, newcomer: str, partner: str, name: str) -> Rendered:
    text = t("pairing.check_back.text", lang, newcomer=mention(newcomer), partner=mention(partner), name=name)
    buttons = [
        {
            "type": "button",
            "action_id": action_id,
            "value": str(intro_id),
            "text": plain(outcome_label(outcome.value, lang)),
        }
        for action_id, outcome in OUTCOME_ACTIONS.items()
    ]
    actions = {"type": "actions", "block_id": f"pairing_check_{intro_id}", "elements": buttons}
    return text, [section(text), actions]


# ---- the settings modal's pairing blocks (handlers/pairing_form.py reads them) -----------------------
ENABLED_BLOCK = "pairing_enabled"
AFTER_DAYS_BLOCK = "pairing_after_days"


def settings_blocks(lang: str, values: dict[str, Any]) -> list[Block]:
    """The community's pairing switch and "after N days of reading", filled with `values`."""
    option = {"text": plain(t("pairing.settings.enabled", lang)), "value": "on"}
    switch: dict[str, Any] = {"type": "checkboxes", "options": [option], "action_id": ENABLED_BLOCK}
    if values.get(ENABLED_BLOCK, True):
        switch["initial_options"] = [option]
    days = {
        "type": "number_input",
        "is_decimal_allowed": False,
        "initial_value": str(values.get(AFTER_DAYS_BLOCK, AFTER_DAYS_DEFAULT)),
        "min_value": str(AFTER_DAYS_MIN),
        "max_value": str(AFTER_DAYS_MAX),
        "action_id": AFTER_DAYS_BLOCK,
    }
    return [
        {
            "type": "input",
            "block_id": ENABLED_BLOCK,
            "label": plain(t("pairing.settings.label", lang)),
            "element": switch,
            "optional": True,
        },
        {
            "type": "input",
            "block_id": AFTER_DAYS_BLOCK,
            "label": plain(t("pairing.settings.after_days", lang)),
            "element": days,
            "optional": False,
            "hint": plain(t("pairing.settings.after_days_hint", lang)),
        },
    ]
