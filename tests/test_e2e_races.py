"""Decide each thing once (issue 8, section 2), end to end: requests that Slack delivers at the same
instant, on SQLite and PostgreSQL, each deciding exactly once and telling everyone exactly once.

Each test sends signed requests from several threads released together by a barrier, so they reach
the app at the same moment and overlap in the database, as two moderators' clicks or Slack's retries
do. What the app owes Slack goes through the outbox after the answers; the test then drains it and
reads what each person received, as they would a moment later.

PostgreSQL is where the races are: on SQLite every unit of work takes the write lock first (BEGIN
IMMEDIATE), so concurrent requests take turns; the SQLite runs check that the outcomes are the same.
The last tests are races found by reading the handlers: a newcomer's messages crossing the inner
circle's threshold together, the last two moderators leaving (or removing each other) at once, joins
of an open community, and a creation form submitted several times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.services import communities as community_service
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import HttpResult
from storage.models import Base
from tests import test_e2e_circles as circles_e2e
from tests import test_e2e_reviews as reviews_e2e
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_communities import (
    active_members,
    add_channel,
    community_named,
    create_community,
    initial_values,
    members,
    open_form,
    requests,
    say,
    shown,
    submit,
)

JSON = dict[str, Any]


# ---- sending at the same instant ---------------------------------------------------------------
@contextmanager
def answers_only(harness: Harness) -> Iterator[None]:
    """The requests come back as soon as they are answered (no drain of the outbox after each one), so
    a burst is only the requests; everything they owe Slack is sent at the end, then checked."""
    harness.slack.answer_only = True
    try:
        yield
    finally:
        harness.slack.answer_only = False
    harness.drain()


def at_once(count: int, send: Callable[[int], HttpResult]) -> list[HttpResult]:
    """`send(0) ... send(count - 1)`, each on its own thread, all released by one barrier: the requests
    leave together and are handled concurrently by the app. Returns the answers in order."""
    barrier = threading.Barrier(count)
    results: list[HttpResult | BaseException | None] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = send(index)
        except BaseException as exc:  # reported below, with the others
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request never came back"
    failures = [r for r in results if not isinstance(r, HttpResult)]
    assert not failures, failures
    return [r for r in results if isinstance(r, HttpResult)]


def table_rows(harness: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: "nothing changed in the database" compares two of these."""
    with harness.db.session() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


def texts_to(harness: Harness, target: str) -> list[str]:
    """What `target` (a channel, or a person's DM) shows now, after any update, oldest first; a newcomer's
    welcome left out (sent once on joining: tests/test_e2e_welcome.py)."""
    return [shown(message) for _, message in harness.emulator.delivered(target) if not _welcome(message)]


def _welcome(message: dict[str, Any]) -> bool:
    return any(
        element.get("action_id") == "onramp_not_now"
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    )


def count_in(texts: list[str], fragment: str) -> int:
    return sum(fragment in text for text in texts)


def buttons(message: JSON) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    ]


# ---- 1. approve and decline pressed at the same instant ----------------------------------------
TRUST = "Trust circle"


def protected_community(harness: Harness) -> int:
    """A protected community in a private channel, moderated by Alice (English) and David (French)."""
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    community = create_community(
        harness, ALICE, TRUST, channel="CTRUST", visibility="protected", moderators=[ALICE, DAVID]
    )
    return community.id


def copy_for(harness: Harness, moderator: str, requester: str) -> tuple[str, JSON]:
    """The join request of `requester` in `moderator`'s DM, as it looks now (with its channel)."""
    (found,) = [
        (channel, message)
        for channel, message in harness.emulator.delivered(moderator)
        if f"<@{requester}>" in shown(message)
    ]
    return found


