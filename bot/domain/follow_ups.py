"""Follow-ups (issue 11, item 5: "notes lead somewhere"): a checklist item answered "no" or "partly"
becomes something to do, with an owner and a date; "management support: no" offers to send the review's
summary to the community's sponsor. Pure rules: what can become a follow-up, what a valid one is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.checklist import ITEMS, Answer

TEXT_MAX = 300
"""Characters of what to do, after trimming."""

DUE_AFTER = timedelta(days=14)
"""The due date the form proposes: two weeks after the review."""

MANAGEMENT_SUPPORT = "management_support"
# The answers that make an item worth following up, and that offer the summary to the sponsor.
TO_FOLLOW = frozenset({Answer.NO.value, Answer.PARTLY.value})

ERROR_TEXT_EMPTY = "follow_ups.errors.text_empty"
ERROR_TEXT_TOO_LONG = "follow_ups.errors.text_too_long"  # placeholder {max}
ERROR_DATE_MISSING = "follow_ups.errors.date_missing"
ERROR_DATE_PAST = "follow_ups.errors.date_past"
ERROR_OWNER_MISSING = "follow_ups.errors.owner_missing"

TEXT_FIELD, OWNER_FIELD, DUE_FIELD = "text", "owner", "due_on"

_VALUE = re.compile(r"([1-9][0-9]{0,9}):([a-z_]{1,32})")


@dataclass(frozen=True)
class ToFollow:
    """A checklist item of a decided review that can become a follow-up."""

    item: str
    answer: str  # no | partly


def to_follow(answers: Iterable[Mapping[str, str]]) -> list[ToFollow]:
    """The items answered "no" or "partly", in checklist order (answers as stored on the review)."""
    given = {a.get("item"): a.get("answer") for a in answers}
    return [ToFollow(item, str(given[item])) for item in ITEMS if given.get(item) in TO_FOLLOW]


def note_of(answers: Iterable[Mapping[str, str]], item: str) -> str:
    """The moderator's note on `item` (the form's prefill), cut to what a follow-up holds."""
    note = next((str(a.get("note") or "") for a in answers if a.get("item") == item), "")
    return note.strip()[:TEXT_MAX]


def offers_sponsor(answers: Iterable[Mapping[str, str]]) -> bool:
    """Management support answered "no" or "partly": the summary may go to the sponsor."""
    return any(a.get("item") == MANAGEMENT_SUPPORT and a.get("answer") in TO_FOLLOW for a in answers)


def button_value(review_id: int, item: str) -> str:
    """The "Make it a follow-up" button's value: which review, which item."""
    return f"{review_id}:{item}"


def read_button_value(value: object) -> tuple[int, str] | None:
    """(review id, item) from a button's value; None when it is not one of ours."""
    match = _VALUE.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(2) not in ITEMS:
        return None
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True)
class Draft:
    text: str
    owner_id: str
    due_on: date


def validate(
    text: str | None, owner_id: str | None, due_on: str | None, *, today: date
) -> Draft | dict[str, str]:
    """A valid follow-up, or field errors (field -> i18n key; render the text's with `max=TEXT_MAX`).
    The due date is an ISO date, today or later (the community's today)."""
    errors: dict[str, str] = {}
    cleaned = (text or "").strip()
    if not cleaned:
        errors[TEXT_FIELD] = ERROR_TEXT_EMPTY
    elif len(cleaned) > TEXT_MAX:
        errors[TEXT_FIELD] = ERROR_TEXT_TOO_LONG
    if not owner_id:
        errors[OWNER_FIELD] = ERROR_OWNER_MISSING
    day: date | None = None
    try:
        day = date.fromisoformat(due_on) if due_on else None
    except ValueError:
        day = None
    if day is None:
        errors[DUE_FIELD] = ERROR_DATE_MISSING
    elif day < today:
        errors[DUE_FIELD] = ERROR_DATE_PAST
    if errors or day is None or not owner_id:
        return errors
    return Draft(cleaned, owner_id, day)


def is_overdue(due_on: date, today: date) -> bool:
    return due_on < today
