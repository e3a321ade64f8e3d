"""Use-cases of communities: create, join, leave, moderate, change settings, dissolve, browse.

Functions take a session (the caller owns the transaction) and plain values; they decide with
`bot.domain`, persist with `storage.repositories`, and raise `CommunityProblem` with an i18n key
when the user asked for something the rules refuse. No Slack here.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import products as product_rules
from bot.domain.communities import Lookup, Named, exact_keys, resolve, slugify
from bot.services import home_refresh, welcome
from bot.services import stages as stage_service
from bot.services.privacy import is_former_member
from storage.models import Community, CommunityChannel, JoinRequest, Membership, Product
from storage.repositories import activity as activity_repo
from storage.repositories import communities as community_repo
from storage.repositories import memberships as membership_repo
from storage.repositories import products as product_repo

# A protected community lives in private channels only: a public channel lets anyone read it, and
# joining or posting there would make an outsider a member without a moderator's approval.
PUBLIC_CHANNEL_PROTECTED = "communities.errors.channel_public_protected"  # the create form's channel
PUBLIC_CHANNELS_PROTECTED = "communities.errors.channels_public_protected"  # the settings form's channels


class CommunityProblem(Exception):
    """A refusal the user should read: an i18n key, its parameters, and the form field if any."""

    def __init__(self, key: str, *, field: str | None = None, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params


@dataclass(frozen=True)
class ChannelChoice:
    """A Slack channel the handler has checked (the bot can see it and is in it, or will be invited)."""

    channel_id: str
    name: str
    is_private: bool


@dataclass(frozen=True)
class CommunityDraft:
    """What the "Initiate a CdP" form (or the settings form) says."""

    name: str
    domain: str
    objectives: tuple[str, ...]
    objectives_other: str
    key_people: tuple[str, ...]
    moderators: tuple[str, ...]
    visibility: str
    language: str
    timezone: str
    cadence_weeks: int
    circle_window_days: int = 30
    inner_min_contributions: int = 4
    inner_min_days: int = 2
    demotion_grace_days: int = 45
    promotion_dm: bool = True
    review_outcome_in_channel: bool = True
    first_post_emoji: str | None = None  # the settings form's reaction to first posts; None: unchanged
    # The settings form's stage, set by hand (bot/domain/stages.py); None, or one off the path: the rule.
    stage: str | None = None


class JoinOutcome(StrEnum):
    JOINED = "joined"
    REJOINED = "rejoined"
    ALREADY = "already"
    PROMOTED = "promoted"  # already a member, named moderator by this request
    REQUESTED = "requested"
    ALREADY_REQUESTED = "already_requested"


@dataclass(frozen=True)
class DirectoryEntry:
    community: Community
    counts: Counter[str]
    moderators: list[str]
    is_member: bool
    products: list[Product] = field(default_factory=list)  # the latest few, open communities only

    @property
    def shows_details(self) -> bool:
        """Protected communities show only name and domain to people outside them."""
        return self.community.visibility == "open" or self.is_member


@dataclass
class CommunityView:
    community: Community
    counts: Counter[str]
    moderators: list[str]
    membership: Membership | None
    channels: list[CommunityChannel] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)  # newest first, only where details show

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.left_at is None

    @property
    def shows_details(self) -> bool:
        return self.community.visibility == "open" or self.is_member


# ---- lookups ---------------------------------------------------------------------------------
def named(community: Community) -> Named:
    return Named(
        community.id, community.name, community.slug, tuple(c.channel_id for c in community.channels)
    )


class NameCache:
    """Each workspace's community names, kept in memory for the "did you mean ...?" match.

    Invalidation: every create, rename and dissolution writes a new random token for the workspace
    (`community_repo.names_changed`, in the same transaction); a lookup reads the token first, then the
    names only if its copy was taken under another token. Any instance's change is therefore seen by
    every other instance at its next lookup. The token is read before the names: a change committed
    between the two reads leaves a newer list under the older token, reloaded next time, never an older
    list under the newer token. Safe to share between app instances and databases (tokens are random).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str, tuple[Named, ...]]] = {}

    def get(self, session: Session, *, team_id: str) -> tuple[Named, ...]:
        token = community_repo.names_token(session, team_id=team_id)
        with self._lock:
            cached = self._names.get(team_id)
        if token is not None and cached is not None and cached[0] == token:
            return cached[1]
        # Channels are left out: a mention of a bound channel is found by the database (exact_keys).
        names = tuple(
            Named(community_id, name, slug, ())
            for community_id, name, slug in community_repo.names(session, team_id=team_id)
        )
        if token is not None:  # no token yet (no change since the migration): not cached
            with self._lock:
                self._names[team_id] = (token, names)
        return names


