"""The onramp and the circles over time (issue 11, items 1 and 2): the figures a review and the
moderators' App Home show, and the data a chart is drawn from. Pure: no database, no Slack.

`ChartData` is the contract between what reads the history (bot/services/onramp.py) and what draws it
(bot/charts.py); `to_json`/`from_json` carry it through the outbox.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class CircleWeek:
    """Members per circle at the end of one week (the core group counted apart from the circles)."""

    week_start: date
    core: int
    inner: int
    outer: int


@dataclass(frozen=True)
class ChartData:
    name: str
    weeks: tuple[CircleWeek, ...]  # since the community began, oldest first
    contributions: tuple[int, ...]  # contributions per week, the same weeks as `weeks`
    usual_week: float | None  # the community's usual week (median of earlier weeks); None: no history yet
    funnel: tuple[int, int, int]  # newcomers of the last 90 days: joined, contributed once, reached inner

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weeks": [[w.week_start.isoformat(), w.core, w.inner, w.outer] for w in self.weeks],
            "contributions": list(self.contributions),
            "usual_week": self.usual_week,
            "funnel": list(self.funnel),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChartData:
        return cls(
            name=str(data["name"]),
            weeks=tuple(
                CircleWeek(date.fromisoformat(w[0]), int(w[1]), int(w[2]), int(w[3])) for w in data["weeks"]
            ),
            contributions=tuple(int(c) for c in data["contributions"]),
            usual_week=None if data.get("usual_week") is None else float(data["usual_week"]),
            funnel=(int(data["funnel"][0]), int(data["funnel"][1]), int(data["funnel"][2])),
        )


# ---- the onramp figures ------------------------------------------------------------------------
NEWCOMER_DAYS = 90
"""Newcomers are the people who joined in the last 90 days (founders, who joined at the creation, never
are): the cohort whose conversion, first contributions and funnel are counted."""

HOME_PERIOD_DAYS = 30
"""On the moderators' App Home, "this period" is the last 30 days (in a review: since the last one)."""

# The shape's thresholds (Savannah CRM's onramp shapes, in the card's circles). Checked in this order:
BOTTLENECK_MIN_CONTRIBUTED = 3
"""Bottleneck: at least this many newcomers contributed, and fewer than a quarter of them reached the
inner circle: people come forward once, then stop at the boundary."""
BOTTLENECK_SHARE = 0.25
READER_HEAVY_OUTER = 0.85
"""Reader-heavy: the outer circle is 85% of the community or more, and under 10% of its newcomers
reached the inner circle (or there was none): many read, almost nobody comes in."""
READER_HEAVY_CONVERSION = 0.10
CORE_HEAVY_SHARE = 0.60
"""Core-heavy: the core group and the inner circle are 60% of the community or more, with at most one
newcomer in 90 days: a closed circle that nobody new joins."""
CORE_HEAVY_MAX_NEWCOMERS = 1


class Shape(StrEnum):
    """The community's distribution across circles, each with one sentence of advice (`advice_key`)."""

    HEALTHY = "healthy"
    READER_HEAVY = "reader_heavy"
    CORE_HEAVY = "core_heavy"
    BOTTLENECK = "bottleneck"

    @property
    def label_key(self) -> str:
        return _SHAPE_KEYS[self][0]

    @property
    def advice_key(self) -> str:
        return _SHAPE_KEYS[self][1]


# Each shape's name and advice (i18n keys written out, so the catalogue test sees them used).
_SHAPE_KEYS = {
    Shape.HEALTHY: ("onramp.shape.healthy", "onramp.advice.healthy"),
    Shape.READER_HEAVY: ("onramp.shape.reader_heavy", "onramp.advice.reader_heavy"),
    Shape.CORE_HEAVY: ("onramp.shape.core_heavy", "onramp.advice.core_heavy"),
    Shape.BOTTLENECK: ("onramp.shape.bottleneck", "onramp.advice.bottleneck"),
}


def share(part: int, whole: int) -> float | None:
    """part / whole; None when there is nothing to divide (no newcomer: no conversion, not 0%)."""
    return part / whole if whole > 0 else None


def classify(
    *, core: int, inner: int, outer: int, newcomers: int, contributed: int, reached_inner: int
) -> Shape:
    """The shape from the circles now and the newcomers of the last 90 days (thresholds above)."""
    total = core + inner + outer
    if contributed >= BOTTLENECK_MIN_CONTRIBUTED and reached_inner < BOTTLENECK_SHARE * contributed:
        return Shape.BOTTLENECK
    conversion = share(reached_inner, newcomers)
    if (
        total > 0
        and outer >= READER_HEAVY_OUTER * total
        and (conversion is None or conversion < READER_HEAVY_CONVERSION)
    ):
        return Shape.READER_HEAVY
    if total > 0 and core + inner >= CORE_HEAVY_SHARE * total and newcomers <= CORE_HEAVY_MAX_NEWCOMERS:
        return Shape.CORE_HEAVY
    return Shape.HEALTHY


