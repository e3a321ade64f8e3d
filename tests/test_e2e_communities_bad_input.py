"""End to end, bad input on communities (issue 3): every refusal is a clear answer in the user's
language, on the right field, and changes nothing — no row, no channel joined or created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_communities import (
    DOMAIN,
    add_channel,
    bindings,
    community_named,
    create_community,
    join_request_buttons,
    members,
    open_form,
    requests,
    row_counts,
    say,
    shown,
    submit,
)

NOTHING = (0, 0, 0, 0)


def slack_side_effects(harness: Harness) -> list[str]:
    """Slack calls that would change the workspace for a community."""
    return [
        call.method
        for call in harness.emulator.calls
        if call.method in ("conversations.join", "conversations.create", "conversations.invite")
        and call.response
        and call.response.get("ok")
    ]


def add_odd_accounts(harness: Harness) -> None:
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    harness.emulator.add_user("UGONE", "gone", deleted=True)
    add_channel(harness, "CSECRET", "secret", is_private=True, members=[ALICE, BRUNO])
    add_channel(harness, "COLD", "old-stuff", is_archived=True)


# ---- the "Initiate a CdP" form ------------------------------------------------------------------
FIELD_ERRORS = [
    pytest.param(ALICE, {"name": ""}, "name", "Give the community a name.", id="empty-name"),
    pytest.param(BRUNO, {"name": "   "}, "name", "Donnez un nom à la communauté.", id="blank-name-fr"),
    pytest.param(
        ALICE, {"name": "x" * 81}, "name", "The name is too long: 80 characters at most.", id="long-name"
    ),
    pytest.param(
        ALICE, {"name": "!!!"}, "name", "The name needs at least one letter or digit.", id="no-letters"
    ),
    pytest.param(
        ALICE,
        {"channel": None},
        "channel",
        "Pick an existing channel or give a name for a new one.",
        id="no-channel",
    ),
    pytest.param(
        BRUNO,
        {"new_channel": "cdp-streets"},
        "new_channel",
        "Choisissez un canal existant ou un nouveau nom, pas les deux.",
        id="both-channels-fr",
    ),
    pytest.param(
        ALICE,
        {"moderators": []},
        "moderators",
        "Name at least one moderator: a community needs one to keep momentum.",
        id="no-moderator",
    ),
    pytest.param(
        BRUNO,
        {"moderators": [BRUNO, "UHELPER"]},
        "moderators",
        "Choisissez des personnes, pas des bots ni des comptes désactivés.",
        id="bot-moderator-fr",
    ),
    pytest.param(
        ALICE,
        {"key_people": [CHLOE, "UHELPER"]},
        "key_people",
        "Pick people, not bots or deactivated accounts.",
        id="bot-key-person",
    ),
    pytest.param(
        ALICE,
        {"key_people": ["UGONE"]},
        "key_people",
        "Pick people, not bots or deactivated accounts.",
        id="deactivated-key-person",
    ),
    pytest.param(
        DAVID,
        {"timezone": "Paris"},
        "timezone",
        "Fuseau horaire inconnu. Utilisez un nom IANA comme Europe/Paris.",
        id="unknown-timezone-fr",
    ),
    pytest.param(
        BRUNO,
        {"channel": "CSECRET"},
        "channel",
        "Je ne vois pas ce canal. S'il est privé, tapez `/invite @cdp-bot` dans ce canal, "
        "puis validez à nouveau.",
        id="private-channel-unseen-fr",
    ),
    pytest.param(ALICE, {"channel": "COLD"}, "channel", "This channel is archived.", id="archived-channel"),
    pytest.param(
        ALICE,
        {"channel": None, "new_channel": "Safe Streets!"},
        "new_channel",
        "Channel names use lowercase letters, digits, hyphens and underscores, 80 characters at most.",
        id="bad-new-channel-name",
    ),
    pytest.param(
        ALICE,
        {"channel": None, "new_channel": "general"},
        "new_channel",
        "A channel with this name already exists: pick it above instead.",
        id="new-channel-name-taken",
    ),
]


@pytest.mark.parametrize(("user", "overrides", "block", "expected"), FIELD_ERRORS)
def test_create_form_field_error_changes_nothing(
    harness: Harness, user: str, overrides: dict[str, Any], block: str, expected: str
) -> None:
    add_odd_accounts(harness)
    view = open_form(harness, "create", user)
    values = {"name": "Safe streets", "domain": DOMAIN, "channel": "CGENERAL", **overrides}
    answer = submit(harness, view, user, **values)
    assert answer == {"response_action": "errors", "errors": {block: expected}}
    harness.drain()
    assert row_counts(harness) == NOTHING
    assert slack_side_effects(harness) == []
    assert harness.emulator.successful_calls_to("chat.postMessage") == []


def test_every_field_error_is_reported_at_once(harness: Harness) -> None:
    view = open_form(harness, "create", ALICE)
    answer = submit(harness, view, ALICE, name="", channel=None, moderators=[], timezone="Nowhere")
    assert set(answer["errors"]) == {"name", "channel", "moderators", "timezone"}
    assert row_counts(harness) == NOTHING


def test_a_name_already_used_even_with_other_case_or_accents(harness: Harness) -> None:
    add_channel(harness, "CMOBIL", "mobilite")
    create_community(harness, BRUNO, "Mobilité douce", channel="CMOBIL")
    before = row_counts(harness)
    for user, name, expected in [
        (ALICE, "Mobilité douce", "A community with this name already exists in this workspace."),
        (ALICE, "MOBILITE DOUCE", "A community with this name already exists in this workspace."),
        (DAVID, "mobilite-douce", "Une communauté porte déjà ce nom dans cet espace de travail."),
    ]:
        view = open_form(harness, "create", user)
        answer = submit(harness, view, user, name=name, domain=DOMAIN, channel="CGENERAL")
        assert answer == {"response_action": "errors", "errors": {"name": expected}}, name
    assert row_counts(harness) == before
    assert len(harness.emulator.calls_to("conversations.join")) == 0  # CMOBIL was joined already


def test_a_channel_bound_to_another_community(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets", channel="CGENERAL")
    before = row_counts(harness)
    view = open_form(harness, "create", CHLOE)
    answer = submit(harness, view, CHLOE, name="Water quality", domain=DOMAIN, channel="CGENERAL")
    assert answer == {
        "response_action": "errors",
        "errors": {"channel": "This channel is already bound to another community."},
    }
    view = open_form(harness, "create", BRUNO)
    answer = submit(harness, view, BRUNO, name="Qualité de l'eau", domain=DOMAIN, channel="CGENERAL")
    assert answer["errors"] == {"channel": "Ce canal est déjà lié à une autre communauté."}
    assert row_counts(harness) == before


def test_a_private_channel_works_once_the_bot_is_invited(harness: Harness) -> None:
    add_channel(harness, "CSECRET", "secret", is_private=True, members=[ALICE])
    view = open_form(harness, "create", ALICE)
    answer = submit(harness, view, ALICE, name="Trust circle", domain=DOMAIN, channel="CSECRET")
    assert "/invite @cdp-bot" in answer["errors"]["channel"]
    assert row_counts(harness) == NOTHING
    harness.emulator.channels["CSECRET"]["members"].add(harness.emulator.bot_user_id)  # `/invite @cdp-bot`
    assert submit(harness, view, ALICE, name="Trust circle", domain=DOMAIN, channel="CSECRET") is None
    harness.drain()
    community = community_named(harness, "Trust circle")
    (binding,) = bindings(harness, community.id)
    assert (binding.channel_id, binding.is_private) == ("CSECRET", True)
    assert harness.emulator.calls_to("conversations.join") == []  # a private channel is never "joined"
    assert any("Trust circle" in shown(m) for m in harness.emulator.messages_to("CSECRET"))


# ---- commands that name a community -------------------------------------------------------------
def test_unknown_community_name(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    before = row_counts(harness)
    views_before = len(harness.emulator.opened_views())
    for subcommand in ("join", "info", "leave", "moderators", "settings", "dissolve"):
        assert "I know no community called “quantum knitting”. Type `/cdp list` to see the directory." in say(
            harness, f"{subcommand} quantum knitting", CHLOE
        ), subcommand
        assert "Je ne connais pas de communauté appelée « quantum knitting »." in say(
            harness, f"{subcommand} quantum knitting", BRUNO
        ), subcommand
    assert row_counts(harness) == before
    assert len(harness.emulator.opened_views()) == views_before


def test_a_non_moderator_is_refused_every_moderator_command(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    say(harness, "join Safe streets", CHLOE)
    say(harness, "join Safe streets", BRUNO)
    before = row_counts(harness)
    views_before = len(harness.emulator.opened_views())
    refusal = "Only the moderators of *Safe streets* (or a workspace admin) can do this."
    for text in (
        "moderators add <@UCHLOE|chloe> Safe streets",
        "moderators remove <@UALICE|alice> Safe streets",
        "settings Safe streets",
        "dissolve Safe streets",
    ):
        assert refusal in say(harness, text, CHLOE), text
    assert "Seul le groupe central de *Safe streets*" in say(harness, "settings Safe streets", BRUNO)
    assert "Seul le groupe central de *Safe streets*" in say(harness, "dissolve Safe streets", BRUNO)
    assert row_counts(harness) == before
    assert len(harness.emulator.opened_views()) == views_before
    assert {u: m.role for u, m in members(harness, community.id).items()} == {
        ALICE: "core",
        CHLOE: "member",
        BRUNO: "member",
    }
    assert community_named(harness, "Safe streets").status == "active"


def test_moderators_add_refuses_bots_and_explains_usage(harness: Harness) -> None:
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    community = create_community(harness, ALICE, "Safe streets")
    assert "Pick people, not bots or deactivated accounts." in say(
        harness, "moderators add <@UHELPER|helper-bot> Safe streets", ALICE
    )
    assert "Type `/cdp moderators add @someone [community]`" in say(
        harness, "moderators add chloe Safe streets", ALICE
    )
    assert "<@UCHLOE> is not a moderator of *Safe streets*." in say(
        harness, "moderators remove <@UCHLOE|chloe> Safe streets", ALICE
    )
    assert {u: m.role for u, m in members(harness, community.id).items()} == {ALICE: "core"}


def test_pressing_a_button_for_a_request_that_does_not_exist(harness: Harness) -> None:
    create_community(
        harness, ALICE, "Trust circle", channel=None, new_channel="trust", visibility="protected"
    )
    harness.slack.block_action(ALICE, "join_request_approve", value="9999")
    assert "This request no longer exists." in shown(harness.emulator.responses[-1][1])
    assert requests(harness) == []


# ---- modals that expired or went stale ----------------------------------------------------------
def test_an_expired_trigger_is_explained_and_changes_nothing(harness: Harness) -> None:
    assert "The form took too long to open. Please type the command again." in say(
        harness, "create", ALICE, trigger_id="expired-1"
    )
    assert row_counts(harness) == NOTHING
    create_community(harness, ALICE, "Safe streets")
    before = row_counts(harness)
    assert "Le formulaire a mis trop de temps à s'ouvrir." in say(
        harness, "join", BRUNO, trigger_id="expired-2"
    )
    for n, text in enumerate(("settings Safe streets", "dissolve Safe streets")):
        assert "The form took too long to open." in say(harness, text, ALICE, trigger_id=f"expired-3{n}")
    harness.emulator.fail("views.open", "internal_error")
    assert "I could not open the form (internal_error). Please try again." in say(harness, "create", ALICE)
    assert row_counts(harness) == before
    assert community_named(harness, "Safe streets").status == "active"


def test_a_settings_form_submitted_after_the_community_was_dissolved(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    settings = open_form(harness, "settings Safe streets", ALICE)
    dissolve = open_form(harness, "dissolve Safe streets", ALICE)
    assert submit(harness, dissolve, ALICE) is None
    before = community_named(harness, "Safe streets")
    counts = row_counts(harness)
    answer = submit(harness, settings, ALICE, name="Safer streets", cadence="2")
    assert answer["response_action"] == "update"
    assert "This form is out of date: *Safe streets* changed in the meantime. Nothing was changed." in shown(
        answer["view"]
    )
    after = community_named(harness, "Safe streets")
    assert (after.name, after.review_cadence_weeks, after.status) == (before.name, 4, "dissolved")
    assert row_counts(harness) == counts
    # The same in French.
    create_community(harness, BRUNO, "Mobilité douce", channel=add_channel(harness, "CMOBIL", "mobilite"))
    settings = open_form(harness, "settings Mobilité douce", BRUNO)
    assert submit(harness, open_form(harness, "dissolve Mobilité douce", BRUNO), BRUNO) is None
    answer = submit(harness, settings, BRUNO)
    assert "Ce formulaire n'est plus à jour" in shown(answer["view"])


def test_dissolving_twice_says_so_and_changes_nothing(harness: Harness) -> None:
    create_community(harness, BRUNO, "Mobilité douce")
    view = open_form(harness, "dissolve Mobilité douce", BRUNO)
    assert submit(harness, view, BRUNO) is None
    first = community_named(harness, "Mobilité douce")
    announcements = len(harness.emulator.messages_to("CGENERAL"))
    answer = submit(harness, view, BRUNO)
    assert answer["response_action"] == "update"
    assert "*Mobilité douce* a été dissoute : elle est désormais en lecture seule." in shown(answer["view"])
    second = community_named(harness, "Mobilité douce")
    assert (second.status, second.dissolved_at, second.dissolved_by) == (
        "dissolved",
        first.dissolved_at,
        BRUNO,
    )
    assert len(harness.emulator.messages_to("CGENERAL")) == announcements
    # And the commands say it before opening any form.
    assert "*Mobilité douce* was dissolved: it is read-only now." in say(
        harness, "dissolve mobilite douce", ALICE
    )
    assert "*Mobilité douce* a été dissoute" in say(harness, "settings mobilite douce", BRUNO)


def test_a_form_submitted_by_someone_who_is_not_a_moderator(harness: Harness) -> None:
    """A moderator's modal replayed by someone else (or after they lost the role) changes nothing."""
    create_community(harness, ALICE, "Safe streets")
    settings = open_form(harness, "settings Safe streets", ALICE)
    dissolve = open_form(harness, "dissolve Safe streets", ALICE)
    counts = row_counts(harness)
    answer = submit(harness, settings, CHLOE, cadence="2", visibility="protected")
    assert answer["response_action"] == "update"
    assert "Only the moderators of *Safe streets* (or a workspace admin) can do this." in shown(
        answer["view"]
    )
    answer = submit(harness, dissolve, BRUNO)
    assert answer["response_action"] == "update"
    assert "Seul le groupe central de *Safe streets*" in shown(answer["view"])
    after = community_named(harness, "Safe streets")
    assert (after.status, after.review_cadence_weeks, after.visibility) == ("active", 4, "open")
    assert row_counts(harness) == counts


