"""Review cadence: due dates and instants in the community's timezone, DST, working hours, escalation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.cadence import (
    CADENCES,
    Escalation,
    ReviewSchedule,
    due_at,
    escalation_due,
    escalation_steps,
    first_review_on,
    is_due,
    is_valid_timezone,
    local_to_utc,
    next_review_on,
    next_working_time,
    snooze,
    within_working_hours,
)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
TIMEZONES = [
    PARIS,
    NEW_YORK,
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Africa/Dakar",
    "America/Montreal",
    "UTC",
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(PARIS))


# --- the schedule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("weeks", CADENCES)
def test_each_cadence_is_accepted(weeks: int) -> None:
    assert ReviewSchedule(weeks, PARIS).cadence_weeks == weeks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cadence_weeks": 3, "timezone": PARIS},
        {"cadence_weeks": 0, "timezone": PARIS},
        {"cadence_weeks": 4, "timezone": "Europe/Atlantis"},
        {"cadence_weeks": 4, "timezone": ""},
        {"cadence_weeks": 4, "timezone": "../etc/passwd"},
        {"cadence_weeks": 4, "timezone": PARIS, "weekday": 7},
        {"cadence_weeks": 4, "timezone": PARIS, "local_hour": 24},
        {"cadence_weeks": 4, "timezone": PARIS, "local_minute": 60},
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ReviewSchedule(**kwargs)  # type: ignore[arg-type]


def test_timezone_check() -> None:
    assert is_valid_timezone(PARIS)
    assert not is_valid_timezone("Mars/Olympus_Mons")


# --- which day a review falls on -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks", "weekday", "created", "expected"),
    [
        # Created on a Monday in Paris: exactly the cadence later, same weekday.
        (4, 0, paris(2026, 1, 5, 15, 0), date(2026, 2, 2)),
        # Created on a Wednesday: the Monday on or after creation + 2 weeks.
        (2, 0, paris(2026, 1, 7, 10, 0), date(2026, 1, 26)),
        # Sunday 23:30 UTC is already Monday in Paris: the local date counts.
        (2, 0, utc(2026, 1, 4, 23, 30), date(2026, 1, 19)),
        (8, 4, paris(2026, 1, 5, 9, 0), date(2026, 3, 6)),
        (12, 2, paris(2026, 1, 5, 9, 0), date(2026, 4, 1)),
    ],
)
def test_first_review(weeks: int, weekday: int, created: datetime, expected: date) -> None:
    assert first_review_on(ReviewSchedule(weeks, PARIS, weekday=weekday), created) == expected


def test_first_review_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        first_review_on(ReviewSchedule(4, PARIS), datetime(2026, 1, 5, 9))


@pytest.mark.parametrize(
    ("weeks", "after", "expected"),
    [
        (4, date(2026, 2, 2), date(2026, 3, 2)),  # done on the due Monday
        (4, date(2026, 2, 4), date(2026, 3, 9)),  # done two days late: the next Monday after +4 weeks
        (2, date(2026, 12, 21), date(2027, 1, 4)),  # across the year
    ],
)
def test_next_review(weeks: int, after: date, expected: date) -> None:
    assert next_review_on(ReviewSchedule(weeks, PARIS), after) == expected


@given(
    weeks=st.sampled_from(CADENCES),
    weekday=st.integers(0, 6),
    after=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
def test_next_review_is_the_weekday_in_the_week_after_the_cadence(
    weeks: int, weekday: int, after: date
) -> None:
    result = next_review_on(ReviewSchedule(weeks, PARIS, weekday=weekday), after)
    assert result.weekday() == weekday
    assert 0 <= (result - after).days - 7 * weeks < 7


@given(
    weeks=st.sampled_from(CADENCES),
    weekday=st.integers(0, 6),
    tz=st.sampled_from(TIMEZONES),
    created=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_first_review_is_at_least_a_cadence_after_creation(
    weeks: int, weekday: int, tz: str, created: datetime
) -> None:
    result = first_review_on(ReviewSchedule(weeks, tz, weekday=weekday), created)
    local_created = created.astimezone(ZoneInfo(tz)).date()
    assert result.weekday() == weekday
    assert 0 <= (result - local_created).days - 7 * weeks < 7


# --- the instant a review falls due, DST-safe -------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 1, 5), utc(2026, 1, 5, 8, 0)),  # winter: UTC+1
        (date(2026, 7, 6), utc(2026, 7, 6, 7, 0)),  # summer: UTC+2
        (date(2026, 3, 23), utc(2026, 3, 23, 8, 0)),  # the Monday before spring forward (Sun 29 March)
        (date(2026, 3, 30), utc(2026, 3, 30, 7, 0)),  # the Monday after
        (date(2026, 10, 19), utc(2026, 10, 19, 7, 0)),  # the Monday before fall back (Sun 25 October)
        (date(2026, 10, 26), utc(2026, 10, 26, 8, 0)),  # the Monday after
    ],
)
def test_paris_monday_nine_oclock(on: date, expected: datetime) -> None:
    assert due_at(ReviewSchedule(4, PARIS), on) == expected


def test_due_at_is_aware_utc() -> None:
    result = due_at(ReviewSchedule(4, PARIS), date(2026, 1, 5))
    assert result.tzinfo is UTC
    assert result.astimezone(ZoneInfo(PARIS)).time() == time(9, 0)


@pytest.mark.parametrize(
    ("tz", "on", "hour", "minute", "expected"),
    [
        # 02:00 and 02:30 do not exist in New York on 8 March 2026: the first valid instant is 03:00 EDT.
        (NEW_YORK, date(2026, 3, 8), 2, 0, utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2026, 3, 8), 2, 30, utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2026, 3, 8), 3, 0, utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2026, 3, 8), 1, 59, utc(2026, 3, 8, 6, 59)),
        # 01:30 happens twice on 1 November 2026: the first occurrence (still EDT, UTC-4).
        (NEW_YORK, date(2026, 11, 1), 1, 30, utc(2026, 11, 1, 5, 30)),
        # Paris: 02:30 does not exist on 29 March 2026; 02:30 happens twice on 25 October 2026.
        (PARIS, date(2026, 3, 29), 2, 30, utc(2026, 3, 29, 1, 0)),
        (PARIS, date(2026, 10, 25), 2, 30, utc(2026, 10, 25, 0, 30)),
        # Lord Howe moves by half an hour: 02:15 does not exist on 4 October 2026, clocks jump to 02:30.
        ("Australia/Lord_Howe", date(2026, 10, 4), 2, 15, utc(2026, 10, 3, 15, 30)),
        # Samoa skipped 30 December 2011 altogether: the first valid instant is midnight on the 31st.
        ("Pacific/Apia", date(2011, 12, 30), 9, 0, utc(2011, 12, 30, 10, 0)),
    ],
)
def test_dst_gaps_and_folds(tz: str, on: date, hour: int, minute: int, expected: datetime) -> None:
    assert local_to_utc(tz, on, time(hour, minute)) == expected


def test_sunday_review_at_two_in_new_york_on_spring_forward() -> None:
    schedule = ReviewSchedule(2, NEW_YORK, weekday=6, local_hour=2)
    assert next_review_on(schedule, date(2026, 2, 22)) == date(2026, 3, 8)
    assert due_at(schedule, date(2026, 3, 8)) == utc(2026, 3, 8, 7, 0)
    assert due_at(schedule, date(2026, 3, 8)).astimezone(ZoneInfo(NEW_YORK)).time() == time(3, 0)
    assert due_at(schedule, date(2026, 3, 22)) == utc(2026, 3, 22, 6, 0)  # 02:00 EDT exists again


@given(
    tz=st.sampled_from([*TIMEZONES, "Pacific/Apia", "America/Havana", "Europe/Dublin"]),
    on=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_due_at_is_never_before_the_wall_clock_time(tz: str, on: date, hour: int, minute: int) -> None:
    result = local_to_utc(tz, on, time(hour, minute))
    local = result.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    wanted = datetime.combine(on, time(hour, minute))
    assert result.tzinfo is UTC
    assert wanted <= local < wanted + timedelta(days=1)
    if local != wanted:  # only in a gap: the instant just before is still on the old side of it
        before = (result - timedelta(seconds=1)).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        assert before < wanted


def test_due_exactly_at_the_instant() -> None:
    schedule = ReviewSchedule(4, PARIS)
    on = date(2026, 1, 5)
    assert not is_due(schedule, on, utc(2026, 1, 5, 7, 59, 59))
    assert is_due(schedule, on, utc(2026, 1, 5, 8, 0))
    assert is_due(schedule, on, utc(2026, 1, 5, 8, 0).astimezone(ZoneInfo(PARIS)))  # any aware zone
    assert is_due(schedule, on, utc(2026, 2, 1))


def test_is_due_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        is_due(ReviewSchedule(4, PARIS), date(2026, 1, 5), datetime(2026, 1, 5, 9))


# --- working hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (paris(2026, 1, 5, 8, 59), False),  # Monday
        (paris(2026, 1, 5, 9, 0), True),
        (paris(2026, 1, 5, 17, 59), True),
        (paris(2026, 1, 5, 18, 0), False),
        (paris(2026, 1, 9, 17, 59), True),  # Friday
        (paris(2026, 1, 10, 11, 0), False),  # Saturday
        (paris(2026, 1, 11, 11, 0), False),  # Sunday
        (paris(2026, 7, 6, 9, 0), True),  # summer time
    ],
)
def test_within_working_hours(local: datetime, expected: bool) -> None:
    assert within_working_hours(PARIS, local.astimezone(UTC)) is expected


def test_working_hours_are_local() -> None:
    monday_8_utc = utc(2026, 1, 5, 8, 0)  # 09:00 in Paris, 03:00 in New York
    assert within_working_hours(PARIS, monday_8_utc)
    assert not within_working_hours(NEW_YORK, monday_8_utc)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (paris(2026, 1, 9, 18, 30), paris(2026, 1, 12, 9, 0)),  # Friday evening -> Monday morning
        (paris(2026, 3, 27, 18, 30), paris(2026, 3, 30, 9, 0)),  # ... across spring forward
        (paris(2026, 1, 10, 10, 0), paris(2026, 1, 12, 9, 0)),  # Saturday
        (paris(2026, 1, 6, 7, 0), paris(2026, 1, 6, 9, 0)),  # Tuesday early: same day
        (paris(2026, 1, 6, 0, 0), paris(2026, 1, 6, 9, 0)),
        (paris(2026, 1, 6, 23, 0), paris(2026, 1, 7, 9, 0)),  # Tuesday late: next day
        (paris(2026, 1, 6, 18, 0), paris(2026, 1, 7, 9, 0)),
        (paris(2026, 1, 6, 11, 15), paris(2026, 1, 6, 11, 15)),  # within: now
    ],
)
def test_next_working_time(now: datetime, expected: datetime) -> None:
    result = next_working_time(PARIS, now.astimezone(UTC))
    assert result == expected
    assert result.tzinfo is UTC


def test_friday_evening_to_monday_nine_in_utc() -> None:
    assert next_working_time(PARIS, utc(2026, 3, 27, 17, 30)) == utc(2026, 3, 30, 7, 0)


@given(
    tz=st.sampled_from(TIMEZONES),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_next_working_time_is_soon_and_within_working_hours(tz: str, now: datetime) -> None:
    result = next_working_time(tz, now)
    assert result >= now
    assert within_working_hours(tz, result)
    assert result - now < timedelta(days=3, hours=16)  # Friday 18:00 -> Monday 09:00, plus DST slack
    assert (result == now) is within_working_hours(tz, now)


# --- escalation of an unanswered review ----------------------------------------------------------

SENT = utc(2026, 1, 5, 8, 0)


@pytest.mark.parametrize(
    ("level_sent", "elapsed", "expected"),
    [
        (0, timedelta(0), None),
        (0, timedelta(days=3) - timedelta(seconds=1), None),
        (0, timedelta(days=3), Escalation.MODERATORS_REMINDER),
        (0, timedelta(days=10), Escalation.MODERATORS_REMINDER),  # steps are never skipped
        (1, timedelta(days=3), None),
        (1, timedelta(days=6) - timedelta(seconds=1), None),
        (1, timedelta(days=6), Escalation.CO_MODERATORS_AND_CREATOR),
        (2, timedelta(days=30), None),  # all steps sent
    ],
)
def test_escalation_due(level_sent: int, elapsed: timedelta, expected: Escalation | None) -> None:
    assert escalation_due(SENT, level_sent, SENT + elapsed) == expected


def test_escalation_levels_and_steps() -> None:
    assert [int(level) for level in Escalation] == [0, 1, 2]
    assert escalation_steps(SENT) == (
        (Escalation.FIRST_PROMPT, SENT),
        (Escalation.MODERATORS_REMINDER, SENT + timedelta(days=3)),
        (Escalation.CO_MODERATORS_AND_CREATOR, SENT + timedelta(days=6)),
    )


def test_escalation_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        escalation_due(SENT, -1, SENT)
    with pytest.raises(ValueError):
        escalation_due(datetime(2026, 1, 5), 0, SENT)


@given(level_sent=st.integers(0, 2), hours=st.integers(0, 24 * 20))
def test_escalation_is_the_next_level_once_its_delay_passed(level_sent: int, hours: int) -> None:
    result = escalation_due(SENT, level_sent, SENT + timedelta(hours=hours))
    if result is not None:
        assert result == level_sent + 1
        assert hours >= 72 * result


def test_snooze() -> None:
    assert snooze(SENT) == SENT + timedelta(days=7)
    assert snooze(SENT, 2) == SENT + timedelta(days=2)
    with pytest.raises(ValueError):
        snooze(SENT, 0)
