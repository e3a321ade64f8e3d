"""Slash commands the HTTP server answers itself, on its event loop (bot/server.py): `/cdp help`, `/cdp me`
and the usual `/cdp join <name>`, on PostgreSQL, with one workspace, for someone whose language this
process already knows.

Through Bolt, such a command cost a hop to a worker thread, Bolt's request, middleware and listener
matching, and its statements through SQLAlchemy's execution machinery: most of its CPU, which at 20
concurrent commands queues behind the GIL. Here it is what Bolt's dispatch would do for it, and nothing
else: the payload gate validates it (as the gate middleware does), the language is the one the context
middleware would attach (known, so no Slack call), the replay guard claims its trigger_id first (the
same light commit, awaited on the loop; a join writes it with everything else), then the subcommand
answers from a statement or two, awaited too. Whatever else (any other subcommand, SQLite, several
workspaces, a language to ask Slack for, a join that is not the usual one: bot/services/joining.py),
Bolt's dispatch answers as before. The answers are the subcommands' own (`help_message`, `me_answer`,
`joined_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.commands import HELP, canonical, parse
from bot.domain.communities import exact_keys
from bot.runtime import Deps
from bot.services import circles as circle_service
from bot.services import joining, replays
from bot.services.communities import JoinOutcome
from bot.services.replays import ReplayClaim
from bot.views.common import ephemeral
from bot.views.help import help_message
from handlers.activity import me_answer
from handlers.commands import COMMAND, SUBCOMMANDS
from handlers.communities import joined_text
from handlers.context import acting_user, command_replay_refused, log_replay, replay_claim
from handlers.gate import check

ME = "me"
JOIN = "join"
ANSWERED_DIRECTLY = frozenset({HELP, ME, JOIN})


@dataclass(frozen=True)
class DirectCommand:
    """A command the server may answer itself (see `command_to_answer`)."""

    subcommand: str  # HELP, ME or JOIN
    slugs: tuple[str, ...]  # JOIN: the community's possible slugs (a name to resolve goes through Bolt)
    team_id: str
    user_id: str
    lang: str
    claim: ReplayClaim
    payload: dict[str, Any]


def command_to_answer(deps: Deps, payload: dict[str, Any]) -> DirectCommand | None:
    """The command, when the server may answer it without Bolt's dispatch; None whenever Bolt must."""
    if payload.get("command") != COMMAND or not deps.db.awaits_statements:
        return None
    if deps.settings.slack_bot_token is None:  # several workspaces: Bolt's authorize finds the token
        return None
    text = payload.get("text")
    parsed = parse(text) if isinstance(text, str) else None
    name = canonical(parsed.name) if parsed is not None else None
    if parsed is None or name not in ANSWERED_DIRECTLY:
        return None
    slugs: tuple[str, ...] = ()
    if name == JOIN:  # by a name that is a slug (or a channel named from one): what the index finds
        keys = exact_keys(parsed.argument)
        if keys.channel_id is not None or not keys.slugs:
            return None
        slugs = keys.slugs
    if check(payload) is not None:  # the gate answers a refused payload
        return None
    user_id = acting_user(payload)
    claim = replay_claim(payload)
    if user_id is None or claim is None:
        return None
    lang = deps.people.known_language(user_id)
    if lang is None:
        return None
    return DirectCommand(name, slugs, str(payload.get("team_id") or ""), user_id, lang, claim, payload)


async def answer(deps: Deps, command: DirectCommand) -> dict[str, Any] | None:
    """The ephemeral answer, once the replay guard's claim is committed (a replay changes nothing); None
    when Bolt must answer after all (a join that is not the usual one: nothing was written)."""
    now, claim = deps.clock.now(), command.claim
    if command.subcommand == JOIN:
        return await _join(deps, command, now)
    if command.subcommand == HELP:
        if not await replays.first_use_on_loop(deps.db, team_id=claim.team_id, key=claim.key, now=now):
            log_replay(command.payload)
            return command_replay_refused(command.lang)
        return help_message(SUBCOMMANDS, command.lang)
    # `/cdp me`: the claim and the read in one round trip.
    standings = await circle_service.claimed_standings_on_loop(
        deps.db, claim=(claim.team_id, claim.key), team_id=command.team_id, user_id=command.user_id, now=now
    )
    if standings is None:
        log_replay(command.payload)
        return command_replay_refused(command.lang)
    return me_answer(standings, command.lang, deps.settings.retention_policy)


async def _join(deps: Deps, command: DirectCommand, now: datetime) -> dict[str, Any] | None:
    joined = await joining.join_on_loop(
        deps.db,
        team_id=command.team_id,
        user_id=command.user_id,
        slugs=list(command.slugs),
        claim=command.claim,
        now=now,
    )
    if joined is None:
        return None
    if joined.outcome is None:
        log_replay(command.payload)
        return command_replay_refused(command.lang)
    if joined.outcome != JoinOutcome.ALREADY and deps.outbox is not None:
        deps.outbox.wake()  # its invites and welcome are due now
    return ephemeral(joined_text(joined.outcome, joined.name, joined.channel_ids, command.lang))
