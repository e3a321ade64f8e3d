"""What the app owes Slack after a decision: written to the outbox in the deciding transaction.

DESIGN.md, "the request path": a request does its database work, commits and answers; every Slack call
the answer does not need (invites, DMs, channel posts, updates of earlier messages) is written here, in
the same transaction, and sent after the answer by `bot.outbox.OutboxWorker`. A crash after the commit
still sends it; a decision rolled back sends nothing.

A message is a renderer's name and its JSON arguments (`bot.views.messages`), rendered when it is sent,
in the recipient's language when the recipient is a person and no language is fixed here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from storage.repositories import outbox as repo

# Whoever commits a session that wrote to the outbox wakes the worker (see OutboxWorker.watch).
ENQUEUED = "outbox_enqueued"

MESSAGE = "message"  # chat.postMessage to a channel, or to a person (a DM)
INVITE = "invite"  # conversations.invite of one person into one channel
UPDATE = "update"  # chat.update of every delivered copy of a message (its `ref`)
EDIT = "edit"  # chat.update of one message Slack told us about (a button's message)
RESPOND = "respond"  # an ephemeral answer through an interaction's response_url
EXPORT = "export"  # a person's data, uploaded to them as a file
LOOKUP = "lookup"  # users.info of one person: what the scheduled jobs know of who can receive
WELCOME = "welcome"  # a newcomer's welcome: ephemeral in a channel, or a DM; gathered when it is sent
REACT = "react"  # reactions.add of one emoji on one message (a newcomer's first post)
EPHEMERAL = "ephemeral"  # chat.postEphemeral: a sentence only one person sees, in a channel
PAIRING = "pairing"  # an intro in a new group DM (conversations.open), or its check-back there
HOME = "home"  # views.publish of one person's App Home, built from the database when it is sent


DONE_KEPT = timedelta(days=7)  # a delivery done this long ago is deleted (see prune)...
COPIES_KEPT = timedelta(days=90)  # ...but a message that may still be updated (a pending join request)


def transport_now() -> datetime:
    """Real time: Slack's rate limits, Retry-After and a worker's lease are counted in it, whatever the
    domain's clock says (tests drive the domain with a manual clock)."""
    return datetime.now(UTC)


def _add(
    session: Session, *, team_id: str, kind: str, target: str, payload: dict[str, Any], **kw: Any
) -> bool:
    added = repo.add(
        session, team_id=team_id, kind=kind, target=target, payload=payload, now=transport_now(), **kw
    )
    if added is not None:
        session.info[ENQUEUED] = True
    return added is not None


def add_row(session: Session, row: dict[str, Any]) -> bool:
    """Write a delivery made by one of the `*_row` builders (False: its dedupe key was taken)."""
    return _add(session, **row)


def message(
    session: Session,
    *,
    team_id: str,
    to: str,
    render: str,
    lang: str | None = None,
    once: str | None = None,
    ref: str | None = None,
    chart: int | None = None,
    **args: Any,
) -> bool:
    """Post `render(**args)` to `to` (a channel, or a user id for a DM). Without `lang`, a DM is written
    in the recipient's language. `once` is a dedupe key: a message with the same one is never written
    twice (two instances, a retried event, two clicks). False when it already was. `chart`: a community
    id whose chart the worker draws and uploads when it sends, passed to the renderer as `chart`."""
    payload: dict[str, Any] = {"render": render, "args": args}
    if lang is not None:
        payload["lang"] = lang
    if chart is not None:
        payload["chart"] = chart
    return _add(session, team_id=team_id, kind=MESSAGE, target=to, payload=payload, dedupe_key=once, ref=ref)


