"""What is stored about one person across every table: read it (the export), erase or anonymise it (forget).

Also the keyed hash that lets `forgotten_users` recognise someone without storing their id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import (
    ActivityDay,
    AppSecret,
    CircleChange,
    Community,
    JoinRequest,
    Membership,
    OutboxMessage,
    Review,
)
from storage.repositories.upsert import insert_ignoring_conflicts

# The app_secrets row whose key hashes forgotten people (migration 0005 creates it; its copy must agree).
FORGOTTEN_KEY = "forgotten_users_hmac"


# ---- the keyed hash --------------------------------------------------------------------------
def secret(session: Session, name: str) -> str:
    """A key generated once and kept in the database; created on first use if it is missing (a database
    emptied by hand). Insert-if-absent, then read: concurrent instances all use the one that won."""
    value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    if value is not None:
        return value
    session.execute(
        insert_ignoring_conflicts(session, AppSecret, ["name"]).values(name=name, value=secrets.token_hex(32))
    )
    value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert value is not None
    return value


def user_hash(session: Session, *, team_id: str, user_id: str) -> str:
    """HMAC-SHA256 of (team, user). Whoever holds the whole database can still test a candidate id (that
    is what recognising a forgotten person needs); the list alone, a dump or a log line names nobody."""
    key = secret(session, FORGOTTEN_KEY)
    message = json.dumps([team_id, user_id]).encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()


# ---- reading ---------------------------------------------------------------------------------
def _mentions(column: Any, user_id: str) -> Any:
    """A cheap SQL filter for JSON or text that may hold the id (checked exactly in Python after)."""
    return cast(column, String).contains(user_id, autoescape=True)


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
    return [r for r in candidates if any(user_id in str(a.get("note") or "") for a in r.answers or [])]


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
    return [
        m
        for m in candidates
        if m.target == user_id
        or user_id in json.dumps(m.payload)
        or user_id in (m.ref or "")
        or user_id in (m.dedupe_key or "")
    ]


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
    - their review notes: their words, erased; the yes / partly / no answers and the decision are the
      community's assessment and stay. Others' notes that name them are erased too (the rest of such a
      note may still identify them); the answers stay.
    - outbox rows to them or naming them: deleted, whatever their status. A pending one must not reach
      or mention someone we no longer know; a sent one only served delivery-once and later updates of
      messages about requests and memberships that no longer exist.
    """
    changed = 0
    for model in (ActivityDay, CircleChange, JoinRequest, Membership):
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
    changed += _rowcount(
        session.execute(
            update(JoinRequest)
            .where(JoinRequest.team_id == team_id, JoinRequest.decided_by == user_id)
            .values(decided_by=former)
            .execution_options(synchronize_session=False)
        )
    )
    for review in reviews_completed_by(session, team_id=team_id, user_id=user_id):
        review.completed_by = former
        review.answers = [{**answer, "note": ""} for answer in review.answers or []]
        changed += 1
    for review in reviews_with_notes_mentioning(session, team_id=team_id, user_id=user_id):
        review.answers = [
            {**a, "note": ""} if user_id in str(a.get("note") or "") else a for a in review.answers or []
        ]
        changed += 1
    for message in outbox_about(session, team_id=team_id, user_id=user_id):
        session.delete(message)
        changed += 1
    session.flush()
    return changed