SETTINGS_ERRORS: list[tuple[dict[str, Any], str, str]] = [
    ({"name": ""}, "name", "Give the community a name."),
    ({"name": "water QUALITY"}, "name", "A community with this name already exists in this workspace."),
    ({"channels": []}, "channels", "Keep at least one channel."),
    ({"channels": ["CSTREETS", "CWATER"]}, "channels", "This channel is already bound to another community."),
    (
        {"moderators": []},
        "moderators",
        "Name at least one moderator: a community needs one to keep momentum.",
    ),
    ({"moderators": [ALICE, "UHELPER"]}, "moderators", "Pick people, not bots or deactivated accounts."),
    ({"circle_window_days": "3"}, "circle_window_days", "Give a whole number in the allowed range."),
    (
        {"inner_min_contributions": "many"},
        "inner_min_contributions",
        "Give a whole number in the allowed range.",
    ),
    (
        {"inner_min_contributions": "2", "inner_min_days": "5"},
        "inner_min_days",
        "Distinct days cannot exceed the number of contributions, nor the window.",
    ),
    ({"timezone": "Europe/Atlantis"}, "timezone", "Unknown timezone. Use an IANA name such as Europe/Paris."),
]


def test_settings_field_errors_change_nothing(harness: Harness) -> None:
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    add_channel(harness, "CSTREETS", "safe-streets")
    add_channel(harness, "CWATER", "water")
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    create_community(harness, DAVID, "Water quality", channel="CWATER")
    view = open_form(harness, "settings Safe streets", ALICE)
    counts = row_counts(harness)
    for overrides, block, expected in SETTINGS_ERRORS:
        answer = submit(harness, view, ALICE, **overrides)
        assert answer == {"response_action": "errors", "errors": {block: expected}}, overrides
    after = community_named(harness, "Safe streets")
    assert (after.name, after.circle_window_days, after.inner_min_contributions) == ("Safe streets", 30, 4)
    assert row_counts(harness) == counts
    french = open_form(harness, "settings Water quality", DAVID)
    answer = submit(harness, french, DAVID, circle_window_days="1000")
    assert answer["errors"] == {"circle_window_days": "Donnez un nombre entier dans les limites permises."}