NAMES = NameCache()


def _locate(session: Session, *, team_id: str, query: str) -> tuple[Community | None, Lookup]:
    """A clear match by index (a bound channel, a slug, a channel named from a slug), in one or two
    statements whatever the number of communities; else `resolve` over the cached names."""
    keys = exact_keys(query)
    if keys.channel_id is not None:
        community = community_repo.by_channel(session, team_id=team_id, channel_id=keys.channel_id)
        if community is not None:
            return community, Lookup(named(community))
    community = community_repo.by_slugs(session, team_id=team_id, slugs=keys.slugs)
    if community is not None:
        return community, Lookup(named(community))
    return None, resolve(query, NAMES.get(session, team_id=team_id))


def find(session: Session, *, team_id: str, query: str) -> Lookup:
    return _locate(session, team_id=team_id, query=query)[1]


def require(
    session: Session, *, team_id: str, query: str, channel_id: str | None = None, user_id: str | None = None
) -> Community:
    """The community the user means: by what they typed, else the channel they typed it in,
    else their only community. Raises a CommunityProblem that says what to type instead."""
    if query.strip():
        located, lookup = _locate(session, team_id=team_id, query=query)
        if located is not None:
            return located
        if lookup.found is not None:
            community = community_repo.get(session, team_id=team_id, community_id=lookup.found.id)
            assert community is not None
            return community
        if len(lookup.candidates) == 1:  # not sure enough to act on: ask (the join answer has a button)
            maybe = lookup.candidates[0]
            raise CommunityProblem(
                "communities.errors.did_you_mean", query=query.strip(), name=maybe.name, community_id=maybe.id
            )
        if lookup.candidates:
            raise CommunityProblem(
                "communities.errors.ambiguous",
                query=query.strip(),
                candidates=[c.name for c in lookup.candidates],
            )
        raise CommunityProblem("communities.errors.unknown", query=query.strip())
    if channel_id:
        community = community_repo.by_channel(session, team_id=team_id, channel_id=channel_id)
        if community is not None:
            return community
    if user_id:
        mine = [m for m in membership_repo.active_for_user(session, team_id=team_id, user_id=user_id)]
        if len(mine) == 1:
            community = community_repo.get(session, team_id=team_id, community_id=mine[0].community_id)
            assert community is not None
            return community
    raise CommunityProblem("communities.errors.name_needed")


def find_by_id(session: Session, *, team_id: str, community_id: int) -> Community | None:
    return community_repo.get(session, team_id=team_id, community_id=community_id)


def require_by_id(session: Session, *, team_id: str, community_id: int) -> Community:
    community = community_repo.get(session, team_id=team_id, community_id=community_id)
    if community is None:
        raise CommunityProblem("communities.errors.unknown", query=str(community_id))
    return community


def community_for_channel(session: Session, *, team_id: str, channel_id: str) -> Community | None:
    return community_repo.by_channel(session, team_id=team_id, channel_id=channel_id)


def require_active(community: Community) -> None:
    if community.status != "active":
        raise CommunityProblem("communities.errors.dissolved", name=community.name)


def is_moderator(session: Session, *, community: Community, user_id: str) -> bool:
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    return membership is not None and membership.left_at is None and membership.role == "core"


