"""The pairing pass the scheduler runs: newcomers introduced to an inner-circle member, a week later
the check-back. No Slack call here: the outbox worker opens the group DMs and posts
(bot/pairing_delivery.py), and checks at send time who can still receive.

Hourly, `find_lurkers` writes a waiting request for each new lurker (one statement over every
community: read N days, never posted, never asked). Every few minutes, `pairing_pass`:
1. reads the intros that are due (`due_at <= now`, by index), at most BATCH;
2. a request outside the newcomer's working hours (their time zone as Slack gave it, else the
   community's) is moved to their next working hour; the others get a partner chosen by the pure rule
   (bot.domain.pairing.rank_partners), claimed in the database (the partner's week, then the intro,
   compare-and-set; the pair's unique key) with its outbox delivery, a savepoint per intro in one
   transaction per batch;
3. the check-backs that fell due are claimed and written to the outbox, in working hours too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import cadence
from bot.domain import pairing as rules
from bot.runtime import Deps
from bot.services import outbox
from bot.services import pairing as service
from storage.repositories import pairing as repo

log = logging.getLogger("cdp_bot.pairing")

BATCH = 200  # intros read per pass (the next pass, a minute later, takes the rest)
LURKERS_PER_PASS = 1000
DISABLED_RETRY = timedelta(days=1)  # pairing switched off in the community: look again tomorrow
CHANNEL_WAIT = timedelta(hours=1)  # a check-back whose intro has not landed yet


class _Lost(Exception):
    """Another pass claimed this intro first: roll back this one's claims."""


def _zone(deps: Deps, item: repo.DueIntro) -> str:
    """The newcomer's time zone (as given when they asked, else as known), else the community's."""
    for candidate in (item.newcomer_tz, deps.people.known_timezone(item.newcomer), item.timezone, "UTC"):
        if candidate and cadence.is_valid_timezone(candidate):
            return candidate
    return "UTC"


def _working(deps: Deps, item: repo.DueIntro, now: datetime) -> tuple[bool, datetime]:
    tz = _zone(deps, item)
    return cadence.within_working_hours(tz, now), cadence.next_working_time(tz, now)


def find_lurkers(deps: Deps, client: WebClient | None = None) -> int:
    """Hourly: a waiting request for each new lurker, found by one statement over every community
    (it reads the active memberships, so it runs hourly, not with every pass). Returns how many."""
    now = deps.clock.now()
    known = deps.people.known_reachable
    with deps.db.session() as session:
        found = repo.new_lurkers(session, now=now, limit=LURKERS_PER_PASS)
        added = repo.add_requests(
            session,
            rows=[
                {
                    "team_id": team,
                    "community_id": community,
                    "newcomer": user,
                    "reason": rules.Reason.LURKER.value,
                    "requested_by": user,
                }
                for team, community, user in found
                if known(user) is not False
            ],
            now=now,
        )
    log.info("pairing lurkers", extra={"fields": {"found": len(found), "requests": added}})
    return added


def pairing_pass(deps: Deps, client: WebClient | None = None) -> int:
    """One pass over what is due; safe at any time, from several instances. Returns the intros written
    to the outbox."""
    now = deps.clock.now()
    with deps.db.session() as session:
        due = repo.due(session, now=now, limit=BATCH)
    if not due:
        return 0
    introduced = _introduce(deps, [d for d in due if d.status == repo.WAITING], now)
    checked = _check_back(deps, [d for d in due if d.status == repo.INTRODUCED], now)
    log.info(
        "pairing pass",
        extra={"fields": {"due": len(due), "intros": introduced, "check_backs": checked}},
    )
    return introduced


