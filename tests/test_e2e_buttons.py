"""End to end, through the Slack emulator: buttons where people are (issue 10, item 6) — Join / Request to
join and Info under the directory's entries, "did you mean X?", the key-person invitation, the help
message — and the named lurker alert with its three buttons (item 4), in English and French."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import check_message
from storage.models import Membership
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_communities import (
    active_members,
    add_channel,
    create_community,
    dms,
    open_form,
    requests,
    row_counts,
    shown,
    submit,
)
from tests.test_e2e_momentum import CHANNEL, LONG_AGO, NOW, TODAY, join, make_community, run_pass, seed

JSON = dict[str, Any]


# ---- helpers ---------------------------------------------------------------------------------------
def command(harness: Harness, text: str, user: str) -> JSON:
    """Type `/cdp text`: the ephemeral answer, checked against Block Kit's limits as Slack would."""
    result = harness.slack.command(text, user)
    assert result.status == 200
    answer = result.json()
    assert answer["response_type"] == "ephemeral"
    check_message(answer)
    return dict(answer)


def buttons_of(message: JSON) -> list[tuple[str, JSON]]:
    """(block_id, button) of every button of a message, in order."""
    return [
        (str(block.get("block_id")), element)
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    ]


def entry_buttons(message: JSON, community_id: int) -> dict[str, str]:
    """action_id -> label of the buttons under one directory entry."""
    return {
        button["action_id"]: button["text"]["text"]
        for block_id, button in buttons_of(message)
        if block_id == f"community_{community_id}"
    }


def press(harness: Harness, user: str, block_id: str, button: JSON, channel: str = "CGENERAL") -> JSON:
    """Press a button as Slack sends it; the answer posted to its response_url (checked as a message)."""
    before = len(harness.emulator.responses)
    result = harness.slack.block_action(
        user, button["action_id"], value=button["value"], block_id=block_id, channel=channel
    )
    assert result.status == 200
    harness.drain()
    if len(harness.emulator.responses) == before:
        return {}
    answer = dict(harness.emulator.responses[-1][1])
    check_message(answer)
    return answer


def find(message: JSON, action_id: str, value: str | None = None) -> tuple[str, JSON]:
    (found,) = [
        (block_id, b)
        for block_id, b in buttons_of(message)
        if b["action_id"] == action_id and (value is None or b["value"] == value)
    ]
    return found


def greeted(harness: Harness, community_id: int) -> set[str]:
    with harness.db.session() as s:
        rows = s.scalars(
            select(Membership.user_id).where(
                Membership.community_id == community_id, Membership.greeted_at.is_not(None)
            )
        )
        return set(rows)