def require_moderator(session: Session, *, community: Community, user_id: str, is_admin: bool) -> None:
    if not (is_admin or is_moderator(session, community=community, user_id=user_id)):
        raise CommunityProblem("communities.errors.not_moderator", name=community.name)


def moderators(session: Session, *, community: Community) -> list[str]:
    """The core group, by one query on the memberships."""
    return membership_repo.moderators(session, team_id=community.team_id, community_id=community.id)


# ---- creation --------------------------------------------------------------------------------
def draft_problems(
    session: Session, *, team_id: str, draft: CommunityDraft, community_id: int | None = None
) -> dict[str, str]:
    """Field errors that need the database: a name already used, in this workspace."""
    problems: dict[str, str] = {}
    existing = community_repo.by_slug(session, team_id=team_id, slug=slugify(draft.name))
    if existing is not None and existing.id != community_id:
        problems["name"] = "communities.errors.name_taken"
    return problems


def channel_problem(
    session: Session, *, team_id: str, channel_id: str, community_id: int | None = None
) -> str | None:
    binding = community_repo.channel(session, team_id=team_id, channel_id=channel_id)
    if binding is not None and binding.community_id != community_id:
        return "communities.errors.channel_taken"
    return None


def require_private_channels(visibility: str, channels: Sequence[ChannelChoice], *, key: str) -> None:
    """Protected communities live in private channels only (the handlers check before joining any)."""
    if visibility == "protected" and any(not c.is_private for c in channels):
        raise CommunityProblem(key, field="channels")


def _apply(community: Community, draft: CommunityDraft) -> None:
    community.name = draft.name.strip()
    community.slug = slugify(draft.name)
    community.domain = draft.domain.strip()
    community.objectives = list(draft.objectives)
    community.objectives_other = draft.objectives_other.strip()
    community.key_people = list(draft.key_people)
    community.visibility = draft.visibility
    community.language = draft.language
    community.timezone = draft.timezone
    community.review_cadence_weeks = draft.cadence_weeks
    community.circle_window_days = draft.circle_window_days
    community.inner_min_contributions = draft.inner_min_contributions
    community.inner_min_days = draft.inner_min_days
    community.demotion_grace_days = draft.demotion_grace_days
    community.promotion_dm = draft.promotion_dm
    community.review_outcome_in_channel = draft.review_outcome_in_channel
    if draft.first_post_emoji is not None:
        community.first_post_emoji = draft.first_post_emoji


def create(
    session: Session,
    *,
    team_id: str,
    creator: str,
    draft: CommunityDraft,
    channel: ChannelChoice,
    now: datetime,
) -> Community:
    require_private_channels(draft.visibility, [channel], key=PUBLIC_CHANNEL_PROTECTED)
    community = Community(team_id=team_id, created_by=creator, created_at=now, status="active")
    _apply(community, draft)
    stage_service.start(community)  # the first stage of its objectives' path (issue 11, item 9)
    schedule = cadence.ReviewSchedule(cadence_weeks=draft.cadence_weeks, timezone=draft.timezone)
    community.next_review_on = cadence.first_review_on(schedule, now)
    community_repo.add(session, community)
    community_repo.names_changed(session, team_id=team_id)
    bind_channel(session, community=community, channel=channel, now=now)
    # The creator and the moderators form the core group (PRODUCT.md: named by people).
    for user_id in dict.fromkeys((creator, *draft.moderators)):
        _upsert_member(session, community=community, user_id=user_id, now=now, via="creation", role="core")
    home_refresh.refresh(session, team_id=team_id, community_ids=[community.id])  # App Home
    return community


def bind_channel(
    session: Session, *, community: Community, channel: ChannelChoice, now: datetime
) -> CommunityChannel:
    return community_repo.add_channel(
        session,
        CommunityChannel(
            team_id=community.team_id,
            community_id=community.id,
            channel_id=channel.channel_id,
            name=channel.name,
            is_private=channel.is_private,
            is_archived=False,
            bound_at=now,
        ),
    )


