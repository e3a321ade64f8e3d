"""Products' queries: save one, list a community's newest first, the latest few of many communities in
one statement (the directory). Never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Product


def add(
    session: Session, *, team_id: str, community_id: int, title: str, link: str, saved_by: str, now: datetime
) -> Product:
    product = Product(
        team_id=team_id, community_id=community_id, title=title, link=link, saved_by=saved_by, saved_at=now
    )
    session.add(product)
    session.flush()
    return product


def for_community(session: Session, *, team_id: str, community_id: int, limit: int) -> list[Product]:
    return list(
        session.scalars(
            select(Product)
            .where(Product.team_id == team_id, Product.community_id == community_id)
            .order_by(Product.saved_at.desc(), Product.id.desc())
            .limit(limit)
        )
    )


def latest_of(
    session: Session, *, team_id: str, community_ids: Collection[int], per_community: int
) -> dict[int, list[Product]]:
    """The `per_community` newest products of each community, in one statement (a window function),
    however many communities the directory shows."""
    if not community_ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=Product.community_id, order_by=(Product.saved_at.desc(), Product.id.desc()))
        .label("rank")
    )
    ranked = (
        select(Product.id, rank)
        .where(Product.team_id == team_id, Product.community_id.in_(list(community_ids)))
        .subquery()
    )
    rows = session.scalars(
        select(Product)
        .join(ranked, ranked.c.id == Product.id)
        .where(ranked.c.rank <= per_community)
        .order_by(Product.community_id, Product.saved_at.desc(), Product.id.desc())
    )
    latest: dict[int, list[Product]] = defaultdict(list)
    for product in rows:
        latest[product.community_id].append(product)
    return dict(latest)


def saved_by(session: Session, *, team_id: str, user_id: str) -> list[Product]:
    """What the person saved (their data export)."""
    return list(
        session.scalars(
            select(Product)
            .where(Product.team_id == team_id, Product.saved_by == user_id)
            .order_by(Product.saved_at, Product.id)
        )
    )


def forget(session: Session, *, team_id: str, user_id: str, former: str) -> int:
    """The products stay the community's (what it produced is still true), no longer by whom."""
    result = session.execute(
        update(Product)
        .where(Product.team_id == team_id, Product.saved_by == user_id)
        .values(saved_by=former)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
