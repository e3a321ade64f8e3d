"""The retention's pure arithmetic: the monthly totals drawn over a chart's weeks, and the floors."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain import momentum, retention
from bot.domain.circles import RULE_BOUNDS
from bot.domain.onramp import NEWCOMER_DAYS
from bot.domain.retention import RetentionPolicy, add_months, spread
from bot.services.onramp import MAX_WEEKS
from bot.services.reviews import WEEKS_COMPARED

TODAY = date(2027, 6, 5)


def test_the_floors_cover_every_window_read_from_the_days_and_the_changes() -> None:
    # The daily counts: every fixed window read from them lies within the floor.
    assert max(NEWCOMER_DAYS, momentum.HISTORY_DAYS, 7 * (WEEKS_COMPARED + 1)) < retention.ACTIVITY_DAYS_MIN
    # The circle changes: the chart rebuilds its weeks of members per circle from them.
    assert retention.CIRCLE_HISTORY_DAYS_MIN >= 7 * (MAX_WEEKS + 1)
    # The circle rule's own window is kept per community, whatever the setting.
    longest = RULE_BOUNDS["window_days"].high + RULE_BOUNDS["demotion_grace_days"].high
    assert RetentionPolicy(activity_days=retention.ACTIVITY_DAYS_MIN).keep_days(longest) == longest + 2
    assert RetentionPolicy().keep_days(30 + 45) == 400


def test_a_month_is_drawn_evenly_over_the_days_it_covers() -> None:
    # 14 days that are exactly blocks 10 and 11: 7 contributions each.
    first = TODAY - timedelta(days=7 * 11 + 6)
    assert spread(first, first + timedelta(days=13), 14, today=TODAY, weeks=52) == {11: 7, 10: 7}
    # Beyond the chart's weeks: not drawn. After today: no share.
    assert spread(first, first + timedelta(days=13), 14, today=TODAY, weeks=11) == {10: 7}
    assert spread(TODAY + timedelta(days=1), TODAY + timedelta(days=9), 5, today=TODAY, weeks=52) == {}
    assert spread(first, first, 0, today=TODAY, weeks=52) == {}


@given(
    start=st.integers(min_value=0, max_value=800),
    length=st.integers(min_value=1, max_value=31),
    total=st.integers(min_value=0, max_value=100_000),
)
def test_a_spread_month_adds_up_to_its_total_in_whole_contributions(
    start: int, length: int, total: int
) -> None:
    first = TODAY - timedelta(days=start)
    last = first + timedelta(days=length - 1)
    shares = spread(first, last, total, today=TODAY, weeks=10_000)
    inside = sum(1 for k in range(length) if first + timedelta(days=k) <= TODAY)
    assert sum(shares.values()) == (total if inside else 0)
    assert all(n > 0 for n in shares.values())
    if inside:  # evenly: no block more than one above its exact share
        per_day = total / inside
        for block, n in shares.items():
            days = sum(
                1
                for k in range(length)
                if first + timedelta(days=k) <= TODAY
                and (TODAY - first - timedelta(days=k)).days // 7 == block
            )
            assert abs(n - per_day * days) < 1


def test_months_add_to_the_daily_blocks() -> None:
    first = TODAY - timedelta(days=7 * 11 + 6)
    months = [(first, first + timedelta(days=13), 14)]
    assert add_months({0: 3, 10: 1}, months, today=TODAY, weeks=52) == {0: 3, 10: 8, 11: 7}