# ---- membership ------------------------------------------------------------------------------
def new_member(
    session: Session,
    *,
    community: Community,
    user_id: str,
    now: datetime,
    via: str,
    role: str = "member",
    joined_at: datetime | None = None,
) -> Membership:
    """A new membership: every newcomer starts in the outer circle. If a concurrent request made them a
    member first, that membership is returned (never a unique-key error)."""
    membership_repo.insert_if_absent(
        session, _newcomer(community, user_id, now=now, via=via, role=role, joined_at=joined_at or now)
    )
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    assert membership is not None
    return membership


def _newcomer(
    community: Community, user_id: str, *, now: datetime, via: str, role: str, joined_at: datetime
) -> dict[str, object]:
    """The row of someone (re)starting in a community: in the outer circle, like every newcomer."""
    return {
        "team_id": community.team_id,
        "community_id": community.id,
        "user_id": user_id,
        "role": role,
        "circle": "outer",
        "circle_since": now,
        "joined_at": joined_at,
        "left_at": None,
        "joined_via": via,
        "changed_at": now,
    }


def _upsert_member(
    session: Session,
    *,
    community: Community,
    user_id: str,
    now: datetime,
    via: str,
    role: str = "member",
    at: datetime | None = None,
    known: tuple[Membership | None] | None = None,
) -> JoinOutcome:
    """Make `user_id` an active member (with `role` core: a moderator). Every change is a
    compare-and-set, so of two concurrent requests exactly one reports it (and sends its messages).
    `known`: the membership the caller just read in this transaction (one statement fewer)."""
    team_id = community.team_id
    if known is not None:
        membership = known[0]
    else:
        membership = membership_repo.get(session, team_id=team_id, community_id=community.id, user_id=user_id)
    if membership is None or membership.left_at is not None:
        # Joining again after `/cdp privacy forget`: they asked to be counted again.
        activity_repo.remember(session, team_id=team_id, user_id=user_id)
    values = _newcomer(community, user_id, now=now, via=via, role=role, joined_at=now) | {
        "changed_at": at or now
    }
    if membership is None:
        if membership_repo.insert_if_absent(session, values):
            return JoinOutcome.JOINED
        membership = membership_repo.get(session, team_id=team_id, community_id=community.id, user_id=user_id)
        assert membership is not None
    # Joining again starts afresh: a newcomer in the outer circle, like anyone else.
    if membership.left_at is not None and membership_repo.rejoin(
        session, membership_id=membership.id, values=values
    ):
        return JoinOutcome.REJOINED
    if role == "core" and membership_repo.make_core(session, membership_id=membership.id):
        return JoinOutcome.PROMOTED
    return JoinOutcome.ALREADY


def join(
    session: Session, *, community: Community, user_id: str, now: datetime, via: str = "command"
) -> JoinOutcome:
    """Open communities: the member starts in the outer circle; protected ones: a request to moderators."""
    require_active(community)
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    if membership is not None and membership.left_at is None:
        return JoinOutcome.ALREADY
    if community.visibility == "protected" and via == "command":
        # One pending request per person (a partial unique index): a concurrent join finds it.
        added = membership_repo.add_request(
            session, team_id=community.team_id, community_id=community.id, user_id=user_id, now=now
        )
        if added is None:
            return JoinOutcome.ALREADY_REQUESTED
        _refresh_home(session, community, user_id)
        return JoinOutcome.REQUESTED
    previous = welcome.before(membership)  # read before the join changes it
    outcome = _upsert_member(
        session, community=community, user_id=user_id, now=now, via=via, known=(membership,)
    )
    if outcome in (JoinOutcome.JOINED, JoinOutcome.REJOINED):
        welcome.offer(session, community=community, user_id=user_id, previous=previous, now=now)
    if outcome != JoinOutcome.ALREADY:
        _refresh_home(session, community, user_id)
    return outcome


