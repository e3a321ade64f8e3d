"""Block Kit of the welcome, once (issue 10, item 1): the welcome itself, its settings in the settings
modal, and the answer to "Not now"."""

from __future__ import annotations

from typing import Any

from bot.domain.communities import OBJECTIVES
from bot.i18n import LANGUAGES, format_list, t
from bot.views.common import Block, context_block, plain, section

INTRO_ACTION = "onramp_intro_me"  # "Introduce me to someone": handled by the pairing (helper D)
NOT_NOW_ACTION = "onramp_not_now"  # "Not now": handlers/welcome.py
OPTIONS_BLOCK = "welcome_options"  # the settings modal's switch (a checkbox)
ENABLED_OPTION = "welcome_enabled"
TEXT_BLOCK = "welcome_text"  # the settings modal's text
SECTION_MAX = 3000  # Block Kit: a section's text


def default_text(lang: str) -> str:
    """The card's sentence, the welcome's words until the moderators write their own."""
    return t("welcome.default_text", lang)


def is_default_text(text: str) -> bool:
    """The default in any language: stored as "no text of their own", so it follows the community's
    language when that changes."""
    return text.strip() in {default_text(lang).strip() for lang in LANGUAGES}


def _people(user_ids: tuple[str, ...] | list[str], lang: str) -> str:
    return format_list([f"<@{u}>" for u in user_ids], lang)


def welcome_message(lang: str, said: Any) -> tuple[str, list[Block]]:
    """`said` is a services.welcome.Content. Whatever the moderators wrote, the app frames it with the
    facts (who moderates, the domain, the channels, the circles) and the two buttons."""
    title = t("welcome.title", lang, name=said.name)
    lines = [f"*{title}*", (said.text or default_text(lang))]
    facts = [t("welcome.domain", lang, domain=said.domain or "—")]
    objectives = [t(f"communities.objective.{key}", lang) for key in said.objectives if key in OBJECTIVES]
    if said.objectives_other:
        objectives.append(said.objectives_other)
    if objectives:
        facts.append(t("welcome.objectives", lang) + "\n" + "\n".join(f"• {o}" for o in objectives))
    if said.moderators:
        facts.append(t("welcome.moderators", lang, moderators=_people(said.moderators, lang)))
    if said.channels:
        mentions = " ".join(f"<#{c}>" for c in said.channels)
        facts.append(t("welcome.channels", lang, count=len(said.channels), channels=mentions))
    circles = t(
        "welcome.circles",
        lang,
        min_contributions=said.min_contributions,
        min_days=said.min_days,
        window=said.window_days,
    )
    blocks: list[Block] = [
        section("\n".join(lines)[:SECTION_MAX]),
        section("\n".join(facts)[:SECTION_MAX]),
        section(circles),
        {
            "type": "actions",
            "block_id": "welcome_buttons",
            "elements": [
                _button(t("welcome.intro_button", lang), INTRO_ACTION, said.community_id, primary=True),
                _button(t("welcome.not_now_button", lang), NOT_NOW_ACTION, said.community_id),
            ],
        },
        context_block(t("communities.welcome.privacy", lang)),
    ]
    return title, blocks


def _button(text: str, action_id: str, community_id: int, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "value": str(community_id),
        "text": plain(text),
    }
    if primary:
        button["style"] = "primary"
    return button


def settings_blocks(lang: str, *, enabled: bool, text: str | None, community_lang: str) -> list[Block]:
    """The welcome's two fields of the settings modal, together: the switch and the text (prefilled with
    the default from the card, in the community's language, when the moderators wrote none)."""
    option = {"text": plain(t("welcome.settings.enabled", lang)), "value": ENABLED_OPTION}
    switch: dict[str, Any] = {"type": "checkboxes", "options": [option], "action_id": OPTIONS_BLOCK}
    if enabled:
        switch["initial_options"] = [option]
    text_element: dict[str, Any] = {
        "type": "plain_text_input",
        "multiline": True,
        "action_id": TEXT_BLOCK,
        # No max_length here: a longer text gets our field error (welcome.errors.text_too_long).
        "initial_value": text or default_text(community_lang),
    }
    return [
        section(t("welcome.settings.intro", lang)),
        {
            "type": "input",
            "block_id": OPTIONS_BLOCK,
            "label": plain(t("welcome.settings.switch_label", lang)),
            "element": switch,
            "optional": True,
        },
        {
            "type": "input",
            "block_id": TEXT_BLOCK,
            "label": plain(t("welcome.settings.text_label", lang)),
            "element": text_element,
            "optional": True,
            "hint": plain(t("welcome.settings.text_hint", lang)),
        },
    ]


NOT_NOW_ANSWERS = {  # services.welcome.NotNow -> the words that replace the welcome
    "fine": "welcome.not_now.fine",
    "dissolved": "welcome.not_now.dissolved",
    "unknown": "welcome.not_now.unknown",
}


def not_now_answer(lang: str, outcome: str, name: str) -> str:
    """The words that replace the welcome once "Not now" is pressed."""
    return t(NOT_NOW_ANSWERS[outcome], lang, name=name)
