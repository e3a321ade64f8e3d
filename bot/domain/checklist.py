"""The CdP checklist review: the card's preconditions and roles as checklist items, answered by moderators.

Each review answers every checklist item (yes / partly / no, with an optional note) and ends with a
decision about the community's future: continue, adjust, or dissolve it (method card, step 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.momentum import Message

ITEMS: tuple[str, ...] = (
    "enough_people",  # enough people working on the same question and wanting to exchange
    "objectives_clear",  # objectives still clear and shared
    "key_people",  # the key people for the issue are involved
    "roles_carried",  # roles named and carried (core group, moderators)
    "moderator_time",  # a moderator with the time to keep momentum
    "management_support",  # management support where needed
    "effort_realistic",  # time and effort still realistic
    "products_shared",  # products shared with the organisation, or a protected space still needed
)

NOTE_MAX = 500
"""Characters in one note, after trimming."""

DECISION_FIELD = "decision"

ERROR_MISSING_ANSWER = "checklist.errors.missing_answer"
ERROR_NOTE_TOO_LONG = "checklist.errors.note_too_long"  # placeholder {max}
ERROR_MISSING_DECISION = "checklist.errors.missing_decision"


class Answer(StrEnum):
    YES = "yes"
    PARTLY = "partly"
    NO = "no"

    @property
    def label_key(self) -> str:
        return f"checklist.answer.{self.value}"


class Decision(StrEnum):
    CONTINUE = "continue"
    ADJUST = "adjust"
    DISSOLVE = "dissolve"

    @property
    def label_key(self) -> str:
        return f"checklist.decision.{self.value}"


_ANSWERS = frozenset(answer.value for answer in Answer)
_DECISIONS = frozenset(decision.value for decision in Decision)


def item_key(item: str) -> str:
    """The i18n key of a checklist item's question."""
    if item not in ITEMS:
        raise ValueError(f"unknown checklist item: {item!r}")
    return f"checklist.item.{item}"


@dataclass(frozen=True)
class ItemAnswer:
    item: str
    answer: Answer
    note: str = ""


@dataclass(frozen=True)
class ChecklistResult:
    answers: tuple[ItemAnswer, ...]  # one per checklist item, in ITEMS order
    decision: Decision


def _clean(value: str | None) -> str:
    return (value or "").strip()


def validate(
    raw_answers: Mapping[str, str | None],
    raw_notes: Mapping[str, str | None],
    decision: str | None,
) -> ChecklistResult | dict[str, str]:
    """A complete review, or field errors: item id (or "decision") -> the i18n key of the error.

    An item's error is `missing_answer` when its answer is missing or unknown, else `note_too_long`
    (render it with `max=NOTE_MAX`). Answers and the decision are read case-insensitively; notes are
    trimmed; keys that are not checklist items are ignored.
    """
    errors: dict[str, str] = {}
    answers: list[ItemAnswer] = []
    for item in ITEMS:
        raw = _clean(raw_answers.get(item)).lower()
        note = _clean(raw_notes.get(item))
        if raw not in _ANSWERS:
            errors[item] = ERROR_MISSING_ANSWER
        elif len(note) > NOTE_MAX:
            errors[item] = ERROR_NOTE_TOO_LONG
        else:
            answers.append(ItemAnswer(item, Answer(raw), note))
    chosen = _clean(decision).lower()
    if chosen not in _DECISIONS:
        errors[DECISION_FIELD] = ERROR_MISSING_DECISION
    if errors:
        return errors
    return ChecklistResult(tuple(answers), Decision(chosen))


def score(result: ChecklistResult) -> tuple[int, int, int]:
    """How many checklist items were answered (yes, partly, no)."""
    given = [entry.answer for entry in result.answers]
    return given.count(Answer.YES), given.count(Answer.PARTLY), given.count(Answer.NO)


def outcome_message(result: ChecklistResult) -> Message:
    """A one-line summary: "Review done: 6 yes, 1 partly, 1 no. Decision: continue." """
    yes, partly, no = score(result)
    return Message(f"checklist.outcome.{result.decision.value}", {"yes": yes, "partly": partly, "no": no})
