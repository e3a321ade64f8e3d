"""Momentum alerts: signs that a community is stalling, each with why (the figures) and ONE suggested action.

"A CdP needs a moderator to keep momentum; without one, activity stops." The rules below read a snapshot
of a community (`CommunitySignals`) and say which alerts fire. Each kind is sent at most once a week per
community: the caller claims `(community, kind, period_key(today))` in the database before sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

MODERATORS_SILENT_DAYS = 21
"""The core group has not contributed for this many days or more."""

RECENT_DAYS = 14
"""The recent window compared with the baseline (today included)."""

BASELINE_WEEKS = 8
"""Weeks before the recent window whose median sets the baseline."""

HISTORY_DAYS = RECENT_DAYS + 7 * BASELINE_WEEKS  # 70: the daily counts `channel_quiet` looks at

LURK_DAYS = 14
"""A newcomer lurking this many days or more without anybody greeting them is waiting."""


@dataclass(frozen=True)
class Message:
    """An i18n key and its placeholders; render with `t(message.key, lang, **message.params)`."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(str(data["key"]), dict(data.get("params") or {}))


class AlertKind(StrEnum):
    NO_MODERATOR = "no_moderator"
    MODERATORS_SILENT = "moderators_silent"
    CHANNEL_QUIET = "channel_quiet"
    NEWCOMERS_WAITING = "newcomers_waiting"
    INNER_SHRINKING = "inner_shrinking"


@dataclass(frozen=True)
class CommunitySignals:
    """What the momentum rules need to know about one community, on `today` (the community's local date)."""

    today: date
    moderators_active: int  # moderators still in the workspace and in the community
    core_last_contribution: date | None  # latest contribution by anyone in the core group; None: never
    daily_contributions: Mapping[date, int]  # contributions per local day; missing days count as 0
    lurkers_not_greeted: int  # newcomers lurking LURK_DAYS+ days whom nobody greeted
    inner_now: int  # members in the inner circle today
    inner_at_last_review: int | None  # members in the inner circle at the last review; None: no review yet
    created_on: date | None = None  # when known, silence before any contribution counts from creation

    def __post_init__(self) -> None:
        for name in ("moderators_active", "lurkers_not_greeted", "inner_now"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.inner_at_last_review is not None and self.inner_at_last_review < 0:
            raise ValueError("inner_at_last_review must be >= 0")
        if any(count < 0 for count in self.daily_contributions.values()):
            raise ValueError("daily_contributions must be >= 0")

    def contributions_between(self, first: date, last: date) -> int:
        """Contributions from `first` to `last`, both included."""
        return sum(count for day, count in self.daily_contributions.items() if first <= day <= last)


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    reason: Message  # why, with the figures
    suggestion: Message  # ONE action the moderators (or the creator) can take
    figures: Mapping[str, int]


def period_key(today: date) -> str:
    """The ISO week of `today`, e.g. "2026-W09": each kind of alert fires at most once per key."""
    year, week, _ = today.isocalendar()
    return f"{year}-W{week:02d}"


def channel_activity(signals: CommunitySignals) -> tuple[int, int]:
    """(recent, baseline) for the `channel_quiet` rule.

    - recent: contributions in the 14 days ending today (today - 13 ... today, included);
    - baseline: the 8 weeks before that (today - 69 ... today - 14) are summed week by week (7-day
      blocks); the baseline is the median weekly sum times 2, i.e. the typical contributions per 14 days.
      With 8 weeks the median is the mean of the 4th and 5th sorted sums, so the baseline is their
      sum: an exact integer.
    The channel is quiet when baseline > 0 and recent < baseline / 2 (evaluated as 2 * recent < baseline).
    """
    today = signals.today
    recent = signals.contributions_between(today - timedelta(days=RECENT_DAYS - 1), today)
    baseline_end = today - timedelta(days=RECENT_DAYS)
    weekly = sorted(
        signals.contributions_between(
            baseline_end - timedelta(days=7 * week + 6), baseline_end - timedelta(days=7 * week)
        )
        for week in range(BASELINE_WEEKS)
    )
    middle = BASELINE_WEEKS // 2
    return recent, weekly[middle - 1] + weekly[middle]


def _alert(kind: AlertKind, figures: dict[str, int], reason_key: str | None = None) -> Alert:
    return Alert(
        kind=kind,
        reason=Message(reason_key or f"momentum.{kind.value}.reason", dict(figures)),
        suggestion=Message(f"momentum.{kind.value}.suggestion", dict(figures)),
        figures=dict(figures),
    )


def _no_moderator(signals: CommunitySignals) -> Alert | None:
    if signals.moderators_active > 0:
        return None
    return _alert(AlertKind.NO_MODERATOR, {"moderators": 0})


def _moderators_silent(signals: CommunitySignals) -> Alert | None:
    if signals.moderators_active == 0:  # `no_moderator` says it better
        return None
    if signals.core_last_contribution is not None:
        days = (signals.today - signals.core_last_contribution).days
        if days < MODERATORS_SILENT_DAYS:
            return None
        return _alert(AlertKind.MODERATORS_SILENT, {"days": days, "threshold": MODERATORS_SILENT_DAYS})
    if signals.created_on is not None and (signals.today - signals.created_on).days < MODERATORS_SILENT_DAYS:
        return None  # a young community: give the core group time to start
    return _alert(
        AlertKind.MODERATORS_SILENT,
        {"threshold": MODERATORS_SILENT_DAYS},
        reason_key="momentum.moderators_silent.reason_never",
    )


def _channel_quiet(signals: CommunitySignals) -> Alert | None:
    recent, baseline = channel_activity(signals)
    if baseline <= 0 or 2 * recent >= baseline:
        return None
    return _alert(AlertKind.CHANNEL_QUIET, {"recent": recent, "baseline": baseline, "days": RECENT_DAYS})


def _newcomers_waiting(signals: CommunitySignals) -> Alert | None:
    if signals.lurkers_not_greeted < 1:
        return None
    return _alert(AlertKind.NEWCOMERS_WAITING, {"count": signals.lurkers_not_greeted, "days": LURK_DAYS})


def _inner_shrinking(signals: CommunitySignals) -> Alert | None:
    before = signals.inner_at_last_review
    if before is None or before <= 0 or 3 * signals.inner_now > 2 * before:  # fewer by a third or more
        return None
    return _alert(
        AlertKind.INNER_SHRINKING,
        {"before": before, "now": signals.inner_now, "lost": before - signals.inner_now},
    )


_RULES = (_no_moderator, _moderators_silent, _channel_quiet, _newcomers_waiting, _inner_shrinking)


def evaluate(signals: CommunitySignals) -> list[Alert]:
    """Every alert whose condition holds, in `AlertKind` order."""
    return [alert for rule in _RULES if (alert := rule(signals)) is not None]