def messages(session: Session, deliveries: list[dict[str, Any]]) -> None:
    """Several `message` deliveries in one statement (a scheduled job's batch). Each dict: team_id, to,
    render, args, once, ref and optionally fallback (see bot.outbox: who gets it when nobody could) and
    chart (a community id: its chart goes with the message, see `message`)."""
    if not deliveries:
        return
    rows = []
    for d in deliveries:
        payload: dict[str, Any] = {"render": d["render"], "args": d["args"]}
        if d.get("fallback") is not None:
            payload["fallback"] = d["fallback"]
        if d.get("chart") is not None:
            payload["chart"] = d["chart"]
        rows.append(
            {
                "team_id": d["team_id"],
                "kind": MESSAGE,
                "target": d["to"],
                "payload": payload,
                "dedupe_key": d.get("once"),
                "ref": d.get("ref"),
            }
        )
    repo.add_many(session, rows=rows, now=transport_now())
    session.info[ENQUEUED] = True


def lookups(session: Session, *, team_id: str, user_ids: list[str], period: str) -> None:
    """Ask Slack about these people after the job (once per `period`, whoever asks): scheduled jobs
    never call Slack themselves, they decide with what is known and learn for the next pass."""
    rows = [
        {
            "team_id": team_id,
            "kind": LOOKUP,
            "target": u,
            "payload": {},
            "dedupe_key": f"lookup:{team_id}:{u}:{period}",
        }
        for u in dict.fromkeys(user_ids)
    ]
    for start in range(0, len(rows), 1000):
        repo.add_many(session, rows=rows[start : start + 1000], now=transport_now())
    if rows:
        session.info[ENQUEUED] = True


def text(
    session: Session,
    *,
    team_id: str,
    to: str,
    key_name: str,
    lang: str | None = None,
    once: str | None = None,
    **params: Any,
) -> bool:
    """A plain sentence from the catalogues: `t(key_name, lang, **params)`."""
    return message(
        session, team_id=team_id, to=to, render="text", lang=lang, once=once, key_name=key_name, params=params
    )


def invite(session: Session, *, team_id: str, channel: str, user: str) -> bool:
    """Add a person to a channel; if Slack refuses, they get a DM saying how to join it themselves."""
    return add_row(session, invite_row(team_id=team_id, channel=channel, user=user))


def invite_row(*, team_id: str, channel: str, user: str) -> dict[str, Any]:
    """`invite`'s delivery, for a statement that writes deliveries itself (repositories/joining.py)."""
    return {"team_id": team_id, "kind": INVITE, "target": user, "payload": {"channel": channel}}


def update_copies(
    session: Session,
    *,
    team_id: str,
    ref: str,
    render: str,
    besides: tuple[str, str] | None = None,
    **args: Any,
) -> bool:
    """Replace every delivered copy of message `ref` (e.g. a join request sent to each moderator) with
    `render(**args)`, each in its recipient's language; copies not sent yet are cancelled. `besides`:
    the (channel, ts) of a copy that gets its own words (the one whose button was pressed). Nothing is
    written when no copy was ever sent (a review started on demand has no prompt)."""
    repo.cancel_pending(session, ref=ref, now=transport_now())
    if not repo.has_sent_or_pending(session, ref=ref):
        return False
    payload: dict[str, Any] = {"ref": ref, "render": render, "args": args}
    if besides is not None:
        payload["besides"] = list(besides)
    return _add(session, team_id=team_id, kind=UPDATE, target="", payload=payload)


def edit(
    session: Session, *, team_id: str, channel: str, ts: str, render: str, lang: str, **args: Any
) -> bool:
    """Replace one message (the one whose button was pressed: Slack gave its channel and ts)."""
    payload = {"channel": channel, "ts": ts, "render": render, "lang": lang, "args": args}
    return _add(session, team_id=team_id, kind=EDIT, target=channel, payload=payload)


def respond(
    session: Session,
    *,
    team_id: str,
    user: str,
    response_url: str | None,
    lang: str,
    render: str,
    replace: bool = False,
    **args: Any,
) -> bool:
    """An ephemeral answer to the person who pressed a button (their response_url; a DM if it is gone).
    `replace`: it takes the place of the ephemeral message that had the button."""
    payload = {"url": response_url, "render": render, "lang": lang, "replace": replace, "args": args}
    return _add(session, team_id=team_id, kind=RESPOND, target=user, payload=payload)


