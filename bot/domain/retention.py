"""Data retention (issue 12, item 5): how long each kind of stored fact is kept, and the arithmetic the
nightly job and the charts share. Pure: no SQL, no Slack.

- Daily activity counters older than `activity_days` are summed into monthly rows (per community, member
  and month) and deleted. A community whose circle rule reads further back (its window plus its demotion
  grace) keeps its days that much longer: retention never changes anybody's circle. Each member's
  latest day with a contribution in a community is kept as a day, however old: "contributed since
  joining", "last contributed on" and "is this their first post" read it (see `keep_days`).
- Circle changes older than `circle_history_days` are deleted (0: kept for as long as the membership).
- Processed event ids: `EVENT_IDS_DAYS` (Slack retries within minutes; a week is plenty).
- Message text: never stored, so never kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

EVENT_IDS_DAYS = 7
ACTIVITY_DAYS_DEFAULT = 400
# The lowest ACTIVITY_RETENTION_DAYS accepted: one more than the longest fixed window any figure reads
# from the daily counters (the onramp's 90-day newcomers; momentum reads 70 days, the review prompt's
# usual week 63). The circle rule's own window and grace (up to 730 days) need no floor here: each
# community keeps at least what its rule reads (`keep_days`); the charts read the monthly rows.
ACTIVITY_DAYS_MIN = 91
CIRCLE_HISTORY_DAYS_DEFAULT = 760
# The lowest CIRCLE_HISTORY_RETENTION_DAYS accepted (0 aside, which keeps it all): the chart rebuilds
# members per circle over its last 104 weeks from the circle changes, so they are kept over 105 weeks.
CIRCLE_HISTORY_DAYS_MIN = 7 * 105


@dataclass(frozen=True)
class RetentionPolicy:
    """What the settings say (bot.settings: ACTIVITY_RETENTION_DAYS, CIRCLE_HISTORY_RETENTION_DAYS)."""

    activity_days: int = ACTIVITY_DAYS_DEFAULT
    circle_history_days: int = CIRCLE_HISTORY_DAYS_DEFAULT  # 0: never deleted
    event_ids_days: int = EVENT_IDS_DAYS

    def keep_days(self, rule_history_days: int) -> int:
        """Days of daily counters a community keeps: the setting, or more when its circle rule reads
        further back (`rule_history_days`: window + grace), plus two days since the community's today
        may differ from UTC's by one."""
        return max(self.activity_days, rule_history_days + 2)

    def activity_cutoff(self, today: date, rule_history_days: int) -> date:
        """Days before this one are rolled up into months (`today` is UTC's)."""
        return today - timedelta(days=self.keep_days(rule_history_days))

    def circle_cutoff(self, today: date) -> date | None:
        """Circle changes before this day (UTC) are deleted; None: kept."""
        if self.circle_history_days <= 0:
            return None
        return today - timedelta(days=self.circle_history_days)


def month_of(day: date) -> date:
    """The month a day is rolled into, as its first day."""
    return day.replace(day=1)


def spread(first: date, last: date, total: int, *, today: date, weeks: int) -> dict[int, int]:
    """A monthly total drawn over a chart's 7-day blocks (block k: `today - 7k - 6` ... `today - 7k`, k <
    `weeks`): evenly over the days it covers (`first` ... `last`), in whole contributions that add up to
    the total (largest remainders; ties to the older block). Days after `today` and blocks beyond `weeks`
    take their share out of the chart: what falls outside it is not drawn."""
    if total <= 0 or last < first:
        return {}
    days_in_block: dict[int, int] = {}
    day = first
    while day <= last:
        if day <= today:
            block = (today - day).days // 7
            days_in_block[block] = days_in_block.get(block, 0) + 1
        day += timedelta(days=1)
    if not days_in_block:
        return {}
    counted = sum(days_in_block.values())
    shares = {block: total * n // counted for block, n in days_in_block.items()}
    left = total - sum(shares.values())
    # Largest remainder first; on a tie, the older block (larger k) first: a deterministic drawing.
    order = sorted(days_in_block, key=lambda b: (-(total * days_in_block[b] % counted), -b))
    for block in order[:left]:
        shares[block] += 1
    return {block: n for block, n in shares.items() if block < weeks and n > 0}


def add_months(
    blocks: Mapping[int, int], months: Iterable[tuple[date, date, int]], *, today: date, weeks: int
) -> dict[int, int]:
    """The chart's weekly blocks from the daily counters, plus the rolled-up months (first day, last day,
    contributions) spread over theirs."""
    result = dict(blocks)
    for first, last, total in months:
        for block, n in spread(first, last, total, today=today, weeks=weeks).items():
            result[block] = result.get(block, 0) + n
    return result
