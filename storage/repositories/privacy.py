"""What is stored about one person across every table: read it (the export), erase or anonymise it (forget).

Also the keyed hash that lets `forgotten_users` recognise someone without storing their id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, bindparam, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import (
    ActivityDay,
    AppSecret,
    CircleChange,
    Community,
    FirstPost,
    FollowUp,
    JoinRequest,
    Membership,
    OutboxMessage,
    Review,
)
from storage.repositories.upsert import insert_ignoring_conflicts

# The app_secrets row whose key hashes forgotten people (migration 0005 creates it; its copy must agree).
FORGOTTEN_KEY = "forgotten_users_hmac"


# ---- the keyed hash --------------------------------------------------------------------------
# Built once: read on every join (the keyed hash of `remember`).
_SECRET = select(AppSecret.value).where(AppSecret.name == bindparam("name"))


def secret(session: Session, name: str) -> str:
    """A key generated once and kept in the database; created on first use if it is missing (a database
    emptied by hand). Insert-if-absent, then read: concurrent instances all use the one that won.
    Kept for the session only (a backfill asks once per unknown poster): a key is never updated, but a
    process-wide copy would outlive a database emptied and re-keyed under it."""
    cache_key = f"app_secret:{name}"
    cached = session.info.get(cache_key)
    if isinstance(cached, str):
        return cached
    value = session.scalar(_SECRET, {"name": name})
    if value is None:
        session.execute(
            insert_ignoring_conflicts(session, AppSecret, ["name"]).values(
                name=name, value=secrets.token_hex(32)
            )
        )
        value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert value is not None
    session.info[cache_key] = value
    return value


def user_hash(session: Session, *, team_id: str, user_id: str) -> str:
    """HMAC-SHA256 of (team, user). Whoever holds the whole database can still test a candidate id (that
    is what recognising a forgotten person needs); the list alone, a dump or a log line names nobody."""
    return keyed_hash(secret(session, FORGOTTEN_KEY), team_id=team_id, user_id=user_id)


def keyed_hash(key: str, *, team_id: str, user_id: str) -> str:
    """`user_hash` with the key already read."""
    message = json.dumps([team_id, user_id]).encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()


# ---- reading ---------------------------------------------------------------------------------
def _mentions(column: Any, user_id: str) -> Any:
    """A cheap SQL filter for JSON or text that may hold the id (checked exactly by `names` after)."""
    return cast(column, String).contains(user_id, autoescape=True)


TOKEN = re.compile(r"[A-Za-z0-9]+")


def names(value: Any, user_id: str) -> bool:
    """Whether text or JSON names the person: their id as a whole word (`UB1`, `<@UB1>`, `dm:UB1`), in any
    string, key or nested value; `UB12` is someone else."""
    if isinstance(value, str):
        return user_id in TOKEN.findall(value)
    if isinstance(value, dict):
        return any(names(k, user_id) or names(v, user_id) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(names(item, user_id) for item in value)
    return False


def communities_involving(session: Session, *, team_id: str, user_id: str) -> Sequence[Community]:
    """Communities they created, dissolved, or are a key person of."""
    return session.scalars(
        select(Community)
        .where(
            Community.team_id == team_id,
            or_(
                Community.created_by == user_id,
                Community.dissolved_by == user_id,
                _mentions(Community.key_people, user_id),
            ),
        )
        .order_by(Community.id)
    ).all()


def requests_decided_by(session: Session, *, team_id: str, user_id: str) -> Sequence[JoinRequest]:
    return session.scalars(
        select(JoinRequest)
        .where(JoinRequest.team_id == team_id, JoinRequest.decided_by == user_id)
        .order_by(JoinRequest.decided_at, JoinRequest.id)
    ).all()


def reviews_completed_by(session: Session, *, team_id: str, user_id: str) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .where(Review.team_id == team_id, Review.completed_by == user_id)
        .order_by(Review.completed_at, Review.id)
    ).all()


def reviews_with_notes_mentioning(session: Session, *, team_id: str, user_id: str) -> list[Review]:
    """Reviews by others whose notes name them (`<@U…>`): a note about someone is data about them."""
    candidates = session.scalars(
        select(Review).where(Review.team_id == team_id, _mentions(Review.answers, user_id))
    ).all()
    return [r for r in candidates if any(names(a.get("note"), user_id) for a in r.answers or [])]


def outbox_about(session: Session, *, team_id: str, user_id: str) -> list[OutboxMessage]:
    """Messages to them (`target`), or whose payload, ref or dedupe key names them."""
    candidates = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.team_id == team_id,
            or_(
                OutboxMessage.target == user_id,
                _mentions(OutboxMessage.payload, user_id),
                _mentions(OutboxMessage.ref, user_id),
                _mentions(OutboxMessage.dedupe_key, user_id),
            ),
        )
        .order_by(OutboxMessage.id)
    ).all()
    return [m for m in candidates if m.target == user_id or names([m.payload, m.ref, m.dedupe_key], user_id)]


def first_posts_of(session: Session, *, team_id: str, user_id: str) -> Sequence[FirstPost]:
    """Their own first posts, and those they were the first to answer (issue 10)."""
    return session.scalars(
        select(FirstPost)
        .where(
            FirstPost.team_id == team_id,
            or_(FirstPost.user_id == user_id, FirstPost.first_reply_by == user_id),
        )
        .order_by(FirstPost.posted_at, FirstPost.id)
    ).all()


# ---- forgetting ------------------------------------------------------------------------------
def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase(session: Session, *, team_id: str, user_id: str, former: str) -> int:
    """Erase or anonymise every row about the person; returns the rows changed. Why each choice:

    - memberships (with greeted_at), activity days, circle changes, their own join requests: about them
      only, so deleted.
    - communities.created_by / dissolved_by, join_requests.decided_by, reviews.completed_by: the
      community's history stays true (it was created, dissolved, a request decided, a review done) but
      no longer says by whom: `former`, which the views render as "a former member".
    - communities.key_people: they are no longer named as a key person (the id is removed from the list).
    - follow_ups.owner_id / created_by / done_by: `former` (the follow-up is the community's);
      communities.sponsor_id: NULL.
    - their review notes: their words, erased; the yes / partly / no answers and the decision are the
      community's assessment and stay. Others' notes that name them are erased too (the rest of such a
      note may still identify them); the answers stay.
    - outbox rows to them or naming them: deleted, whatever their status. A pending one must not reach
      or mention someone we no longer know; a sent one only served delivery-once and later updates of
      messages about requests and memberships that no longer exist.
    """
    changed = 0
    for model in (ActivityDay, CircleChange, JoinRequest, Membership, FirstPost):
        changed += _rowcount(
            session.execute(delete(model).where(model.team_id == team_id, model.user_id == user_id))
        )
    for column in (Community.created_by, Community.dissolved_by):
        changed += _rowcount(
            session.execute(
                update(Community)
                .where(Community.team_id == team_id, column == user_id)
                .values({column.key: former})
                .execution_options(synchronize_session=False)
            )
        )
    for community in session.scalars(
        select(Community).where(Community.team_id == team_id, _mentions(Community.key_people, user_id))
    ).all():
        if user_id in (community.key_people or []):
            community.key_people = [u for u in community.key_people if u != user_id]
            changed += 1
    # A first post they answered keeps its time to first reply, no longer by whom.
    changed += _rowcount(
        session.execute(
            update(FirstPost)
            .where(FirstPost.team_id == team_id, FirstPost.first_reply_by == user_id)
            .values(first_reply_by=former)
            .execution_options(synchronize_session=False)
        )
    )
    changed += _rowcount(
        session.execute(
            update(JoinRequest)
            .where(JoinRequest.team_id == team_id, JoinRequest.decided_by == user_id)
            .values(decided_by=former)
            .execution_options(synchronize_session=False)
        )
    )
    # Follow-ups (issue 11, item 5) stay the community's: who owns, made or closed one is forgotten;
    # a community they sponsored no longer names a sponsor.
    for column in (FollowUp.owner_id, FollowUp.created_by, FollowUp.done_by):
        changed += _rowcount(
            session.execute(
                update(FollowUp)
                .where(FollowUp.team_id == team_id, column == user_id)
                .values({column.key: former})
                .execution_options(synchronize_session=False)
            )
        )
    changed += _rowcount(
        session.execute(
            update(Community)
            .where(Community.team_id == team_id, Community.sponsor_id == user_id)
            .values(sponsor_id=None)
            .execution_options(synchronize_session=False)
        )
    )
    for review in reviews_completed_by(session, team_id=team_id, user_id=user_id):
        review.completed_by = former
        review.answers = [{**answer, "note": ""} for answer in review.answers or []]
        changed += 1
    for review in reviews_with_notes_mentioning(session, team_id=team_id, user_id=user_id):
        review.answers = [
            {**a, "note": ""} if names(a.get("note"), user_id) else a for a in review.answers or []
        ]
        changed += 1
    for message in outbox_about(session, team_id=team_id, user_id=user_id):
        session.delete(message)
        changed += 1
    session.flush()
    return changed