def welcome(
    session: Session, *, team_id: str, user: str, community_id: int, channel: str | None, once: str
) -> bool:
    """A newcomer's welcome to `community_id`: ephemeral in `channel` (they joined it in Slack), else a
    DM. What it says (moderators, channels, the moderators' text) is read when it is sent."""
    row = welcome_row(team_id=team_id, user=user, community_id=community_id, channel=channel, once=once)
    return add_row(session, row)


def welcome_row(
    *, team_id: str, user: str, community_id: int, channel: str | None, once: str
) -> dict[str, Any]:
    """`welcome`'s delivery, for a statement that writes deliveries itself."""
    payload = {"community_id": community_id, "channel": channel}
    return {"team_id": team_id, "kind": WELCOME, "target": user, "payload": payload, "dedupe_key": once}


def export(session: Session, *, team_id: str, user: str, lang: str) -> bool:
    """The person's data, gathered when it is sent (never copied into the outbox)."""
    return _add(session, team_id=team_id, kind=EXPORT, target=user, payload={"lang": lang})


def react(session: Session, *, team_id: str, channel: str, ts: str, name: str, once: str) -> bool:
    """Add the emoji `name` to the message `ts` of `channel` (once: `once` is its dedupe key)."""
    payload = {"ts": ts, "name": name}
    return _add(session, team_id=team_id, kind=REACT, target=channel, payload=payload, dedupe_key=once)


def ephemeral(
    session: Session,
    *,
    team_id: str,
    channel: str,
    user: str,
    lang: str | None,
    once: str,
    lines: list[tuple[str, dict[str, Any]]],
) -> bool:
    """Sentences of the catalogues (`t(key, lang, **params)` for each of `lines`, one paragraph) shown
    to `user` alone in `channel` (once: `once` is its dedupe key); `lang` None: in `user`'s language."""
    said = [{"key_name": key, "params": params} for key, params in lines]
    payload = {"channel": channel, "lang": lang, "lines": said}
    return _add(session, team_id=team_id, kind=EPHEMERAL, target=user, payload=payload, dedupe_key=once)


def pairing(
    session: Session, *, team_id: str, to: str, once: str, step: str, intro_id: int, **args: Any
) -> bool:
    """A step of an intro (bot/pairing_delivery.py): `intro` opens the group DM of the newcomer and their
    partner and posts the intro there; `check_back` asks them there whether they talked. `to` is the
    newcomer (one message at a time to them)."""
    payload = {"step": step, "intro_id": intro_id, "args": args}
    return _add(session, team_id=team_id, kind=PAIRING, target=to, payload=payload, dedupe_key=once)


def home(
    session: Session,
    *,
    team_id: str,
    user: str,
    page: int = 0,
    once: str | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Publish `user`'s App Home (its `page`), read from the database when it is sent, so it shows what
    is true then (never a copy of it here). `not_before` with a shared `once` collapses a burst of
    changes into one publish (bot.services.home_refresh)."""
    return add_row(session, home_row(team_id=team_id, user=user, page=page, once=once, not_before=not_before))


def home_row(
    *, team_id: str, user: str, page: int = 0, once: str | None = None, not_before: datetime | None = None
) -> dict[str, Any]:
    """`home`'s delivery, for a statement that writes deliveries itself."""
    payload = {"page": page}
    return {
        "team_id": team_id,
        "kind": HOME,
        "target": user,
        "payload": payload,
        "dedupe_key": once,
        "not_before": not_before,
    }


def prune(session: Session) -> int:
    """Forget deliveries done more than DONE_KEPT ago (COPIES_KEPT for the copies of a message a later
    decision updates); pending ones are never pruned."""
    now = transport_now()
    return repo.prune(session, older_than=now - DONE_KEPT, copies_older_than=now - COPIES_KEPT)
