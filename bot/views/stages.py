"""The path of a community's typical objectives as people read it (issue 11, item 9): the path with
where it stands (`/cdp info`), its stage in short (the directory), one line in the review prompt, the
review's question, the settings' select, and the "moves on" messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain import stages
from bot.domain.stages import StepState
from bot.i18n import t
from bot.views.common import Block, plain
from bot.views.messages import Rendered, renderer

QUESTION = "stage_next"  # the checklist modal's block and action: value = the next stage, or STAY
STAY = "stay"
SETTING = "stage"  # the settings form's block and action: the stage, set by hand

# Literal keys (not built from the stage), so that the catalogue check sees each one used.
NAMES = {
    "exchange_information": "stages.name.exchange_information",
    "develop_solutions": "stages.name.develop_solutions",
    "test_applications": "stages.name.test_applications",
    "change_process": "stages.name.change_process",
}


def stage_name(stage: str, lang: str) -> str:
    """A stage's short name ("develop solutions"); the key itself for one this version does not know."""
    return t(NAMES[stage], lang) if stage in NAMES else stage


def path_text(objectives: Sequence[str], stage: str | None, lang: str) -> str:
    """ "✅ exchange → *develop solutions* (now) → test"; empty with no path."""
    shown = []
    for step in stages.steps(objectives, stage):
        if step.state == StepState.PASSED:
            shown.append(t("stages.path.passed", lang, stage=stage_name(step.key, lang)))
        elif step.state == StepState.CURRENT:
            shown.append(t("stages.path.current", lang, stage=stage_name(step.key, lang)))
        else:
            shown.append(stage_name(step.key, lang))
    return " → ".join(shown)


def info_line(objectives: Sequence[str], stage: str | None, lang: str) -> str | None:
    """`/cdp info`: "Path: ✅ exchange → *develop solutions* (now) → test"; None with no path."""
    text = path_text(objectives, stage, lang)
    return t("stages.info", lang, path=text) if text else None


def short(objectives: Sequence[str], stage: str | None, lang: str) -> str | None:
    """The directory: "🧭 develop solutions (2/3)"; None with no path."""
    place = stages.position(objectives, stage)
    now = stages.current(objectives, stage)
    if place is None or now is None:
        return None
    return t("stages.short", lang, stage=stage_name(now, lang), place=place[0], length=place[1])


def prompt_line(objectives: Sequence[str], stage: str | None, lang: str) -> str | None:
    """The review prompt: where it stands, and what the review will ask; None with no path."""
    now = stages.current(objectives, stage)
    if now is None:
        return None
    following = stages.next_stage(objectives, now)
    if following is None:
        return t("stages.prompt_last", lang, stage=stage_name(now, lang))
    return t("stages.prompt", lang, stage=stage_name(now, lang), next=stage_name(following, lang))


def question_blocks(lang: str, next_stage: str | None) -> list[Block]:
    """The checklist's one optional question when there is a next stage; nothing at the end of the path."""
    if next_stage is None:
        return []
    options = [
        {"text": plain(t("stages.question.yes", lang)), "value": next_stage},
        {"text": plain(t("stages.question.not_yet", lang)), "value": STAY},
    ]
    return [
        {
            "type": "input",
            "block_id": QUESTION,
            "optional": True,
            "label": plain(t("stages.question.label", lang, stage=stage_name(next_stage, lang))[:2000]),
            "hint": plain(t("stages.question.hint", lang)),
            "element": {"type": "radio_buttons", "action_id": QUESTION, "options": options},
        }
    ]


def answer(chosen: str | None) -> str | None:
    """The stage a checklist's answer moves to (the option's value); None for "not yet" or no answer."""
    return chosen if chosen in NAMES else None


def setting_blocks(lang: str, objectives: Sequence[str], stage: str | None) -> list[Block]:
    """The settings form's select of the chosen stages (none when the path is empty)."""
    path = stages.path(objectives)
    if not path:
        return []
    options = [{"text": plain(stage_name(key, lang)[:75]), "value": key} for key in path]
    element: dict[str, Any] = {"type": "static_select", "action_id": SETTING, "options": options}
    now = stages.current(objectives, stage)
    if now is not None:
        element["initial_option"] = options[path.index(now)]
    return [
        {
            "type": "input",
            "block_id": SETTING,
            "optional": True,
            "label": plain(t("stages.setting.label", lang)),
            "hint": plain(t("stages.setting.hint", lang)),
            "element": element,
        }
    ]


# ---- outbox renderers (bot.views.messages) ---------------------------------------------------------
@renderer("stages.moved_channel")
def render_moved_channel(lang: str, *, name: str, stage: str) -> Rendered:
    """The review's outcome in the community's channels: "Urbanism moves on to: test"."""
    return t("stages.moved_channel", lang, name=name, stage=stage_name(stage, lang)), None


@renderer("stages.moved_done")
def render_moved_done(lang: str, *, name: str, stage: str, objectives: list[str]) -> Rendered:
    """The moderator's word after the review: the new stage, and the path from it."""
    text = t(
        "stages.moved_done",
        lang,
        name=name,
        stage=stage_name(stage, lang),
        path=path_text(objectives, stage, lang),
    )
    return text, None
