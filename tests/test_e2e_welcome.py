"""End to end, through the Slack emulator: the welcome, once (issue 10, item 1), in English and French.

A newcomer who joins the channel in Slack reads an ephemeral welcome there; one who types `/cdp join`
(or whose request is approved) gets it as a DM. It names the moderators, the domain, the channels and
the circle rule's numbers, with "Introduce me to someone" and "Not now". Never twice (Slack retries,
two join paths), never for the founders, a re-join within 30 days, a bot or someone gone, a dissolved
community, nor when the moderators switched it off.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.services import welcome
from storage.models import Community, CommunityChannel, Membership, OutboxMessage
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_communities import (
    DOMAIN,
    add_channel,
    create_community,
    initial_values,
    members,
    open_form,
    row_counts,
    say,
    shown,
    submit,
)
from tests.test_e2e_privacy import exported
from tests.test_e2e_races import answers_only, at_once

JSON = dict[str, Any]
INTRO, NOT_NOW = "onramp_intro_me", "onramp_not_now"
CARD_FR = "Les nouveaux membres commencent souvent dans le cercle externe"


# ---- helpers ---------------------------------------------------------------------------------------
def joins_channel(harness: Harness, user: str, channel: str, **kwargs: Any) -> None:
    """`user` joins `channel` in Slack: the emulator's channel has them, then Slack sends the event (at the
    app clock's time, so the 30-day rule reads the same calendar as the test)."""
    harness.emulator.channels[channel]["members"].add(user)
    event = {"type": "member_joined_channel", "user": user, "channel": channel, "team": "T0CDP"}
    result = harness.slack.event(event, event_time=int(harness.clock.now().timestamp()), **kwargs)
    assert result.status == 200, result.text


def leaves_channel(harness: Harness, user: str, channel: str) -> None:
    harness.emulator.channels[channel]["members"].discard(user)
    event = {"type": "member_left_channel", "user": user, "channel": channel, "team": "T0CDP"}
    result = harness.slack.event(event, event_time=int(harness.clock.now().timestamp()))
    assert result.status == 200, result.text


def ephemerals(harness: Harness, user: str) -> list[JSON]:
    return harness.emulator.ephemerals_to(user)


def welcome_dms(harness: Harness, user: str) -> list[JSON]:
    """The DMs to `user` that carry the welcome's buttons."""
    return [m for m in harness.emulator.messages_to(user) if buttons(m)]


def welcomes(harness: Harness, user: str) -> list[JSON]:
    """Every welcome `user` received, ephemeral or DM."""
    return ephemerals(harness, user) + welcome_dms(harness, user)


def buttons(message: JSON) -> dict[str, str]:
    """action_id -> value of the message's buttons."""
    return {
        element["action_id"]: element["value"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("type") == "button"
    }


def streets(harness: Harness, **overrides: Any) -> Community:
    """Alice (English) creates "Safe streets" in #safe-streets and #school-routes, Bruno (French)
    moderating with her."""
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    add_channel(harness, "CSCHOOLS", "school-routes", members=[ALICE])
    community = create_community(
        harness,
        ALICE,
        "Safe streets",
        channel="CSTREETS",
        moderators=[ALICE, BRUNO],
        objectives=["exchange_information"],
        **overrides,
    )
    view = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, view, ALICE, channels=["CSTREETS", "CSCHOOLS"]) is None
    harness.drain()
    return community


def settings(harness: Harness, user: str, **values: Any) -> Any:
    view = open_form(harness, "settings Safe streets", user)
    return submit(harness, view, user, **values)


def press(harness: Harness, user: str, message: JSON, action_id: str, channel: str) -> JSON:
    """Press a button of `message` as Slack sends it; the answer that came through its response_url."""
    before = len(harness.emulator.responses)
    value = buttons(message)[action_id]
    result = harness.slack.block_action(user, action_id, value=value, channel=channel)
    assert result.status == 200
    harness.drain()
    assert len(harness.emulator.responses) == before + 1
    return harness.emulator.responses[-1][1]


