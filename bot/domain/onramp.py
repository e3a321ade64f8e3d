"""The onramp and the circles over time (issue 11, items 1 and 2): the figures a review and the
moderators' App Home show, and the data a chart is drawn from. Pure: no database, no Slack.

`ChartData` is the contract between what reads the history (bot/services/onramp.py) and what draws it
(bot/charts.py); `to_json`/`from_json` carry it through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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
