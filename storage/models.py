"""SQLAlchemy 2 typed models. Every row carries `team_id` (multi-workspace ready from day one).

Never a column for message text: we store who contributed, where and when, nothing more.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TEAM_ID = 32
SLACK_ID = 32
NAME_MAX = 80
TEXT_MAX = 1000
WELCOME_TEXT_MAX = 2000  # the moderators' welcome text (bot.domain.welcome.TEXT_MAX)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Community(Base):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("team_id", "slug", name="uq_communities_team_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    slug: Mapped[str] = mapped_column(String(NAME_MAX))
    domain: Mapped[str] = mapped_column(String(TEXT_MAX), default="")
    objectives: Mapped[list[str]] = mapped_column(JSON, default=list)
    objectives_other: Mapped[str] = mapped_column(String(TEXT_MAX), default="")
    key_people: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(16), default="open")  # open | protected
    language: Mapped[str] = mapped_column(String(8), default="en")  # en | fr
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    review_cadence_weeks: Mapped[int] = mapped_column(Integer, default=4)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | dissolved
    created_by: Mapped[str] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dissolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dissolved_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    next_review_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The UTC instant `next_review_on` falls due (09:00 local), NULL once its review is opened or when
    # nothing is scheduled: the tick reads only `next_due_at <= now` (an index range scan). Kept in step
    # by storage/schedule.py on every flush that changes the date, the cadence, the timezone or the status.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # The circle rule's knobs (PRODUCT.md: "an explainable, configurable rule").
    circle_window_days: Mapped[int] = mapped_column(Integer, default=30)
    inner_min_contributions: Mapped[int] = mapped_column(Integer, default=4)
    inner_min_days: Mapped[int] = mapped_column(Integer, default=2)
    demotion_grace_days: Mapped[int] = mapped_column(Integer, default=45)
    promotion_dm: Mapped[bool] = mapped_column(Boolean, default=True)
    review_outcome_in_channel: Mapped[bool] = mapped_column(Boolean, default=True)
    # The welcome a newcomer receives once (issue 10, item 1): switched per community; the moderators'
    # own words (NULL: the default text from the card), which the app frames with names and channels.
    welcome_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    welcome_text: Mapped[str | None] = mapped_column(String(WELCOME_TEXT_MAX), nullable=True)
    # The reaction the app adds to a newcomer's first message (an emoji name, no colons); "" for none.
    first_post_emoji: Mapped[str] = mapped_column(String(64), default="wave", server_default="wave")
    # Pairing (migration 0012): newcomers introduced to an inner-circle member; a lurker after N days.
    pairing_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    pairing_after_days: Mapped[int] = mapped_column(Integer, default=10, server_default=text("10"))
    # Lifecycle (migration 0015): forming | active | stalling | dormant, since when and why (an i18n
    # Message as a dict); NULL until the daily pass first looks at the community.
    lifecycle_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    lifecycle_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifecycle_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The current stage on the path of its typical objectives (migration 0016e; bot/domain/stages.py):
    # one of the chosen objectives' keys; NULL when none of the card's four was chosen.
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The sponsor (migration 0016d): a manager a review's summary can be sent to when management
    # support is lacking (issue 11, item 5); NULL: none named.
    sponsor_id: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)

    channels: Mapped[list[CommunityChannel]] = relationship(
        back_populates="community", lazy="raise", order_by="CommunityChannel.id"
    )
    memberships: Mapped[list[Membership]] = relationship(back_populates="community", lazy="raise")


class CommunityNames(Base):
    """A token per workspace, replaced whenever a community is created, renamed or dissolved: each
    instance keeps the list of names for "did you mean ...?" in memory, and reloads it when the token it
    read differs from the one it holds. A random token rather than a counter, so that a cache can never
    mistake another database's (or a recreated team's) names for these."""

    __tablename__ = "community_names"

    team_id: Mapped[str] = mapped_column(String(TEAM_ID), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


class CommunityChannel(Base):
    """A Slack channel bound to a community; each one can be a sub-issue (sous-enjeu)."""

    __tablename__ = "community_channels"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_community_channels_team_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # History before `bound_at` is seeded by the backfill; live events count from `bound_at` on,
    # so one message is never counted twice. The cursor lets a restarted backfill resume.
    backfill_status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    backfill_cursor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Non-null while some newcomer's first post in this channel has no reply yet (the earliest such
    # post). The counting statement returns it, so only then does a counted message cost a second
    # statement (recording the reply); not a binding column: changing it leaves the caches valid.
    awaiting_reply_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Whose first post waits, when it is one person's alone (NULL: several): their own next messages are
    # no reply, so they do not cost the second statement either.
    awaiting_reply_from: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)

    community: Mapped[Community] = relationship(back_populates="channels", lazy="raise")


class Membership(Base):
    """One row per (community, user); leaving sets `left_at`, joining again clears it."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("team_id", "community_id", "user_id", name="uq_memberships_team_community_user"),
        Index("ix_memberships_team_user", "team_id", "user_id"),
        # The active members of a community by role and circle: the moderators and the counts of
        # /cdp join, info and list read this index alone, never every membership row.
        Index(
            "ix_memberships_active",
            "team_id",
            "community_id",
            "role",
            "circle",
            "joined_at",
            "id",
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    role: Mapped[str] = mapped_column(String(16), default="member")  # core | member
    circle: Mapped[str] = mapped_column(String(16), default="outer")  # inner | outer
    circle_since: Mapped[datetime] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    joined_via: Mapped[str] = mapped_column(String(16), default="command")  # command | channel | creation
    # A moderator said they welcomed this newcomer (the "newcomers waiting" alert stops counting them).
    greeted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the membership last changed (joined, left, came back): a Slack event older than this one is
    # a late retry and must not undo a newer change (member_joined_channel arriving after a leave).
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When this membership's welcome was decided (written to the outbox): once per joining, never for a
    # re-join within 30 days of leaving (bot.domain.welcome).
    welcomed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When their first contribution as a member was noticed (claimed once: the reaction and thank-you
    # go out at most once). Set for everyone who had contributed before the feature (migration 0011).
    first_contribution_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    community: Mapped[Community] = relationship(back_populates="memberships", lazy="raise")


class FirstPost(Base):
    """A newcomer's first message in a community: who, where and when, and when someone else first
    answered (CHAOSS "time to first response"). Timestamps only, never the message's text."""

    __tablename__ = "first_posts"
    __table_args__ = (
        UniqueConstraint("team_id", "community_id", "user_id", name="uq_first_posts_member"),
        # A reply looks only at the posts of its channel still waiting for one.
        Index(
            "ix_first_posts_awaiting",
            "team_id",
            "channel_id",
            "posted_at",
            sqlite_where=text("first_reply_at IS NULL"),
            postgresql_where=text("first_reply_at IS NULL"),
        ),
        # The moderators' recent first posts of one community.
        Index("ix_first_posts_recent", "team_id", "community_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    message_ts: Mapped[str] = mapped_column(String(32))  # Slack's id of the message (for the reaction)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_reply_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)


class JoinRequest(Base):
    """A request to join a protected community, decided by a moderator (once: compare-and-set on status).

    At most one pending request per person and community: a partial unique index, so two concurrent
    `/cdp join` give one request and one message to the moderators.
    """

    __tablename__ = "join_requests"
    __table_args__ = (
        Index(
            "uq_join_requests_pending",
            "team_id",
            "community_id",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | declined
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProcessedEvent(Base):
    """Events API ids already handled: Slack retries, we count once. Pruned after a week."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ActivityDay(Base):
    """Contributions and reactions per (community, channel, user, day): counts only, never text."""

    __tablename__ = "activity_days"
    __table_args__ = (
        UniqueConstraint(
            "team_id", "community_id", "channel_id", "user_id", "day", name="uq_activity_days_key"
        ),
        # INCLUDE on PostgreSQL (migration 0008): the circle pass reads windows by index-only scans.
        Index(
            "ix_activity_days_member",
            "team_id",
            "community_id",
            "user_id",
            "day",
            postgresql_include=["contributions"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    day: Mapped[date] = mapped_column(Date)  # in the community's timezone
    contributions: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)


class ActivityMonth(Base):
    """Daily counters older than the retention (ACTIVITY_RETENTION_DAYS), summed per community, member
    and month by the nightly job (bot.services.retention), then deleted: counts only, never text."""

    __tablename__ = "activity_months"
    __table_args__ = (
        UniqueConstraint("team_id", "community_id", "user_id", "month", name="uq_activity_months_key"),
        # The charts read a community's months; the key's index serves the export and forget by member.
        Index("ix_activity_months_community", "community_id", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    month: Mapped[date] = mapped_column(Date)  # its first day (the community's calendar, as the days)
    # The first and last days summed here: the chart draws the total evenly over them.
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    contributions: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)


class CircleChange(Base):
    """Every change of circle, with its reason, so a member can see their history."""

    __tablename__ = "circle_changes"
    # /cdp me: the latest change of one person in each of their communities, by one indexed query.
    __table_args__ = (
        Index("ix_circle_changes_member", "team_id", "user_id", "community_id", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    from_circle: Mapped[str] = mapped_column(String(16))
    to_circle: Mapped[str] = mapped_column(String(16))
    reason_key: Mapped[str] = mapped_column(String(80))
    reason_params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ForgottenUser(Base):
    """People who asked to be forgotten: not counted again until they join again.

    Only what recognising them needs: a keyed hash (HMAC-SHA256 under `AppSecret` FORGOTTEN_KEY) of
    (team_id, user_id), never the raw id, so this list names nobody to whoever reads it without the key.
    `forgotten_at` is when the request was honoured (what an organisation answers when asked).
    """

    __tablename__ = "forgotten_users"
    __table_args__ = (UniqueConstraint("user_hash", name="uq_forgotten_users_user_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    user_hash: Mapped[str] = mapped_column(String(64))  # hex HMAC-SHA256
    forgotten_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppSecret(Base):
    """Keys the app generates once and keeps across restarts and instances (written once, never updated).

    In the database rather than the repository or the environment: every instance shares it, and a
    deployment cannot forget to set it (a lost key would make everyone forgotten countable again).
    """

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex


class Review(Base):
    """A checklist review of a community, due on a date. The unique key is the claim: one per due date.

    `claimed_at` is taken before anything is sent; `sent_at` once the prompt went out. A claim whose
    send failed (or whose sender crashed) is taken again after a lease, so a review is never dropped.
    """

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("team_id", "community_id", "due_on", name="uq_reviews_community_due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    on_demand: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)  # the last level sent
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    core_count: Mapped[int | None] = mapped_column(Integer, nullable=True)  # circles when the prompt went out
    inner_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outer_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    answers: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The onramp figures when the prompt went out (bot.domain.onramp.OnrampFigures.to_json, migration
    # 0016b): the next review's "last review" comparison. NULL for reviews sent before it existed.
    onramp: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The next instant the tick has something to do for this review (send the prompt, retake a stale
    # claim, escalate, end a snooze); NULL when nothing is left (completed, or every step sent). The tick
    # reads only `next_step_at <= now`; see storage/schedule.py.
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # A review done together (issue 11, item 4): once a moderator saves answers for the others, the
    # tick closes the review at this instant from the answers saved (it is then its only next step).
    answers_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReviewAnswers(Base):
    """One moderator's answers to an open review (and the decision they propose), saved for the others
    to add theirs; the review's outcome is drawn from every row. One row per (review, moderator)."""

    __tablename__ = "review_answers"
    __table_args__ = (UniqueConstraint("review_id", "user_id", name="uq_review_answers_review_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    answers: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{item, answer, note}] in ITEMS order
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewPulse(Base):
    """The inner circle's pulse of a review ("Is this community useful to you?"): asked once, and only
    the tallies. Who voted is in `review_pulse_voters`, with no link to what they answered."""

    __tablename__ = "review_pulses"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    asked_by: Mapped[str] = mapped_column(String(SLACK_ID))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    asked_count: Mapped[int] = mapped_column(Integer)
    yes: Mapped[int] = mapped_column(Integer, default=0)
    partly: Mapped[int] = mapped_column(Integer, default=0)
    no: Mapped[int] = mapped_column(Integer, default=0)


class ReviewPulseVoter(Base):
    """Who already answered a review's pulse (one vote each), never what they answered."""

    __tablename__ = "review_pulse_voters"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)


class Alert(Base):
    """A momentum alert: (community, kind, period) is unique, so each kind fires at most once a week."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("team_id", "community_id", "kind", "period", name="uq_alerts_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    figures: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class LifecycleTransition(Base):
    """A community's move from one lifecycle state to another (from_state NULL: its first state)."""

    __tablename__ = "lifecycle_transitions"
    __table_args__ = (Index("ix_lifecycle_transitions_community", "community_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Entering "dormant": when the moderators' message was written to the outbox (NULL: still owed).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StageChange(Base):
    """A community's move on the path of its objectives: by a review's answer (`review_id`), by hand in
    the settings, or because its objectives changed (bot/domain/stages.py)."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_community", "community_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviews.id", ondelete="SET NULL"), nullable=True
    )
    changed_by: Mapped[str] = mapped_column(String(SLACK_ID))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One Slack call owed to one recipient, written in the transaction that decided it (DESIGN.md: the
    request path). A worker sends it after the answer, retries it (Retry-After, backoff) and records the
    outcome here, so a crash after the commit still sends it, and each recipient gets it once.

    `kind` says what to do (post a message, invite, update earlier messages, answer a response_url,
    upload an export); `payload` says with what: a renderer's name and arguments, rendered in the
    recipient's language when it is sent. `dedupe_key` is unique: the same message to the same person
    is written once, however many instances or retries decide it. `ref` groups the copies of one message
    (a join request sent to every moderator) so they can all be updated when it is decided.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_ref", "ref"),
        # The copies of a scheduled message are found by the prefix of their dedupe key (LIKE 'group:%'):
        # pattern ops let PostgreSQL walk an index for it whatever the database's collation.
        Index("ix_outbox_dedupe_prefix", "dedupe_key", postgresql_ops={"dedupe_key": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(SLACK_ID))  # the channel or the user (a DM) it goes to
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(191), nullable=True, unique=True)
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # pending, then sent, skipped (a refusal about the recipient), failed (gave up) or cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)  # the next attempt, not earlier
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # a worker's lease
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Where the message landed (chat.postMessage's channel and ts): what a later chat.update needs.
    result_channel: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    result_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)


class BindingVersion(Base):
    """One row whose `version` grows on every change that can alter how a channel's message is counted:
    a channel bound, unbound or moved, a community dissolved or revived, its time zone or circle rule
    changed. Database triggers bump it (migration 0006), so every instance sees every writer's change;
    each process's channel-binding cache (storage/bindings.py) re-reads it at most once a second."""

    __tablename__ = "binding_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class PairingPerson(Base):
    """What pairing knows of a person in a workspace: whether they switched pairing off, and when they
    were last introduced as the inner-circle partner. The partner's claim is a compare-and-set on
    `last_paired_at` ("at most one intro per inner member per 7 days", whatever runs concurrently)."""

    __tablename__ = "pairing_people"
    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_pairing_people_team_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_paired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Intro(Base):
    """A newcomer's introduction to one inner-circle member of a community, from the request to the
    check-back's outcome. Who, where and when only; never what they said.

    - `status`: waiting (requested, no partner yet), introduced, cancelled.
    - at most one waiting request per newcomer and community: a partial unique index;
    - never the same pair twice: (pair_low, pair_high) is the pair in id order, unique per workspace;
    - `due_at`: the next instant the pairing pass has something to do for it (try to introduce, send
      the check-back); NULL when nothing is left. The pass reads only `due_at <= now`.
    """

    __tablename__ = "intros"
    __table_args__ = (
        Index(
            "uq_intros_waiting",
            "team_id",
            "community_id",
            "newcomer",
            unique=True,
            sqlite_where=text("status = 'waiting'"),
            postgresql_where=text("status = 'waiting'"),
        ),
        UniqueConstraint("team_id", "pair_low", "pair_high", name="uq_intros_pair"),
        Index("ix_intros_newcomer", "team_id", "newcomer", "community_id"),
        Index("ix_intros_partner", "team_id", "partner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    newcomer: Mapped[str] = mapped_column(String(SLACK_ID))
    partner: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    pair_low: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    pair_high: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    reason: Mapped[str] = mapped_column(String(16))  # asked | lurker | moderator
    requested_by: Mapped[str] = mapped_column(String(SLACK_ID))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    newcomer_tz: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    introduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)  # the group DM
    check_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_back_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # yes | not_yet | no
    outcome_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HomeOpened(Base):
    """People who have opened the app's Home tab at least once, and when they last did: a change that
    concerns them (a join, a circle change, a decided request, a review) republishes their Home only if
    they ever looked at it. Who and when, nothing else; erased with the rest when they are forgotten."""

    __tablename__ = "home_opened"

    team_id: Mapped[str] = mapped_column(String(TEAM_ID), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Product(Base):
    """Something a community produced, saved by one of its members: a title and a link (to a document,
    or to the Slack message that presents it). Never the text of a message: who, where, when only."""

    __tablename__ = "products"
    __table_args__ = (Index("ix_products_community_saved", "community_id", "saved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(150))
    link: Mapped[str] = mapped_column(String(500))
    saved_by: Mapped[str] = mapped_column(String(SLACK_ID))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowUp(Base):
    """A checklist item answered "no" or "partly" turned into something to do (issue 11, item 5): what
    (the moderator's own words, prefilled from their note), who owns it, by when; done once, by whom.
    One per review and item."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("review_id", "item", name="uq_follow_ups_review_item"),
        Index("ix_follow_ups_community_open", "community_id", "done_at", "due_on"),
        Index("ix_follow_ups_owner_open", "team_id", "owner_id", "done_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(TEAM_ID))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[str] = mapped_column(String(SLACK_ID))
    due_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(SLACK_ID), nullable=True)


class ChartFile(Base):
    """A community's chart uploaded to Slack (issue 11, item 1): the file id per community, day and
    language, so every moderator's review prompt and App Home of that day shows one upload rather than
    drawing and uploading again. The file is the app's own (uploaded to no channel); a row is kept a few
    days (see storage.repositories.charts.remember)."""

    __tablename__ = "chart_files"

    team_id: Mapped[str] = mapped_column(String(TEAM_ID), primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the community's day the chart was drawn
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(SLACK_ID))
    alt_text: Mapped[str] = mapped_column(String(2000))  # what the chart shows, in words (in `lang`)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
