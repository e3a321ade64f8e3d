"""The channel → community binding, cached in the process, per engine.

Every message event asks "which community counts this channel?". Reading it from the database each
time cost a statement per event, even in the many channels no community is bound to. The cache answers
from memory, and stays right in three ways:

- our own writes: a committed statement that changes `community_channels` or `communities` clears this
  engine's cache at once (an engine event below), so a channel bound by this process counts its very
  next message;
- other instances' writes: triggers (migration 0006) bump `binding_versions.version` on every such change;
  the cache re-reads that one row at most once per `VERSION_TTL_S` and drops everything when it moved.
  Until then another instance's new binding may go unseen for up to a second (its messages are not
  counted: never a wrong count);
- a stale entry can never count wrongly: the counting statement re-checks the binding it was given
  (the binding row, its community active, time zone, rule) and counts nothing when they differ; the
  caller then drops the entry and reads it again (storage/repositories/counting.py).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.base import OptionEngine
from sqlalchemy.orm import Session

from storage.models import BindingVersion, Community, CommunityChannel

VERSION_TTL_S = 1.0
# Every channel the app hears from has an entry (most are bound to nothing); past this many, start over
# rather than grow without bound (a workspace has thousands of channels, rarely this many).
MAX_ENTRIES = 100_000
_DIRTY = "cdp_bindings_dirty"
# Writes that may change a binding (the statements SQLAlchemy and our repositories emit).
_WATCHED = (
    "INSERT INTO community_channels",
    "UPDATE community_channels",
    "DELETE FROM community_channels",
    "UPDATE communities",
    "DELETE FROM communities",
)
# A channel's "first post awaiting a reply" mark (bot/services/first_posts.py) is no binding: its
# UPDATEs begin with this and must not empty the cache (the 0006 triggers ignore the column too).
_NOT_A_BINDING = "UPDATE community_channels SET awaiting_reply_since"
# An UPDATE of communities matters only when it sets what counting reads (the clock moves next_due_at
# every time it opens a review: that must not empty the cache).
_COMMUNITY_COLUMNS = ("status", "timezone", "circle_window_days", "inner_min_", "demotion_grace_days")


def _may_change_a_binding(statement: str) -> bool:
    if not statement.startswith(_WATCHED) or statement.startswith(_NOT_A_BINDING):
        return False
    if not statement.startswith("UPDATE communities"):
        return True
    assignments = statement.split(" WHERE ", 1)[0]
    return any(column in assignments for column in _COMMUNITY_COLUMNS)


@dataclass(frozen=True)
class Binding:
    """What counting needs to know about a bound channel's community; the statement re-checks all of it."""

    id: int  # the community_channels row: a channel unbound and bound again is a new row
    community_id: int
    bound_at: datetime
    timezone: str
    window_days: int
    inner_min_contributions: int
    inner_min_days: int
    demotion_grace_days: int


class BindingCache:
    def __init__(
        self, *, ttl: float = VERSION_TTL_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl  # public: tests set it to 0 (always re-read) or to an hour (never)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Binding | None] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")
        # Bumped by every clear: a lookup that read the database before a clear must not store what it
        # read after it (it could be the state the clear was for, and would then look current for ever).
        self._generation = 0

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
            self._checked_at = float("-inf")
            self._generation += 1

    def forget(self, *, team_id: str, channel_id: str) -> None:
        self._entries.pop((team_id, channel_id), None)

    def surely_unbound(self, *, team_id: str, channel_id: str) -> bool:
        """True when the cache, still fresh, knows the channel is bound to no active community: the
        caller need not even open a session. False means "look it up" (bound, unknown, or stale)."""
        if self._monotonic() - self._checked_at >= self.ttl:
            return False
        return self._entries.get((team_id, channel_id), False) is None

    def known(self, *, team_id: str, channel_id: str) -> tuple[bool, Binding | None]:
        """(True, the channel's binding or None) when the cache, still fresh, knows the channel; (False,
        None) when only `lookup` can tell (not cached, or the version is due for a check): the caller
        then needs a session, else not."""
        if self._monotonic() - self._checked_at >= self.ttl:
            return False, None
        key = (team_id, channel_id)
        try:
            return True, self._entries[key]
        except KeyError:
            return False, None

    def lookup(self, session: Session, *, team_id: str, channel_id: str) -> Binding | None:
        """The channel's binding to an active community, or None; SQL only on a miss or once per TTL."""
        if self._monotonic() - self._checked_at >= self.ttl:
            self._check_version(session)
        key = (team_id, channel_id)
        try:
            return self._entries[key]
        except KeyError:
            pass
        generation = self._generation
        binding = read(session, team_id=team_id, channel_id=channel_id)
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries = {}
                self._entries[key] = binding
        return binding

    def _check_version(self, session: Session) -> None:
        version = session.scalar(select(BindingVersion.version).where(BindingVersion.id == 1))
        with self._lock:
            if version != self._version:
                self._entries = {}
                self._version = version
                self._generation += 1
            self._checked_at = self._monotonic()


def read(session: Session, *, team_id: str, channel_id: str) -> Binding | None:
    row = session.execute(
        select(
            CommunityChannel.id,
            CommunityChannel.community_id,
            CommunityChannel.bound_at,
            Community.timezone,
            Community.circle_window_days,
            Community.inner_min_contributions,
            Community.inner_min_days,
            Community.demotion_grace_days,
        )
        .join(Community, Community.id == CommunityChannel.community_id)
        .where(
            CommunityChannel.team_id == team_id,
            CommunityChannel.channel_id == channel_id,
            Community.status == "active",
        )
    ).first()
    return None if row is None else Binding(*row)


_caches: weakref.WeakKeyDictionary[Engine, BindingCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(session: Session) -> BindingCache:
    """The cache of the engine behind this session (one per Database: tests run several side by side)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    assert isinstance(engine, Engine)
    return cache_of_engine(engine)


def cache_of_engine(engine: Engine) -> BindingCache:
    # One cache per pool: an engine with other execution options (the autocommit sessions of the event
    # path, storage.db.Database.statement_session) shares its parent's pool, listeners and cache.
    while isinstance(engine, OptionEngine):
        engine = engine._proxied
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(engine)
            if cache is None:
                cache = BindingCache()
                _watch(engine, cache)
                _caches[engine] = cache
    return cache


def _watch(engine: Engine, cache: BindingCache) -> None:
    """Clear the cache when a transaction of this engine that wrote a binding commits."""

    def before_cursor_execute(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if _may_change_a_binding(statement):
            connection.info[_DIRTY] = True

    def commit(connection: Connection) -> None:
        if connection.info.pop(_DIRTY, False):
            cache.clear()

    def rollback(connection: Connection) -> None:
        if not connection.invalidated:  # a dead connection has no info left (and will not be reused)
            connection.info.pop(_DIRTY, None)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