def _refresh_home(session: Session, community: Community, user_id: str) -> None:
    """App Home of the person and of the community's moderators (counts, requests), if they opened it."""
    home_refresh.refresh(session, team_id=community.team_id, user_ids=[user_id], community_ids=[community.id])


def _stale(membership: Membership | None, at: datetime) -> bool:
    """A Slack event about a membership older than its last change: a late retry, not news (Slack
    retries for minutes; a `member_joined_channel` retried after the person left must not bring them
    back)."""
    return membership is not None and membership.changed_at is not None and at < membership.changed_at


def join_via_channel(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    now: datetime,
    at: datetime | None = None,
) -> Community | None:
    """Someone joined a bound channel in Slack (at `at`, the event's time): the membership `/cdp join`
    gives."""
    community = community_repo.by_channel(session, team_id=team_id, channel_id=channel_id)
    if community is None or community.status != "active":
        return None
    membership = membership_repo.get(session, team_id=team_id, community_id=community.id, user_id=user_id)
    if _stale(membership, at or now):
        return None
    previous = welcome.before(membership)
    outcome = _upsert_member(
        session, community=community, user_id=user_id, now=now, via="channel", at=at, known=(membership,)
    )
    if outcome not in (JoinOutcome.JOINED, JoinOutcome.REJOINED):
        return None
    # Welcomed where they are: an ephemeral message in the channel they just joined.
    welcome.offer(
        session,
        community=community,
        user_id=user_id,
        previous=previous,
        now=now,
        at=at,
        channel_id=channel_id,
    )
    _refresh_home(session, community, user_id)
    return community


def pending_request(session: Session, *, community: Community, user_id: str) -> JoinRequest | None:
    return membership_repo.pending_request(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )


def get_request(session: Session, *, team_id: str, request_id: int) -> JoinRequest | None:
    request = session.get(JoinRequest, request_id)
    return request if request is not None and request.team_id == team_id else None


def decide_request(
    session: Session,
    *,
    request: JoinRequest,
    community: Community,
    moderator: str,
    approve: bool,
    is_admin: bool,
    now: datetime,
) -> JoinRequest:
    require_moderator(session, community=community, user_id=moderator, is_admin=is_admin)
    if request.status == "pending":
        require_active(community)
    status = "approved" if approve else "declined"
    if not membership_repo.decide_request(
        session, request_id=request.id, status=status, moderator=moderator, now=now
    ):
        # Someone decided first (a co-moderator, the other button pressed at the same instant).
        session.refresh(request)
        former = "_former" if is_former_member(request.decided_by) else ""  # they asked to be forgotten
        raise CommunityProblem(
            f"communities.errors.request_{request.status}{former}", moderator=request.decided_by or "?"
        )
    if approve:
        membership = membership_repo.get(
            session, team_id=community.team_id, community_id=community.id, user_id=request.user_id
        )
        previous = welcome.before(membership)
        outcome = _upsert_member(
            session, community=community, user_id=request.user_id, now=now, via="command", known=(membership,)
        )
        if outcome in (JoinOutcome.JOINED, JoinOutcome.REJOINED):
            welcome.offer(session, community=community, user_id=request.user_id, previous=previous, now=now)
    _refresh_home(session, community, request.user_id)
    return request


def leave(
    session: Session,
    *,
    community: Community,
    user_id: str,
    now: datetime,
    via_slack: bool = False,
    at: datetime | None = None,
) -> bool:
    """End a membership. The last moderator may not leave by command: the community needs one."""
    if not via_slack:  # two moderators leaving at once must see each other: one of them stays
        community_repo.lock(session, community_id=community.id)
    membership = membership_repo.get(
        session, team_id=community.team_id, community_id=community.id, user_id=user_id
    )
    if membership is None or membership.left_at is not None or (via_slack and _stale(membership, at or now)):
        if via_slack:
            return False
        raise CommunityProblem("communities.errors.not_member", name=community.name)
    last_moderator = (
        not via_slack
        and membership.role == "core"
        and community.status == "active"
        and len(membership_repo.moderators(session, team_id=community.team_id, community_id=community.id))
        == 1
    )
    if last_moderator:
        raise CommunityProblem("communities.errors.last_moderator_leaving", name=community.name)
    if not membership_repo.end(session, membership_id=membership.id, now=at or now):
        if via_slack:
            return False
        raise CommunityProblem("communities.errors.not_member", name=community.name)
    _refresh_home(session, community, user_id)
    return True