def press_both(harness: Harness, request_id: int, copies: dict[str, tuple[str, JSON]]) -> list[HttpResult]:
    """Alice presses Approve and David Decline, each on their own copy of the request, at one instant."""
    presses = [(ALICE, "join_request_approve"), (DAVID, "join_request_decline")]

    def press(index: int) -> HttpResult:
        moderator, action = presses[index]
        channel, message = copies[moderator]
        return harness.slack.block_action(
            moderator, action, value=str(request_id), channel=channel, message=message
        )

    with answers_only(harness):
        return at_once(2, press)


def test_approve_and_decline_at_the_same_instant_decide_once(harness: Harness) -> None:
    community_id = protected_community(harness)
    for trial in range(10):
        requester = f"UREQ{trial:02d}"
        french = trial % 2 == 1
        harness.emulator.add_user(requester, f"req{trial}", locale="fr-FR" if french else "en-US")
        say(harness, f"join {TRUST}", requester)
        (request,) = [r for r in requests(harness) if r.user_id == requester]
        copies = {moderator: copy_for(harness, moderator, requester) for moderator in (ALICE, DAVID)}
        assert all(buttons(message) for _, message in copies.values())
        responses_before = len(harness.emulator.responses)
        assert [a.status for a in press_both(harness, request.id, copies)] == [200, 200]

        # One decision, and the membership agrees with it.
        (decided,) = [r for r in requests(harness) if r.user_id == requester]
        assert decided.status in ("approved", "declined")
        approved = decided.status == "approved"
        winner, loser = (ALICE, DAVID) if approved else (DAVID, ALICE)
        assert decided.decided_by == winner
        assert (requester in active_members(harness, community_id)) is approved

        # The requester hears one answer, in their language: approved xor declined.
        heard = texts_to(harness, requester)
        assert len(heard) == 1, heard
        if french:
            expected = "a été approuvée" if approved else "a été refusée"
        else:
            expected = "was approved" if approved else "was declined"
        assert f"*{TRUST}* {expected}" in heard[0], heard
        invites = [
            p for p in harness.emulator.successful_calls_to("conversations.invite") if p["users"] == requester
        ]
        assert len(invites) == (1 if approved else 0)

        # Every moderator's copy lost its buttons and says who decided, in the moderator's language.
        verb_en, verb_fr = ("approved", "a approuvé") if approved else ("declined", "a refusé")
        for moderator, verb in ((ALICE, verb_en), (DAVID, verb_fr)):
            _, now_seen = copy_for(harness, moderator, requester)
            assert buttons(now_seen) == []
            assert f"<@{winner}> {verb} " in shown(now_seen), shown(now_seen)

        # The other moderator is told it was already decided, and by whom, in their language.
        told = [shown(payload) for _, payload in harness.emulator.responses[responses_before:]]
        if loser == DAVID:
            assert told == ["Cette demande a déjà été approuvée par <@UALICE>."], told
        else:
            assert told == ["This request was already declined by <@UDAVID>."], told
    assert len(requests(harness)) == 10


# ---- 2. one checklist submitted ten times at once ----------------------------------------------
def test_one_checklist_submitted_ten_times_at_once_completes_once(harness: Harness) -> None:
    community_id, review_id = reviews_e2e.due_prompt(harness)
    view = reviews_e2e.open_checklist(harness, ALICE, review_id)
    values = {**reviews_e2e.ALL_YES, "decision": "continue"}
    with answers_only(harness):
        answers = at_once(10, lambda _: harness.slack.view_submission(view, ALICE, values))
    assert [a.status for a in answers] == [200] * 10
    completed = [a for a in answers if a.text == ""]  # the modal closes: this one completed the review
    assert len(completed) == 1, [a.text for a in answers]
    for answer in answers:
        if answer.text:
            body = answer.json()
            assert body["response_action"] == "update"
            assert "The review of *Urbanism* was already completed by <@UALICE>." in shown(body["view"])
    # Stored once; the outcome in the channel once; the moderator's word once.
    (review,) = reviews_e2e.reviews(harness)
    assert (review.completed_by, review.decision) == (ALICE, "continue")
    assert reviews_e2e.community_row(harness, community_id).next_review_on == date(2026, 3, 30)
    assert (
        count_in(texts_to(harness, reviews_e2e.CHANNEL), "Checklist review of Urbanism: Continue as we are.")
        == 1
    )
    assert count_in(texts_to(harness, ALICE), "Review of *Urbanism* stored") == 1
    assert count_in(texts_to(harness, BRUNO), "Urbanism") == 1  # the prompt only


