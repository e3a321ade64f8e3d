"""End to end: pairing (issue 10, item 3). A newcomer who asks, or who has read for N days without
posting, is introduced to one inner-circle member in a group DM, fairly, in their working hours; a week
later the check-back's answer is recorded; opt-outs are respected on both sides."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.introductions import find_lurkers, pairing_pass
from bot.services import communities as svc
from bot.services import pairing as pairing_service
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import new_trigger_id
from storage.models import Community, Intro, Membership
from storage.repositories import activity as activity_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_communities import open_form, submit

CHANNEL = "CURB"
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Paris, 10:00 in London
LONG_AGO = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
# More people of the workspace, named for where they live.
ERIN = "UERIN"  # English, Paris
FRANK = "UFRANK"  # English, Paris
GINA = "UGINA"  # English, Paris
HUGO = "UHUGO"  # French, Paris
GONE = "UGONE"  # left the workspace (deactivated)

NOT_MODERATOR_EN = "Only the moderators of *Urbanism* (or a workspace admin) can do this."


# ---- helpers -----------------------------------------------------------------------------------
def people(harness: Harness) -> None:
    for user, locale in ((ERIN, "en-US"), (FRANK, "en-US"), (GINA, "en-GB"), (HUGO, "fr-FR")):
        harness.emulator.add_user(user, user[1:].lower(), locale=locale, tz="Europe/Paris")
    harness.emulator.add_user(GONE, "gone", deleted=True)


def make_community(
    harness: Harness,
    *,
    moderators: tuple[str, ...] = (ALICE,),
    objectives: tuple[str, ...] = ("develop_solutions",),
    domain: str = "safe streets",
) -> int:
    people(harness)
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE, DAVID])
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=moderators[0],
            draft=community_draft(
                "Urbanism",
                domain=domain,
                objectives=objectives,
                moderators=moderators,
                timezone="Europe/Paris",
            ),
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=LONG_AGO,
        )
        s.flush()
        community_id = int(community.id)
    harness.clock.set(NOW)
    return community_id


def join(harness: Harness, community_id: int, user: str, at: datetime, circle: str = "outer") -> None:
    with harness.db.session() as s:
        community = s.get(Community, community_id)
        assert community is not None
        svc.join(s, community=community, user_id=user, now=at)
    if circle != "outer":
        with harness.db.session() as s:
            membership(s, community_id, user).circle = circle
            for day in (date(2026, 3, 1), date(2026, 3, 2)):  # what keeps them there: they contribute
                activity_repo.increment(
                    s,
                    team_id=harness.emulator.team_id,
                    community_id=community_id,
                    channel_id=CHANNEL,
                    user_id=user,
                    day=day,
                    contributions=2,
                )


def membership(s: Any, community_id: int, user: str) -> Membership:
    return s.scalars(
        select(Membership).where(Membership.community_id == community_id, Membership.user_id == user)
    ).one()


def run_pass(harness: Harness) -> int:
    """The scheduled pass, twice (as the scheduler would, minutes apart): the first one may only ask
    Slack, through the outbox, about people it does not know yet (time zones, who left)."""
    find_lurkers(harness.runtime.deps)
    made = pairing_pass(harness.runtime.deps)
    harness.drain()
    made += pairing_pass(harness.runtime.deps)
    harness.drain()
    return made


def shown(payload: dict[str, Any]) -> str:
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(str(block["text"].get("text") or ""))
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), dict):
                parts.append(str(element["text"].get("text") or ""))
            elif isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in payload.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    ]


def press(harness: Harness, user: str, action_id: str, value: str, channel: str = CHANNEL) -> str:
    """A button pressed; the ephemeral answer (through the response_url) as the user reads it."""
    before = len(harness.emulator.responses)
    result = harness.slack.block_action(user, action_id, value=value, channel=channel)
    assert result.status == 200
    harness.drain()
    assert len(harness.emulator.responses) == before + 1, "no ephemeral answer"
    return shown(harness.emulator.responses[-1][1])


def group_dms(harness: Harness) -> dict[frozenset[str], list[dict[str, Any]]]:
    """The messages posted in group DMs, by the people in them (the bot apart)."""
    found: dict[frozenset[str], list[dict[str, Any]]] = {}
    for channel in harness.emulator.channels.values():
        if channel.get("is_mpim"):
            members = frozenset(channel["members"] - {harness.emulator.bot_user_id})
            found[members] = list(reversed(harness.emulator.history.get(channel["id"], [])))
    return found


def intros(harness: Harness, community_id: int) -> list[Intro]:
    with harness.db.session() as s:
        return list(s.scalars(select(Intro).where(Intro.community_id == community_id).order_by(Intro.id)))


def pairs(harness: Harness, community_id: int) -> list[tuple[str, str | None, str]]:
    return [(i.newcomer, i.partner, i.status) for i in intros(harness, community_id)]


def ask(harness: Harness, user: str, community_id: int) -> str:
    return press(harness, user, "onramp_intro_me", str(community_id))


def say(harness: Harness, text: str, user: str) -> str:
    result = harness.slack.command(text, user, channel=CHANNEL)
    assert result.status == 200
    harness.drain()
    return shown(result.json())


# ---- asked: the group DM, in the newcomer's language -----------------------------------------------
@pytest.mark.parametrize(
    "newcomer, answer, hello, ice",
    [
        (
            ERIN,
            "We'll introduce you to someone from the inner circle of *Urbanism* soon",
            f"Hello <@{ERIN}> and <@{CHLOE}>! <@{ERIN}> joined *Urbanism* recently, and <@{CHLOE}> is one "
            "of its inner circle.",
            "*To break the ice:* ",
        ),
        (
            HUGO,
            "Nous allons bientôt vous présenter à un membre du cercle interne de *Urbanism*",
            f"Bonjour <@{HUGO}> et <@{CHLOE}> ! <@{HUGO}> a rejoint *Urbanism* récemment, et <@{CHLOE}> fait "
            "partie de son cercle interne.",
            "*Pour briser la glace :* ",
        ),
    ],
)
def test_a_newcomer_who_asks_is_introduced_in_a_group_dm_in_their_language(
    harness: Harness, newcomer: str, answer: str, hello: str, ice: str
) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, newcomer, NOW - timedelta(days=2))

    assert answer in ask(harness, newcomer, cid)
    assert group_dms(harness) == {}  # the intro is the pass's work, not the button's

    assert run_pass(harness) == 1
    (opened,) = harness.emulator.successful_calls_to("conversations.open")
    assert opened["users"] == f"{newcomer},{CHLOE}"
    (message,) = group_dms(harness)[frozenset({newcomer, CHLOE})]
    text = shown(message)
    assert hello in text
    assert ice in text
    assert "safe streets" in text or "Develop potential solutions" in text or "Développer" in text
    (stop,) = buttons(message)
    assert (stop["action_id"], stop["value"]) == ("pairing_toggle", "off")
    assert pairs(harness, cid) == [(newcomer, CHLOE, "introduced")]

    # The pass again: nothing new (one intro per request).
    assert run_pass(harness) == 0
    assert len(group_dms(harness)[frozenset({newcomer, CHLOE})]) == 1


def test_pressed_twice_or_replayed_gives_one_request(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, NOW - timedelta(days=2))
    ask(harness, ERIN, cid)
    assert "You already asked to be introduced in *Urbanism*: we're on it." in ask(harness, ERIN, cid)

    # A signed request replayed as is (same trigger_id): refused before any listener, nothing changes.
    payload = {
        "type": "block_actions",
        "team": {"id": harness.emulator.team_id, "domain": "cdp-test"},
        "user": {"id": ERIN, "username": "erin", "team_id": harness.emulator.team_id},
        "api_app_id": "ACDPBOT",
        "token": "legacy-verification-token",
        "trigger_id": new_trigger_id(),
        "actions": [
            {
                "action_id": "onramp_intro_me",
                "block_id": "b",
                "type": "button",
                "value": str(cid),
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "urbanism"},
        "message": {"ts": "1.000001", "text": ""},
        "response_url": harness.emulator.new_response_url(),
    }
    for _ in range(2):
        assert harness.slack.post_payload(payload).status == 200
    harness.drain()
    assert len(intros(harness, cid)) == 1

    assert run_pass(harness) == 1
    assert pairs(harness, cid) == [(ERIN, CHLOE, "introduced")]
    assert len(harness.emulator.successful_calls_to("conversations.open")) == 1


# ---- fairness ---------------------------------------------------------------------------------------
def test_partners_chosen_fairly(harness: Harness) -> None:
    """Same time zone first, least recently paired, one intro per partner per week, never twice."""
    cid = make_community(harness)
    for inner in (CHLOE, ERIN, FRANK):  # London, Paris, Paris
        join(harness, cid, inner, LONG_AGO, circle="inner")
    for newcomer in (BRUNO, GINA, HUGO, DAVID):
        join(harness, cid, newcomer, NOW - timedelta(days=1))
    say(harness, "pairing off", ALICE)  # the moderator, the last resort when no inner member is free
    # Day 0: Bruno (Paris) meets a Parisian: Erin (never paired, first by id).
    ask(harness, BRUNO, cid)
    assert run_pass(harness) == 1
    assert pairs(harness, cid)[-1] == (BRUNO, ERIN, "introduced")

    # Day 1: Erin has had her intro this week: Gina (Paris) meets Frank, the other Parisian.
    harness.clock.set(NOW + timedelta(days=1))
    ask(harness, GINA, cid)
    assert run_pass(harness) == 1
    assert pairs(harness, cid)[-1] == (GINA, FRANK, "introduced")

    # Day 2: both Parisians rest: Hugo (Paris) meets Chloé, in London.
    harness.clock.set(NOW + timedelta(days=2))
    ask(harness, HUGO, cid)
    assert run_pass(harness) == 1
    assert pairs(harness, cid)[-1] == (HUGO, CHLOE, "introduced")

    # Day 3: everyone had an intro this week: David waits, and is told so.
    harness.clock.set(NOW + timedelta(days=3))
    assert "Aucun membre du cercle interne de *Urbanism* n'est disponible" in ask(harness, DAVID, cid)
    assert run_pass(harness) == 0
    assert pairs(harness, cid)[-1] == (DAVID, None, "waiting")

    # Day 8 (Wednesday), 10:00 UTC: 06:00 in Montreal, David waits for his working hours...
    harness.clock.set(NOW + timedelta(days=8))
    assert run_pass(harness) == 0
    # ...09:00 there (EDT: daylight saving time began on March 8): Erin, the least recently paired.
    harness.clock.set(datetime(2026, 3, 11, 13, 0, tzinfo=UTC))
    assert run_pass(harness) == 1
    assert pairs(harness, cid)[-1] == (DAVID, ERIN, "introduced")

    # Day 16: Bruno asks again. Erin is free once more, but they met: never the same pair twice.
    harness.clock.set(NOW + timedelta(days=16))
    ask(harness, BRUNO, cid)
    assert run_pass(harness) == 1
    assert pairs(harness, cid)[-1] == (BRUNO, FRANK, "introduced")
    met = [frozenset({n, p}) for n, p, _ in pairs(harness, cid) if p]
    assert len(met) == len(set(met))


# ---- lurkers -----------------------------------------------------------------------------------------
def test_a_lurker_is_paired_after_n_days_of_reading(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, NOW - timedelta(days=9))  # reads, never posts
    join(harness, cid, FRANK, NOW - timedelta(days=30))  # posted since joining: not a lurker
    join(harness, cid, GONE, NOW - timedelta(days=30))  # left the workspace since
    with harness.db.session() as s:
        activity_repo.increment(
            s,
            team_id=harness.emulator.team_id,
            community_id=cid,
            channel_id=CHANNEL,
            user_id=FRANK,
            day=date(2026, 2, 20),
            contributions=1,
        )

    # Day 9: only the one who left the workspace would be due; Slack says he is gone: nothing is sent.
    assert run_pass(harness) <= 1
    assert group_dms(harness) == {}
    # Either the pass asked Slack and cancelled his request, or the outbox had already learnt he is gone
    # (his welcome asks Slack who he is, at its own pace) and no request was written: nothing is sent.
    assert [(n, s) for n, _, s in pairs(harness, cid)] in ([], [(GONE, "cancelled")])

    # Day 10: Erin has read for 10 days without posting: she is introduced, with nobody asking.
    harness.clock.set(NOW + timedelta(days=1))
    assert run_pass(harness) == 1
    assert list(group_dms(harness)) == [frozenset({ERIN, CHLOE})]
    (intro,) = [i for i in intros(harness, cid) if i.newcomer == ERIN]
    assert intro.reason == "lurker"
    # Never twice: the next passes leave her alone, and the moderator is never a newcomer.
    harness.clock.set(NOW + timedelta(days=30))
    run_pass(harness)
    assert {i.newcomer for i in intros(harness, cid)} - {GONE} == {ERIN}
    assert all(i.status == "cancelled" for i in intros(harness, cid) if i.newcomer == GONE)


def test_moderators_switch_pairing_and_its_threshold_in_the_settings(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, NOW - timedelta(days=3))

    view = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, view, ALICE, pairing_after_days="0") == {
        "response_action": "errors",
        "errors": {"pairing_after_days": "A number of days from 1 to 90."},
    }
    assert submit(harness, view, ALICE, pairing_after_days="3", pairing_enabled=[]) is None
    with harness.db.session() as s:
        community = s.get(Community, cid)
        assert community is not None
        assert (community.pairing_enabled, community.pairing_after_days) == (False, 3)
    assert run_pass(harness) == 0
    assert "Pairing is switched off in *Urbanism*." in ask(harness, ERIN, cid)

    view = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, view, ALICE, pairing_enabled=["on"]) is None
    assert run_pass(harness) == 1  # 3 days of reading is now enough
    assert list(group_dms(harness)) == [frozenset({ERIN, CHLOE})]


# ---- opt-out -------------------------------------------------------------------------------------------
def test_opt_out_is_respected_on_both_sides(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, NOW - timedelta(days=2))
    join(harness, cid, HUGO, NOW - timedelta(days=2))
    say(harness, "pairing off", ALICE)  # the moderator, the last resort when no inner member is free

    # The only inner member switches pairing off: nobody is introduced to her.
    assert "Pairing is off for you" in say(harness, "pairing off", CHLOE)
    assert "Pairing was already off for you." in say(harness, "pairing off", CHLOE)
    with harness.db.session() as s:
        assert pairing_service.pairing_status(s, team_id=harness.emulator.team_id, user_id=CHLOE) is False
    assert "No inner member of *Urbanism* is available yet" in ask(harness, ERIN, cid)
    assert run_pass(harness) == 0
    assert group_dms(harness) == {}

    # A newcomer switches it off with the button: their waiting request is dropped, and they cannot ask.
    assert "Pairing is off for you" in press(harness, ERIN, "pairing_toggle", "off")
    assert "You switched pairing off. Type `/cdp pairing on`" in ask(harness, ERIN, cid)
    # In French, by command.
    assert "Le jumelage est désactivé pour vous" in say(harness, "jumelage desactiver", HUGO)

    # Chloé comes back: still nobody is introduced to the two who switched it off.
    assert "Pairing is on for you" in say(harness, "pairing on", CHLOE)
    harness.clock.set(NOW + timedelta(days=20))  # both have read long enough to be lurkers
    assert run_pass(harness) == 0
    assert group_dms(harness) == {}
    assert [(n, s) for n, _, s in pairs(harness, cid)] == [(ERIN, "cancelled")]

    # `/cdp pairing` shows the switch, with a button.
    result = harness.slack.command("pairing", ERIN, channel=CHANNEL)
    assert "Pairing is *off* for you" in shown(result.json())
    (button,) = buttons(result.json())
    assert (button["action_id"], button["value"]) == ("pairing_toggle", "on")
    assert "Type `/cdp pairing on` or `/cdp pairing off`." in say(harness, "pairing maybe", ERIN)


def test_someone_who_switched_off_after_the_intro_was_decided_gets_nothing(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, LONG_AGO, circle="inner")
    join(harness, cid, BRUNO, NOW - timedelta(days=2))
    ask(harness, BRUNO, cid)
    harness.drain()  # the welcomes of the three joins are sent (and their people looked up) first
    harness.runtime.deps.outbox.stop()  # type: ignore[union-attr]  # the intro waits in the outbox
    pairing_pass(harness.runtime.deps)  # asks about the people it does not know (the worker is stopped)
    pairing_pass(harness.runtime.deps)  # decides with what it knows
    # Erin shares his time zone (the welcomes taught the app both): she is chosen first.
    assert pairs(harness, cid) == [(BRUNO, ERIN, "introduced")]
    with harness.db.session() as s:
        pairing_service.set_pairing(s, team_id=harness.emulator.team_id, user_id=ERIN, on=False, now=NOW)
    from bot.outbox import OutboxWorker
    from bot.people import People

    worker = OutboxWorker(
        harness.db,
        harness.jobs_client,
        People("en"),
        default_language="en",
        poll_seconds=0.05,
    ).start()
    try:
        worker.drain()
        assert group_dms(harness) == {}
        assert pairs(harness, cid) == [(BRUNO, None, "waiting")]  # released: waits for someone else
        pairing_pass(harness.runtime.deps)
        worker.drain()
    finally:
        worker.stop()
    assert pairs(harness, cid) == [(BRUNO, CHLOE, "introduced")]
    assert list(group_dms(harness)) == [frozenset({BRUNO, CHLOE})]


# ---- working hours ------------------------------------------------------------------------------------
def test_outside_the_newcomers_working_hours_the_intro_waits(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, DAVID, NOW - timedelta(days=2))  # Montreal: 05:00 there

    assert "Nous allons bientôt vous présenter" in ask(harness, DAVID, cid)
    assert run_pass(harness) == 0
    assert group_dms(harness) == {}
    (intro,) = intros(harness, cid)
    assert intro.due_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 in Montreal (EST)

    harness.clock.set(datetime(2026, 3, 3, 13, 59, tzinfo=UTC))
    assert run_pass(harness) == 0
    harness.clock.set(datetime(2026, 3, 3, 14, 0, tzinfo=UTC))
    assert run_pass(harness) == 1
    assert list(group_dms(harness)) == [frozenset({DAVID, CHLOE})]


# ---- the check-back -------------------------------------------------------------------------------------
def test_check_back_after_a_week_records_the_outcome(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, HUGO, NOW - timedelta(days=2))
    ask(harness, HUGO, cid)
    assert run_pass(harness) == 1
    group = frozenset({HUGO, CHLOE})

    harness.clock.set(NOW + timedelta(days=6, hours=23))
    run_pass(harness)
    assert len(group_dms(harness)[group]) == 1  # not yet a week

    harness.clock.set(NOW + timedelta(days=7))
    run_pass(harness)
    _, check = group_dms(harness)[group]
    assert f"<@{HUGO}> et <@{CHLOE}>, je vous ai présentés il y a une semaine dans *Urbanism*." in shown(
        check
    )
    (intro_row,) = intros(harness, cid)
    channel = intro_row.channel_id
    assert channel is not None
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons(check)] == [
        ("pairing_outcome_yes", str(intro_row.id), "Oui"),
        ("pairing_outcome_notyet", str(intro_row.id), "Pas encore"),
        ("pairing_outcome_no", str(intro_row.id), "Non"),
    ]

    value = str(intro_row.id)
    assert "Only the two people introduced can answer this." in press(
        harness, ALICE, "pairing_outcome_yes", value, channel
    )
    assert "C'est noté : pas encore." in press(harness, HUGO, "pairing_outcome_notyet", value, channel)
    assert intros(harness, cid)[0].outcome == "not_yet"
    assert "Vous avez déjà donné cette réponse." in press(
        harness, HUGO, "pairing_outcome_notyet", value, channel
    )
    assert "Thanks! Recorded: you talked." in press(harness, CHLOE, "pairing_outcome_yes", value, channel)
    assert f"<@{CHLOE}> a déjà répondu : Oui." in press(harness, HUGO, "pairing_outcome_no", value, channel)
    row = intros(harness, cid)[0]
    assert (row.outcome, row.outcome_by) == ("yes", CHLOE)
    assert "This introduction no longer exists. Nothing was changed." in press(
        harness, CHLOE, "pairing_outcome_yes", "999", channel
    )


# ---- "Introduce them" ------------------------------------------------------------------------------------
def introduce_value(cid: int, users: list[str]) -> str:
    return json.dumps({"c": cid, "u": users})


def test_lurkers_introduce_by_a_moderator_not_by_others(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, ERIN, NOW - timedelta(days=2))
    join(harness, cid, HUGO, NOW - timedelta(days=2))
    value = introduce_value(cid, [ERIN, HUGO, BRUNO, DAVID])

    assert NOT_MODERATOR_EN in press(harness, CHLOE, "lurkers_introduce", value, "DCHLOE")
    assert intros(harness, cid) == []

    answer = press(harness, ALICE, "lurkers_introduce", value, "DALICE")
    assert f"Introductions scheduled in *Urbanism* for <@{ERIN}> and <@{HUGO}>" in answer
    assert (
        f"Not introduced (not a newcomer of *Urbanism*, pairing switched off, or no longer in the workspace): <@{BRUNO}> and <@{DAVID}>."
        in answer
    )
    answer = press(harness, BRUNO, "lurkers_introduce", introduce_value(cid, [ERIN]), "DBRUNO")
    assert f"Déjà en attente d'une présentation dans *Urbanism* : <@{ERIN}>." in answer

    # One inner member, one intro a week: Erin now, Hugo next week.
    assert run_pass(harness) == 1
    assert list(group_dms(harness)) == [frozenset({ERIN, CHLOE})]
    assert "Pas encore" not in str(group_dms(harness))

    assert "I could not read this button. Nothing was changed." in press(
        harness, ALICE, "lurkers_introduce", '{"c": "x"}', "DALICE"
    )


def test_a_dissolved_community_gets_a_clear_answer_and_its_requests_are_dropped(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, DAVID, NOW - timedelta(days=2))
    ask(harness, DAVID, cid)  # Montreal: waits for 09:00 there
    with harness.db.session() as s:
        community = s.get(Community, cid)
        assert community is not None
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=NOW)

    assert "*Urbanism* was dissolved: it is read-only now." in ask(harness, ERIN, cid)
    assert "*Urbanism* was dissolved: it is read-only now." in press(
        harness, ALICE, "lurkers_introduce", introduce_value(cid, [DAVID]), "DALICE"
    )
    harness.clock.set(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    assert run_pass(harness) == 0
    assert pairs(harness, cid) == [(DAVID, None, "cancelled")]
    assert group_dms(harness) == {}
    assert "Cette présentation n'existe plus" in press(harness, DAVID, "pairing_outcome_yes", "1")


def test_with_no_inner_member_free_a_moderator_meets_the_newcomer_never_themself(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    join(harness, cid, ERIN, NOW - timedelta(days=2))

    assert "You are in the core group of *Urbanism*: introductions are for newcomers." in ask(
        harness, ALICE, cid
    )
    assert "We'll introduce you to someone from the inner circle of *Urbanism* soon" in ask(
        harness, ERIN, cid
    )
    assert run_pass(harness) == 1
    # Bruno rather than Alice: he lives in Paris, as Erin does (Alice is in New York).
    assert pairs(harness, cid) == [(ERIN, BRUNO, "introduced")]
    assert list(group_dms(harness)) == [frozenset({ERIN, BRUNO})]


def test_help_lists_the_pairing_switch_in_both_languages(harness: Harness) -> None:
    assert "pairing [on|off]" in say(harness, "help", ALICE)
    assert "jumelage [activer|desactiver]" in say(harness, "aide", BRUNO)


# ---- the emulator's group DMs ---------------------------------------------------------------------------
def test_emulator_opens_one_group_dm_per_set_of_people() -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.testing.slack_emulator import SlackEmulator

    with SlackEmulator() as slack:
        for user in ("UA", "UB", "UC"):
            slack.add_user(user)
        slack.add_user("UBOTTY", is_bot=True)
        client = WebClient(token=slack.token, base_url=slack.api_url)
        first = client.conversations_open(users="UA,UB")["channel"]["id"]
        assert client.conversations_open(users="UB,UA")["channel"]["id"] == first
        assert client.conversations_open(users="UA,UB,UC")["channel"]["id"] != first
        assert first.startswith("G")
        # One person: their DM, as before.
        dm = client.conversations_open(users="UA")["channel"]["id"]
        assert dm.startswith("D") and slack.channels[dm]["is_im"]
        client.chat_postMessage(channel=first, text="hello")
        assert [m["text"] for m in slack.history[first]] == ["hello"]
        with pytest.raises(SlackApiError, match="cannot_dm_bot"):
            client.conversations_open(users="UA,UBOTTY")


def test_concurrent_passes_introduce_each_newcomer_once_and_each_partner_once(harness: Harness) -> None:
    import threading

    cid = make_community(harness)
    for inner_member in (CHLOE, ERIN, FRANK):
        join(harness, cid, inner_member, LONG_AGO, circle="inner")
    for newcomer in (BRUNO, GINA, HUGO):
        join(harness, cid, newcomer, NOW - timedelta(days=1))
        ask(harness, newcomer, cid)
    say(harness, "pairing off", ALICE)

    for _ in range(2):  # the first round may only learn who people are
        threads = [threading.Thread(target=pairing_pass, args=(harness.runtime.deps,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        harness.drain()

    found = pairs(harness, cid)
    assert sorted(n for n, _, _ in found) == sorted([BRUNO, GINA, HUGO])
    assert {s for _, _, s in found} == {"introduced"}
    assert sorted(p for _, p, _ in found if p) == sorted([CHLOE, ERIN, FRANK])  # one intro each this week
    assert len(group_dms(harness)) == 3
    assert all(len(messages) == 1 for messages in group_dms(harness).values())


def test_the_scheduler_runs_the_pairing_pass(harness: Harness) -> None:
    from bot.scheduler import build_scheduler

    scheduler = build_scheduler(harness.runtime.deps, harness.jobs_client)
    job = scheduler.get_job("pairing")
    assert job is not None and job.func.__wrapped__ is pairing_pass  # counted and timed (bot/metrics.py)
    assert job.trigger.interval == timedelta(minutes=5)
    lurkers = scheduler.get_job("pairing_lurkers")
    assert lurkers is not None and lurkers.func.__wrapped__ is find_lurkers
    assert lurkers.trigger.interval == timedelta(hours=1)


def test_a_partner_who_left_the_workspace_meanwhile_is_replaced(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")  # London
    join(harness, cid, ERIN, LONG_AGO, circle="inner")  # Paris, as Bruno
    join(harness, cid, BRUNO, NOW - timedelta(days=2))
    ask(harness, BRUNO, cid)
    pairing_pass(harness.runtime.deps)  # learns who everyone is
    harness.drain()

    # Erin is deactivated after the app last heard of her: the pass still picks her (it asks no one),
    # the outbox worker asks Slack before opening the group DM, and gives the intro back.
    harness.emulator.users[ERIN]["deleted"] = True
    harness.runtime.deps.people.rights_ttl = 0
    assert pairing_pass(harness.runtime.deps) == 1
    harness.drain()
    assert group_dms(harness) == {}
    assert pairs(harness, cid) == [(BRUNO, None, "waiting")]

    assert run_pass(harness) == 1
    assert pairs(harness, cid) == [(BRUNO, CHLOE, "introduced")]
    assert list(group_dms(harness)) == [frozenset({BRUNO, CHLOE})]


def test_a_newcomer_who_left_the_community_while_waiting_is_not_introduced(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO, circle="inner")
    join(harness, cid, DAVID, NOW - timedelta(days=2))
    ask(harness, DAVID, cid)  # Montreal: waits for 09:00 there
    say(harness, "quitter Urbanism", DAVID)
    with harness.db.session() as s:
        assert membership(s, cid, DAVID).left_at is not None
    harness.clock.set(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    assert run_pass(harness) == 0
    assert pairs(harness, cid) == [(DAVID, None, "cancelled")]
    assert group_dms(harness) == {}
