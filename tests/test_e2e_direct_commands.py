"""End to end: `/cdp help` and `/cdp me` answered by the HTTP server itself, on its event loop, without
Bolt's dispatch (handlers/direct.py), for someone whose language the app knows, on PostgreSQL. The same
answers as through Bolt, the same replay guard, the same apology when the database fails; whoever Bolt
must answer (a language to learn, SQLite) is answered as before."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from bot.background import Answering
from bot.people import People
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.models import CommunityChannel, ForgottenUser, Membership, OutboxMessage
from storage.repositories import privacy as privacy_repo
from tests import test_e2e_circles as circles_e2e
from tests.conftest import ALICE, BRUNO, Harness

CHANNEL = circles_e2e.CHANNEL
SUB_ISSUE = "CSUB"
REPLAYED_FR = "Cette demande a déjà été traitée : rien n'a été refait."
APOLOGY_FR = "Toutes nos excuses : une erreur est survenue de notre côté et rien n'a été modifié."
NO_COMMUNITY_FR = "Vous n'êtes encore membre d'aucune communauté."


def answer(harness: Harness, command: str, user: str, **kwargs: Any) -> dict[str, Any]:
    result = harness.slack.command(command, user, **kwargs)
    assert result.status == 200, result.text
    body = result.json()
    assert isinstance(body, dict)
    return body


def a_community_with_a_sub_issue(harness: Harness) -> None:
    """Urbanism, bound to CURB and to a sub-issue channel; Bruno posted in both."""
    circles_e2e.make_community(harness)
    harness.emulator.add_channel(SUB_ISSUE, "urbanism-bikes", members=[ALICE, BRUNO])
    with harness.db.session() as session:
        community = svc.require(session, team_id=harness.emulator.team_id, query="Urbanism")
        svc.bind_channel(
            session,
            community=community,
            channel=ChannelChoice(SUB_ISSUE, "urbanism-bikes", False),
            now=harness.clock.now(),
        )
    circles_e2e.post(harness, BRUNO)
    harness.slack.event({**circles_e2e.message(harness, BRUNO), "channel": SUB_ISSUE})
    harness.clock.advance(timedelta(days=1))
    circles_e2e.post(harness, BRUNO)
    harness.drain()


@contextmanager
def threads_of_driver_statements(harness: Harness) -> Iterator[list[str]]:
    """The thread of each statement the app sends on a driver connection (skipping SQLAlchemy's execution:
    the counting statement, the replay claim and `/cdp me`'s reads on the event loop) during the block."""
    seen: list[str] = []

    def observe(_statement: str, _dbapi: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            seen.append(threading.current_thread().name)

    harness.db.statement_observers.append(observe)
    try:
        yield seen
    finally:
        harness.db.statement_observers.remove(observe)


def test_me_and_help_answer_the_same_whichever_path_answers(harness: Harness) -> None:
    a_community_with_a_sub_issue(harness)
    harness.runtime.deps.people = People(harness.runtime.deps.settings.default_language)  # nothing known
    users_info = len(harness.emulator.calls_to("users.info"))
    first = {user: answer(harness, "me", user) for user in (ALICE, BRUNO)}  # Bolt: their languages learnt
    assert len(harness.emulator.calls_to("users.info")) == users_info + 2
    again = {user: answer(harness, "me", user) for user in (ALICE, BRUNO)}  # known now: on PostgreSQL, direct
    assert again == first
    assert len(harness.emulator.calls_to("users.info")) == users_info + 2  # no Slack call for it
    bruno = "\n".join(block["text"]["text"] for block in again[BRUNO]["blocks"] if "text" in block)
    assert "*Urbanism*" in bruno and f"<#{SUB_ISSUE}>" in bruno and f"<#{CHANNEL}>" in bruno, bruno
    assert again[BRUNO]["text"] != again[ALICE]["text"]  # French, then English
    assert answer(harness, "aide", BRUNO) == answer(harness, "help", BRUNO)
    assert answer(harness, "help", ALICE)["text"] != answer(harness, "help", BRUNO)["text"]


def test_someone_with_no_community_is_told_so_in_their_language(harness: Harness) -> None:
    for _ in range(2):  # through Bolt, then directly
        assert answer(harness, "me", BRUNO)["text"].startswith(NO_COMMUNITY_FR)


def test_a_known_person_s_me_is_answered_on_the_event_loop(harness: Harness) -> None:
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite answers through Bolt, in a worker thread")
    a_community_with_a_sub_issue(harness)
    answer(harness, "help", BRUNO)  # learns Bruno's language
    with threads_of_driver_statements(harness) as threads:
        answer(harness, "me", BRUNO)
        answer(harness, "help", BRUNO)
    # me: the claim, the memberships with their windows, the sub-issue's channels; help: the claim. All on
    # the server's event loop: no worker thread, no Bolt dispatch.
    assert threads == ["cdp-http"] * 4


@pytest.mark.parametrize("command", ["me", "help"])
def test_a_replayed_command_is_refused_on_either_path(harness: Harness, command: str) -> None:
    circles_e2e.make_community(harness)
    for known in (False, True):  # Bruno's language unknown (Bolt answers), then known (answered directly)
        if known:
            answer(harness, "help", BRUNO)
        fields = harness.slack.command_fields(command, BRUNO)
        first = harness.slack.post_form(fields)
        assert first.status == 200 and REPLAYED_FR not in first.text, first.text
        again = harness.slack.post_form(fields)  # the same trigger_id: somebody replaying the request
        assert again.status == 200
        assert again.json() == {"response_type": "ephemeral", "text": REPLAYED_FR}


REFUSE_CLAIMS = {
    "postgresql": "ALTER TABLE processed_events ADD CONSTRAINT ck_refused CHECK (event_id = '') NOT VALID",
    "sqlite": "CREATE TRIGGER refused BEFORE INSERT ON processed_events BEGIN SELECT RAISE(ABORT, 'no'); END",
}
ACCEPT_CLAIMS = {
    "postgresql": "ALTER TABLE processed_events DROP CONSTRAINT ck_refused",
    "sqlite": "DROP TRIGGER refused",
}


def test_a_database_failure_gets_the_apology_in_the_person_s_language(harness: Harness) -> None:
    circles_e2e.make_community(harness)
    circles_e2e.post(harness, BRUNO)  # a member now
    answer(harness, "help", BRUNO)  # learns Bruno's language
    with harness.db.engine.begin() as connection:  # no claim can be written any more
        connection.execute(text(REFUSE_CLAIMS[harness.db.backend]))
    try:
        for command in ("me", "help"):
            reply = answer(harness, command, BRUNO)
            assert reply["response_type"] == "ephemeral" and reply["text"].startswith(APOLOGY_FR), reply
    finally:
        with harness.db.engine.begin() as connection:
            connection.execute(text(ACCEPT_CLAIMS[harness.db.backend]))
    assert "*Urbanism*" in json.dumps(answer(harness, "me", BRUNO), ensure_ascii=False)  # answered again


def test_every_answer_over_http_holds_the_outbox_back(harness: Harness) -> None:
    """The outbox worker waits while an answer is being made (bot.background.Answering): a message counted
    without Bolt and a command answered directly (PostgreSQL) or by Bolt (SQLite) alike."""
    circles_e2e.make_community(harness)
    circles_e2e.post(harness, BRUNO)
    answer(harness, "help", BRUNO)  # learns Bruno's language
    held: list[str] = []

    class Recording(Answering):
        @contextmanager
        def request(self) -> Iterator[None]:
            held.append(threading.current_thread().name)
            with super().request():
                yield

    harness.runtime.deps.answering = Recording()
    circles_e2e.post(harness, BRUNO)
    answer(harness, "me", BRUNO)
    assert held == ["cdp-http", "cdp-http"]


# ---- /cdp join --------------------------------------------------------------------------------------
XAVIER, YVES = "UXAVIER", "UYVES"  # French-speaking: one joins through Bolt, the other directly


def a_community_to_join(harness: Harness) -> None:
    """Urbanism (Alice moderates it), bound to CURB, a sub-issue channel and an archived one; Alice,
    Xavier and Yves have opened their App Home (so a join refreshes theirs)."""
    a_community_with_a_sub_issue(harness)
    harness.emulator.add_channel("COLD", "urbanism-old", members=[ALICE])
    with harness.db.session() as session:
        community = svc.require(session, team_id=harness.emulator.team_id, query="Urbanism")
        svc.bind_channel(
            session,
            community=community,
            channel=ChannelChoice("COLD", "urbanism-old", False),
            now=harness.clock.now(),
        )
        session.flush()
        session.execute(
            update(CommunityChannel).where(CommunityChannel.channel_id == "COLD").values(is_archived=True)
        )
    for user in (XAVIER, YVES):
        harness.emulator.add_user(user, user.lower(), locale="fr-FR")
    for user in (ALICE, XAVIER, YVES):
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"}
        assert harness.slack.event(event).status == 200
    harness.drain()


def join_through_bolt(harness: Harness, user: str, text: str = "join urbanism") -> dict[str, Any]:
    harness.runtime.deps.people = People(harness.runtime.deps.settings.default_language)  # to be learnt
    return answer(harness, text, user)


def join_directly(harness: Harness, user: str, text: str = "join urbanism") -> dict[str, Any]:
    answer(harness, "help", user)  # learns their language: on PostgreSQL, the join is answered on the loop
    with threads_of_driver_statements(harness) as threads:
        joined = answer(harness, text, user)
    if harness.db.backend == "postgresql":
        assert threads == ["cdp-http", "cdp-http"], threads  # one read, one write: no worker thread
    return joined


def as_anyone(value: Any, user: str) -> Any:
    """`value` with the person's id made anonymous, to compare two people's joins."""
    return json.loads(json.dumps(value, default=str).replace(user, "UPERSON"))


def deliveries_about(harness: Harness, user: str, since_id: int) -> list[Any]:
    """The deliveries to `user` written since `since_id`, but the refreshes of their Home: those of a
    leave and a join within the same two seconds of real time are one (home_refresh.REFRESH_SECONDS)."""
    with harness.db.session() as session:
        rows = session.execute(
            select(OutboxMessage.kind, OutboxMessage.target, OutboxMessage.payload, OutboxMessage.dedupe_key)
            .where(OutboxMessage.id > since_id, OutboxMessage.target == user, OutboxMessage.kind != "home")
            .order_by(OutboxMessage.id)
        ).all()
    return [
        as_anyone([kind, target, payload, (key or "").rsplit(":", 1)[0]], user)
        for kind, target, payload, key in rows
    ]


def membership_of(harness: Harness, user: str) -> Any:
    with harness.db.session() as session:
        m = session.scalars(select(Membership).where(Membership.user_id == user)).one()
        return (
            m.role,
            m.circle,
            m.circle_since,
            m.joined_at,
            m.left_at,
            m.joined_via,
            m.welcomed_at,
            m.changed_at,
        )


def last_delivery(harness: Harness) -> int:
    with harness.db.session() as session:
        return int(session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)


def test_a_join_answered_directly_does_and_says_what_bolt_s_does(harness: Harness) -> None:
    a_community_to_join(harness)
    start = last_delivery(harness)
    through_bolt = join_through_bolt(harness, XAVIER)
    direct = join_directly(harness, YVES)
    assert through_bolt["text"].startswith("Bienvenue dans *Urbanism*")
    assert as_anyone(direct, YVES) == as_anyone(through_bolt, XAVIER)
    assert f"<#{SUB_ISSUE}>" in direct["text"] and "<#COLD>" in direct["text"]
    # The welcome, then the invites to the two open channels (not the archived one).
    written = deliveries_about(harness, YVES, start)
    assert written == deliveries_about(harness, XAVIER, start)
    assert [row[0] for row in written] == ["welcome", "invite", "invite"]
    assert membership_of(harness, YVES) == membership_of(harness, XAVIER)
    harness.drain(include_later=True)
    invited = {(c["channel"], c["users"]) for c in harness.emulator.calls_to("conversations.invite")}
    assert {(CHANNEL, YVES), (SUB_ISSUE, YVES)} <= invited and ("COLD", YVES) not in invited


def test_a_join_by_the_channel_name_made_from_the_name_is_answered_directly_too(harness: Harness) -> None:
    # `#cdp-urbanism` gives two keys, the slug `cdp-urbanism` and the `urbanism` it was made from: the
    # direct path looks both up (on PostgreSQL, by the slugs' unique index in one read).
    a_community_to_join(harness)
    through_bolt = join_through_bolt(harness, XAVIER, "join #cdp-urbanism")
    direct = join_directly(harness, YVES, "join #cdp-urbanism")
    assert direct["text"].startswith("Bienvenue dans *Urbanism*")
    assert as_anyone(direct, YVES) == as_anyone(through_bolt, XAVIER)
    assert membership_of(harness, YVES) == membership_of(harness, XAVIER)


def test_leaving_rejoining_and_being_forgotten_go_the_same_on_either_path(harness: Harness) -> None:
    a_community_to_join(harness)
    join_through_bolt(harness, XAVIER)
    join_directly(harness, YVES)
    for user in (XAVIER, YVES):
        assert answer(harness, "leave urbanism", user)["text"].startswith("Vous avez quitté")
    harness.clock.advance(timedelta(days=40))  # long enough to be welcomed again
    with harness.db.session() as session:  # both asked to be forgotten meanwhile (their hash kept)
        for user in (XAVIER, YVES):
            hashed = privacy_repo.user_hash(session, team_id=harness.emulator.team_id, user_id=user)
            session.add(
                ForgottenUser(
                    team_id=harness.emulator.team_id, user_hash=hashed, forgotten_at=harness.clock.now()
                )
            )
    start = last_delivery(harness)
    through_bolt = join_through_bolt(harness, XAVIER)
    direct = join_directly(harness, YVES)
    assert through_bolt["text"].startswith("Bon retour dans *Urbanism*")
    assert as_anyone(direct, YVES) == as_anyone(through_bolt, XAVIER)
    assert deliveries_about(harness, YVES, start) == deliveries_about(harness, XAVIER, start)
    assert [row[0] for row in deliveries_about(harness, YVES, start)] == ["welcome", "invite", "invite"]
    assert membership_of(harness, YVES) == membership_of(harness, XAVIER)
    with harness.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ForgottenUser)) == 0  # counted again, both
    # Joining again the day after leaving: no second welcome (REJOIN_QUIET), on either path.
    for user in (XAVIER, YVES):
        answer(harness, "leave urbanism", user)
    harness.clock.advance(timedelta(days=1))
    start = last_delivery(harness)
    join_through_bolt(harness, XAVIER)
    join_directly(harness, YVES)
    assert [row[0] for row in deliveries_about(harness, YVES, start)] == ["invite", "invite"]
    assert deliveries_about(harness, YVES, start) == deliveries_about(harness, XAVIER, start)