def leave_via_channel(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    now: datetime,
    at: datetime | None = None,
) -> bool:
    """Someone left a bound channel in Slack (at `at`, the event's time)."""
    community = community_repo.by_channel(session, team_id=team_id, channel_id=channel_id)
    if community is None:
        return False
    return leave(session, community=community, user_id=user_id, now=now, via_slack=True, at=at)


# ---- core group ------------------------------------------------------------------------------
def add_moderators(
    session: Session,
    *,
    community: Community,
    actor: str,
    is_admin: bool,
    user_ids: Sequence[str],
    now: datetime,
) -> list[str]:
    require_active(community)
    require_moderator(session, community=community, user_id=actor, is_admin=is_admin)
    return [
        user_id
        for user_id in user_ids
        if _upsert_member(session, community=community, user_id=user_id, now=now, via="command", role="core")
        != JoinOutcome.ALREADY
    ]


def remove_moderators(
    session: Session, *, community: Community, actor: str, is_admin: bool, user_ids: Sequence[str]
) -> list[str]:
    require_active(community)
    community_repo.lock(session, community_id=community.id)  # two removals at once: one moderator stays
    require_moderator(session, community=community, user_id=actor, is_admin=is_admin)
    current = membership_repo.moderators(session, team_id=community.team_id, community_id=community.id)
    removing = [u for u in user_ids if u in current]
    not_moderators = [u for u in user_ids if u not in current]
    if not_moderators:
        raise CommunityProblem(
            "communities.errors.not_a_moderator", user=not_moderators[0], name=community.name
        )
    if len(set(current) - set(removing)) == 0:
        raise CommunityProblem("communities.errors.last_moderator", name=community.name)
    for user_id in removing:
        membership = membership_repo.get(
            session, team_id=community.team_id, community_id=community.id, user_id=user_id
        )
        assert membership is not None
        membership.role = "member"
    return removing


def set_moderators(session: Session, *, community: Community, user_ids: Sequence[str], now: datetime) -> None:
    """The settings form names the whole core group at once."""
    if not user_ids:
        raise CommunityProblem("communities.errors.no_moderator", field="moderators")
    wanted = set(user_ids)
    for membership in membership_repo.active(session, team_id=community.team_id, community_id=community.id):
        if membership.role == "core" and membership.user_id not in wanted:
            membership.role = "member"
    for user_id in user_ids:
        _upsert_member(session, community=community, user_id=user_id, now=now, via="command", role="core")


# ---- settings and dissolution ----------------------------------------------------------------
def update_settings(
    session: Session,
    *,
    community: Community,
    actor: str,
    is_admin: bool,
    draft: CommunityDraft,
    channels: Sequence[ChannelChoice],
    now: datetime,
) -> list[ChannelChoice]:
    """Apply the settings form; returns the channels newly bound (the bot must join or be invited)."""
    require_active(community)
    require_moderator(session, community=community, user_id=actor, is_admin=is_admin)
    require_private_channels(draft.visibility, channels, key=PUBLIC_CHANNELS_PROTECTED)
    cadence_changed = (
        community.review_cadence_weeks != draft.cadence_weeks or community.timezone != draft.timezone
    )
    if community.name != draft.name.strip():
        community_repo.names_changed(session, team_id=community.team_id)
    _apply(community, draft)
    # The stage stays on the path of the objectives as they are now (chosen by hand, else the rule).
    stage_service.follow_objectives(session, community=community, actor=actor, now=now, chosen=draft.stage)
    if cadence_changed:
        schedule = cadence.ReviewSchedule(cadence_weeks=draft.cadence_weeks, timezone=draft.timezone)
        community.next_review_on = cadence.first_review_on(schedule, now)
    set_moderators(session, community=community, user_ids=draft.moderators, now=now)
    wanted = {c.channel_id: c for c in channels}
    if not wanted:
        raise CommunityProblem("communities.errors.no_channel", field="channels")
    for binding in list(community.channels):
        if binding.channel_id not in wanted:
            community_repo.remove_channel(session, binding)
        else:  # the handler asked Slack again about a channel bound as public
            binding.is_private = wanted[binding.channel_id].is_private
    current = {c.channel_id for c in community.channels}
    added = [c for c in channels if c.channel_id not in current]
    for choice in added:
        bind_channel(session, community=community, channel=choice, now=now)
    session.expire(community, ["channels"])
    return added


