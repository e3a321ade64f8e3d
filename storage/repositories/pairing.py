"""Pairing's queries: requests to be introduced, intros, opt-outs, partners' claims. Never commits.

The pairing pass reads only what is due (`intros.due_at <= now`, an index range scan), the new lurkers
(one statement over the memberships, for every community at once), and the partners of the communities
of the requests it handles; each claim is a compare-and-set, so two instances never introduce a
newcomer twice nor a partner twice in a week.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.orm import Session

from storage.models import Community, Intro, Membership, PairingPerson
from storage.repositories.upsert import dialect_insert, insert_ignoring_conflicts

WAITING = "waiting"
INTRODUCED = "introduced"
CANCELLED = "cancelled"


# ---- opt-outs ------------------------------------------------------------------------------------
def opted_out(session: Session, *, team_id: str, user_ids: Collection[str]) -> set[str]:
    if not user_ids:
        return set()
    rows = session.execute(
        select(PairingPerson.user_id).where(
            PairingPerson.team_id == team_id,
            PairingPerson.user_id.in_(list(user_ids)),
            PairingPerson.opted_out.is_(True),
        )
    ).scalars()
    return set(rows)


def _ensure_person(session: Session, *, team_id: str, user_id: str) -> None:
    session.execute(
        insert_ignoring_conflicts(session, PairingPerson, ["team_id", "user_id"]).values(
            team_id=team_id, user_id=user_id, opted_out=False
        )
    )


def ensure_people(session: Session, *, team_id: str, user_ids: Collection[str]) -> None:
    """A row for each of these people (one statement), so that their claims are plain UPDATEs."""
    wanted = sorted(set(user_ids))  # sorted: two passes insert in the same order, never deadlock
    for start in range(0, len(wanted), 1000):
        session.execute(
            insert_ignoring_conflicts(session, PairingPerson, ["team_id", "user_id"]).values(
                [{"team_id": team_id, "user_id": u, "opted_out": False} for u in wanted[start : start + 1000]]
            )
        )


def set_opted_out(session: Session, *, team_id: str, user_id: str, value: bool, now: datetime) -> bool:
    """Switch pairing off (True) or on (False) for a person; True when that changed something."""
    _ensure_person(session, team_id=team_id, user_id=user_id)
    result = session.execute(
        update(PairingPerson)
        .where(
            PairingPerson.team_id == team_id,
            PairingPerson.user_id == user_id,
            PairingPerson.opted_out.is_not(value),
        )
        .values(opted_out=value, changed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def claim_partner(
    session: Session, *, team_id: str, user_id: str, now: datetime, rest: timedelta, ensure: bool = True
) -> bool:
    """Take this person as a partner now, unless they were one less than `rest` ago or switched pairing
    off (compare-and-set: of two concurrent passes, one wins). `ensure=False`: the caller already made
    their row (`ensure_people`)."""
    if ensure:
        _ensure_person(session, team_id=team_id, user_id=user_id)
    result = session.execute(
        update(PairingPerson)
        .where(
            PairingPerson.team_id == team_id,
            PairingPerson.user_id == user_id,
            PairingPerson.opted_out.is_(False),
            or_(PairingPerson.last_paired_at.is_(None), PairingPerson.last_paired_at <= now - rest),
        )
        .values(last_paired_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# ---- requests --------------------------------------------------------------------------------------
def add_request(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    newcomer: str,
    reason: str,
    requested_by: str,
    newcomer_tz: str | None,
    now: datetime,
) -> int | None:
    """A waiting request, due now; None when the newcomer already has one in this community (the
    partial unique index decides, whatever runs concurrently)."""
    statement = (
        dialect_insert(session, Intro)
        .values(
            team_id=team_id,
            community_id=community_id,
            newcomer=newcomer,
            reason=reason,
            requested_by=requested_by,
            requested_at=now,
            newcomer_tz=newcomer_tz,
            status=WAITING,
            due_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["team_id", "community_id", "newcomer"], index_where=Intro.status == WAITING
        )
        .returning(Intro.id)
    )
    return session.execute(statement).scalar_one_or_none()


def add_requests(session: Session, *, rows: list[dict[str, Any]], now: datetime) -> int:
    """Many waiting requests at once (the lurkers found by a pass); existing ones are left alone."""
    if not rows:
        return 0
    values = [
        {**row, "requested_at": now, "status": WAITING, "due_at": now, "newcomer_tz": None} for row in rows
    ]
    statement = (
        dialect_insert(session, Intro)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=["team_id", "community_id", "newcomer"], index_where=Intro.status == WAITING
        )
        .returning(Intro.id)
    )
    return len(session.execute(statement).all())


def waiting_of(session: Session, *, team_id: str, community_id: int, newcomer: str) -> Intro | None:
    return session.scalars(
        select(Intro).where(
            Intro.team_id == team_id,
            Intro.community_id == community_id,
            Intro.newcomer == newcomer,
            Intro.status == WAITING,
        )
    ).first()


def cancel_waiting_of(session: Session, *, team_id: str, newcomer: str) -> int:
    """Someone switched pairing off: their waiting requests (every community) are dropped."""
    result = session.execute(
        update(Intro)
        .where(Intro.team_id == team_id, Intro.newcomer == newcomer, Intro.status == WAITING)
        .values(status=CANCELLED, due_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# PostgreSQL: "joined N days ago or more" with the community's own N, "nothing contributed since the
# day they joined" as an anti-join on ix_activity_days_member, "never asked/introduced here" on
# ix_intros_newcomer. The day of joining is taken one day early: activity days are local dates.
_LURKERS_PG = """
    SELECT m.team_id, m.community_id, m.user_id
    FROM memberships m
    JOIN communities c ON c.id = m.community_id
    WHERE m.left_at IS NULL AND m.role <> 'core' AND m.circle = 'outer'
      AND c.status = 'active' AND c.pairing_enabled
      AND m.joined_at <= CAST(:now AS timestamp) - make_interval(days => c.pairing_after_days)
      AND NOT EXISTS (
          SELECT 1 FROM activity_days a
          WHERE a.team_id = m.team_id AND a.community_id = m.community_id AND a.user_id = m.user_id
            AND a.day >= CAST(m.joined_at AS date) - 1 AND a.contributions > 0
      )
      AND NOT EXISTS (
          SELECT 1 FROM intros i
          WHERE i.team_id = m.team_id AND i.newcomer = m.user_id AND i.community_id = m.community_id
      )
      AND NOT EXISTS (
          SELECT 1 FROM pairing_people p
          WHERE p.team_id = m.team_id AND p.user_id = m.user_id AND p.opted_out
      )
    ORDER BY m.joined_at, m.id
    LIMIT :limit