# ---- channel join: ephemeral, in the newcomer's language ------------------------------------------------
def test_joining_the_channel_gets_one_ephemeral_welcome_there_in_english(harness: Harness) -> None:
    community = streets(harness)
    joins_channel(harness, CHLOE, "CSTREETS")
    (welcome,) = ephemerals(harness, CHLOE)
    assert welcome["channel"] == "CSTREETS" and welcome["user"] == CHLOE
    text = shown(welcome)
    assert "Welcome to the community of practice Safe streets!" in text
    assert "Newcomers often start in the outer circle" in text  # the card, by default
    assert "*Moderators (core group):* <@UALICE> and <@UBRUNO>" in text
    assert f"*Domain:* {DOMAIN}" in text
    assert "Exchange information on a specific issue" in text  # an objective
    assert "*Its channels, one per sub-issue:* <#CSTREETS> <#CSCHOOLS>" in text
    assert (
        "you start in the outer circle, where simply reading is fine; 4 contributions on 2 different days "
        "within 30 days bring you into the inner circle" in text
    )
    assert buttons(welcome) == {INTRO: str(community.id), NOT_NOW: str(community.id)}
    assert welcome_dms(harness, CHLOE) == []  # ephemeral only: no DM besides
    row = members(harness, community.id)[CHLOE]
    assert (row.joined_via, row.welcomed_at) == ("channel", harness.clock.now())
    # What is stored about her says so (/cdp privacy export): when, never what it said.
    (mine,) = exported(harness, CHLOE)["memberships"]
    assert mine["welcomed_at"] == harness.clock.now().isoformat()


