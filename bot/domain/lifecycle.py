"""A community's lifecycle state (issue 11, item 3): forming, active, stalling or dormant, with why.

A pure rule over a snapshot of the community's own history (`LifecycleSignals`). The daily pass
(bot.services.lifecycle) builds the snapshots of every community at once and writes only the changes.

The rules, first match wins:
1. forming: younger than one review cadence (the community has not had its first review yet);
2. dormant: no contribution at all for 8 weeks (counted from creation when there never was one);
3. forming: fewer than `MIN_MEMBERS` members (a small group is still gathering, not failing);
4. stalling: activity under half its usual for 3 weeks running, or the core group silent for 3 weeks;
5. active otherwise.
Dormant is checked before "too few members" so a community that stays tiny and silent is still seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bot.domain.momentum import Message

MIN_MEMBERS = 3
"""Below this many members a community is still forming."""

STALL_WEEKS = 3
"""Weeks of low activity (or of core-group silence) before a community is stalling."""

DORMANT_WEEKS = 8
"""Weeks without any contribution before a community is dormant."""

USUAL_WEEKS = 8
"""Weeks before the stalling window whose median weekly activity is "its usual"."""

HISTORY_WEEKS = STALL_WEEKS + USUAL_WEEKS  # 11 weekly blocks read per community


class LifecycleState(StrEnum):
    FORMING = "forming"
    ACTIVE = "active"
    STALLING = "stalling"
    DORMANT = "dormant"


@dataclass(frozen=True)
class LifecycleSignals:
    """One community on `today` (its local date).

    `weekly` maps k to the contributions of the 7-day block ending `today - 7k` (block 0 is the last
    7 days, today included); missing blocks count as 0. Only blocks 0 .. HISTORY_WEEKS - 1 are read."""

    today: date
    created_on: date
    cadence_weeks: int
    members: int
    weekly: Mapping[int, int]
    core_last_contribution: date | None  # latest contribution by a moderator; None: never

    def __post_init__(self) -> None:
        if self.members < 0 or self.cadence_weeks < 1:
            raise ValueError("members must be >= 0 and cadence_weeks >= 1")
        if any(count < 0 for count in self.weekly.values()):
            raise ValueError("weekly contributions must be >= 0")

    def week(self, k: int) -> int:
        return self.weekly.get(k, 0)

    @property
    def age_days(self) -> int:
        return (self.today - self.created_on).days


@dataclass(frozen=True)
class Lifecycle:
    state: LifecycleState
    reason: Message  # in plain words, with the figures


def usual_weekly(signals: LifecycleSignals) -> int:
    """Twice the median weekly activity of the 8 weeks before the stalling window (blocks 3 .. 10).

    Twice, so that it stays an integer: the median of 8 is the mean of the 4th and 5th sorted sums."""
    weeks = sorted(signals.week(k) for k in range(STALL_WEEKS, HISTORY_WEEKS))
    middle = USUAL_WEEKS // 2
    return weeks[middle - 1] + weeks[middle]


def _low_activity(signals: LifecycleSignals) -> bool:
    """Each of the last 3 weeks under half the usual week (week * 2 < usual, with usual doubled)."""
    doubled_usual = usual_weekly(signals)
    return doubled_usual > 0 and all(4 * signals.week(k) < doubled_usual for k in range(STALL_WEEKS))


def _core_silent(signals: LifecycleSignals) -> bool:
    last = signals.core_last_contribution
    silent_since = last if last is not None else signals.created_on
    return (signals.today - silent_since).days >= 7 * STALL_WEEKS


def _no_contribution(signals: LifecycleSignals) -> bool:
    if signals.age_days < 7 * DORMANT_WEEKS:
        return False  # the blocks before creation are empty, not silent
    return all(signals.week(k) == 0 for k in range(DORMANT_WEEKS))


def decide(signals: LifecycleSignals) -> Lifecycle:
    """The community's state on `signals.today`, and why (see the module's rules)."""
    cadence_days = 7 * signals.cadence_weeks
    if signals.age_days < cadence_days:
        return Lifecycle(
            LifecycleState.FORMING,
            Message("lifecycle.reason.young", {"weeks": signals.cadence_weeks}),
        )
    if _no_contribution(signals):
        return Lifecycle(
            LifecycleState.DORMANT, Message("lifecycle.reason.dormant", {"weeks": DORMANT_WEEKS})
        )
    if signals.members < MIN_MEMBERS:
        return Lifecycle(
            LifecycleState.FORMING,
            Message("lifecycle.reason.few_members", {"members": signals.members, "minimum": MIN_MEMBERS}),
        )
    if _low_activity(signals):
        return Lifecycle(
            LifecycleState.STALLING, Message("lifecycle.reason.low_activity", {"weeks": STALL_WEEKS})
        )
    if _core_silent(signals):
        return Lifecycle(
            LifecycleState.STALLING, Message("lifecycle.reason.core_silent", {"weeks": STALL_WEEKS})
        )
    return Lifecycle(LifecycleState.ACTIVE, Message("lifecycle.reason.active", {}))


@dataclass(frozen=True)
class Recorded:
    """A community's recorded state as the views read it (the names of its columns)."""

    lifecycle_state: str | None
    lifecycle_since: datetime | None
    lifecycle_reason: Mapping[str, Any] | None
    timezone: str