def _introduce(deps: Deps, waiting: list[repo.DueIntro], now: datetime) -> int:
    known = deps.people.known_reachable
    later: list[tuple[int, datetime | None]] = []
    dropped: list[int] = []
    ready: list[repo.DueIntro] = []
    for item in waiting:
        if item.community_status != "active" or known(item.newcomer) is False:
            dropped.append(item.id)  # dissolved, or the newcomer left the workspace
        elif not item.pairing_enabled:
            later.append((item.id, now + DISABLED_RETRY))
        else:
            inside, next_time = _working(deps, item, now)
            if inside:
                ready.append(item)
            else:
                later.append((item.id, next_time))
    with deps.db.session() as session:
        repo.reschedule(session, steps=later)
        repo.cancel(session, intro_ids=dropped)
        partners = repo.partners(session, community_ids={i.community_id for i in ready})
        members = repo.still_members(session, items=[(i.community_id, i.newcomer) for i in ready])
        met: dict[str, set[str]] = {}
        out: set[str] = set()
        for team_id in {i.team_id for i in ready}:
            newcomers = [i.newcomer for i in ready if i.team_id == team_id]
            met.update(repo.met(session, team_id=team_id, user_ids=newcomers))
            out |= repo.opted_out(session, team_id=team_id, user_ids=newcomers)
    # Time zones and who left the workspace come from the people cache, never from Slack here: people
    # it does not know yet are looked up by the outbox worker after this pass, and their newcomer's
    # request waits for the next pass (once: `to_ask` asks about a person at most once a day).
    to_learn: dict[str, list[str]] = defaultdict(list)
    decided: list[repo.DueIntro] = []
    for item in ready:
        people = [item.newcomer, *(row.user_id for row in partners.get(item.community_id, []))]
        asked = deps.people.to_ask([u for u in people if known(u) is None])
        if asked:
            to_learn[item.team_id].extend(asked)
        else:
            decided.append(item)
    if to_learn:
        with deps.db.session() as session:
            for team_id, users in to_learn.items():
                outbox.lookups(session, team_id=team_id, user_ids=users, period=now.strftime("%Y-%m-%d"))
    gone = [
        i.id
        for i in decided
        if known(i.newcomer) is False or i.newcomer in out or (i.community_id, i.newcomer) not in members
    ]
    done = 0
    ranked: dict[int, list[str]] = {}
    for item in decided:
        if item.id not in gone:
            ranked[item.id] = rules.rank_partners(
                service.candidates(
                    partners.get(item.community_id, []), known=known, known_zone=deps.people.known_timezone
                ),
                newcomer=item.newcomer,
                newcomer_tz=_zone(deps, item),
                already_met=met.get(item.newcomer, set()),
                now=now,
            )
    # One transaction for the batch (one durable commit, not one per intro), a savepoint per intro: an
    # intro another pass claimed first (compare-and-set lost, or the pair's unique key) rolls back
    # alone and the others stand.
    with deps.db.session() as session:
        repo.cancel(session, intro_ids=gone)  # left the community or the workspace, or switched off
        for team_id in {i.team_id for i in decided}:
            repo.ensure_people(
                session,
                team_id=team_id,
                user_ids={u for i in decided if i.team_id == team_id for u in ranked.get(i.id, [])},
            )
        for item in decided:
            if item.id in gone:
                continue
            try:
                with session.begin_nested():
                    if _claim(session, item, ranked[item.id], now):
                        done += 1
            except (IntegrityError, _Lost):
                log.info("pairing: intro taken by another pass", extra={"fields": {"intro": item.id}})
    return done


def _claim(session: Session, item: repo.DueIntro, ranked: list[str], now: datetime) -> bool:
    """The first free partner of `ranked` (their week claimed), the intro claimed with them and its
    delivery written; nobody free: the request is looked at again later."""
    for partner in ranked:
        if not repo.claim_partner(
            session, team_id=item.team_id, user_id=partner, now=now, rest=rules.PARTNER_REST, ensure=False
        ):
            continue  # introduced by another pass a moment ago, or switched off: the next one
        if not repo.claim_intro(
            session,
            intro_id=item.id,
            partner=partner,
            pair=rules.pair_key(item.newcomer, partner),
            now=now,
            check_back_at=now + rules.CHECK_BACK_AFTER,
        ):
            raise _Lost()
        outbox.pairing(
            session,
            team_id=item.team_id,
            to=item.newcomer,
            # The claim's instant too: an intro released (someone switched off) and claimed again
            # with the same partner later is a new message.
            once=f"pairing:intro:{item.id}:{partner}:{int(now.timestamp())}",
            step="intro",
            intro_id=item.id,
            newcomer=item.newcomer,
            partner=partner,
            **_intro_args(item),
        )
        return True
    repo.reschedule(session, steps=[(item.id, now + rules.RETRY_AFTER)])
    return False


def _intro_args(item: repo.DueIntro) -> dict[str, Any]:
    has_domain = bool(item.domain.strip())
    key, objective = rules.ice_breaker(item.id, has_domain=has_domain, objectives=item.objectives)
    return {"name": item.name, "domain": item.domain, "ice_breaker": key, "objective": objective}


def _check_back(deps: Deps, due: list[repo.DueIntro], now: datetime) -> int:
    later: list[tuple[int, datetime | None]] = []
    ready: list[repo.DueIntro] = []
    for item in due:
        if item.channel_id is None:
            later.append((item.id, now + CHANNEL_WAIT))  # the intro is still on its way
            continue
        inside, next_time = _working(deps, item, now)
        if inside:
            ready.append(item)
        else:
            later.append((item.id, next_time))
    sent = 0
    with deps.db.session() as session:
        repo.reschedule(session, steps=later)
        for item in ready:
            people = [u for u in (item.newcomer, item.partner) if u]
            if repo.opted_out(session, team_id=item.team_id, user_ids=people):
                repo.reschedule(session, steps=[(item.id, None)])  # nothing is sent to them any more
                continue
            if not repo.claim_check_back(session, intro_id=item.id, now=now):
                continue
            outbox.pairing(
                session,
                team_id=item.team_id,
                to=item.newcomer,
                once=f"pairing:check_back:{item.id}",
                step="check_back",
                intro_id=item.id,
                newcomer=item.newcomer,
                partner=item.partner,
                name=item.name,
            )
            sent += 1
    return sent
