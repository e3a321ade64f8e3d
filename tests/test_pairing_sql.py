"""Pairing's SQL held to its rule, on SQLite and PostgreSQL: the new lurkers found by one statement are
exactly the members the rule names; concurrent claims never introduce a pair twice."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from storage.db import Database
from storage.models import ActivityDay, Community, Intro, Membership, PairingPerson
from storage.repositories import pairing as repo

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
TEAM = "T1"


def _spec(
    communities: list[Community],
    members: list[Membership],
    days: list[ActivityDay],
    asked: set[tuple[int, str]],
    out: set[str],
) -> set[tuple[str, int, str]]:
    """The rule, plainly: outer-circle members (not moderators) still here, of active communities with
    pairing on, who joined `pairing_after_days` or more ago, contributed nothing since the day before
    they joined, never asked or were introduced there, and did not switch pairing off."""
    by_id = {c.id: c for c in communities}
    found = set()
    for m in members:
        c = by_id[m.community_id]
        if m.left_at is not None or m.role == "core" or m.circle != "outer":
            continue
        if c.status != "active" or not c.pairing_enabled:
            continue
        if m.joined_at > NOW - timedelta(days=c.pairing_after_days):
            continue
        since = m.joined_at.date() - timedelta(days=1)
        posted = any(
            d.community_id == m.community_id
            and d.user_id == m.user_id
            and d.day >= since
            and d.contributions > 0
            for d in days
        )
        if posted or (m.community_id, m.user_id) in asked or m.user_id in out:
            continue
        found.add((TEAM, m.community_id, m.user_id))
    return found


def test_new_lurkers_match_the_rule(db: Database) -> None:
    rng = random.Random(10)
    users = [f"U{i:02d}" for i in range(30)]
    with db.session() as s:
        communities = []
        for n in range(6):
            c = Community(
                team_id=TEAM,
                name=f"C{n}",
                slug=f"c{n}",
                created_by=users[0],
                created_at=NOW - timedelta(days=100),
                status="dissolved" if n == 5 else "active",
                pairing_enabled=n != 4,
                pairing_after_days=rng.choice([1, 3, 10, 20]),
            )
            s.add(c)
            communities.append(c)
        s.flush()
        members = []
        for c in communities:
            for user in rng.sample(users, 12):
                joined = NOW - timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 23))
                m = Membership(
                    team_id=TEAM,
                    community_id=c.id,
                    user_id=user,
                    role="core" if rng.random() < 0.15 else "member",
                    circle="inner" if rng.random() < 0.2 else "outer",
                    circle_since=joined,
                    joined_at=joined,
                    left_at=NOW if rng.random() < 0.1 else None,
                )
                s.add(m)
                members.append(m)
        s.flush()
        days = []
        for m in members:
            for _ in range(rng.randint(0, 2)):
                day = ActivityDay(
                    team_id=TEAM,
                    community_id=m.community_id,
                    channel_id="C",
                    user_id=m.user_id,
                    day=(m.joined_at + timedelta(days=rng.randint(-5, 10))).date(),
                    contributions=rng.choice([0, 1]),
                    reactions=1,
                )
                if all(
                    (d.community_id, d.user_id, d.day) != (day.community_id, day.user_id, day.day)
                    for d in days
                ):
                    s.add(day)
                    days.append(day)
        asked = {(m.community_id, m.user_id) for m in rng.sample(members, 8)}
        for community_id, user in asked:
            s.add(
                Intro(
                    team_id=TEAM,
                    community_id=community_id,
                    newcomer=user,
                    reason="asked",
                    requested_by=user,
                    requested_at=NOW,
                    status=rng.choice(["waiting", "cancelled"]),
                )
            )
        out = set(rng.sample(users, 4))
        for user in out:
            s.add(PairingPerson(team_id=TEAM, user_id=user, opted_out=True))
        s.flush()
        expected = _spec(communities, members, days, asked, out)
        found = repo.new_lurkers(s, now=NOW, limit=10_000)
    assert expected, "the data should name some lurkers"
    assert set(found) == expected
    assert len(found) == len(expected)


def test_a_partner_is_claimed_once_a_week_whatever_the_concurrency(db: Database) -> None:
    rest = timedelta(days=7)
    with db.session() as s:
        assert repo.claim_partner(s, team_id=TEAM, user_id="UP", now=NOW, rest=rest)
    with db.session() as s:
        assert not repo.claim_partner(s, team_id=TEAM, user_id="UP", now=NOW + timedelta(days=6), rest=rest)
    with db.session() as s:
        repo.set_opted_out(s, team_id=TEAM, user_id="UP", value=True, now=NOW)
    with db.session() as s:
        assert not repo.claim_partner(s, team_id=TEAM, user_id="UP", now=NOW + timedelta(days=8), rest=rest)
    with db.session() as s:
        repo.set_opted_out(s, team_id=TEAM, user_id="UP", value=False, now=NOW)
    with db.session() as s:
        assert repo.claim_partner(s, team_id=TEAM, user_id="UP", now=NOW + timedelta(days=8), rest=rest)


def test_one_waiting_request_per_newcomer_and_community(db: Database) -> None:
    with db.session() as s:
        c = Community(team_id=TEAM, name="C", slug="c", created_by="UA", created_at=NOW)
        s.add(c)
        s.flush()
        kwargs = {
            "team_id": TEAM,
            "community_id": c.id,
            "newcomer": "UN",
            "reason": "asked",
            "requested_by": "UN",
            "newcomer_tz": None,
            "now": NOW,
        }
        first = repo.add_request(s, **kwargs)  # type: ignore[arg-type]
        assert first is not None
        assert repo.add_request(s, **kwargs) is None  # type: ignore[arg-type]
        assert (
            repo.add_requests(
                s,
                rows=[
                    {k: kwargs[k] for k in ("team_id", "community_id", "newcomer", "reason", "requested_by")}
                ],
                now=NOW,
            )
            == 0
        )
        # Introduced, the request is no longer waiting: the newcomer may ask again.
        assert repo.claim_intro(
            s, intro_id=first, partner="UP", pair=("UN", "UP"), now=NOW, check_back_at=NOW + timedelta(days=7)
        )
        assert repo.add_request(s, **kwargs) is not None  # type: ignore[arg-type]