"""
# SQLite stores naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format): text comparison orders
# it; strftime() subtracts the community's days, to the millisecond, written in the same format.
_LURKERS_SQLITE = """
    SELECT m.team_id, m.community_id, m.user_id
    FROM memberships m
    JOIN communities c ON c.id = m.community_id
    WHERE m.left_at IS NULL AND m.role <> 'core' AND m.circle = 'outer'
      AND c.status = 'active' AND c.pairing_enabled
      AND m.joined_at <= strftime('%Y-%m-%d %H:%M:%f', :now, '-' || c.pairing_after_days || ' days') || '000'
      AND NOT EXISTS (
          SELECT 1 FROM activity_days a
          WHERE a.team_id = m.team_id AND a.community_id = m.community_id AND a.user_id = m.user_id
            AND a.day >= date(m.joined_at, '-1 day') AND a.contributions > 0
      )
      AND NOT EXISTS (
          SELECT 1 FROM intros i
          WHERE i.team_id = m.team_id AND i.newcomer = m.user_id AND i.community_id = m.community_id
      )
      AND NOT EXISTS (
          SELECT 1 FROM pairing_people p
          WHERE p.team_id = m.team_id AND p.user_id = m.user_id AND p.opted_out
      )
    ORDER BY m.joined_at, m.id
    LIMIT :limit
