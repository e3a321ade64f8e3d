"""The pairing rules (bot/domain/pairing.py): who meets a newcomer, the check-back's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.pairing import (
    DOMAIN_ICE_BREAKERS,
    PARTNER_REST,
    Candidate,
    Outcome,
    OutcomeAnswer,
    eligible,
    ice_breaker,
    next_outcome,
    pair_key,
    parse_introduce_value,
    rank_partners,
    valid_after_days,
)

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
PARIS = "Europe/Paris"


def inner(user: str, **kw: object) -> Candidate:
    return Candidate(user_id=user, inner=True, moderator=False, **kw)  # type: ignore[arg-type]


def moderator(user: str, **kw: object) -> Candidate:
    return Candidate(user_id=user, inner=False, moderator=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "candidate, met, expected",
    [
        (inner("UA"), (), True),
        (inner("UNEW"), (), False),  # never the newcomer themself
        (inner(""), (), False),
        (inner("UA", opted_out=True), (), False),
        (inner("UA", reachable=False), (), False),  # a bot, deactivated
        (inner("UA", reachable=None), (), True),  # not known yet: the worker checks at send time
        (inner("UA"), ("UA",), False),  # never the same pair twice
        (inner("UA", last_paired_at=NOW - PARTNER_REST + timedelta(seconds=1)), (), False),
        (inner("UA", last_paired_at=NOW - PARTNER_REST), (), True),  # a week of rest is enough
    ],
)
def test_eligible(candidate: Candidate, met: tuple[str, ...], expected: bool) -> None:
    assert eligible(candidate, newcomer="UNEW", already_met=met, now=NOW) is expected


@pytest.mark.parametrize(
    "candidates, newcomer_tz, expected",
    [
        ([], PARIS, []),
        # Same time zone first, whoever was paired less recently.
        (
            [
                inner("UA", timezone="Europe/London"),
                inner("UB", timezone=PARIS, last_paired_at=NOW - timedelta(days=9)),
            ],
            PARIS,
            ["UB", "UA"],
        ),
        # Then the least recently paired (never paired first), then the user id.
        (
            [
                inner("UC", last_paired_at=NOW - timedelta(days=8)),
                inner("UB", last_paired_at=NOW - timedelta(days=30)),
                inner("UD"),
                inner("UA"),
            ],
            PARIS,
            ["UA", "UD", "UB", "UC"],
        ),
        # An unknown newcomer zone matches nobody (no "None == None").
        ([inner("UB"), inner("UA")], None, ["UA", "UB"]),
        # Moderators only when no inner-circle member is free; never the newcomer themself.
        ([moderator("UM"), inner("UA", opted_out=True), inner("UNEW")], PARIS, ["UM"]),
        ([moderator("UM"), inner("UA")], PARIS, ["UA"]),
        # A moderator in the inner circle counts as inner.
        ([Candidate("UM", inner=True, moderator=True), inner("UZ")], PARIS, ["UM", "UZ"]),
        # Nobody free at all.
        ([moderator("UNEW"), inner("UA", reachable=False)], PARIS, []),
    ],
)
def test_rank_partners(candidates: list[Candidate], newcomer_tz: str | None, expected: list[str]) -> None:
    assert (
        rank_partners(candidates, newcomer="UNEW", newcomer_tz=newcomer_tz, already_met=(), now=NOW)
        == expected
    )


def test_pair_key_is_one_pair_either_way() -> None:
    assert pair_key("UB", "UA") == pair_key("UA", "UB") == ("UA", "UB")


@pytest.mark.parametrize(
    "current, pressed, expected",
    [
        (None, Outcome.YES, OutcomeAnswer.RECORDED),
        (None, Outcome.NOT_YET, OutcomeAnswer.RECORDED),
        ("not_yet", Outcome.YES, OutcomeAnswer.RECORDED),  # "not yet" can still become an answer
        ("not_yet", Outcome.NO, OutcomeAnswer.RECORDED),
        ("not_yet", Outcome.NOT_YET, OutcomeAnswer.SAME),
        ("yes", Outcome.YES, OutcomeAnswer.SAME),
        ("yes", Outcome.NO, OutcomeAnswer.ALREADY),  # a final answer stays
        ("no", Outcome.NOT_YET, OutcomeAnswer.ALREADY),
    ],
)
def test_next_outcome(current: str | None, pressed: Outcome, expected: OutcomeAnswer) -> None:
    assert next_outcome(current, pressed) == expected


def test_ice_breakers_come_from_the_domain_and_the_objectives() -> None:
    drawn = {ice_breaker(i, has_domain=True, objectives=["develop_solutions"]) for i in range(8)}
    assert drawn == {
        *((key, None) for key in DOMAIN_ICE_BREAKERS),
        ("pairing.ice_breaker.objective", "develop_solutions"),
    }
    assert ice_breaker(5, has_domain=False, objectives=[]) == ("pairing.ice_breaker.plain", None)
    assert ice_breaker(5, has_domain=False, objectives=["a", "b"]) == ("pairing.ice_breaker.objective", "b")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"c": 4, "u": ["U1", "W2", "U1"]}, (4, ["U1", "W2"])),
        ({"c": 4, "u": []}, None),
        ({"c": 4, "u": [f"U{i}" for i in range(11)]}, None),  # at most 10
        ({"c": "4", "u": ["U1"]}, None),
        ({"c": True, "u": ["U1"]}, None),
        ({"c": 0, "u": ["U1"]}, None),
        ({"c": 2**31, "u": ["U1"]}, None),
        ({"c": 4, "u": ["C1"]}, None),  # a channel is not a person
        ({"c": 4, "u": ["U1<!here>"]}, None),
        ({"c": 4, "u": "U1"}, None),
        ([4, ["U1"]], None),
        (None, None),
    ],
)
def test_parse_introduce_value(raw: object, expected: object) -> None:
    assert parse_introduce_value(raw) == expected


@pytest.mark.parametrize(
    "days, ok", [(None, False), (0, False), (1, True), (10, True), (90, True), (91, False)]
)
def test_after_days_bounds(days: int | None, ok: bool) -> None:
    assert valid_after_days(days) is ok