def test_the_welcome_speaks_french_to_a_french_newcomer_and_the_rule_numbers_follow_the_settings(
    harness: Harness,
) -> None:
    streets(harness)
    assert settings(harness, ALICE, inner_min_contributions="6", inner_min_days="3") is None
    joins_channel(harness, DAVID, "CSCHOOLS")
    (welcome,) = ephemerals(harness, DAVID)
    text = shown(welcome)
    assert welcome["channel"] == "CSCHOOLS"
    assert "Bienvenue dans la communauté de pratique Safe streets !" in text
    assert CARD_FR in text
    assert "*Modérateurs (groupe central) :* <@UALICE> et <@UBRUNO>" in text
    assert "*Ses canaux, un par sous-enjeu :* <#CSTREETS> <#CSCHOOLS>" in text
    assert (
        "6 contributions sur 3 jours différents en 30 jours vous font entrer dans le cercle interne" in text
    )
    labels = [e["text"]["text"] for b in welcome["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Présentez-moi quelqu'un", "Plus tard"]


def test_a_newcomer_whose_locale_we_do_not_speak_reads_the_community_language(harness: Harness) -> None:
    streets(harness, language="fr")
    harness.emulator.add_user("UERIKA", "erika", locale="de-DE")
    joins_channel(harness, "UERIKA", "CSTREETS")
    (welcome,) = ephemerals(harness, "UERIKA")
    assert "Bienvenue dans la communauté de pratique Safe streets !" in shown(welcome)


# ---- never twice -------------------------------------------------------------------------------------------
def test_a_join_event_retried_three_times_welcomes_once(harness: Harness) -> None:
    community = streets(harness)
    joins_channel(harness, CHLOE, "CSTREETS", event_id="EvJOIN1")
    for retry in (1, 2, 3):
        joins_channel(harness, CHLOE, "CSTREETS", event_id="EvJOIN1", retry_num=retry)
    harness.drain()
    assert len(welcomes(harness, CHLOE)) == 1
    assert len(members(harness, community.id)) == 3
    # The other channel of the community tells Slack she joined it too: still one welcome.
    joins_channel(harness, CHLOE, "CSCHOOLS")
    assert len(welcomes(harness, CHLOE)) == 1


def test_cdp_join_welcomes_by_dm_once_even_when_slack_then_reports_the_channel_join(harness: Harness) -> None:
    community = streets(harness)
    answer = say(harness, "join Safe streets", CHLOE)
    assert "Welcome to *Safe streets*" in answer
    (welcome,) = welcome_dms(harness, CHLOE)
    text = shown(welcome)
    assert "Welcome to the community of practice Safe streets!" in text
    assert "<@UALICE> and <@UBRUNO>" in text and "<#CSTREETS> <#CSCHOOLS>" in text
    assert buttons(welcome) == {INTRO: str(community.id), NOT_NOW: str(community.id)}
    # The invitation made her a member of the channels: Slack says so, the app does not welcome again.
    assert CHLOE in harness.emulator.channels["CSTREETS"]["members"]
    joins_channel(harness, CHLOE, "CSTREETS")
    joins_channel(harness, CHLOE, "CSCHOOLS")
    assert "already a member" in say(harness, "join Safe streets", CHLOE)
    assert len(welcomes(harness, CHLOE)) == 1
    assert ephemerals(harness, CHLOE) == []


def test_two_join_paths_at_the_same_instant_welcome_once(harness: Harness) -> None:
    """Five times: `/cdp join` typed while Slack reports the same person joining the channel, and the same
    event retried, all at once: one membership, one welcome (a DM or an ephemeral, whichever won)."""
    community = streets(harness)
    for n in range(5):
        user = f"UNEW{n:02d}"
        harness.emulator.add_user(user, f"new{n}", locale="fr-FR" if n % 2 else "en-US")
        harness.emulator.channels["CSTREETS"]["members"].add(user)
        event = {"type": "member_joined_channel", "user": user, "channel": "CSTREETS", "team": "T0CDP"}
        moment = int(harness.clock.now().timestamp())
        sends = [
            lambda u=user: harness.slack.command("join Safe streets", u),
            lambda e=event, m=moment, u=user: harness.slack.event(e, event_id=f"Ev{u}", event_time=m),
            lambda e=event, m=moment, u=user: harness.slack.event(
                e, event_id=f"Ev{u}", event_time=m, retry_num=1
            ),
        ]
        with answers_only(harness):
            answers = at_once(len(sends), lambda i: sends[i]())  # noqa: B023
        assert [a.status for a in answers] == [200, 200, 200]
        assert len(welcomes(harness, user)) == 1, user
        assert members(harness, community.id)[user].left_at is None


def test_an_approved_request_to_a_protected_community_is_welcomed_by_dm(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    community = create_community(harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected")
    say(harness, "join Trust circle", DAVID)
    assert welcomes(harness, DAVID) == []  # asking is not joining
    approve = harness.emulator.messages_to(ALICE)[-1]
    harness.slack.block_action(ALICE, "join_request_approve", value=buttons(approve)["join_request_approve"])
    harness.drain()
    (welcome,) = welcome_dms(harness, DAVID)
    assert "Bienvenue dans la communauté de pratique Trust circle !" in shown(welcome)
    assert buttons(welcome)[NOT_NOW] == str(community.id)


# ---- who is not welcomed ----------------------------------------------------------------------------------
def test_the_founders_are_not_welcomed(harness: Harness) -> None:
    streets(harness)
    for founder in (ALICE, BRUNO):  # invited into the channels at the creation: Slack reports it
        joins_channel(harness, founder, "CSTREETS")
        joins_channel(harness, founder, "CSCHOOLS")
    assert welcomes(harness, ALICE) == welcomes(harness, BRUNO) == []
    # Bruno steps out and comes back two months later: a founder still knows the place.
    assert "Vous avez quitté" in say(harness, "leave Safe streets", BRUNO)
    harness.clock.advance(timedelta(days=60))
    say(harness, "join Safe streets", BRUNO)
    assert welcomes(harness, BRUNO) == []


def test_a_rejoin_within_30_days_is_not_welcomed_again_after_31_days_it_is(harness: Harness) -> None:
    streets(harness)
    joins_channel(harness, CHLOE, "CSTREETS")
    assert len(welcomes(harness, CHLOE)) == 1
    harness.clock.advance(timedelta(days=3))
    leaves_channel(harness, CHLOE, "CSTREETS")
    harness.clock.advance(timedelta(days=29))  # 29 days after leaving
    joins_channel(harness, CHLOE, "CSTREETS")
    assert len(welcomes(harness, CHLOE)) == 1
    # By command this time, leaving again: the same rule.
    say(harness, "leave Safe streets", CHLOE)
    harness.clock.advance(timedelta(days=10))
    assert "Welcome back to *Safe streets*!" in say(harness, "join Safe streets", CHLOE)
    assert len(welcomes(harness, CHLOE)) == 1
    say(harness, "leave Safe streets", CHLOE)
    harness.clock.advance(timedelta(days=31))
    joins_channel(harness, CHLOE, "CSTREETS")
    assert len(welcomes(harness, CHLOE)) == 2
    assert len(ephemerals(harness, CHLOE)) == 2


def test_no_welcome_for_a_bot_nor_for_someone_who_left_the_workspace(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    create_community(harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected")
    streets(harness)
    harness.emulator.add_user("UHELPER", "helper", is_bot=True)
    joins_channel(harness, "UHELPER", "CSTREETS")
    assert welcomes(harness, "UHELPER") == []
    # Chloe asks to join, then leaves the workspace before a moderator approves.
    say(harness, "join Trust circle", CHLOE)
    harness.emulator.add_user(CHLOE, "chloe", locale="en-GB", deleted=True)
    harness.runtime.deps.people.rights_ttl = 0.0  # the app learns it at once (five minutes in production)
    approve = harness.emulator.messages_to(ALICE)[-1]
    harness.slack.block_action(ALICE, "join_request_approve", value=buttons(approve)["join_request_approve"])
    harness.drain()
    assert welcomes(harness, CHLOE) == []
    with harness.db.session() as session:
        kinds = [
            m.status for m in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "welcome"))
        ]
    assert kinds == ["skipped"]


def test_switched_off_no_welcome_and_nothing_sent_for_a_dissolved_community(harness: Harness) -> None:
    community = streets(harness)
    view = open_form(harness, "settings Safe streets", ALICE)
    values = initial_values(view)
    assert values["welcome_options"] == ["welcome_enabled"]  # on by default
    assert submit(harness, view, ALICE, welcome_options=[]) is None
    with harness.db.session() as session:
        assert session.get(Community, community.id).welcome_enabled is False  # type: ignore[union-attr]
    joins_channel(harness, CHLOE, "CSTREETS")
    say(harness, "join Safe streets", DAVID)
    assert welcomes(harness, CHLOE) == welcomes(harness, DAVID) == []
    assert members(harness, community.id)[CHLOE].left_at is None  # a member all the same
    # Switched on again, from the same form.
    assert settings(harness, ALICE, welcome_options=["welcome_enabled"]) is None
    harness.emulator.add_user("UERIKA", "erika", locale="en-US")
    joins_channel(harness, "UERIKA", "CSTREETS")
    assert len(welcomes(harness, "UERIKA")) == 1


# ---- the moderators' own words -------------------------------------------------------------------------
def test_moderators_write_their_own_welcome_text_shown_with_the_facts(harness: Harness) -> None:
    community = streets(harness)
    view = open_form(harness, "settings Safe streets", BRUNO)
    assert initial_values(view)["welcome_text"].startswith("Newcomers often start in the outer circle")
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert "Texte d'accueil" in labels and "Accueil" in labels  # Bruno reads the form in French
    own = "Hello! Tell us which street near your school worries you most."
    assert submit(harness, view, BRUNO, welcome_text=own) is None
    with harness.db.session() as session:
        assert session.get(Community, community.id).welcome_text == own  # type: ignore[union-attr]
    joins_channel(harness, CHLOE, "CSTREETS")
    text = shown(ephemerals(harness, CHLOE)[0])
    assert own in text
    assert "Newcomers often start" not in text
    assert "<@UALICE> and <@UBRUNO>" in text and "<#CSTREETS> <#CSCHOOLS>" in text  # the app's frame
    # The form shows their text next time.
    assert initial_values(open_form(harness, "settings Safe streets", ALICE))["welcome_text"] == own


def test_a_welcome_text_over_2000_characters_is_refused_with_a_field_error(harness: Harness) -> None:
    community = streets(harness)
    before = row_counts(harness)
    answer = settings(harness, ALICE, welcome_text="x" * 2001)
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {"welcome_text": "The welcome text is too long: 2,000 characters at most."}
    answer = settings(harness, BRUNO, welcome_text="é" * 2001)
    assert answer["errors"]["welcome_text"] == "Le texte d'accueil est trop long : 2 000 caractères au plus."
    assert row_counts(harness) == before
    with harness.db.session() as session:
        assert session.get(Community, community.id).welcome_text is None  # type: ignore[union-attr]
    assert settings(harness, ALICE, welcome_text="y" * 2000) is None  # exactly the limit is fine


# ---- "Not now" -----------------------------------------------------------------------------------------
def test_not_now_is_acknowledged_kindly_and_changes_nothing(harness: Harness) -> None:
    community = streets(harness)
    joins_channel(harness, CHLOE, "CSTREETS")
    (welcome,) = ephemerals(harness, CHLOE)
    before = (row_counts(harness), members(harness, community.id)[CHLOE].circle)
    answer = press(harness, CHLOE, welcome, NOT_NOW, "CSTREETS")
    assert answer["replace_original"] is True  # the ephemeral welcome gives way to the answer
    assert "No problem: take your time. Reading *Safe streets* is fine" in shown(answer)
    assert (row_counts(harness), members(harness, community.id)[CHLOE].circle) == before
    # In French, from a DM welcome.
    say(harness, "join Safe streets", DAVID)
    (welcome,) = welcome_dms(harness, DAVID)
    answer = press(harness, DAVID, welcome, NOT_NOW, welcome["channel"])
    assert "Pas de souci : prenez votre temps." in shown(answer)
    assert members(harness, community.id)[DAVID].left_at is None


def test_not_now_in_a_dissolved_or_unknown_community_says_so_and_changes_nothing(harness: Harness) -> None:
    community = streets(harness)
    joins_channel(harness, CHLOE, "CSTREETS")
    joins_channel(harness, DAVID, "CSTREETS")
    assert submit(harness, open_form(harness, "dissolve Safe streets", ALICE), ALICE) is None
    harness.drain()
    before = row_counts(harness)
    answer = press(harness, CHLOE, ephemerals(harness, CHLOE)[0], NOT_NOW, "CSTREETS")
    assert "*Safe streets* was dissolved: there is nothing to do any more, and nothing was changed." in shown(
        answer
    )
    answer = press(harness, DAVID, ephemerals(harness, DAVID)[0], NOT_NOW, "CSTREETS")
    assert "*Safe streets* a été dissoute" in shown(answer)
    # A value that names no community (a forged or very old button).
    for value in ("999", "not-a-number", "99999999999"):
        harness.slack.block_action(CHLOE, NOT_NOW, value=value, channel="CSTREETS")
        harness.drain()
        assert "This community no longer exists: nothing was changed." in shown(
            harness.emulator.responses[-1][1]
        )
    assert row_counts(harness) == before
    with harness.db.session() as session:
        assert session.get(Community, community.id).status == "dissolved"  # type: ignore[union-attr]
    # And nobody joining a dissolved community's channel is welcomed.
    harness.emulator.add_user("UERIKA", "erika", locale="en-US")
    joins_channel(harness, "UERIKA", "CSTREETS")
    assert welcomes(harness, "UERIKA") == []
    with harness.db.session() as session:
        assert session.scalars(select(Membership).where(Membership.user_id == "UERIKA")).first() is None


def test_on_postgresql_the_outbox_reads_a_welcome_as_a_session_does(harness: Harness) -> None:
    """The outbox worker reads a welcome in one statement on the driver on PostgreSQL
    (bot.services.welcome.content): the same facts, open channels and moderators, in the same order."""
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL: the worker reads on the driver there only")
    community = streets(harness)  # #safe-streets then #school-routes; Alice and Bruno moderate
    team, at = harness.emulator.team_id, harness.clock.now()
    with harness.db.session() as session:
        session.execute(update(Community).values(welcome_text="Our own words."))
        session.add(  # bound last and archived since: not shown
            CommunityChannel(
                team_id=team, community_id=community.id, channel_id="CPARKS", is_archived=True, bound_at=at
            )
        )

        def member(user: str, role: str, joined: datetime, left: datetime | None = None) -> Membership:
            return Membership(
                team_id=team,
                community_id=community.id,
                user_id=user,
                role=role,
                circle="outer",
                circle_since=joined,
                joined_at=joined,
                left_at=left,
            )

        session.add(member(DAVID, "core", at - timedelta(days=400)))  # moderates since before the others
        session.add(member(CHLOE, "member", at - timedelta(days=500)))  # a member: not a moderator
        session.add(member("UERIN", "core", at - timedelta(days=600), left=at))  # left: no longer
    with harness.db.session() as session:
        expected = welcome.content(session, team_id=team, community_id=community.id)
    assert expected is not None
    assert (expected.channels, expected.moderators, expected.text) == (
        ("CSTREETS", "CSCHOOLS"),
        (DAVID, ALICE, BRUNO),
        "Our own words.",
    )
    read = functools.partial(welcome.content, team_id=team, community_id=community.id)
    assert harness.db.on_driver(read) == expected
    gone = functools.partial(welcome.content, team_id=team, community_id=community.id + 1000)
    assert harness.db.on_driver(gone) is None