"""


def new_lurkers(session: Session, *, now: datetime, limit: int) -> list[tuple[str, int, str]]:
    """(team, community, user) of members (not moderators) of communities with pairing on, who joined
    the community's `pairing_after_days` or more ago, contributed nothing since, never had a request or
    an intro there and did not switch pairing off; oldest first, at most `limit`."""
    postgres = session.get_bind().dialect.name == "postgresql"
    naive = now.replace(tzinfo=None)
    rows = session.execute(
        text(_LURKERS_PG if postgres else _LURKERS_SQLITE),
        {"now": naive if postgres else naive.strftime("%Y-%m-%d %H:%M:%S.%f"), "limit": limit},
    ).all()
    return [(str(team), int(community), str(user)) for team, community, user in rows]


# ---- the pass ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueIntro:
    id: int
    team_id: str
    community_id: int
    newcomer: str
    partner: str | None
    status: str
    newcomer_tz: str | None
    channel_id: str | None
    community_status: str
    pairing_enabled: bool
    timezone: str
    name: str
    domain: str
    objectives: list[str]


def due(session: Session, *, now: datetime, limit: int) -> list[DueIntro]:
    """Intros with something to do (`due_at <= now`), soonest first, with their community."""
    rows = session.execute(
        select(
            Intro.id,
            Intro.team_id,
            Intro.community_id,
            Intro.newcomer,
            Intro.partner,
            Intro.status,
            Intro.newcomer_tz,
            Intro.channel_id,
            Community.status,
            Community.pairing_enabled,
            Community.timezone,
            Community.name,
            Community.domain,
            Community.objectives,
        )
        .join(Community, Community.id == Intro.community_id)
        .where(Intro.due_at <= now)
        .order_by(Intro.due_at, Intro.id)
        .limit(limit)
    ).all()
    return [
        DueIntro(
            id=int(r[0]),
            team_id=str(r[1]),
            community_id=int(r[2]),
            newcomer=str(r[3]),
            partner=r[4],
            status=str(r[5]),
            newcomer_tz=r[6],
            channel_id=r[7],
            community_status=str(r[8]),
            pairing_enabled=bool(r[9]),
            timezone=str(r[10]),
            name=str(r[11]),
            domain=str(r[12] or ""),
            objectives=[str(o) for o in (r[13] or [])],
        )
        for r in rows
    ]


def reschedule(session: Session, *, steps: Iterable[tuple[int, datetime | None]]) -> None:
    """Move each intro's next step (None: nothing left to do)."""
    for intro_id, when in steps:
        session.execute(
            update(Intro)
            .where(Intro.id == intro_id)
            .values(due_at=when)
            .execution_options(synchronize_session=False)
        )


