"""communities and community_channels."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from storage.models import Community, CommunityChannel, CommunityNames, Review
from storage.repositories.upsert import dialect_insert


def get(session: Session, *, team_id: str, community_id: int) -> Community | None:
    return session.scalars(
        select(Community)
        .where(Community.team_id == team_id, Community.id == community_id)
        .options(selectinload(Community.channels))
    ).one_or_none()


def by_slug(session: Session, *, team_id: str, slug: str) -> Community | None:
    return session.scalars(
        select(Community).where(Community.team_id == team_id, Community.slug == slug)
    ).one_or_none()


# Built once, with bound parameters (the slugs expanding: one compiled form for any number of them):
# /cdp join's lookup costs no clause construction nor cache-key computation.
_BY_SLUGS = (
    select(Community)
    .where(Community.team_id == bindparam("team_id"), Community.slug.in_(bindparam("slugs", expanding=True)))
    .order_by(Community.status, Community.name)
    .limit(1)
    # Joined, not selectin: one round trip instead of two (SQLAlchemy limits the community in a subquery).
    .options(joinedload(Community.channels))
)


def by_slugs(session: Session, *, team_id: str, slugs: Sequence[str]) -> Community | None:
    """The first community (in the directory's order) whose slug is one of `slugs`: one indexed
    lookup on the unique (team_id, slug), with its channels."""
    if not slugs:
        return None
    return session.scalars(_BY_SLUGS, {"team_id": team_id, "slugs": list(slugs)}).unique().first()


def names(session: Session, *, team_id: str) -> Sequence[tuple[int, str, str]]:
    """(id, name, slug) of every community of the workspace, in the directory's order: only what the
    "did you mean ...?" match needs, no ORM objects."""
    rows = session.execute(
        select(Community.id, Community.name, Community.slug)
        .where(Community.team_id == team_id)
        .order_by(Community.status, Community.name)
    ).all()
    return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]


def names_token(session: Session, *, team_id: str) -> str | None:
    """The workspace's names token (see CommunityNames); None before the first change since 0007."""
    return session.scalars(select(CommunityNames.token).where(CommunityNames.team_id == team_id)).first()


def names_changed(session: Session, *, team_id: str) -> None:
    """A community was created, renamed or dissolved: every instance's cached names are stale. Written
    in the transaction of the change, so the token and the names commit together."""
    statement = dialect_insert(session, CommunityNames).values(team_id=team_id, token=secrets.token_hex(16))
    session.execute(
        statement.on_conflict_do_update(index_elements=["team_id"], set_={"token": statement.excluded.token})
    )


def for_team(session: Session, *, team_id: str, include_dissolved: bool = True) -> Sequence[Community]:
    query = select(Community).where(Community.team_id == team_id).options(selectinload(Community.channels))
    if not include_dissolved:
        query = query.where(Community.status == "active")
    return session.scalars(query.order_by(Community.status, Community.name)).all()


def channel(session: Session, *, team_id: str, channel_id: str) -> CommunityChannel | None:
    return session.scalars(
        select(CommunityChannel).where(
            CommunityChannel.team_id == team_id, CommunityChannel.channel_id == channel_id
        )
    ).one_or_none()


def by_channel(session: Session, *, team_id: str, channel_id: str) -> Community | None:
    return session.scalars(
        select(Community)
        .join(CommunityChannel)
        .where(CommunityChannel.team_id == team_id, CommunityChannel.channel_id == channel_id)
        .options(selectinload(Community.channels))
    ).one_or_none()


def add(session: Session, community: Community) -> Community:
    session.add(community)
    session.flush()
    return community


def add_channel(session: Session, binding: CommunityChannel) -> CommunityChannel:
    session.add(binding)
    session.flush()
    return binding


def remove_channel(session: Session, binding: CommunityChannel) -> None:
    session.delete(binding)
    session.flush()


def all_active(session: Session) -> Sequence[Community]:
    """Every active community of every workspace (the scheduler's daily pass)."""
    return session.scalars(select(Community).where(Community.status == "active").order_by(Community.id)).all()


def active_rule_settings(session: Session) -> list[tuple[str, int, str, int, int, int, int]]:
    """Each active community's clock and circle-rule settings, as plain rows (the daily pass)."""
    rows = session.execute(
        select(
            Community.team_id,
            Community.id,
            Community.timezone,
            Community.circle_window_days,
            Community.inner_min_contributions,
            Community.inner_min_days,
            Community.demotion_grace_days,
        )
        .where(Community.status == "active")
        .order_by(Community.id)
    )
    return [(str(t), int(i), str(z), int(w), int(c), int(d), int(g)) for t, i, z, w, c, d, g in rows]


def pending_backfills(session: Session) -> Sequence[CommunityChannel]:
    return session.scalars(
        select(CommunityChannel)
        .where(CommunityChannel.backfill_status != "done")
        .order_by(CommunityChannel.id)
    ).all()


def channel_by_id(session: Session, binding_id: int, *, lock: bool = False) -> CommunityChannel | None:
    """`lock` takes a row lock (PostgreSQL) so two instances never count the same page."""
    return session.get(CommunityChannel, binding_id, with_for_update=lock or None)


def lock(session: Session, *, community_id: int) -> None:
    """Hold the community's row until the transaction ends, so that changes which must see each other
    take turns: the last two moderators leaving at once would each see the other still there, and both
    go (a compare-and-set on one membership cannot see the other). PostgreSQL: SELECT ... FOR UPDATE;
    SQLite runs one writing transaction at a time already (BEGIN IMMEDIATE) and omits the clause."""
    session.execute(select(Community.id).where(Community.id == community_id).with_for_update())


def dissolve(session: Session, *, community_id: int, actor: str, now: datetime) -> bool:
    """Dissolve an active community, once: of two confirmations, one dissolves (and announces)."""
    result = session.execute(
        update(Community)
        .where(Community.id == community_id, Community.status == "active")
        .values(
            status="dissolved", dissolved_at=now, dissolved_by=actor, next_review_on=None, next_due_at=None
        )
        .returning(Community.id)
        .execution_options(synchronize_session="fetch")
    )
    if result.first() is None:
        return False
    # Its open review is over too: out of the clock's due range, or every tick would read it for ever.
    session.execute(
        update(Review)
        .where(Review.community_id == community_id, Review.completed_at.is_(None))
        .values(next_step_at=None)
        .execution_options(synchronize_session=False)
    )
    return True
