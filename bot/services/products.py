"""Products use-cases: a member saves something the community produced (by command or by the message
shortcut); anyone may list them where the community's details show (open, or a member of a protected
one). Refusals are CommunityProblems carrying the form field they concern."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from bot.domain import products as rules
from bot.services.communities import CommunityProblem, community_for_channel, require_active
from storage.models import Community, Product
from storage.repositories import memberships as membership_repo
from storage.repositories import products as product_repo


def require_member(session: Session, *, community: Community, user_id: str) -> None:
    """Only an active member of an active community saves its products."""
    require_active(community)
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    if membership is None or membership.left_at is not None:
        raise CommunityProblem("products.errors.not_member", name=community.name)


def require_channel_community(session: Session, *, team_id: str, channel_id: str, user_id: str) -> Community:
    """The community whose channel a shortcut's message is in, if the user may save to it."""
    community = community_for_channel(session, team_id=team_id, channel_id=channel_id)
    if community is None:
        raise CommunityProblem("products.errors.not_community_channel")
    require_member(session, community=community, user_id=user_id)
    return community


def save(
    session: Session, *, community: Community, user_id: str, link: str, title: str, now: datetime
) -> Product:
    require_member(session, community=community, user_id=user_id)
    link_key = rules.link_problem(link)
    if link_key is not None:
        raise CommunityProblem(link_key, field="link")
    title_key = rules.title_problem(title)
    if title_key is not None:
        raise CommunityProblem(title_key, field="title", limit=rules.TITLE_MAX)
    return product_repo.add(
        session,
        team_id=community.team_id,
        community_id=community.id,
        title=title.strip(),
        link=link.strip(),
        saved_by=user_id,
        now=now,
    )


def listed(session: Session, *, community: Community) -> list[Product]:
    return product_repo.for_community(
        session, team_id=community.team_id, community_id=community.id, limit=rules.LISTED
    )


def latest(session: Session, *, team_id: str, community_ids: Collection[int]) -> dict[int, list[Product]]:
    """The directory's latest three of the communities given (the caller passes only open ones)."""
    return product_repo.latest_of(
        session, team_id=team_id, community_ids=community_ids, per_community=rules.LATEST
    )