# ---- 3. the dissolution confirmed ten times at once --------------------------------------------
def test_dissolve_confirmed_ten_times_at_once_announces_once(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    add_channel(harness, "CSCHOOLS", "school-routes", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    settings = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, settings, ALICE, channels=["CSTREETS", "CSCHOOLS"]) is None
    harness.drain()
    view = open_form(harness, "dissolve Safe streets", ALICE)
    with answers_only(harness):
        answers = at_once(10, lambda _: harness.slack.view_submission(view, ALICE, initial_values(view)))
    assert [a.status for a in answers] == [200] * 10
    assert len([a for a in answers if a.text == ""]) == 1, [a.text for a in answers]
    for answer in answers:
        if answer.text:
            body = answer.json()
            assert body["response_action"] == "update"
            assert "*Safe streets* was dissolved: it is read-only now." in shown(body["view"])
    dissolved = community_named(harness, "Safe streets")
    assert (dissolved.id, dissolved.status, dissolved.dissolved_by) == (community.id, "dissolved", ALICE)
    for channel in ("CSTREETS", "CSCHOOLS"):
        assert count_in(texts_to(harness, channel), "*Safe streets*, was dissolved by <@UALICE>") == 1
    assert count_in(texts_to(harness, ALICE), "*Safe streets* is dissolved.") == 1


# ---- 4. thirty `/cdp join` of a protected community at once ------------------------------------
def test_thirty_joins_of_a_protected_community_at_once_make_one_request(harness: Harness) -> None:
    protected_community(harness)
    with answers_only(harness):
        answers = at_once(30, lambda _: harness.slack.command(f"join {TRUST}", CHLOE))
    texts = [shown(a.json()) for a in answers]
    assert count_in(texts, f"*{TRUST}* is a protected community: your request was sent") == 1, texts
    assert count_in(texts, f"Your request to join *{TRUST}* is still waiting for a moderator.") == 29, texts
    (request,) = requests(harness)
    assert (request.user_id, request.status) == (CHLOE, "pending")
    assert count_in(texts_to(harness, ALICE), "<@UCHLOE> asks to join") == 1
    assert count_in(texts_to(harness, DAVID), "<@UCHLOE> demande à rejoindre") == 1


# ---- 5. a newcomer's first messages arriving together ------------------------------------------
def test_twenty_first_messages_at_once_count_twenty_and_make_one_member(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")  # in #general, where Chloe is
    start = harness.clock.now().timestamp() + 60

    def post(index: int) -> HttpResult:
        ts = f"{start + index:.6f}"
        event = {"type": "message", "channel": "CGENERAL", "user": CHLOE, "text": "hi", "ts": ts}
        return harness.slack.event({**event, "channel_type": "channel"})

    with answers_only(harness):
        answers = at_once(20, post)
    assert [a.status for a in answers] == [200] * 20, [(a.status, a.text) for a in answers]
    rows = members(harness, community.id)
    assert (rows[CHLOE].left_at, rows[CHLOE].joined_via, rows[CHLOE].circle) == (None, "channel", "outer")
    assert circles_e2e.activity(harness, CHLOE) == [("2026-03-02", 20, 0)]  # not one lost


# ---- 6. Slack's late retries of membership events ----------------------------------------------
def membership_event(harness: Harness, kind: str, user: str, seconds: int, **kwargs: Any) -> HttpResult:
    """`member_joined_channel` / `member_left_channel` in #general, `seconds` after the test's start."""
    moment = harness.clock.now().timestamp() + seconds
    event = {"type": kind, "user": user, "channel": "CGENERAL", "team": "T0CDP", "event_ts": f"{moment:.6f}"}
    result = harness.slack.event(event, event_time=int(moment), **kwargs)
    assert result.status == 200, result.text
    return result


def test_a_late_retry_of_a_membership_event_does_not_undo_a_newer_one(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    # Chloe joins (the invite echoes as a join event), then leaves the channel; Slack then retries the
    # old join event, whose first delivery timed out.
    say(harness, "join Safe streets", CHLOE)
    membership_event(harness, "member_joined_channel", CHLOE, 10, event_id="EvJOIN")
    membership_event(harness, "member_left_channel", CHLOE, 20)
    membership_event(harness, "member_joined_channel", CHLOE, 10, event_id="EvJOIN", retry_num=1)
    assert members(harness, community.id)[CHLOE].left_at is not None
    assert "You are not a member of *Safe streets*." in say(harness, "leave Safe streets", CHLOE)
    # The other order: David joins, leaves, joins again; the retry of his leave comes late.
    membership_event(harness, "member_joined_channel", DAVID, 30)
    membership_event(harness, "member_left_channel", DAVID, 40, event_id="EvLEFT")
    membership_event(harness, "member_joined_channel", DAVID, 50)
    membership_event(harness, "member_left_channel", DAVID, 40, event_id="EvLEFT", retry_num=2)
    assert members(harness, community.id)[DAVID].left_at is None
    assert "Vous êtes déjà membre de *Safe streets*." in say(harness, "join Safe streets", DAVID)


# ---- 7. a replayed `/cdp join` --------------------------------------------------------------------
def test_a_replayed_join_after_leaving_is_refused_and_changes_nothing(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    for user, refusal in (
        (BRUNO, "Cette demande a déjà été traitée : rien n'a été refait."),
        (CHLOE, "This request was already handled: nothing was done again."),
    ):
        fields = harness.slack.command_fields("join Safe streets", user)
        timestamp = int(time.time())
        assert harness.slack.post_form(fields, timestamp=timestamp).status == 200
        assert members(harness, community.id)[user].left_at is None
        say(harness, "leave Safe streets", user)
        before = table_rows(harness)
        calls = len(harness.emulator.calls)
        # The same signed body with the same timestamp, moments later (a signature is good for 5 minutes).
        replay = harness.slack.post_form(fields, timestamp=timestamp)
        harness.drain()
        assert replay.status == 200
        assert shown(replay.json()) == refusal
        assert table_rows(harness) == before
        assert members(harness, community.id)[user].left_at is not None
        assert [c.method for c in harness.emulator.calls[calls:]] == []  # no invite, no message


def test_the_same_signed_join_sent_ten_times_at_once_joins_once(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    fields = harness.slack.command_fields("join Safe streets", CHLOE)
    timestamp = int(time.time())
    with answers_only(harness):
        answers = at_once(10, lambda _: harness.slack.post_form(fields, timestamp=timestamp))
    texts = [shown(a.json()) for a in answers]
    assert count_in(texts, "Welcome to *Safe streets*") == 1, texts
    assert count_in(texts, "This request was already handled: nothing was done again.") == 9, texts
    assert active_members(harness, community.id)[CHLOE] == "member"
    invites = [p for p in harness.emulator.calls_to("conversations.invite") if p["users"] == CHLOE]
    assert len(invites) == 1


# ---- 8. two moderators naming the same person at once ------------------------------------------
def test_two_moderators_naming_the_same_moderator_at_once_name_them_once(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE, DAVID])
    community = create_community(
        harness, ALICE, "Safe streets", channel="CSTREETS", moderators=[ALICE, DAVID]
    )
    harness.emulator.add_user("UERIN", "erin", locale="en-US")
    say(harness, "join Safe streets", CHLOE)  # a member already
    say(harness, "join Safe streets", "UERIN")
    say(harness, "leave Safe streets", "UERIN")  # a former member
    for person in (CHLOE, BRUNO, "UERIN"):  # a member, a stranger, a former member
        invites_before = len(
            [p for p in harness.emulator.calls_to("conversations.invite") if p["users"] == person]
        )
        command = f"moderators add <@{person}|someone> Safe streets"
        with answers_only(harness):
            answers = at_once(4, lambda i: harness.slack.command(command, (ALICE, DAVID)[i % 2]))  # noqa: B023
        assert all(f"<@{person}>" in shown(a.json()) for a in answers), [a.text for a in answers]
        rows = members(harness, community.id)
        assert (rows[person].role, rows[person].left_at) == ("core", None)
        named = texts_to(harness, person)  # nothing else was ever sent to them directly
        assert len(named) == 1, named
        assert ("vous confie la modération" if person == BRUNO else "named you moderator") in named[0]
        invites = [p for p in harness.emulator.calls_to("conversations.invite") if p["users"] == person]
        assert len(invites) == invites_before + 1


# ---- other races a user would notice -----------------------------------------------------------
def test_ten_joins_of_an_open_community_at_once_join_and_invite_once(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    with answers_only(harness):
        answers = at_once(10, lambda _: harness.slack.command("join Safe streets", CHLOE))
    texts = [shown(a.json()) for a in answers]
    assert count_in(texts, "Welcome to *Safe streets*!") == 1, texts
    assert count_in(texts, "You are already a member of *Safe streets*.") == 9, texts
    assert active_members(harness, community.id) == {ALICE: "core", CHLOE: "member"}
    invites = [p for p in harness.emulator.calls_to("conversations.invite") if p["users"] == CHLOE]
    assert len(invites) == 1


def test_messages_crossing_the_inner_circle_threshold_together_promote_once(harness: Harness) -> None:
    """Four contributions on two days make the inner circle; ten messages arriving together on the
    second day cross that line once: one change of circle, one warm note."""
    circles_e2e.make_community(harness)  # Urbanism in #urbanism (CURB), the UTC calendar
    first = harness.slack.event(circles_e2e.message(harness, CHLOE))
    assert first.status == 200
    harness.clock.advance(timedelta(days=1))
    start = harness.clock.now().timestamp()

    def post(index: int) -> HttpResult:
        return harness.slack.event({**circles_e2e.message(harness, CHLOE), "ts": f"{start + index:.6f}"})

    with answers_only(harness):
        answers = at_once(10, post)
    assert [a.status for a in answers] == [200] * 10
    assert circles_e2e.activity(harness, CHLOE) == [("2026-03-02", 1, 0), ("2026-03-03", 10, 0)]
    assert circles_e2e.changes(harness, CHLOE) == [("outer", "inner", "circles.reason.promoted")]
    notes = texts_to(harness, CHLOE)
    assert count_in(notes, "You are now in the *inner circle* of *Urbanism*") == 1, notes


def test_the_last_two_moderators_leaving_at_once_leave_one_behind(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets", moderators=[ALICE, DAVID])
    for _ in range(5):
        with answers_only(harness):
            answers = at_once(2, lambda i: harness.slack.command("leave Safe streets", (ALICE, DAVID)[i]))
        texts = [shown(a.json()) for a in answers]
        core = [user for user, role in active_members(harness, community.id).items() if role == "core"]
        assert len(core) == 1, (core, texts)
        left, stayed = (ALICE, DAVID) if core == [DAVID] else (DAVID, ALICE)
        assert community.name in texts[0] and community.name in texts[1]
        refusal = {
            ALICE: "You are the last moderator of *Safe streets*",
            DAVID: "Vous êtes la dernière personne du groupe central de *Safe streets*",
        }
        assert refusal[stayed] in texts[(ALICE, DAVID).index(stayed)], texts
        assert refusal[left] not in texts[(ALICE, DAVID).index(left)], texts
        # Back as a moderator for the next round.
        say(harness, f"moderators add <@{left}|again> Safe streets", stayed)


def test_two_moderators_removing_each_other_at_once_leave_one(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets", moderators=[ALICE, DAVID])
    for _ in range(5):
        with answers_only(harness):
            answers = at_once(
                2,
                lambda i: harness.slack.command(
                    f"moderators remove <@{(DAVID, ALICE)[i]}|other> Safe streets", (ALICE, DAVID)[i]
                ),
            )
        texts = [shown(a.json()) for a in answers]
        core = [user for user, role in active_members(harness, community.id).items() if role == "core"]
        assert len(core) == 1, (core, texts)
        (stayed,) = core
        removed = DAVID if stayed == ALICE else ALICE
        assert active_members(harness, community.id)[removed] == "member"
        # The one who removed the other is told so; the other is refused, in their language.
        winner, loser = texts[(ALICE, DAVID).index(stayed)], texts[(ALICE, DAVID).index(removed)]
        assert f"<@{removed}>" in winner and ("has left the core group" in winner or "a quitté" in winner)
        refusals = {
            ALICE: ("*Safe streets* would have no moderator left", "Only the moderators of *Safe streets*"),
            DAVID: ("*Safe streets* n'aurait plus de modérateur", "Seul le groupe central de *Safe streets*"),
        }
        assert any(refusal in loser for refusal in refusals[removed]), loser
        say(harness, f"moderators add <@{removed}|again> Safe streets", stayed)


def test_one_creation_form_submitted_five_times_at_once_creates_once(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    view = open_form(harness, "create", ALICE)
    values = {**initial_values(view), "name": "Safe streets", "domain": "Streets", "channel": "CSTREETS"}
    with answers_only(harness):
        answers = at_once(5, lambda _: harness.slack.view_submission(view, ALICE, values))
    assert [a.status for a in answers] == [200] * 5
    refused = [a.json() for a in answers if a.text]
    assert len(refused) == 4, [a.text for a in answers]
    for body in refused:
        assert body["response_action"] == "errors", body
        assert body["errors"]["name"] == "A community with this name already exists in this workspace.", body
    assert community_named(harness, "Safe streets").status == "active"
    assert (
        count_in(texts_to(harness, "CSTREETS"), "Welcome to the community of practice *Safe streets*!") == 1
    )
    assert count_in(texts_to(harness, ALICE), "*Safe streets* is created in <#CSTREETS>.") == 1


def test_a_creation_committed_between_the_forms_two_checks_is_refused_by_its_name(harness: Harness) -> None:
    """The form checks the channel, then the name, each read seeing what was committed before it
    (PostgreSQL's read committed). A submission of the same form whose creation commits right after the
    first read is seen by the second: the person is told the name is taken (found by the five-at-once
    race above, which refused one with the channel alone)."""
    if harness.db.backend != "postgresql":
        pytest.skip(
            "PostgreSQL only: on SQLite the form's checks hold the write lock, nothing commits between"
        )
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    view = open_form(harness, "create", ALICE)
    values = {**initial_values(view), "name": "Safe streets", "domain": "Streets", "channel": "CSTREETS"}
    checks = ("FROM community_channels", "communities.slug =")
    committed: list[str] = []

    def create_meanwhile(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if committed or not any(check in statement for check in checks):
            return
        committed.append(statement)  # the first of the two checks has read: the other creation commits
        with harness.db.session() as other:
            community_service.create(
                other,
                team_id=harness.emulator.team_id,
                creator=BRUNO,
                draft=community_draft("Safe streets", moderators=(BRUNO,)),
                channel=ChannelChoice("CSTREETS", "safe-streets", False),
                now=harness.clock.now(),
            )

    event.listen(harness.db.engine, "after_cursor_execute", create_meanwhile)
    try:
        answer = harness.slack.view_submission(view, ALICE, values)
    finally:
        event.remove(harness.db.engine, "after_cursor_execute", create_meanwhile)
    assert committed
    body = answer.json()
    assert body["response_action"] == "errors", body
    assert body["errors"]["name"] == "A community with this name already exists in this workspace.", body
