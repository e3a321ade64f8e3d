"""End to end, through the Slack emulator: key people followed up (issue 11, item 7). The people named
at creation are listed with whether they have joined (/cdp info), and a moderator's "Invite them
again" sends the invitation again to those who have not, once a day; in English and French."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.repositories import communities as community_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_buttons import buttons_of, command, find, press
from tests.test_e2e_communities import create_community, dms, shown
from tests.test_e2e_home import buttons as home_buttons
from tests.test_e2e_home import open_home
from tests.test_e2e_home import press as home_press
from tests.test_e2e_reviews import CHANNEL, FIRST_DUE, prompts_to, run

JSON = dict[str, Any]
REINVITE = "key_people_reinvite"


def invitations(harness: Harness, user: str, words: str) -> int:
    """How many key-person invitations `user` received (`words`: a phrase of it in their language)."""
    return sum(1 for text in dms(harness, user) if words in text)


def has_reinvite(message: JSON) -> bool:
    return any(b["action_id"] == REINVITE for _, b in buttons_of(message))


def test_info_lists_key_people_and_a_moderator_reinvites_the_missing_once_a_day(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism", key_people=[CHLOE, BRUNO]).id
    assert invitations(harness, BRUNO, "personnes clés") == 1
    command(harness, "join Urbanism", CHLOE)

    info = command(harness, "info Urbanism", ALICE)
    assert "*Key people for the issue:* <@UCHLOE> (joined) and <@UBRUNO> (not yet)" in shown(info)
    block_id, button = find(info, REINVITE, str(urbanism))
    assert button["text"]["text"] == "Invite them again"

    answer = press(harness, ALICE, block_id, button)
    assert "I invited again 1 key person who had not joined *Urbanism*." in shown(answer)
    assert invitations(harness, BRUNO, "personnes clés") == 2
    (again,) = [m for m in harness.emulator.messages_to(BRUNO)][-1:]
    find(again, "home_join", str(urbanism))  # the invitation again, with its Join button
    assert invitations(harness, CHLOE, "key person for it") == 1  # she has joined: not invited again

    answer = press(harness, ALICE, block_id, button)
    assert "were already invited again today" in shown(answer)
    assert invitations(harness, BRUNO, "personnes clés") == 2

    harness.clock.advance(timedelta(days=1))  # once a day, not once for good
    answer = press(harness, ALICE, block_id, button)
    assert "I invited again 1 key person" in shown(answer)
    assert invitations(harness, BRUNO, "personnes clés") == 3


def test_a_member_who_is_not_a_moderator_sees_no_button_and_is_refused(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism", key_people=[CHLOE, BRUNO]).id
    command(harness, "join Urbanism", DAVID)
    info = command(harness, "info Urbanism", DAVID)
    assert "*Personnes clés pour l'enjeu :* <@UCHLOE> (pas encore) et <@UBRUNO> (pas encore)" in shown(info)
    assert not has_reinvite(info)

    block_id, button = find(command(harness, "info Urbanism", ALICE), REINVITE, str(urbanism))
    answer = press(harness, DAVID, block_id, button)
    assert "Seul le groupe central de *Urbanism*" in shown(answer)  # refused, in French
    assert invitations(harness, BRUNO, "personnes clés") == 1
    assert invitations(harness, CHLOE, "key person for it") == 1


def test_everyone_joined_no_button_and_french_wording(harness: Harness) -> None:
    create_community(harness, BRUNO, "Vélo en ville", key_people=[DAVID])
    command(harness, "join Vélo en ville", DAVID)
    info = command(harness, "info Vélo en ville", BRUNO)
    assert "*Personnes clés pour l'enjeu :* <@UDAVID> (a rejoint)" in shown(info)
    assert not has_reinvite(info)


def test_no_key_people_no_line(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    assert "Key people" not in shown(command(harness, "info Urbanism", ALICE))


# ---- the review prompt -----------------------------------------------------------------------------
def test_the_review_prompt_names_the_missing_and_its_button_reinvites(harness: Harness) -> None:
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE, DAVID])
    draft = community_draft(
        "Urbanism",
        domain="Safer streets",
        key_people=(CHLOE, DAVID),
        moderators=(ALICE, BRUNO),
        timezone="Europe/Paris",
        cadence_weeks=2,
    )
    with harness.db.session() as session:
        urbanism = svc.create(
            session,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=draft,
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=harness.clock.now(),
        ).id
    command(harness, "join Urbanism", CHLOE)
    harness.clock.set(FIRST_DUE)
    run(harness)

    (prompt,) = prompts_to(harness, ALICE)
    assert "Key people who have not joined yet: <@UDAVID>." in shown(prompt)
    (french,) = prompts_to(harness, BRUNO)
    assert "Personnes clés qui n'ont pas encore rejoint la communauté : <@UDAVID>." in shown(french)
    block_id, button = find(prompt, REINVITE, str(urbanism))
    assert invitations(harness, DAVID, "personnes clés") == 0  # created without the form: none yet

    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "I invited again 1 key person" in shown(answer)
    assert invitations(harness, DAVID, "personnes clés") == 1
    _, french_button = find(french, REINVITE, str(urbanism))
    answer = press(harness, BRUNO, block_id, french_button, channel="DBRUNO")  # the co-moderator, same day
    assert "ont déjà été invitées à nouveau aujourd'hui" in shown(answer)
    assert invitations(harness, DAVID, "personnes clés") == 1


def test_a_dissolved_community_is_refused(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism", key_people=[BRUNO]).id
    block_id, button = find(command(harness, "info Urbanism", ALICE), REINVITE, str(urbanism))
    with harness.db.session() as session:
        assert community_repo.dissolve(session, community_id=urbanism, actor=ALICE, now=harness.clock.now())
    answer = press(harness, ALICE, block_id, button)
    assert "dissolved" in shown(answer)
    assert invitations(harness, BRUNO, "personnes clés") == 1


# ---- the moderators' App Home ----------------------------------------------------------------------
def test_the_moderators_home_lists_key_people_and_reinvites(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism", key_people=[CHLOE, BRUNO]).id
    command(harness, "join Urbanism", CHLOE)

    view = open_home(harness, ALICE)
    assert view is not None
    assert "*Key people for the issue:* <@UCHLOE> (joined) and <@UBRUNO> (not yet)" in shown(view)
    assert (REINVITE, str(urbanism), "Invite them again") in home_buttons(view)
    home_press(harness, ALICE, view, REINVITE, str(urbanism))
    harness.drain()
    assert "I invited again 1 key person who had not joined *Urbanism*." in dms(harness, ALICE)[-1]
    assert invitations(harness, BRUNO, "personnes clés") == 2

    member_home = open_home(harness, CHLOE)  # a member who does not moderate: no key people section
    assert member_home is not None and not [b for b in home_buttons(member_home) if b[0] == REINVITE]


def test_the_moderators_home_in_french(harness: Harness) -> None:
    create_community(harness, BRUNO, "Vélo en ville", key_people=[DAVID, CHLOE])
    command(harness, "join Vélo en ville", CHLOE)
    view = open_home(harness, BRUNO)
    assert view is not None
    assert "*Personnes clés pour l'enjeu :* <@UDAVID> (pas encore) et <@UCHLOE> (a rejoint)" in shown(view)
    assert [label for action, _, label in home_buttons(view) if action == REINVITE] == [
        "Les inviter à nouveau"
    ]