def test_the_join_picker_submitted_after_the_community_was_dissolved(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    view = open_form(harness, "join", DAVID)
    assert submit(harness, open_form(harness, "dissolve Safe streets", ALICE), ALICE) is None
    answer = submit(harness, view, DAVID, community=str(community.id))
    assert answer == {
        "response_action": "errors",
        "errors": {"community": "*Safe streets* a été dissoute : elle est désormais en lecture seule."},
    }
    assert DAVID not in members(harness, community.id)


# ---- bugs found while testing, now fixed ------------------------------------------------------------
def test_the_join_picker_with_a_community_that_does_not_exist(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")
    view = open_form(harness, "join", CHLOE)
    forged = json.loads(json.dumps(view))
    forged["blocks"][0]["element"]["options"].append(
        {"text": {"type": "plain_text", "text": "x"}, "value": "999"}
    )
    answer = submit(harness, forged, CHLOE, community="999")
    assert answer["response_action"] == "errors"
    assert "{query}" not in answer["errors"]["community"]


def test_already_handled_request_is_told_in_french(harness: Harness) -> None:
    create_community(
        harness,
        ALICE,
        "Trust circle",
        channel=None,
        new_channel="trust",
        visibility="protected",
        moderators=[ALICE, DAVID],
    )
    say(harness, "join Trust circle", CHLOE)
    value = join_request_buttons(harness, ALICE)["join_request_approve"]
    harness.slack.block_action(ALICE, "join_request_approve", value=value)
    harness.slack.block_action(DAVID, "join_request_decline", value=value)
    text = shown(harness.emulator.responses[-1][1])
    assert "Cette demande a déjà été approuvée par <@UALICE>." in text
    assert "approved" not in text


def test_a_refused_settings_form_joins_no_channel(harness: Harness) -> None:
    add_channel(harness, "CSCHOOLS", "school-routes", bot_is_member=False)
    create_community(harness, ALICE, "Safe streets", moderators=[ALICE, CHLOE])
    settings = open_form(harness, "settings Safe streets", ALICE)
    say(harness, "moderators remove <@UALICE|alice> Safe streets", CHLOE)  # Alice is no longer a moderator
    counts = row_counts(harness)
    answer = submit(harness, settings, ALICE, channels=["CGENERAL", "CSCHOOLS"])
    assert answer["response_action"] == "update"
    assert "Only the moderators of *Safe streets*" in shown(answer["view"])
    assert row_counts(harness) == counts
    assert harness.emulator.calls_to("conversations.join") == []


def test_moderators_of_a_protected_community_stay_inside(harness: Harness) -> None:
    create_community(
        harness, ALICE, "Trust circle", channel=None, new_channel="trust", visibility="protected"
    )
    assert "<@UALICE>" not in say(harness, "info Trust circle", CHLOE)  # hidden here...
    assert "<@UALICE>" not in say(harness, "moderators Trust circle", CHLOE)  # ...and here
