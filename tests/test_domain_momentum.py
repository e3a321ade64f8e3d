"""Momentum alerts: each fires on its condition, not on the boundary just outside, and explains itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.momentum import (
    HISTORY_DAYS,
    Alert,
    AlertKind,
    CommunitySignals,
    Message,
    channel_activity,
    evaluate,
    period_key,
)
from bot.i18n import LANGUAGES, catalogue, placeholders, t

TODAY = date(2026, 3, 2)


def steady(per_week: int = 7) -> dict[date, int]:
    """`per_week` contributions every week over the 70 days the rule looks at, spread one a day."""
    return {TODAY - timedelta(days=offset): per_week // 7 for offset in range(HISTORY_DAYS)}


def weeks(recent: int, weekly: list[int]) -> dict[date, int]:
    """`recent` contributions today, and each baseline week's sum on that week's most recent day."""
    counts = {TODAY: recent}
    for index, total in enumerate(weekly):
        counts[TODAY - timedelta(days=14 + 7 * index)] = total
    return counts


def healthy(**changes: object) -> CommunitySignals:
    """A community where nothing is wrong."""
    base = CommunitySignals(
        today=TODAY,
        moderators_active=2,
        core_last_contribution=TODAY - timedelta(days=2),
        daily_contributions=steady(),
        lurkers_not_greeted=0,
        inner_now=9,
        inner_at_last_review=9,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(signals: CommunitySignals) -> list[AlertKind]:
    return [alert.kind for alert in evaluate(signals)]


def test_a_healthy_community_raises_nothing() -> None:
    assert evaluate(healthy()) == []


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        # no_moderator
        ({"moderators_active": 0}, True),
        ({"moderators_active": 1}, False),
    ],
)
def test_no_moderator(changes: dict[str, object], fires: bool) -> None:
    assert (AlertKind.NO_MODERATOR in kinds(healthy(**changes))) is fires


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        ({"core_last_contribution": TODAY - timedelta(days=21)}, True),
        ({"core_last_contribution": TODAY - timedelta(days=60)}, True),
        ({"core_last_contribution": TODAY - timedelta(days=20)}, False),
        ({"core_last_contribution": TODAY}, False),
        ({"core_last_contribution": None}, True),
        ({"core_last_contribution": None, "created_on": TODAY - timedelta(days=21)}, True),
        ({"core_last_contribution": None, "created_on": TODAY - timedelta(days=20)}, False),
        # Without any moderator, `no_moderator` is the alert, not this one.
        ({"core_last_contribution": None, "moderators_active": 0}, False),
        ({"core_last_contribution": TODAY - timedelta(days=40), "moderators_active": 0}, False),
    ],
)
def test_moderators_silent(changes: dict[str, object], fires: bool) -> None:
    assert (AlertKind.MODERATORS_SILENT in kinds(healthy(**changes))) is fires


@pytest.mark.parametrize(
    ("recent", "weekly", "fires"),
    [
        ([9], [10] * 8, True),  # baseline 20 per 14 days: 9 is less than half
        ([10], [10] * 8, False),  # exactly half: not quiet
        ([0], [10] * 8, True),
        ([0], [0] * 8, False),  # nothing to compare with: a new or long-silent community
        ([0], [0, 0, 0, 0, 0, 0, 0, 40], False),  # median 0: one busy week is not the norm
        ([0], [0, 0, 0, 1, 1, 1, 1, 1], True),  # median (1+1)/2 = 1, baseline 2
        ([1], [0, 0, 0, 1, 1, 1, 1, 1], False),
        ([4], [1, 2, 3, 4, 5, 6, 7, 8], True),  # median 4.5, baseline 9: 4 < 4.5
        ([5], [1, 2, 3, 4, 5, 6, 7, 8], False),  # 5 >= 4.5
    ],
)
def test_channel_quiet(recent: list[int], weekly: list[int], fires: bool) -> None:
    signals = healthy(daily_contributions=weeks(recent[0], weekly))
    assert (AlertKind.CHANNEL_QUIET in kinds(signals)) is fires


def test_channel_quiet_windows() -> None:
    """Recent: today - 13 ... today; baseline weeks: today - 69 ... today - 14; older days are ignored."""
    assert channel_activity(healthy(daily_contributions={TODAY - timedelta(days=13): 5})) == (5, 0)
    assert channel_activity(healthy(daily_contributions={TODAY - timedelta(days=14): 5})) == (0, 0)
    every_week = {TODAY - timedelta(days=14 + 7 * week): 3 for week in range(8)}
    assert channel_activity(healthy(daily_contributions=every_week)) == (0, 6)
    oldest = {TODAY - timedelta(days=69 - 7 * week): 3 for week in range(8)}
    assert channel_activity(healthy(daily_contributions=oldest)) == (0, 6)
    too_old = {TODAY - timedelta(days=70): 100, TODAY + timedelta(days=1): 100}
    assert channel_activity(healthy(daily_contributions=too_old)) == (0, 0)


def test_channel_quiet_figures() -> None:
    [alert] = evaluate(healthy(daily_contributions=weeks(3, [10] * 8)))
    assert alert.figures == {"recent": 3, "baseline": 20, "days": 14}


@pytest.mark.parametrize(("lurkers", "fires"), [(0, False), (1, True), (5, True)])
def test_newcomers_waiting(lurkers: int, fires: bool) -> None:
    assert (AlertKind.NEWCOMERS_WAITING in kinds(healthy(lurkers_not_greeted=lurkers))) is fires


@pytest.mark.parametrize(
    ("before", "now", "fires"),
    [
        (9, 6, True),  # a third fewer
        (9, 7, False),  # just short of a third
        (9, 0, True),
        (3, 2, True),
        (3, 3, False),
        (4, 3, False),  # 3 > 4 * 2/3
        (2, 1, True),
        (1, 0, True),
        (0, 0, False),  # nothing to lose
        (None, 0, False),  # no review yet
        (6, 10, False),  # growing
    ],
)
def test_inner_shrinking(before: int | None, now: int, fires: bool) -> None:
    signals = healthy(inner_at_last_review=before, inner_now=now)
    assert (AlertKind.INNER_SHRINKING in kinds(signals)) is fires


def test_every_alert_at_once_in_kind_order() -> None:
    signals = healthy(
        moderators_active=0,
        daily_contributions=weeks(0, [10] * 8),
        lurkers_not_greeted=3,
        inner_now=2,
        inner_at_last_review=9,
    )
    assert kinds(signals) == [
        AlertKind.NO_MODERATOR,
        AlertKind.CHANNEL_QUIET,
        AlertKind.NEWCOMERS_WAITING,
        AlertKind.INNER_SHRINKING,
    ]
    # With a moderator back, their silence is the alert instead: the two never fire together.
    assert kinds(replace(signals, moderators_active=1, core_last_contribution=None)) == list(AlertKind)[1:]


def test_alert_kind_values() -> None:
    assert [kind.value for kind in AlertKind] == [
        "no_moderator",
        "moderators_silent",
        "channel_quiet",
        "newcomers_waiting",
        "inner_shrinking",
    ]


def all_alerts() -> list[Alert]:
    signals = healthy(
        moderators_active=1,
        core_last_contribution=TODAY - timedelta(days=30),
        daily_contributions=weeks(1, [10] * 8),
        lurkers_not_greeted=2,
        inner_now=4,
        inner_at_last_review=9,
    )
    return [
        *evaluate(signals),
        *evaluate(replace(signals, core_last_contribution=None)),
        *evaluate(replace(signals, moderators_active=0)),
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_alert_says_why_with_the_figures_and_suggests_one_action(lang: str) -> None:
    alerts = all_alerts()
    assert {alert.kind for alert in alerts} == set(AlertKind)
    for alert in alerts:
        assert alert.reason.key.startswith(f"momentum.{alert.kind.value}.reason")
        assert alert.suggestion.key == f"momentum.{alert.kind.value}.suggestion"
        template = catalogue(lang)[alert.reason.key]
        assert placeholders(template) <= set(alert.reason.params)
        reason = t(alert.reason.key, lang, **alert.reason.params)
        for name in placeholders(template):
            assert str(alert.reason.params[name]) in reason
        assert t(alert.suggestion.key, lang, **alert.suggestion.params).strip()


def test_rendered_examples() -> None:
    [alert] = evaluate(healthy(core_last_contribution=TODAY - timedelta(days=25)))
    assert t(alert.reason.key, "en", **alert.reason.params) == (
        "Nobody in the core group has contributed for 25 days (alert from 21 days)."
    )
    assert "groupe central" in t(alert.reason.key, "fr", **alert.reason.params)
    [alert] = evaluate(healthy(moderators_active=0))
    assert "step in" in t(alert.suggestion.key, "en", **alert.suggestion.params)
    [alert] = evaluate(healthy(daily_contributions=weeks(3, [10] * 8)))
    assert t(alert.suggestion.key, "en") == "Post a question to the community or share a recent result."
    assert "3 contributions" in t(alert.reason.key, "fr", **alert.reason.params)


def test_message_round_trip() -> None:
    message = Message("momentum.channel_quiet.reason", {"recent": 1, "baseline": 20, "days": 14})
    data = message.as_dict()
    assert data == {
        "key": "momentum.channel_quiet.reason",
        "params": {"recent": 1, "baseline": 20, "days": 14},
    }
    assert Message.from_dict(data) == message
    assert Message("momentum.title").as_dict() == {"key": "momentum.title", "params": {}}


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        healthy(moderators_active=-1)
    with pytest.raises(ValueError):
        healthy(inner_at_last_review=-1)
    with pytest.raises(ValueError):
        healthy(daily_contributions={TODAY: -2})


@pytest.mark.parametrize(
    ("day", "key"),
    [
        (date(2026, 2, 23), "2026-W09"),
        (date(2026, 3, 1), "2026-W09"),  # Sunday: same week
        (date(2026, 3, 2), "2026-W10"),
        (date(2025, 12, 28), "2025-W52"),
        (date(2025, 12, 29), "2026-W01"),  # Monday of ISO week 1 of 2026, still in December
        (date(2026, 1, 1), "2026-W01"),
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),  # 2026 has 53 ISO weeks: early January belongs to it
        (date(2027, 1, 4), "2027-W01"),
        (date(2021, 1, 3), "2020-W53"),
    ],
)
def test_period_key(day: date, key: str) -> None:
    assert period_key(day) == key


@given(st.dates(min_value=date(2000, 1, 3), max_value=date(2100, 1, 1)))
def test_period_key_is_the_same_all_week_and_changes_on_monday(day: date) -> None:
    monday = day - timedelta(days=day.weekday())
    assert period_key(day) == period_key(monday)
    assert period_key(monday - timedelta(days=1)) != period_key(monday)


@given(
    recent=st.integers(0, 200),
    weekly=st.lists(st.integers(0, 100), min_size=8, max_size=8),
)
def test_channel_quiet_compares_with_half_the_median(recent: int, weekly: list[int]) -> None:
    ordered = sorted(weekly)
    median = (ordered[3] + ordered[4]) / 2
    signals = healthy(daily_contributions=weeks(recent, weekly))
    assert (AlertKind.CHANNEL_QUIET in kinds(signals)) is (median > 0 and recent < median)