def dissolve(
    session: Session, *, community: Community, actor: str, is_admin: bool, now: datetime
) -> Community:
    """Dissolved communities stay in the directory, read-only, and get no more reviews."""
    require_active(community)
    require_moderator(session, community=community, user_id=actor, is_admin=is_admin)
    if not community_repo.dissolve(session, community_id=community.id, actor=actor, now=now):
        raise CommunityProblem("communities.errors.dissolved", name=community.name)  # dissolved just now
    community_repo.names_changed(session, team_id=community.team_id)  # the directory's order changed
    # App Home: the community leaves its members' Homes (the memberships stay, read-only).
    home_refresh.refresh(session, team_id=community.team_id, community_ids=[community.id], all_members=True)
    return community


def record_channel_change(
    session: Session, *, team_id: str, channel_id: str, name: str | None = None, archived: bool | None = None
) -> bool:
    binding = community_repo.channel(session, team_id=team_id, channel_id=channel_id)
    if binding is None:
        return False
    if name is not None:
        binding.name = name
    if archived is not None:
        binding.is_archived = archived
    return True


# ---- browsing --------------------------------------------------------------------------------
def directory(session: Session, *, team_id: str, viewer: str) -> list[DirectoryEntry]:
    communities = community_repo.for_team(session, team_id=team_id)
    ids = [c.id for c in communities]
    counts = membership_repo.counts(session, team_id=team_id, community_ids=ids)
    moderators = membership_repo.moderators_of(session, team_id=team_id, community_ids=ids)
    mine = {m.community_id for m in membership_repo.active_for_user(session, team_id=team_id, user_id=viewer)}
    # Products (issue 11, item 8): the latest three of open communities, one statement for all of them.
    latest = product_repo.latest_of(
        session,
        team_id=team_id,
        community_ids=[c.id for c in communities if c.visibility == "open"],
        per_community=product_rules.LATEST,
    )
    return [
        DirectoryEntry(
            community=c,
            counts=counts[c.id],
            moderators=moderators[c.id],
            is_member=c.id in mine,
            products=latest.get(c.id, []),
        )
        for c in communities
    ]


def view(session: Session, *, community: Community, viewer: str) -> CommunityView:
    shown = CommunityView(
        community=community,
        counts=membership_repo.counts(session, team_id=community.team_id, community_ids=[community.id])[
            community.id
        ],
        moderators=membership_repo.moderators(session, team_id=community.team_id, community_id=community.id),
        membership=membership_repo.get(
            session, team_id=community.team_id, community_id=community.id, user_id=viewer
        ),
        channels=list(community.channels),
    )
    if shown.shows_details:  # products (issue 11, item 8)
        shown.products = product_repo.for_community(
            session, team_id=community.team_id, community_id=community.id, limit=product_rules.LISTED
        )
    return shown


def joinable(session: Session, *, team_id: str, user_id: str) -> list[Community]:
    mine = {
        m.community_id for m in membership_repo.active_for_user(session, team_id=team_id, user_id=user_id)
    }
    return [
        c
        for c in community_repo.for_team(session, team_id=team_id, include_dissolved=False)
        if c.id not in mine
    ]
