"""The circle rule in SQL (storage/repositories/circles.py) against its specification, the pure rule
(bot/domain/circles.py decide()), on random histories, settings and timezones, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bot.domain import circles as rule_domain
from bot.services import circles as circle_service
from storage.db import Database
from storage.models import ActivityDay, Community, Membership

TIMEZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Pacific/Kiritimati",
    "America/Santiago",
    "Asia/Kolkata",
]
CHANNELS = ["C1", "C2"]
# Between two DST changes of America/Santiago (one at midnight) and Europe/Paris, so the local-day
# boundaries move around the UTC instants the tests pick.
BASE = datetime(2026, 4, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    user_id: str
    circle: str
    circle_since: datetime
    left: bool
    activity: tuple[tuple[int, str, int, int], ...]  # (days before today, channel, contributions, reactions)


@dataclass(frozen=True)
class Case:
    timezone: str
    window_days: int
    min_contributions: int
    min_days: int
    grace_days: int
    members: tuple[Member, ...]


def _member(index: int) -> st.SearchStrategy[Member]:
    return st.builds(
        Member,
        user_id=st.just(f"U{index}"),
        circle=st.sampled_from(["inner", "outer"]),
        circle_since=st.integers(min_value=-150 * 24, max_value=30).map(lambda h: BASE + timedelta(hours=h)),
        left=st.sampled_from([False, False, False, True]),
        activity=st.lists(
            st.tuples(
                st.integers(min_value=-2, max_value=130),  # a negative offset is a day after today
                st.sampled_from(CHANNELS),
                st.integers(min_value=0, max_value=3),
                st.integers(min_value=0, max_value=2),
            ),
            max_size=25,
            unique_by=lambda entry: (entry[0], entry[1]),
        ).map(tuple),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    size = draw(st.integers(min_value=1, max_value=6))
    return Case(
        timezone=draw(st.sampled_from(TIMEZONES)),
        window_days=draw(st.integers(min_value=7, max_value=40)),
        min_contributions=draw(st.integers(min_value=1, max_value=8)),
        min_days=draw(st.integers(min_value=1, max_value=5)),
        grace_days=draw(st.integers(min_value=1, max_value=60)),
        members=tuple(draw(_member(index)) for index in range(size)),
    )


def _insert(session: Session, case: Case, team: str, slug: str, now: datetime) -> tuple[int, date]:
    zone = ZoneInfo(case.timezone)
    today = now.astimezone(zone).date()
    community = Community(
        team_id=team,
        name=slug,
        slug=slug,
        created_by="U0",
        created_at=BASE - timedelta(days=400),
        timezone=case.timezone,
        circle_window_days=case.window_days,
        inner_min_contributions=case.min_contributions,
        inner_min_days=case.min_days,
        demotion_grace_days=case.grace_days,
    )
    session.add(community)
    session.flush()
    for member in case.members:
        session.add(
            Membership(
                team_id=team,
                community_id=community.id,
                user_id=member.user_id,
                circle=member.circle,
                circle_since=member.circle_since,
                joined_at=BASE - timedelta(days=300),
                left_at=now if member.left else None,
            )
        )
        rows = [
            {
                "team_id": team,
                "community_id": community.id,
                "channel_id": channel,
                "user_id": member.user_id,
                "day": today - timedelta(days=offset),
                "contributions": contributions,
                "reactions": reactions,
            }
            for offset, channel, contributions, reactions in member.activity
        ]
        if rows:
            session.execute(insert(ActivityDay), rows)
    session.flush()
    return community.id, today


def _expected(case: Case, today: date) -> set[tuple[str, str, str, tuple[tuple[str, int | str], ...]]]:
    """What decide() says changes, for each member still in the community."""
    rule = rule_domain.CircleRule.within_bounds(
        window_days=case.window_days,
        inner_min_contributions=case.min_contributions,
        inner_min_days=case.min_days,
        demotion_grace_days=case.grace_days,
    )
    zone = ZoneInfo(case.timezone)
    result = set()
    for member in case.members:
        if member.left:
            continue
        decision = rule_domain.decide(
            [
                rule_domain.ActivityDay(today - timedelta(days=offset), contributions, reactions)
                for offset, _channel, contributions, reactions in member.activity
            ],
            rule,
            today=today,
            current="inner" if member.circle == "inner" else "outer",
            circle_since=member.circle_since.astimezone(zone).date(),
            joined_on=(BASE - timedelta(days=300)).astimezone(zone).date(),
        )
        if decision.changed:
            result.add((member.user_id, decision.circle, decision.reason.key, decision.reason.params))
    return result


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(cases(), min_size=1, max_size=3),
    hour=st.integers(min_value=0, max_value=23),
)
def test_the_sql_rule_moves_whom_the_pure_rule_moves(db: Database, batch: list[Case], hour: int) -> None:
    """Several communities in one call (different windows, timezones, graces): the same members move,
    in the same direction, with the same reason and parameters as the specification gives."""
    now = BASE + timedelta(hours=hour)
    session = db.sessions()
    try:
        expected: dict[int, set[tuple[str, str, str, tuple[tuple[str, int | str], ...]]]] = {}
        targets = []
        for index, case in enumerate(batch):
            community_id, today = _insert(session, case, "TPROP", f"c{index}", now)
            expected[community_id] = _expected(case, today)
            settings_ = circle_service.RuleSettings(
                team_id="TPROP",
                community_id=community_id,
                timezone=case.timezone,
                window_days=case.window_days,
                inner_min_contributions=case.min_contributions,
                inner_min_days=case.min_days,
                demotion_grace_days=case.grace_days,
            )
            targets.append(circle_service.circle_target(settings_, now))
        changes = circle_service.recompute_targets(session, targets=targets, now=now)
        got: dict[int, set[tuple[str, str, str, tuple[tuple[str, int | str], ...]]]] = {
            community_id: set() for community_id in expected
        }
        for change in changes:
            got[change.community_id].add(
                (change.user_id, change.circle, change.reason.key, change.reason.params)
            )
        assert got == expected
        # Applied: a second pass on the same day finds nobody left to move.
        assert circle_service.recompute_targets(session, targets=targets, now=now) == []
    finally:
        session.rollback()
        session.close()


def test_the_grace_period_ends_at_local_midnight(db: Database) -> None:
    """Inner since the first instant of the local day today - grace + 1: kept one more day; an instant
    earlier (the local day before): demoted today. The boundary is the community's midnight, not UTC's."""
    now = datetime(2026, 5, 15, 9, 0, tzinfo=UTC)
    zone = ZoneInfo("America/New_York")
    today = now.astimezone(zone).date()
    first_kept = datetime.combine(today - timedelta(days=44), datetime.min.time(), tzinfo=zone).astimezone(
        UTC
    )
    case = Case(
        timezone="America/New_York",
        window_days=30,
        min_contributions=4,
        min_days=2,
        grace_days=45,
        members=(
            Member("UKEPT", "inner", first_kept, False, ()),
            Member("UGONE", "inner", first_kept - timedelta(microseconds=1), False, ()),
        ),
    )
    session = db.sessions()
    try:
        community_id, today = _insert(session, case, "TEDGE", "edge", now)
        assert _expected(case, today) == {
            (
                "UGONE",
                "outer",
                rule_domain.REASON_DEMOTED,
                rule_domain.Reason.of(
                    rule_domain.REASON_DEMOTED, grace=45, min_contributions=4, min_days=2, window=30
                ).params,
            )
        }
        target = circle_service.circle_target(
            circle_service.RuleSettings("TEDGE", community_id, "America/New_York", 30, 4, 2, 45), now
        )
        changes = circle_service.recompute_targets(session, targets=[target], now=now)
        assert [(c.user_id, c.circle) for c in changes] == [("UGONE", "outer")]
    finally:
        session.rollback()
        session.close()