def cancel(session: Session, *, intro_ids: Collection[int]) -> None:
    if intro_ids:
        session.execute(
            update(Intro)
            .where(Intro.id.in_(list(intro_ids)), Intro.status == WAITING)
            .values(status=CANCELLED, due_at=None)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class PartnerRow:
    community_id: int
    user_id: str
    inner: bool
    moderator: bool
    opted_out: bool
    last_paired_at: datetime | None


def partners(session: Session, *, community_ids: Collection[int]) -> dict[int, list[PartnerRow]]:
    """The inner circle and the moderators of these communities, with what pairing knows of them."""
    if not community_ids:
        return {}
    rows = session.execute(
        select(
            Membership.community_id,
            Membership.user_id,
            Membership.circle,
            Membership.role,
            PairingPerson.opted_out,
            PairingPerson.last_paired_at,
        )
        .outerjoin(
            PairingPerson,
            and_(PairingPerson.team_id == Membership.team_id, PairingPerson.user_id == Membership.user_id),
        )
        .where(
            Membership.community_id.in_(list(community_ids)),
            Membership.left_at.is_(None),
            or_(Membership.circle == "inner", Membership.role == "core"),
        )
        .order_by(Membership.community_id, Membership.id)
    ).all()
    result: dict[int, list[PartnerRow]] = defaultdict(list)
    for community_id, user_id, circle, role, out, last in rows:
        result[int(community_id)].append(
            PartnerRow(int(community_id), str(user_id), circle == "inner", role == "core", bool(out), last)
        )
    return result


def still_members(session: Session, *, items: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of these (community, person), those who are still members (a newcomer may leave while waiting)."""
    if not items:
        return set()
    rows = session.execute(
        select(Membership.community_id, Membership.user_id).where(
            Membership.community_id.in_({c for c, _ in items}),
            Membership.user_id.in_({u for _, u in items}),
            Membership.left_at.is_(None),
        )
    ).all()
    return {(int(c), str(u)) for c, u in rows} & set(items)


def met(session: Session, *, team_id: str, user_ids: Collection[str]) -> dict[str, set[str]]:
    """Whom each of these people was already introduced to (either side of the pair)."""
    if not user_ids:
        return {}
    wanted = list(user_ids)
    rows = session.execute(
        select(Intro.pair_low, Intro.pair_high).where(
            Intro.team_id == team_id,
            Intro.pair_low.is_not(None),
            or_(Intro.pair_low.in_(wanted), Intro.pair_high.in_(wanted)),
        )
    ).all()
    result: dict[str, set[str]] = defaultdict(set)
    for low, high in rows:
        result[str(low)].add(str(high))
        result[str(high)].add(str(low))
    return result


def claim_intro(
    session: Session,
    *,
    intro_id: int,
    partner: str,
    pair: tuple[str, str],
    now: datetime,
    check_back_at: datetime,
) -> bool:
    """waiting -> introduced with this partner (compare-and-set). The pair's unique key refuses a pair
    introduced concurrently by another pass (IntegrityError: the caller's transaction is rolled back)."""
    result = session.execute(
        update(Intro)
        .where(Intro.id == intro_id, Intro.status == WAITING)
        .values(
            status=INTRODUCED,
            partner=partner,
            pair_low=pair[0],
            pair_high=pair[1],
            introduced_at=now,
            check_back_at=check_back_at,
            due_at=check_back_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def claim_check_back(session: Session, *, intro_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Intro)
        .where(Intro.id == intro_id, Intro.status == INTRODUCED, Intro.check_back_sent_at.is_(None))
        .values(check_back_sent_at=now, due_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def get(session: Session, *, intro_id: int) -> Intro | None:
    return session.get(Intro, intro_id)


def record_channel(session: Session, *, intro_id: int, channel_id: str) -> None:
    session.execute(
        update(Intro)
        .where(Intro.id == intro_id)
        .values(channel_id=channel_id)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, *, intro_id: int, cancel_it: bool) -> None:
    """An intro that could not be sent (someone left, or switched pairing off since): the newcomer
    waits again for someone else, due at once (`requested_at`: the outbox worker runs on real time, the
    pass on the domain's clock), or, `cancel_it`, the request is dropped."""
    values: dict[str, Any] = {
        "partner": None,
        "pair_low": None,
        "pair_high": None,
        "introduced_at": None,
        "check_back_at": None,
        "status": CANCELLED if cancel_it else WAITING,
        "due_at": None if cancel_it else Intro.requested_at,
    }
    intro = session.get(Intro, intro_id)
    if intro is None or intro.status != INTRODUCED:
        return
    if not cancel_it and waiting_of(
        session, team_id=intro.team_id, community_id=intro.community_id, newcomer=intro.newcomer
    ):
        values.update(status=CANCELLED, due_at=None)  # they asked again meanwhile: that request stands
    session.execute(
        update(Intro)
        .where(Intro.id == intro_id, Intro.status == INTRODUCED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def set_outcome(
    session: Session, *, intro_id: int, current: str | None, outcome: str, by: str, now: datetime
) -> bool:
    """Record the check-back's answer if it is still `current` (compare-and-set)."""
    condition = Intro.outcome.is_(None) if current is None else Intro.outcome == current
    result = session.execute(
        update(Intro)
        .where(Intro.id == intro_id, condition)
        .values(outcome=outcome, outcome_by=by, outcome_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
