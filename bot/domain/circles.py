"""The circle rule: is a member in the inner or the outer circle of a community, and why.

Pure logic over daily activity counts (who contributed how often, never what they wrote):

- a **contribution** is a top-level message or a thread reply; reactions are a light signal that is
  reported but never counts toward the threshold;
- a member **qualifies** on day D when, in the window of `window_days` days ending on D, they made at
  least `inner_min_contributions` contributions on at least `inner_min_days` distinct days;
- an outer member who qualifies is **promoted at once**; an inner member who stops qualifying keeps
  their place for `demotion_grace_days` days after the last day they qualified, then moves out;
- the core group is named by people, not inferred: this module only decides inner or outer.

Every decision carries a `Reason` (an i18n key of `circles.toml` plus its parameters) so a member can
see, in plain words, why they are where they are. Render it with
`t(reason.key, lang, **reason.as_dict())`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, NamedTuple, Protocol

Circle = Literal["inner", "outer"]
CIRCLES: tuple[Circle, ...] = ("inner", "outer")


@dataclass(frozen=True)
class ActivityDay:
    """One member's activity on one day (several entries for the same day are summed)."""

    day: date
    contributions: int
    reactions: int = 0

    def __post_init__(self) -> None:
        if self.contributions < 0 or self.reactions < 0:
            raise ValueError(
                f"activity counts cannot be negative (contributions={self.contributions}, "
                f"reactions={self.reactions} on {self.day.isoformat()})"
            )


class DayCounts(Protocol):
    """What the rule reads of a day of activity: an ActivityDay, or a stored row as it is read (its
    counters only ever grow from zero), without building an ActivityDay for each (`/cdp me` reads one
    per day of every community's history: ~1.5 us each, most of the rule's own cost)."""

    @property
    def day(self) -> date: ...

    @property
    def contributions(self) -> int: ...

    @property
    def reactions(self) -> int: ...


