"""The lifecycle rule (bot.domain.lifecycle), table-driven."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.domain.lifecycle import LifecycleSignals, LifecycleState, decide, usual_weekly

TODAY = date(2026, 6, 10)
OLD = TODAY - timedelta(days=365)
STEADY = {k: 10 for k in range(11)}  # 10 contributions every week


def signals(**overrides: object) -> LifecycleSignals:
    values: dict[str, object] = {
        "today": TODAY,
        "created_on": OLD,
        "cadence_weeks": 4,
        "members": 5,
        "weekly": STEADY,
        "core_last_contribution": TODAY - timedelta(days=2),
    }
    values.update(overrides)
    return LifecycleSignals(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides, state, reason",
    [
        ({}, LifecycleState.ACTIVE, "lifecycle.reason.active"),
        # forming: younger than one cadence (27 days < 4 weeks), even silent and tiny
        (
            {"created_on": TODAY - timedelta(days=27), "members": 1, "weekly": {}},
            LifecycleState.FORMING,
            "lifecycle.reason.young",
        ),
        ({"created_on": TODAY - timedelta(days=28)}, LifecycleState.ACTIVE, "lifecycle.reason.active"),
        # forming: fewer than 3 members
        ({"members": 2}, LifecycleState.FORMING, "lifecycle.reason.few_members"),
        ({"members": 3}, LifecycleState.ACTIVE, "lifecycle.reason.active"),
        # stalling: each of the last 3 weeks under half the usual (10 a week: 4 is under, 5 is not)
        ({"weekly": {**STEADY, 0: 4, 1: 4, 2: 4}}, LifecycleState.STALLING, "lifecycle.reason.low_activity"),
        ({"weekly": {**STEADY, 0: 4, 1: 5, 2: 4}}, LifecycleState.ACTIVE, "lifecycle.reason.active"),
        ({"weekly": {**STEADY, 0: 4, 1: 4}}, LifecycleState.ACTIVE, "lifecycle.reason.active"),
        # stalling: the core group silent for 3 weeks (21 days), or never since creation
        (
            {"core_last_contribution": TODAY - timedelta(days=21)},
            LifecycleState.STALLING,
            "lifecycle.reason.core_silent",
        ),
        (
            {"core_last_contribution": TODAY - timedelta(days=20)},
            LifecycleState.ACTIVE,
            "lifecycle.reason.active",
        ),
        ({"core_last_contribution": None}, LifecycleState.STALLING, "lifecycle.reason.core_silent"),
        # dormant: nothing for 8 weeks (blocks 0..7), even with few members
        (
            {"weekly": {8: 3, 9: 3, 10: 3}, "members": 2},
            LifecycleState.DORMANT,
            "lifecycle.reason.dormant",
        ),
        (
            {"weekly": {7: 1, 8: 3}, "core_last_contribution": TODAY - timedelta(days=50)},
            LifecycleState.STALLING,
            "lifecycle.reason.core_silent",
        ),
        # never any contribution: dormant once 8 weeks old, not before
        (
            {"weekly": {}, "created_on": TODAY - timedelta(days=56), "core_last_contribution": None},
            LifecycleState.DORMANT,
            "lifecycle.reason.dormant",
        ),
        (
            {"weekly": {}, "created_on": TODAY - timedelta(days=55), "core_last_contribution": None},
            LifecycleState.STALLING,
            "lifecycle.reason.core_silent",
        ),
    ],
)
def test_decide(overrides: dict[str, object], state: LifecycleState, reason: str) -> None:
    result = decide(signals(**overrides))
    assert (result.state, result.reason.key) == (state, reason)


def test_usual_is_twice_the_median_of_the_8_weeks_before_the_last_3() -> None:
    weekly = {0: 100, 1: 100, 2: 100, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 8: 6, 9: 7, 10: 8, 11: 500}
    assert usual_weekly(signals(weekly=weekly)) == 4 + 5


def test_bad_signals_are_refused() -> None:
    with pytest.raises(ValueError):
        signals(members=-1)
    with pytest.raises(ValueError):
        signals(weekly={0: -1})
