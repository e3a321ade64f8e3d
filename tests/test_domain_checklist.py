"""The CdP checklist review: validation with field errors, score, and the outcome in both languages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.checklist import (
    ERROR_MISSING_ANSWER,
    ERROR_MISSING_DECISION,
    ERROR_NOTE_TOO_LONG,
    ITEMS,
    NOTE_MAX,
    Answer,
    ChecklistResult,
    Decision,
    ItemAnswer,
    item_key,
    outcome_message,
    score,
    validate,
)
from bot.i18n import LANGUAGES, catalogue, t

ALL_YES: dict[str, str | None] = dict.fromkeys(ITEMS, "yes")
NO_NOTES: dict[str, str | None] = {}


def with_answers(**changes: str | None) -> dict[str, str | None]:
    return {**ALL_YES, **changes}


def test_items_follow_the_card_in_a_stable_order() -> None:
    assert ITEMS == (
        "enough_people",
        "objectives_clear",
        "key_people",
        "roles_carried",
        "moderator_time",
        "management_support",
        "effort_realistic",
        "products_shared",
    )


def test_a_complete_review() -> None:
    answers = with_answers(key_people="partly", management_support="no")
    result = validate(answers, {"key_people": "  Finance is missing.  "}, "continue")
    assert isinstance(result, ChecklistResult)
    assert result.decision is Decision.CONTINUE
    assert [entry.item for entry in result.answers] == list(ITEMS)
    assert result.answers[2] == ItemAnswer("key_people", Answer.PARTLY, "Finance is missing.")
    assert result.answers[0].note == ""
    assert score(result) == (6, 1, 1)


def test_answers_and_decision_are_read_case_insensitively() -> None:
    result = validate(with_answers(enough_people=" YES ", objectives_clear="Partly"), NO_NOTES, " Adjust ")
    assert isinstance(result, ChecklistResult)
    assert result.answers[1].answer is Answer.PARTLY
    assert result.decision is Decision.ADJUST


def test_keys_that_are_not_items_are_ignored() -> None:
    result = validate(with_answers(favourite_colour="blue"), {"favourite_colour": "x" * 900}, "dissolve")
    assert isinstance(result, ChecklistResult)
    assert len(result.answers) == len(ITEMS)


@pytest.mark.parametrize(
    ("answers", "notes", "decision", "errors"),
    [
        (with_answers(key_people=None), NO_NOTES, "continue", {"key_people": ERROR_MISSING_ANSWER}),
        (with_answers(key_people=""), NO_NOTES, "continue", {"key_people": ERROR_MISSING_ANSWER}),
        (with_answers(key_people="   "), NO_NOTES, "continue", {"key_people": ERROR_MISSING_ANSWER}),
        (with_answers(key_people="maybe"), NO_NOTES, "continue", {"key_people": ERROR_MISSING_ANSWER}),
        (
            {k: v for k, v in ALL_YES.items() if k != "products_shared"},
            NO_NOTES,
            "continue",
            {"products_shared": ERROR_MISSING_ANSWER},
        ),
        (ALL_YES, {"roles_carried": "x" * (NOTE_MAX + 1)}, "adjust", {"roles_carried": ERROR_NOTE_TOO_LONG}),
        (ALL_YES, NO_NOTES, None, {"decision": ERROR_MISSING_DECISION}),
        (ALL_YES, NO_NOTES, "", {"decision": ERROR_MISSING_DECISION}),
        (ALL_YES, NO_NOTES, "pause", {"decision": ERROR_MISSING_DECISION}),
        (
            with_answers(enough_people="no", objectives_clear=None),
            {"enough_people": "y" * 600, "objectives_clear": "z" * 600},
            None,
            {
                "enough_people": ERROR_NOTE_TOO_LONG,
                "objectives_clear": ERROR_MISSING_ANSWER,  # the missing answer comes first
                "decision": ERROR_MISSING_DECISION,
            },
        ),
        (
            {},
            NO_NOTES,
            None,
            {**dict.fromkeys(ITEMS, ERROR_MISSING_ANSWER), "decision": ERROR_MISSING_DECISION},
        ),
    ],
)
def test_field_errors(
    answers: dict[str, str | None], notes: dict[str, str | None], decision: str | None, errors: dict[str, str]
) -> None:
    assert validate(answers, notes, decision) == errors


def test_note_length_boundary_after_trimming() -> None:
    assert isinstance(validate(ALL_YES, {"key_people": "n" * NOTE_MAX}, "continue"), ChecklistResult)
    assert isinstance(validate(ALL_YES, {"key_people": f"  {'n' * NOTE_MAX}\n"}, "continue"), ChecklistResult)
    assert validate(ALL_YES, {"key_people": "n" * (NOTE_MAX + 1)}, "continue") == {
        "key_people": ERROR_NOTE_TOO_LONG
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_error_renders(lang: str) -> None:
    for key in (ERROR_MISSING_ANSWER, ERROR_MISSING_DECISION):
        assert t(key, lang).strip()
    assert str(NOTE_MAX) in t(ERROR_NOTE_TOO_LONG, lang, max=NOTE_MAX)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_item_answer_and_decision_has_a_label(lang: str) -> None:
    known = catalogue(lang)
    for item in ITEMS:
        assert item_key(item) in known
    for answer in Answer:
        assert answer.label_key in known
    for decision in Decision:
        assert decision.label_key in known
        assert f"checklist.outcome.{decision.value}" in known


def test_item_key_refuses_unknown_items() -> None:
    with pytest.raises(ValueError):
        item_key("free_lunch")


@pytest.mark.parametrize(
    ("decision", "lang", "expected"),
    [
        ("continue", "en", "Review done: 6 yes, 1 partly, 1 no. Decision: continue."),
        ("adjust", "en", "Review done: 6 yes, 1 partly, 1 no. Decision: adjust."),
        ("dissolve", "en", "Review done: 6 yes, 1 partly, 1 no. Decision: dissolve."),
        ("continue", "fr", "Revue terminée : 6 oui, 1 en partie, 1 non. Décision : continuer."),
        ("adjust", "fr", "Revue terminée : 6 oui, 1 en partie, 1 non. Décision : ajuster."),
        ("dissolve", "fr", "Revue terminée : 6 oui, 1 en partie, 1 non. Décision : dissoudre."),
    ],
)
def test_outcome_rendering(decision: str, lang: str, expected: str) -> None:
    result = validate(with_answers(roles_carried="partly", moderator_time="no"), NO_NOTES, decision)
    assert isinstance(result, ChecklistResult)
    message = outcome_message(result)
    assert message.as_dict() == {
        "key": f"checklist.outcome.{decision}",
        "params": {"yes": 6, "partly": 1, "no": 1},
    }
    assert t(message.key, lang, **message.params) == expected


@given(
    answers=st.fixed_dictionaries({item: st.sampled_from(["yes", "partly", "no"]) for item in ITEMS}),
    decision=st.sampled_from(["continue", "adjust", "dissolve"]),
)
def test_a_valid_review_scores_every_item_once(answers: dict[str, str], decision: str) -> None:
    result = validate(dict(answers), NO_NOTES, decision)
    assert isinstance(result, ChecklistResult)
    yes, partly, no = score(result)
    assert yes + partly + no == len(ITEMS)
    assert yes == list(answers.values()).count("yes")
    assert no == list(answers.values()).count("no")


@given(
    answers=st.dictionaries(st.sampled_from(ITEMS), st.one_of(st.none(), st.text(max_size=8))),
    notes=st.dictionaries(st.sampled_from(ITEMS), st.one_of(st.none(), st.text(max_size=NOTE_MAX + 20))),
    decision=st.one_of(st.none(), st.text(max_size=10)),
)
def test_validate_never_raises_and_errors_are_known_keys(
    answers: dict[str, str | None], notes: dict[str, str | None], decision: str | None
) -> None:
    outcome = validate(answers, notes, decision)
    if isinstance(outcome, dict):
        assert outcome
        assert set(outcome) <= {*ITEMS, "decision"}
        assert set(outcome.values()) <= {ERROR_MISSING_ANSWER, ERROR_NOTE_TOO_LONG, ERROR_MISSING_DECISION}
    else:
        assert all(len(entry.note) <= NOTE_MAX for entry in outcome.answers)