@dataclass(frozen=True)
class Bounds:
    """A circle-rule setting's default and the lowest and highest values allowed, inclusive."""

    default: int
    low: int
    high: int

    def allows(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def clamp(self, value: int) -> int:
        return min(max(value, self.low), self.high)


# The one table of the circle rule's settings: the rule refuses what is outside it, and the settings form
# (bot.domain.communities.CIRCLE_RULE_SETTINGS) offers and checks exactly these values.
RULE_BOUNDS: dict[str, Bounds] = {
    "window_days": Bounds(30, 7, 365),
    "inner_min_contributions": Bounds(4, 1, 1000),
    "inner_min_days": Bounds(2, 1, 365),
    "demotion_grace_days": Bounds(45, 1, 365),  # 0 would demote the day a member stops qualifying
    "newcomer_days": Bounds(30, 1, 365),
    "lurking_days": Bounds(14, 1, 365),
}


@dataclass(frozen=True)
class CircleRule:
    """The settings of the circle rule, per community (each within `RULE_BOUNDS`)."""

    window_days: int = RULE_BOUNDS["window_days"].default
    inner_min_contributions: int = RULE_BOUNDS["inner_min_contributions"].default
    inner_min_days: int = RULE_BOUNDS["inner_min_days"].default
    demotion_grace_days: int = RULE_BOUNDS["demotion_grace_days"].default
    newcomer_days: int = RULE_BOUNDS["newcomer_days"].default
    lurking_days: int = RULE_BOUNDS["lurking_days"].default

    def __post_init__(self) -> None:
        for name, bounds in RULE_BOUNDS.items():
            value = getattr(self, name)
            if not bounds.allows(value):
                raise ValueError(
                    f"{name} must be a whole number from {bounds.low} to {bounds.high}, not {value!r}"
                )
        if self.inner_min_days > self.window_days:
            raise ValueError(
                f"inner_min_days ({self.inner_min_days}) cannot be more than "
                f"window_days ({self.window_days}): nobody could ever qualify"
            )
        if self.inner_min_days > self.inner_min_contributions:
            raise ValueError(
                f"inner_min_days ({self.inner_min_days}) cannot be more than "
                f"inner_min_contributions ({self.inner_min_contributions}): "
                "each day needs at least one contribution"
            )

    @classmethod
    def within_bounds(
        cls, *, window_days: int, inner_min_contributions: int, inner_min_days: int, demotion_grace_days: int
    ) -> CircleRule:
        """The nearest valid rule to these settings: each clamped into its bounds, and the distinct days
        lowered to what the window and the contributions allow."""
        window = RULE_BOUNDS["window_days"].clamp(window_days)
        contributions = RULE_BOUNDS["inner_min_contributions"].clamp(inner_min_contributions)
        days = min(RULE_BOUNDS["inner_min_days"].clamp(inner_min_days), window, contributions)
        return cls(
            window_days=window,
            inner_min_contributions=contributions,
            inner_min_days=days,
            demotion_grace_days=RULE_BOUNDS["demotion_grace_days"].clamp(demotion_grace_days),
        )

    @property
    def history_days(self) -> int:
        """How many days of history (ending today) `decide()` needs to see."""
        return self.window_days + self.demotion_grace_days

    def window_start(self, today: date) -> date:
        """First day of the window ending on `today` (inclusive)."""
        return today - timedelta(days=self.window_days - 1)


ParamValue = int | str


@dataclass(frozen=True)
class Reason:
    """Why a member is where they are: a `circles.toml` key and the values of its placeholders."""

    key: str
    params: tuple[tuple[str, ParamValue], ...] = field(default=())

    @classmethod
    def of(cls, key: str, **params: ParamValue) -> Reason:
        return cls(key, tuple(sorted(params.items())))

    def as_dict(self) -> dict[str, ParamValue]:
        """Parameters ready for `t(reason.key, lang, **reason.as_dict())` (which picks plural forms)."""
        return dict(self.params)


@dataclass(frozen=True)
class Progress:
    """What would move an outer member into the inner circle within the current window.

    `contributions_needed` is the least number of further contributions: at least one per missing
    day, so it is never smaller than `days_needed`.
    """

    contributions_needed: int
    days_needed: int

    @property
    def done(self) -> bool:
        return self.contributions_needed <= 0 and self.days_needed <= 0


@dataclass(frozen=True)
class WindowSummary:
    """A member's activity in the window ending today."""

    contributions: int
    days: int  # distinct days with at least one contribution
    reactions: int
    window_days: int


@dataclass(frozen=True)
class CircleDecision:
    circle: Circle
    previous: Circle
    reason: Reason
    summary: WindowSummary
    progress: Progress | None  # None when inner
    newcomer: bool
    lurking: bool
    grace_days_left: int | None  # inner but not qualifying: days left before demotion; else None

    @property
    def changed(self) -> bool:
        return self.circle != self.previous

    @property
    def promoted(self) -> bool:
        return self.previous == "outer" and self.circle == "inner"

    @property
    def demoted(self) -> bool:
        return self.previous == "inner" and self.circle == "outer"


# --- i18n keys (circles.toml) -------------------------------------------------------------------

REASON_INNER = "circles.reason.inner"
REASON_PROMOTED = "circles.reason.promoted"
REASON_INNER_GRACE = "circles.reason.inner_grace"
REASON_OUTER = "circles.reason.outer"
REASON_OUTER_QUIET = "circles.reason.outer_quiet"
REASON_NEWCOMER = "circles.reason.newcomer"
REASON_DEMOTED = "circles.reason.demoted"
PROGRESS_BOTH = "circles.progress.both"
PROGRESS_CONTRIBUTIONS = "circles.progress.contributions"
PROGRESS_DAYS = "circles.progress.days"


# --- the rule -------------------------------------------------------------------------------------


class _Day(NamedTuple):  # a tuple: the rule builds one per day of activity, cheaply
    contributions: int = 0
    reactions: int = 0


def _per_day(activity: Iterable[DayCounts], first: date, last: date) -> dict[date, _Day]:
    """Sum the entries of each day between `first` and `last` inclusive; ignore the rest."""
    days: dict[date, _Day] = {}
    for entry in activity:
        if first <= entry.day <= last:
            seen = days.get(entry.day, _Day())
            days[entry.day] = _Day(seen.contributions + entry.contributions, seen.reactions + entry.reactions)
    return days


def _summary(days: Mapping[date, _Day], rule: CircleRule, today: date) -> WindowSummary:
    start = rule.window_start(today)
    inside = [value for day, value in days.items() if start <= day <= today]
    return WindowSummary(
        contributions=sum(value.contributions for value in inside),
        days=sum(1 for value in inside if value.contributions > 0),
        reactions=sum(value.reactions for value in inside),
        window_days=rule.window_days,
    )


def _meets(summary: WindowSummary, rule: CircleRule) -> bool:
    return summary.contributions >= rule.inner_min_contributions and summary.days >= rule.inner_min_days


def summarise(activity: Iterable[DayCounts], rule: CircleRule, today: date) -> WindowSummary:
    """Contributions, distinct contribution days and reactions in the window ending on `today`."""
    return _summary(_per_day(activity, rule.window_start(today), today), rule, today)


def qualifies(activity: Iterable[DayCounts], rule: CircleRule, today: date) -> bool:
    """Whether the activity reaches the inner-circle threshold in the window ending on `today`."""
    return _meets(summarise(activity, rule, today), rule)


def _last_qualifying_day(
    days: Mapping[date, _Day], rule: CircleRule, first: date, today: date
) -> date | None:
    """The latest day in `first..today` on which the member qualified, with a sliding window.

    `days` must hold every day from `first - window_days + 1` to `today` that had activity.
    O(number of days scanned), whatever the window size.
    """
    window = rule.window_days
    origin = first - timedelta(days=window - 1)
    span = (today - origin).days + 1
    contributions = [0] * span
    active = [0] * span
    for day, value in days.items():
        index = (day - origin).days
        if 0 <= index < span:
            contributions[index] = value.contributions
            active[index] = 1 if value.contributions > 0 else 0
    total = sum(contributions[span - window :])
    distinct = sum(active[span - window :])
    # Walk back from today: drop the day entering the window, add the one that leaves it.
    for end in range(span - 1, window - 2, -1):
        if total >= rule.inner_min_contributions and distinct >= rule.inner_min_days:
            return origin + timedelta(days=end)
        leaving = end  # the day that leaves the window as it moves one day back
        entering = end - window  # the day that enters it
        total -= contributions[leaving]
        distinct -= active[leaving]
        if entering >= 0:
            total += contributions[entering]
            distinct += active[entering]
    return None


def progress_towards_inner(summary: WindowSummary, rule: CircleRule) -> Progress:
    days_needed = max(0, rule.inner_min_days - summary.days)
    contributions_needed = max(rule.inner_min_contributions - summary.contributions, days_needed, 0)
    return Progress(contributions_needed=contributions_needed, days_needed=days_needed)


def progress_reason(progress: Progress | None) -> Reason | None:
    """The message telling an outer member what would bring them into the inner circle, if anything."""
    if progress is None or progress.done:
        return None
    if progress.days_needed <= 0:
        return Reason.of(PROGRESS_CONTRIBUTIONS, contributions=progress.contributions_needed)
    if progress.contributions_needed <= progress.days_needed:
        # One contribution on each missing day is enough.
        return Reason.of(PROGRESS_DAYS, days=progress.days_needed)
    return Reason.of(PROGRESS_BOTH, contributions=progress.contributions_needed, days=progress.days_needed)


def promotion_reason(summary: WindowSummary, rule: CircleRule) -> Reason | None:
    """Why an outer member whose window is `summary` moves into the inner circle at once; None when they
    do not qualify. What `decide` says of an outer member, from the window figures alone: the event path
    gets them from one SQL statement instead of reading the member's days."""
    if not _meets(summary, rule):
        return None
    return Reason.of(
        REASON_PROMOTED, contributions=summary.contributions, days=summary.days, window=rule.window_days
    )


def decide(
    activity: Iterable[DayCounts],
    rule: CircleRule,
    *,
    today: date,
    current: Circle,
    circle_since: date,
    joined_on: date,
) -> CircleDecision:
    """Today's circle of a member whose circle is `current` (since `circle_since`).

    `activity` should cover at least the last `rule.history_days` days; older and future days are
    ignored for the circle. The newcomer and lurking flags look at every contribution given between
    `joined_on` and `today`. An inner member who does not qualify today keeps their place until
    `demotion_grace_days` days after the later of the last day they qualified and `circle_since`
    (so a member placed in the inner circle by other means also gets a full grace period).
    """
    if current not in CIRCLES:
        raise ValueError(f"current circle must be one of {CIRCLES}, not {current!r}")
    grace = rule.demotion_grace_days
    first_checked = today - timedelta(days=grace - 1)  # qualifying before this day is too old to count
    horizon = first_checked - timedelta(days=rule.window_days - 1)

    days: dict[date, _Day] = {}
    contributed_since_joining = False
    for entry in activity:
        if entry.day > today:
            continue
        if entry.contributions > 0 and entry.day >= joined_on:
            contributed_since_joining = True
        if entry.day >= horizon:
            seen = days.get(entry.day, _Day())
            days[entry.day] = _Day(seen.contributions + entry.contributions, seen.reactions + entry.reactions)

    summary = _summary(days, rule, today)
    qualifies_today = _meets(summary, rule)
    member_days = (today - joined_on).days
    newcomer = member_days < rule.newcomer_days and not contributed_since_joining
    lurking = member_days >= rule.lurking_days and not contributed_since_joining

    circle: Circle
    grace_days_left: int | None = None
    if qualifies_today:
        circle = "inner"
    elif current == "outer":
        circle = "outer"
    else:
        last = _last_qualifying_day(days, rule, first_checked, today)
        reference = min(circle_since, today) if last is None else max(last, min(circle_since, today))
        elapsed = (today - reference).days
        if elapsed < grace:
            circle = "inner"
            grace_days_left = grace - elapsed
        else:
            circle = "outer"

    threshold: dict[str, ParamValue] = {
        "min_contributions": rule.inner_min_contributions,
        "min_days": rule.inner_min_days,
        "window": rule.window_days,
    }
    if grace_days_left is not None:
        reason = Reason.of(REASON_INNER_GRACE, grace_days_left=grace_days_left, **threshold)
    elif circle == "inner":
        reason = Reason.of(
            REASON_PROMOTED if current == "outer" else REASON_INNER,
            contributions=summary.contributions,
            days=summary.days,
            window=rule.window_days,
        )
    elif current == "inner":
        reason = Reason.of(REASON_DEMOTED, grace=grace, **threshold)
    elif summary.contributions == 0:
        reason = Reason.of(REASON_NEWCOMER if newcomer else REASON_OUTER_QUIET, **threshold)
    else:
        reason = Reason.of(REASON_OUTER, contributions=summary.contributions, days=summary.days, **threshold)

    return CircleDecision(
        circle=circle,
        previous=current,
        reason=reason,
        summary=summary,
        progress=None if circle == "inner" else progress_towards_inner(summary, rule),
        newcomer=newcomer,
        lurking=lurking,
        grace_days_left=grace_days_left,
    )
