"""When checklist reviews fall due, in the community's IANA timezone, and how an unanswered review escalates.

Pure rules: dates and aware datetimes in, dates and aware UTC datetimes out. Daylight-saving time is
handled here once: a local review time that does not exist (spring forward) moves forward to the first
valid instant; a local time that happens twice (fall back) takes its first occurrence.

Nothing is sent outside working hours: the caller passes every send time through `next_working_time`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CADENCES: tuple[int, ...] = (2, 4, 8, 12)
"""Weeks between two checklist reviews of a community."""

WORKING_HOURS: tuple[int, int] = (9, 18)
"""Local hours [start, end): 09:00 is inside, 18:00 is outside."""

WORKING_DAYS: frozenset[int] = frozenset(range(5))
"""Monday (0) to Friday (4)."""

ESCALATION_DELAY = timedelta(days=3)
"""Time between two escalation steps of an unanswered review."""

SNOOZE_DAYS = 7


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA timezone `name`; ValueError when it is not one."""
    if not name or not isinstance(name, str):
        raise ValueError(f"unknown timezone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:  # malformed keys raise ValueError/OSError
        raise ValueError(f"unknown timezone: {name!r}") from error


def is_valid_timezone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def _on_or_after(day: date, weekday: int) -> date:
    """The first day >= `day` that falls on `weekday` (0 = Monday)."""
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def local_to_utc(tz: str, day: date, at: time) -> datetime:
    """The aware UTC instant of wall-clock `at` on `day` in `tz`, DST-safe.

    - A wall-clock time inside a gap (it does not exist, e.g. 02:30 on a spring-forward night) moves
      forward to the first valid instant, i.e. the moment the clocks jump (03:00 local, new offset).
    - A wall-clock time inside a fold (it happens twice, e.g. 01:30 on a fall-back night) takes the
      first occurrence (the offset in force before the clocks go back).
    """
    tzinfo = zone(tz)
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=tzinfo, fold=0)  # in a fold: the first occurrence
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(tzinfo).replace(tzinfo=None) == naive:
        return as_utc
    # In a gap: fold=0 reads the wall time with the offset before the jump, fold=1 with the offset
    # after it; the jump itself lies between the two instants. Find it to the second.
    before_offset = first.utcoffset()
    low = int(naive.replace(tzinfo=tzinfo, fold=1).astimezone(UTC).timestamp())  # still the old offset
    high = int(as_utc.timestamp())  # already the new offset
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tzinfo).utcoffset() == before_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


@dataclass(frozen=True)
class ReviewSchedule:
    """A community's review cadence: every `cadence_weeks` weeks, on `weekday` at local_hour:local_minute."""

    cadence_weeks: int
    timezone: str
    weekday: int = 0  # 0 = Monday
    local_hour: int = 9
    local_minute: int = 0

    def __post_init__(self) -> None:
        if self.cadence_weeks not in CADENCES:
            raise ValueError(f"cadence_weeks must be one of {CADENCES}, not {self.cadence_weeks!r}")
        zone(self.timezone)
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday!r}")
        if not 0 <= self.local_hour <= 23:
            raise ValueError(f"local_hour must be 0 to 23, not {self.local_hour!r}")
        if not 0 <= self.local_minute <= 59:
            raise ValueError(f"local_minute must be 0 to 59, not {self.local_minute!r}")

    @property
    def interval(self) -> timedelta:
        return timedelta(weeks=self.cadence_weeks)

    @property
    def local_time(self) -> time:
        return time(self.local_hour, self.local_minute)


def first_review_on(schedule: ReviewSchedule, created: datetime) -> date:
    """The first review of a community created at `created` (aware): the first configured weekday on or
    after the local creation date plus the cadence."""
    _require_aware(created, "created")
    created_local = created.astimezone(zone(schedule.timezone)).date()
    return _on_or_after(created_local + schedule.interval, schedule.weekday)


def next_review_on(schedule: ReviewSchedule, after: date) -> date:
    """The review after one completed on local date `after`: the configured weekday on or after
    `after` plus the cadence."""
    return _on_or_after(after + schedule.interval, schedule.weekday)


def due_at(schedule: ReviewSchedule, on: date) -> datetime:
    """The aware UTC instant a review on local date `on` falls due (see `local_to_utc` for DST)."""
    return local_to_utc(schedule.timezone, on, schedule.local_time)


def is_due(schedule: ReviewSchedule, on: date, now: datetime) -> bool:
    """True from the due instant on (inclusive)."""
    _require_aware(now, "now")
    return now >= due_at(schedule, on)


def within_working_hours(tz: str, now: datetime) -> bool:
    """Monday to Friday, 09:00 <= local time < 18:00, in `tz`."""
    _require_aware(now, "now")
    local = now.astimezone(zone(tz))
    start, end = WORKING_HOURS
    return local.weekday() in WORKING_DAYS and start <= local.hour < end


def next_working_time(tz: str, now: datetime) -> datetime:
    """`now` (in UTC) when it is within working hours in `tz`, else the next 09:00 local on a working day."""
    _require_aware(now, "now")
    if within_working_hours(tz, now):
        return now.astimezone(UTC)
    local = now.astimezone(zone(tz))
    start, _ = WORKING_HOURS
    day = local.date()
    if local.hour >= start or day.weekday() not in WORKING_DAYS:
        day += timedelta(days=1)
    while day.weekday() not in WORKING_DAYS:
        day += timedelta(days=1)
    return local_to_utc(tz, day, time(start))


class Escalation(IntEnum):
    """Who an unanswered review goes to, step by step."""

    FIRST_PROMPT = 0  # the review prompt, to the moderators
    MODERATORS_REMINDER = 1  # 3 days later, unanswered: reminded to the moderators
    CO_MODERATORS_AND_CREATOR = 2  # 3 more days: to the co-moderators and the community's creator

    @property
    def delay(self) -> timedelta:
        """Time after the first prompt at which this step falls due."""
        return ESCALATION_DELAY * int(self)


def escalation_steps(sent_at: datetime) -> tuple[tuple[Escalation, datetime], ...]:
    """Every step of an unanswered review first sent at `sent_at`, with the instant it falls due."""
    _require_aware(sent_at, "sent_at")
    return tuple((level, sent_at + level.delay) for level in Escalation)


def escalation_due(first_sent_at: datetime, level_sent: int, now: datetime) -> Escalation | None:
    """The next step to send, when its time has come; None when nothing is due or all steps were sent.

    Steps are never skipped: a caller that was down for a week sends level 1, then level 2 on its next call.
    """
    _require_aware(first_sent_at, "first_sent_at")
    _require_aware(now, "now")
    if level_sent < Escalation.FIRST_PROMPT:
        raise ValueError(f"level_sent must be >= 0, not {level_sent!r}")
    if level_sent >= max(Escalation):
        return None
    following = Escalation(level_sent + 1)
    return following if now >= first_sent_at + following.delay else None


def snooze(until_from: datetime, days: int = SNOOZE_DAYS) -> datetime:
    """The instant a review snoozed at `until_from` for `days` days comes back."""
    _require_aware(until_from, "until_from")
    if days < 1:
        raise ValueError(f"days must be >= 1, not {days!r}")
    return until_from + timedelta(days=days)
