"""The outbox worker's sender of pairing steps (kind `pairing`, see bot.services.outbox.pairing).

At send time, as for every scheduled message, it checks who can still receive: someone who switched
pairing off since, or who left the workspace (users.info: deleted, a bot), gets nothing; the intro is
released (the newcomer waits for someone else) or, when the newcomer is the one gone, dropped.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot import outbox as base
from bot.services import pairing as service
from bot.views.messages import render
from storage.repositories import outbox as repo
from storage.repositories import pairing as pairing_repo
from storage.repositories.outbox import Delivery


def send_pairing(worker: base.OutboxWorker, row: Delivery) -> base.Outcome:
    payload = row.payload
    intro_id = int(payload["intro_id"])
    args = dict(payload.get("args") or {})
    newcomer, partner = str(args["newcomer"]), str(args["partner"])
    with worker.db.session() as session:
        state = service.delivery_state(session, intro_id=intro_id)
    if state is None or state.status != pairing_repo.INTRODUCED or state.partner != partner:
        return base.Outcome(repo.SKIPPED, "stale")
    if state.opted_out:
        _release(worker, intro_id, cancel_it=newcomer in state.opted_out, step=payload["step"])
        return base.Outcome(repo.SKIPPED, "opted_out")
    for user in (newcomer, partner):
        worker._turn(row.team_id, "users.info")
        person = worker.people.get(worker.client, user, max_age=worker.people.rights_ttl)
        if person is not None and not person.is_human:
            _release(worker, intro_id, cancel_it=user == newcomer, step=payload["step"])
            return base.Outcome(repo.SKIPPED, "unreachable")
    # The intro and its check-back are written in the newcomer's language: they are the guest.
    lang = worker.language_of(row, None)
    if payload["step"] == "check_back":
        if not state.channel_id:
            return base.Outcome(repo.SKIPPED, "no_channel")
        text, blocks = render("pairing.check_back", lang, {**args, "intro_id": intro_id})
        return worker.post(row, state.channel_id, text, blocks)
    channel = state.channel_id
    if not channel:
        worker._turn(row.team_id, "conversations.open")
        try:
            opened = worker.client.conversations_open(users=f"{newcomer},{partner}")
        except SlackApiError as exc:
            if exc.response.status_code == 429 or base.slack_error(exc) not in base.RECIPIENT_ERRORS:
                raise
            _release(worker, intro_id, cancel_it=False, step="intro")
            return base.Outcome(repo.SKIPPED, base.slack_error(exc))
        channel = str(opened["channel"]["id"])
        with worker.db.session() as session:
            service.record_channel(session, intro_id=intro_id, channel_id=channel)
    text, blocks = render("pairing.intro", lang, {**args, "intro_id": intro_id})
    return worker.post(row, channel, text, blocks)


def _release(worker: base.OutboxWorker, intro_id: int, *, cancel_it: bool, step: str) -> None:
    """Only an intro not sent yet is released; a check-back that cannot go is simply not sent."""
    if step != "intro":
        return
    with worker.db.session() as session:
        service.release(session, intro_id=intro_id, cancel_it=cancel_it)