def make_protected(harness: Harness) -> int:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    return create_community(harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected").id


# ---- /cdp list: Join / Request to join and Info under each entry ------------------------------------
def test_list_entries_have_join_and_info_buttons_that_work(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism").id
    trust = make_protected(harness)

    listed = command(harness, "list", CHLOE)
    assert entry_buttons(listed, urbanism) == {"home_join": "Join", "home_info": "Info"}
    assert entry_buttons(listed, trust) == {"home_join": "Request to join", "home_info": "Info"}
    # The moderator is in both: no Join button for a community one is already in.
    mine = command(harness, "list", ALICE)
    assert entry_buttons(mine, urbanism) == entry_buttons(mine, trust) == {"home_info": "Info"}

    # Join: exactly `/cdp join`, the list stays (not replaced).
    answer = press(harness, CHLOE, *find(listed, "home_join", str(urbanism)))
    assert "Welcome to *Urbanism*! You start in the *outer circle*" in shown(answer)
    assert answer["replace_original"] is False
    assert active_members(harness, urbanism)[CHLOE] == "member"
    # Pressed twice: one member, and it says so; nothing else changed.
    before = row_counts(harness)
    answer = press(harness, CHLOE, *find(listed, "home_join", str(urbanism)))
    assert "You are already a member of *Urbanism*." in shown(answer)
    assert row_counts(harness) == before

    # Info: what `/cdp info Urbanism` shows.
    answer = press(harness, CHLOE, *find(listed, "home_info", str(urbanism)))
    typed = command(harness, "info Urbanism", CHLOE)
    assert answer["blocks"] == typed["blocks"]
    assert "*Core group:* <@UALICE>" in shown(answer)
    # A protected community's info keeps its details inside, as the command does.
    answer = press(harness, CHLOE, *find(listed, "home_info", str(trust)))
    assert "This community is protected: its details are visible to its members only." in shown(answer)


def test_request_to_join_button_asks_the_moderators_in_french(harness: Harness) -> None:
    trust = make_protected(harness)
    listed = command(harness, "list", DAVID)
    assert entry_buttons(listed, trust) == {"home_join": "Demander à rejoindre", "home_info": "Infos"}

    answer = press(harness, DAVID, *find(listed, "home_join", str(trust)))
    assert "*Trust circle* est une communauté protégée" in shown(answer)
    assert DAVID not in active_members(harness, trust)
    (request,) = requests(harness)
    assert (request.user_id, request.status) == (DAVID, "pending")
    assert "<@UDAVID> asks to join *Trust circle* (protected). Approve?" in dms(harness, ALICE)[-1]
    # Twice: still one request.
    answer = press(harness, DAVID, *find(listed, "home_join", str(trust)))
    assert "Votre demande pour rejoindre *Trust circle* attend encore la réponse des modérateurs." in shown(
        answer
    )
    assert len(requests(harness)) == 1


def test_join_button_for_a_dissolved_or_unknown_community_changes_nothing(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism").id
    listed = command(harness, "list", CHLOE)
    assert submit(harness, open_form(harness, "dissolve Urbanism", ALICE), ALICE) is None
    harness.drain()
    before = row_counts(harness)

    answer = press(harness, CHLOE, *find(listed, "home_join", str(urbanism)))
    assert "*Urbanism* was dissolved: it is read-only now." in shown(answer)
    assert row_counts(harness) == before
    assert CHLOE not in active_members(harness, urbanism)
    # A dissolved community is listed without a Join button.
    assert entry_buttons(command(harness, "list", CHLOE), urbanism) == {"home_info": "Info"}
    # Values that are no community.
    for value in ("", "abc", "999999", "2147483648"):
        answer = press(harness, DAVID, "community_1", {"action_id": "home_join", "value": value})
        assert "Ce bouton ne désigne plus aucune communauté : rien n'a été modifié." in shown(answer)
        answer = press(harness, CHLOE, "community_1", {"action_id": "home_info", "value": value})
        assert "This button no longer points to a community" in shown(answer)
    assert row_counts(harness) == before


def make_many(harness: Harness, count: int) -> None:
    """`count` open communities, made directly (the form is tested elsewhere)."""
    with harness.db.session() as s:
        for n in range(count):
            channel = f"CMANY{n:02d}"
            harness.emulator.add_channel(channel, f"many-{n:02d}", members=[ALICE])
            svc.create(
                s,
                team_id=harness.emulator.team_id,
                creator=ALICE,
                draft=community_draft(
                    f"Community {n:02d}", domain="A long domain. " * 20, timezone="Europe/Paris"
                ),
                channel=ChannelChoice(channel, f"many-{n:02d}", False),
                now=harness.clock.now(),
            )


def test_a_long_directory_comes_in_pages_within_block_kits_limits(harness: Harness) -> None:
    make_many(harness, 45)

    first = command(harness, "list", CHLOE)  # check_message: at most 50 blocks
    assert len(first["blocks"]) <= 50
    assert "*Communities of practice* (45)" in shown(first)
    assert "*Community 00*" in shown(first) and "*Community 19*" in shown(first)
    assert "*Community 20*" not in shown(first)
    assert "Page 1 of 3." in shown(first)
    # The next page, in place of this one.
    second = press(harness, CHLOE, *find(first, "directory_page"))
    assert second["replace_original"] is True
    assert "*Community 20*" in shown(second) and "*Community 00*" not in shown(second)
    assert "Page 2 of 3." in shown(second)
    # Typed, the last page (and beyond it, the last page too).
    for typed in ("list 3", "list 99"):
        last = command(harness, typed, CHLOE)
        assert "*Community 44*" in shown(last) and "Page 3 of 3." in shown(last)
        assert [b for _, b in buttons_of(last) if b["action_id"] == "directory_page"] == []
    french = command(harness, "list", DAVID)
    assert "Page 1 sur 3." in shown(french)
    assert find(french, "directory_page")[1]["text"]["text"] == "Page suivante"


# ---- "did you mean X?" -----------------------------------------------------------------------------
def test_did_you_mean_on_info_and_join_has_a_join_button(harness: Harness) -> None:
    add_channel(harness, "CVELO", "velo", members=[ALICE])
    add_channel(harness, "CWATER", "water", members=[ALICE])
    velo = create_community(harness, ALICE, "Vélo en ville", channel="CVELO").id
    create_community(harness, ALICE, "Water quality", channel="CWATER")

    asked = command(harness, "info v", CHLOE)
    assert "Did you mean *Vélo en ville*?" in shown(asked)
    block_id, join_button = find(asked, "home_join")
    assert join_button["text"]["text"] == "Join Vélo en ville"
    assert join_button["value"] == str(velo)
    info = press(harness, CHLOE, *find(asked, "home_info"))
    assert "*Vélo en ville*" in shown(info)
    assert CHLOE not in active_members(harness, velo)  # nothing joined without asking

    answer = press(harness, CHLOE, block_id, join_button)
    assert answer["replace_original"] is True  # the question goes away
    assert "Welcome to *Vélo en ville*!" in shown(answer)
    assert active_members(harness, velo)[CHLOE] == "member"

    asked = command(harness, "rejoindre ve", DAVID)
    block_id, join_button = find(asked, "home_join")
    assert join_button["text"]["text"] == "Rejoindre Vélo en ville"
    assert "Bienvenue dans *Vélo en ville*" in shown(press(harness, DAVID, block_id, join_button))


# ---- the key-person invitation ---------------------------------------------------------------------
def test_key_person_invitation_has_a_join_button(harness: Harness) -> None:
    urbanism = create_community(harness, ALICE, "Urbanism", key_people=[CHLOE, DAVID]).id

    (invitation,) = [m for m in harness.emulator.messages_to(CHLOE) if "key person" in shown(m)]
    check_message(invitation)
    block_id, button = find(invitation, "home_join", str(urbanism))
    assert button["text"]["text"] == "Join Urbanism"
    answer = press(harness, CHLOE, block_id, button, channel="DCHLOE")
    assert "Welcome to *Urbanism*!" in shown(answer)
    assert answer["replace_original"] is False  # the invitation stays
    assert active_members(harness, urbanism)[CHLOE] == "member"

    (invitation,) = [m for m in harness.emulator.messages_to(DAVID) if "personnes clés" in shown(m)]
    _, button = find(invitation, "home_join", str(urbanism))
    assert button["text"]["text"] == "Rejoindre Urbanism"


def test_key_person_invitation_to_a_protected_community_asks_to_join(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    trust = create_community(
        harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected", key_people=[CHLOE]
    ).id
    (invitation,) = [m for m in harness.emulator.messages_to(CHLOE) if "key person" in shown(m)]
    block_id, button = find(invitation, "home_join", str(trust))
    assert button["text"]["text"] == "Request to join Trust circle"
    answer = press(harness, CHLOE, block_id, button, channel="DCHLOE")
    assert "your request was sent to its moderators" in shown(answer)
    assert [r.user_id for r in requests(harness)] == [CHLOE]


# ---- the help message ------------------------------------------------------------------------------
def test_help_has_three_buttons_that_do_what_they_say(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    helped = command(harness, "help", CHLOE)
    labels = {b["action_id"]: b["text"]["text"] for _, b in buttons_of(helped)}
    assert labels == {
        "help_list": "Browse communities",
        "help_me": "My circles",
        "help_create": "Create a community",
    }

    listed = press(harness, CHLOE, *find(helped, "help_list"))
    assert "*Communities of practice* (1)" in shown(listed)
    assert listed["replace_original"] is False  # the help stays
    assert entry_buttons(listed, 1) == {"home_join": "Join", "home_info": "Info"}

    mine = press(harness, ALICE, *find(helped, "help_me"))
    assert "*Urbanism*" in shown(mine) and "core group" in shown(mine).lower()
    assert "You are not a member of any community yet" in shown(
        press(harness, CHLOE, *find(helped, "help_me"))
    )

    before = len(harness.emulator.opened_views())
    assert press(harness, CHLOE, *find(helped, "help_create")) == {}  # a modal, no message
    assert len(harness.emulator.opened_views()) == before + 1
    assert harness.emulator.last_view()["title"]["text"] == "Initiate a CdP"

    french = command(harness, "aide", DAVID)
    labels = {b["action_id"]: b["text"]["text"] for _, b in buttons_of(french)}
    assert labels["help_list"] == "Parcourir les communautés"
    assert harness.emulator.opened_views()  # and Slack refusing the modal is said plainly
    harness.emulator.fail("views.open", "expired_trigger_id")
    answer = press(harness, DAVID, *find(french, "help_create"))
    assert "Le formulaire a mis trop de temps à s'ouvrir." in shown(answer)


# ---- the named lurker alert ------------------------------------------------------------------------
LURKERS = [f"ULURK{n:02d}" for n in range(12)]


def lurking_community(harness: Harness, *, moderator: str = ALICE, language: str = "en") -> int:
    for n, user in enumerate(LURKERS):
        harness.emulator.add_user(user, f"lurker{n}", locale="en-US", tz="Europe/Paris")
    cid = make_community(harness, creator=moderator, moderators=(moderator,))
    if language != "en":
        with harness.db.session() as s:
            community = svc.find_by_id(s, team_id=harness.emulator.team_id, community_id=cid)
            assert community is not None
            community.language = language
    join(harness, cid, CHLOE, LONG_AGO + timedelta(days=1))
    seed(harness, cid, CHLOE, TODAY - timedelta(days=2))  # contributes: not waiting
    for n, user in enumerate(LURKERS):
        join(harness, cid, user, NOW - timedelta(days=30 - n))  # the first joined first
    seed(harness, cid, moderator, TODAY - timedelta(days=1))
    return cid


def the_alert(harness: Harness, moderator: str) -> JSON:
    (alert,) = [m for m in harness.emulator.messages_to(moderator) if "lurkers_post_welcome" in json.dumps(m)]
    check_message(alert)
    return alert


def test_the_alert_names_ten_newcomers_and_counts_the_others(harness: Harness) -> None:
    cid = lurking_community(harness)
    assert run_pass(harness) == 1

    alert = the_alert(harness, ALICE)
    named = ", ".join(f"<@{u}>" for u in LURKERS[:9]) + f", <@{LURKERS[9]}>, and 2 others"
    assert "12 newcomers have been following the channel for 14 days or more" in shown(alert)
    assert f"*Waiting:* {named}" in shown(alert)
    labels = [(b["action_id"], b["text"]["text"]) for _, b in buttons_of(alert)]
    assert labels == [
        ("lurkers_post_welcome", "Post a welcome in the channel"),
        ("lurkers_introduce", "Introduce them"),
        ("alert_greeted", "Mark as greeted"),
    ]
    values = {json.loads(b["value"])["c"] for _, b in buttons_of(alert)}
    assert values == {cid}
    assert json.loads(find(alert, "lurkers_introduce")[1]["value"])["u"] == LURKERS[:10]


def test_post_a_welcome_credits_the_moderator_and_marks_them_greeted(harness: Harness) -> None:
    cid = lurking_community(harness)
    run_pass(harness)
    alert = the_alert(harness, ALICE)
    block_id, button = find(alert, "lurkers_post_welcome")

    # A member who is not a moderator is refused; nothing posted, nobody marked.
    answer = press(harness, CHLOE, block_id, button, channel="DCHLOE")
    assert "Only the moderators of *Urbanism* (or a workspace admin) can do this." in shown(answer)
    assert harness.emulator.messages_to(CHANNEL) == [] or all(
        "welcomes" not in shown(m) for m in harness.emulator.messages_to(CHANNEL)
    )
    assert greeted(harness, cid) == set()

    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "Done: your welcome to" in shown(answer) and f"is posted in <#{CHANNEL}>" in shown(answer)
    (welcome,) = [shown(m) for m in harness.emulator.messages_to(CHANNEL) if "welcomes" in shown(m)]
    mentions = ", ".join(f"<@{u}>" for u in LURKERS[:9]) + f", and <@{LURKERS[9]}>"
    assert welcome.startswith(f"<@UALICE> welcomes {mentions} to *Urbanism*!")
    assert greeted(harness, cid) == set(LURKERS[:10])  # the two not named are still waiting

    # Twice (or by another moderator): already greeted, nothing posted again.
    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "These newcomers were already greeted (or left the community): nothing was posted." in shown(
        answer
    )
    assert len([m for m in harness.emulator.messages_to(CHANNEL) if "welcomes" in shown(m)]) == 1


def test_post_a_welcome_in_french_for_a_french_community(harness: Harness) -> None:
    cid = lurking_community(harness, moderator=BRUNO, language="fr")
    run_pass(harness)
    alert = the_alert(harness, BRUNO)
    assert "et 2 autres" in shown(alert)
    assert find(alert, "lurkers_post_welcome")[1]["text"]["text"] == "Publier un mot d'accueil dans le canal"
    answer = press(harness, BRUNO, *find(alert, "lurkers_post_welcome"), channel="DBRUNO")
    assert "C'est fait : votre mot d'accueil pour" in shown(answer)
    (welcome,) = [shown(m) for m in harness.emulator.messages_to(CHANNEL) if "bienvenue" in shown(m)]
    assert welcome.startswith("<@UBRUNO> souhaite la bienvenue à <@ULURK00>")
    assert "dans *Urbanism* !" in welcome
    assert len(greeted(harness, cid)) == 10


def test_greeted_button_marks_the_named_newcomers_once(harness: Harness) -> None:
    cid = lurking_community(harness)
    run_pass(harness)
    alert = the_alert(harness, ALICE)
    block_id, button = find(alert, "alert_greeted")

    answer = press(harness, DAVID, block_id, button, channel="DDAVID")  # not a moderator
    assert "Seul le groupe central de *Urbanism*" in shown(answer)
    assert greeted(harness, cid) == set()

    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "Thanks! 10 newcomers marked as greeted in *Urbanism*." in shown(answer)
    assert greeted(harness, cid) == set(LURKERS[:10])
    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "These newcomers were already greeted" in shown(answer)
    # Nothing is posted in the channel for "Mark as greeted".
    assert all("welcomes" not in shown(m) for m in harness.emulator.messages_to(CHANNEL))


def test_alert_buttons_for_a_dissolved_community_or_a_broken_value_change_nothing(harness: Harness) -> None:
    cid = lurking_community(harness)
    run_pass(harness)
    alert = the_alert(harness, ALICE)
    with harness.db.session() as s:
        community = svc.find_by_id(s, team_id=harness.emulator.team_id, community_id=cid)
        assert community is not None
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=harness.clock.now())

    for action_id in ("lurkers_post_welcome", "alert_greeted"):
        answer = press(harness, ALICE, *find(alert, action_id), channel="DALICE")
        assert "*Urbanism* was dissolved: it is read-only now." in shown(answer)
    for value in ("", "{}", '{"c": 1, "u": []}', '{"c": "1", "u": ["U1"]}', "[1]", "not json"):
        answer = press(harness, ALICE, "alert", {"action_id": "lurkers_post_welcome", "value": value})
        assert "This button no longer says which newcomers it is about: nothing was changed." in shown(answer)
    assert greeted(harness, cid) == set()
    assert all("welcomes" not in shown(m) for m in harness.emulator.messages_to(CHANNEL))


def test_a_newcomer_who_left_the_workspace_is_never_welcomed(harness: Harness) -> None:
    cid = lurking_community(harness)
    harness.emulator.add_user(LURKERS[0], "lurker0", deleted=True)
    # Their welcome, when they joined, taught the app they were there; five minutes later it asks again.
    harness.runtime.deps.people.rights_ttl = 0
    run_pass(harness)
    alert = the_alert(harness, ALICE)

    answer = press(harness, ALICE, *find(alert, "lurkers_post_welcome"), channel="DALICE")
    assert "Done: your welcome to" in shown(answer)
    (welcome,) = [shown(m) for m in harness.emulator.messages_to(CHANNEL) if "welcomes" in shown(m)]
    assert f"<@{LURKERS[0]}>" not in welcome and f"<@{LURKERS[1]}>" in welcome
    assert greeted(harness, cid) == set(LURKERS[1:10])


def test_join_and_info_pressed_on_app_home_answer_in_a_direct_message(harness: Harness) -> None:
    """App Home (rendered by another part of the app) has no response_url: the answer comes as a DM."""
    urbanism = create_community(harness, ALICE, "Urbanism").id
    home = {"id": "VHOME", "type": "home", "callback_id": "home", "blocks": []}
    for action_id in ("home_join", "home_info"):
        result = harness.slack.block_action(CHLOE, action_id, value=str(urbanism), view=home)
        assert result.status == 200
    harness.drain()
    joined, info = dms(harness, CHLOE)[-2:]
    assert "Welcome to *Urbanism*!" in joined
    assert "*Core group:* <@UALICE>" in info
    assert active_members(harness, urbanism)[CHLOE] == "member"


def test_introduce_them_on_the_named_alert_schedules_the_named_newcomers_introductions(
    harness: Harness,
) -> None:
    lurking_community(harness)
    run_pass(harness)
    alert = the_alert(harness, ALICE)
    block_id, button = find(alert, "lurkers_introduce")

    answer = press(harness, CHLOE, block_id, button, channel="DCHLOE")  # not a moderator
    assert "Only the moderators of *Urbanism* (or a workspace admin) can do this." in shown(answer)

    answer = press(harness, ALICE, block_id, button, channel="DALICE")
    assert "Introductions scheduled in *Urbanism* for" in shown(answer)
    assert f"<@{LURKERS[0]}>" in shown(answer) and f"<@{LURKERS[10]}>" not in shown(answer)
    answer = press(harness, ALICE, block_id, button, channel="DALICE")  # pressed again: already waiting
    assert "Already waiting for an introduction in *Urbanism*" in shown(answer)
