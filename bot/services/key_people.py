"""Key people followed up (issue 11, item 7): the people named at creation as playing a key role for
the issue, whether each has joined since, and a moderator's re-invitation of those who have not.

They are stored on the community itself (`communities.key_people`, a list of user ids written by the
"Initiate a CdP" form): nothing else to store, since "joined" is read from the memberships and "invited
today" is the outbox's dedupe key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.services import outbox
from bot.services.circles import local_today
from bot.services.communities import require_active, require_moderator
from storage.models import Community
from storage.repositories import key_people as repo


@dataclass(frozen=True)
class KeyPerson:
    user_id: str
    joined: bool  # an active membership now


def named(community: Community) -> list[str]:
    """The key people in the order they were named, each once."""
    return list(dict.fromkeys(community.key_people or []))


def statuses(session: Session, *, community: Community) -> list[KeyPerson]:
    """Each key person and whether they are a member now (one query, none when nobody was named)."""
    people = named(community)
    if not people:
        return []
    joined = repo.active_among(session, team_id=community.team_id, community_id=community.id, user_ids=people)
    return [KeyPerson(u, u in joined) for u in people]


def statuses_of(
    session: Session, *, team_id: str, communities: Sequence[Community]
) -> dict[int, list[KeyPerson]]:
    """`statuses` for several communities of a workspace, in one query (a moderator's App Home)."""
    wanted = {c.id: named(c) for c in communities if c.key_people}
    joined = repo.active_pairs(
        session,
        team_id=team_id,
        community_ids=list(wanted),
        user_ids={u for people in wanted.values() for u in people},
    )
    return {cid: [KeyPerson(u, (cid, u) in joined) for u in people] for cid, people in wanted.items()}


def missing_of(key_people: Sequence[str], members: set[str]) -> tuple[str, ...]:
    """The key people not among `members` (the active members the caller already read)."""
    return tuple(u for u in dict.fromkeys(key_people) if u not in members)


def named_for(session: Session, *, community_ids: Collection[int]) -> dict[int, list[str]]:
    """Each community's key people, for a batch (the review prompts)."""
    return repo.named_for(session, community_ids=community_ids)


@dataclass(frozen=True)
class Reinvited:
    sent: int  # invitations written now
    missing: int  # key people not yet members


def reinvite(
    session: Session, *, community: Community, user_id: str, is_admin: bool, now: datetime
) -> Reinvited:
    """Invite again each key person who has not joined: the creation's invitation (its Join button),
    at most once per person and day (two clicks, two moderators: one DM)."""
    require_active(community)
    require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    today = local_today(community, now)  # "once a day" in the community's own days
    missing = [p.user_id for p in statuses(session, community=community) if not p.joined]
    sent = 0
    for person in missing:
        if outbox.message(
            session,
            team_id=community.team_id,
            to=person,
            render="communities.key_person",
            once=f"key_person:{community.team_id}:{community.id}:{person}:{today.isoformat()}",
            name=community.name,
            domain=community.domain,
            creator=community.created_by,  # the invitation says who started the community
            community_id=community.id,
            protected=community.visibility == "protected",
        ):
            sent += 1
    return Reinvited(sent=sent, missing=len(missing))