def test_a_replayed_join_changes_nothing(harness: Harness) -> None:
    a_community_to_join(harness)
    answer(harness, "help", YVES)
    fields = harness.slack.command_fields("join urbanism", YVES)
    assert harness.slack.post_form(fields).json()["text"].startswith("Bienvenue dans *Urbanism*")
    answer(harness, "leave urbanism", YVES)
    start = last_delivery(harness)
    again = harness.slack.post_form(fields)  # replayed after Yves left: it must not bring him back
    assert again.json() == {"response_type": "ephemeral", "text": REPLAYED_FR}
    assert last_delivery(harness) == start
    assert membership_of(harness, YVES)[4] is not None  # still gone


def test_joins_that_are_not_the_usual_one_are_answered_as_before(harness: Harness) -> None:
    a_community_to_join(harness)
    join_directly(harness, YVES)
    with threads_of_driver_statements(harness) as threads:  # read on the loop, then Bolt's path
        assert answer(harness, "join urbanism", YVES)["text"] == "Vous êtes déjà membre de *Urbanism*."
    if harness.db.backend == "postgresql":
        assert threads == ["cdp-http"]
    # A typo: the suggestion comes from the cached names (Bolt's path), in French.
    assert "Urbanism" in answer(harness, "join urbanisn", YVES)["text"]
    unknown = answer(harness, "join nothing-like-it", YVES)["text"]
    assert unknown and "Urbanism" not in unknown


def test_two_joins_at_once_join_once_and_welcome_once(harness: Harness) -> None:
    a_community_to_join(harness)
    answer(harness, "help", YVES)
    start = last_delivery(harness)
    with ThreadPoolExecutor(2) as pool:
        texts = sorted(
            r["text"] for r in pool.map(lambda _: answer(harness, "join urbanism", YVES), range(2))
        )
    assert (
        texts[0].startswith("Bienvenue dans *Urbanism*")
        and texts[1] == "Vous êtes déjà membre de *Urbanism*."
    )
    assert [row[0] for row in deliveries_about(harness, YVES, start)] == ["welcome", "invite", "invite"]