@dataclass(frozen=True)
class OnrampFigures:
    """One community's onramp (CHAOSS Conversion Rate, Time to First Response, Inactive Contributors;
    Orbit's members per level and demotions): the cohort figures count the newcomers of the last 90
    days, `median_minutes_to_first_reply` and `demoted` count "this period" (since the last review, or
    the last 30 days on Home)."""

    newcomers: int  # joined in the last 90 days, founders excepted
    contributed: int  # of them, contributed at least once
    reached_inner: int  # of them, reached the inner circle (or the core group)
    median_days_to_first_contribution: float | None  # of those who contributed; None: nobody did
    median_minutes_to_first_reply: float | None  # newcomers' first posts of the period that got a reply
    demoted: int  # moves from the inner to the outer circle this period
    core: int = 0  # the circles now
    inner: int = 0
    outer: int = 0

    @property
    def conversion(self) -> float | None:
        """Share of the newcomers who reached the inner circle; None without newcomers."""
        return share(self.reached_inner, self.newcomers)

    @property
    def shape(self) -> Shape:
        return classify(
            core=self.core,
            inner=self.inner,
            outer=self.outer,
            newcomers=self.newcomers,
            contributed=self.contributed,
            reached_inner=self.reached_inner,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "newcomers": self.newcomers,
            "contributed": self.contributed,
            "reached_inner": self.reached_inner,
            "median_days_to_first_contribution": self.median_days_to_first_contribution,
            "median_minutes_to_first_reply": self.median_minutes_to_first_reply,
            "demoted": self.demoted,
            "core": self.core,
            "inner": self.inner,
            "outer": self.outer,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OnrampFigures:
        def number(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            newcomers=int(data.get("newcomers") or 0),
            contributed=int(data.get("contributed") or 0),
            reached_inner=int(data.get("reached_inner") or 0),
            median_days_to_first_contribution=number("median_days_to_first_contribution"),
            median_minutes_to_first_reply=number("median_minutes_to_first_reply"),
            demoted=int(data.get("demoted") or 0),
            core=int(data.get("core") or 0),
            inner=int(data.get("inner") or 0),
            outer=int(data.get("outer") or 0),
        )


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def figures_of(
    *,
    joins: Sequence[Newcomer],
    reply_minutes: Sequence[float],
    demoted: int,
    core: int,
    inner: int,
    outer: int,
) -> OnrampFigures:
    """The figures from one community's newcomers of the last 90 days, the minutes its newcomers' first
    posts of the period waited for a reply, its demotions of the period and its circles now."""
    days = [n.days_to_first_contribution for n in joins if n.days_to_first_contribution is not None]
    return OnrampFigures(
        newcomers=len(joins),
        contributed=len(days),
        reached_inner=sum(1 for n in joins if n.reached_inner),
        median_days_to_first_contribution=median(days),
        median_minutes_to_first_reply=median(reply_minutes),
        demoted=demoted,
        core=core,
        inner=inner,
        outer=outer,
    )


@dataclass(frozen=True)
class Newcomer:
    """One newcomer of the last 90 days: how long until their first contribution (None: not yet), and
    whether they reached the inner circle."""

    days_to_first_contribution: float | None
    reached_inner: bool


class Trend(StrEnum):
    UP = "up"
    DOWN = "down"
    SAME = "same"


def trend(now: float | None, before: float | None) -> Trend | None:
    """How a figure moved since the last review; None when either side is unknown."""
    if now is None or before is None:
        return None
    if abs(now - before) < 1e-9:
        return Trend.SAME
    return Trend.UP if now > before else Trend.DOWN


def compare(now: OnrampFigures, before: OnrampFigures) -> dict[str, Trend | None]:
    """Each figure's move against the last review (conversion, the two medians, the demotions)."""
    return {
        "conversion": trend(now.conversion, before.conversion),
        "days_to_first_contribution": trend(
            now.median_days_to_first_contribution, before.median_days_to_first_contribution
        ),
        "minutes_to_first_reply": trend(
            now.median_minutes_to_first_reply, before.median_minutes_to_first_reply
        ),
        "demoted": trend(float(now.demoted), float(before.demoted)),
    }
