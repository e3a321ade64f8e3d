"""The pure rules of follow-ups (issue 11, item 5): which items can become one, what a valid one is."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import follow_ups as rules

TODAY = date(2026, 3, 16)
ANSWERS = [
    {"item": "enough_people", "answer": "no", "note": "  Recruit two planners  "},
    {"item": "objectives_clear", "answer": "yes", "note": ""},
    {"item": "management_support", "answer": "partly", "note": "x" * 500},
]


def test_items_answered_no_or_partly_in_checklist_order() -> None:
    assert rules.to_follow(ANSWERS) == [
        rules.ToFollow("enough_people", "no"),
        rules.ToFollow("management_support", "partly"),
    ]
    assert rules.to_follow([{"item": "enough_people", "answer": "yes"}]) == []


def test_the_note_prefills_trimmed_and_cut() -> None:
    assert rules.note_of(ANSWERS, "enough_people") == "Recruit two planners"
    assert len(rules.note_of(ANSWERS, "management_support")) == rules.TEXT_MAX
    assert rules.note_of(ANSWERS, "key_people") == ""


@pytest.mark.parametrize(
    ("answer", "offered"), [("no", True), ("partly", True), ("yes", False), (None, False)]
)
def test_management_support_lacking_offers_the_sponsor(answer: str | None, offered: bool) -> None:
    answers = [{"item": "management_support", "answer": answer}] if answer else []
    assert rules.offers_sponsor(answers) is offered


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12:enough_people", (12, "enough_people")),
        (rules.button_value(7, "management_support"), (7, "management_support")),
        ("12:not_an_item", None),
        ("0:enough_people", None),
        ("12", None),
        (None, None),
        ("12:enough_people:x", None),
    ],
)
def test_button_values(value: object, expected: tuple[int, str] | None) -> None:
    assert rules.read_button_value(value) == expected


@pytest.mark.parametrize(
    ("text", "owner", "due", "expected"),
    [
        (" Do it ", "UALICE", "2026-03-16", rules.Draft("Do it", "UALICE", TODAY)),
        ("", "UALICE", "2026-03-30", {"text": rules.ERROR_TEXT_EMPTY}),
        ("x" * 301, "UALICE", "2026-03-30", {"text": rules.ERROR_TEXT_TOO_LONG}),
        ("x" * 300, "UALICE", "2026-03-30", rules.Draft("x" * 300, "UALICE", date(2026, 3, 30))),
        ("Do it", None, "2026-03-30", {"owner": rules.ERROR_OWNER_MISSING}),
        ("Do it", "UALICE", "2026-03-15", {"due_on": rules.ERROR_DATE_PAST}),
        ("Do it", "UALICE", None, {"due_on": rules.ERROR_DATE_MISSING}),
        ("Do it", "UALICE", "15/03/2026", {"due_on": rules.ERROR_DATE_MISSING}),
    ],
)
def test_validate(text: str, owner: str | None, due: str | None, expected: object) -> None:
    assert rules.validate(text, owner, due, today=TODAY) == expected


def test_overdue_the_day_after() -> None:
    assert not rules.is_overdue(TODAY, TODAY)
    assert rules.is_overdue(date(2026, 3, 15), TODAY)
