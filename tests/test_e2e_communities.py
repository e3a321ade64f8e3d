"""End to end, through the Slack emulator: communities created, joined, left, browsed, moderated,
changed, dissolved, and kept in step with Slack's channel events (issue 3), in English and French."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func, select

from bot.testing.slack_emulator import initial_values
from storage.models import Community, CommunityChannel, JoinRequest, Membership
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness

DOMAIN = "How can our towns make streets safer for children?"
EVERYONE = (ALICE, BRUNO, CHLOE, DAVID)

JSON = dict[str, Any]


# ---- helpers (the file next door imports them) -----------------------------------------------------


def open_form(harness: Harness, text: str, user: str, channel: str = "CGENERAL") -> JSON:
    """Type a `/cdp` command that opens a modal; the ack is empty and the modal is returned."""
    before = len(harness.emulator.opened_views())
    result = harness.slack.command(text, user, channel=channel)
    assert result.status == 200
    assert not result.text, f"expected a modal, got {result.text}"
    assert len(harness.emulator.opened_views()) == before + 1
    return harness.emulator.last_view()


def submit(harness: Harness, view: JSON, user: str, **values: Any) -> Any:
    """Submit a modal with its initial values, overridden by `values` (by action_id)."""
    result = harness.slack.view_submission(view, user, {**initial_values(view), **values})
    assert result.status == 200
    return result.json()


def add_channel(
    harness: Harness, channel_id: str, name: str, members: Iterable[str] = EVERYONE, **kwargs: Any
) -> str:
    harness.emulator.add_channel(channel_id, name, members=list(members), **kwargs)
    return channel_id


def create_community(
    harness: Harness, user: str, name: str, *, channel: str | None = "CGENERAL", **overrides: Any
) -> Community:
    """Open "Initiate a CdP", fill it in, submit; the follow-up work (welcome, DMs) is done on return."""
    view = open_form(harness, "create", user)
    answer = submit(harness, view, user, name=name, domain=DOMAIN, channel=channel, **overrides)
    assert answer is None, answer
    harness.drain()
    return community_named(harness, name)


def community_named(harness: Harness, name: str) -> Community:
    with harness.db.session() as session:
        return session.scalars(select(Community).where(Community.name == name)).one()


def bindings(harness: Harness, community_id: int) -> list[CommunityChannel]:
    with harness.db.session() as session:
        return list(
            session.scalars(
                select(CommunityChannel)
                .where(CommunityChannel.community_id == community_id)
                .order_by(CommunityChannel.id)
            )
        )


def members(harness: Harness, community_id: int) -> dict[str, Membership]:
    """Every membership row of a community (left ones too), by user."""
    with harness.db.session() as session:
        rows = session.scalars(select(Membership).where(Membership.community_id == community_id))
        return {m.user_id: m for m in rows}


def active_members(harness: Harness, community_id: int) -> dict[str, str]:
    """Active members -> role."""
    return {u: m.role for u, m in members(harness, community_id).items() if m.left_at is None}


def requests(harness: Harness) -> list[JoinRequest]:
    with harness.db.session() as session:
        return list(session.scalars(select(JoinRequest).order_by(JoinRequest.id)))


def row_counts(harness: Harness) -> tuple[int, ...]:
    """Rows of every community table: "nothing changed" compares two of these."""
    with harness.db.session() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Community, CommunityChannel, Membership, JoinRequest)
        )


def shown(payload: JSON | None) -> str:
    """All the text a person sees in a message or modal: `text` plus every block's text."""
    if not payload:
        return ""
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text") or ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif isinstance(element, dict) and isinstance(element.get("text"), dict):
                parts.append(str(element["text"].get("text") or ""))
    return "\n".join(parts)


def say(harness: Harness, text: str, user: str, channel: str = "CGENERAL", **kwargs: Any) -> str:
    """Type `/cdp text` and return the ephemeral answer as the user reads it."""
    result = harness.slack.command(text, user, channel=channel, **kwargs)
    assert result.status == 200
    answer = result.json()
    assert answer is not None, f"/cdp {text}: no answer (a modal was opened?)"
    assert answer["response_type"] == "ephemeral"
    return shown(answer)


def dms(harness: Harness, user: str) -> list[str]:
    """Texts of the messages the bot sent to `user` directly."""
    return [shown(p) for p in harness.emulator.messages_to(user)]


def channel_messages(harness: Harness, channel: str) -> list[str]:
    return [shown(p) for p in harness.emulator.messages_to(channel)]


def invited(harness: Harness, channel: str) -> list[str]:
    return [
        u
        for p in harness.emulator.successful_calls_to("conversations.invite")
        if p.get("channel") == channel
        for u in str(p.get("users")).split(",")
    ]


def join_request_buttons(harness: Harness, moderator: str) -> dict[str, str]:
    """action_id -> value of the buttons in the last join request DM'd to `moderator`."""
    message = harness.emulator.messages_to(moderator)[-1]
    return {
        e["action_id"]: e["value"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for e in block["elements"]
    }


def request_copy(harness: Harness, moderator: str) -> str:
    """The join request as `moderator` sees it now in their DM (after any update)."""
    return shown(harness.emulator.current_messages_to(moderator)[-1])


def join_request_buttons_now(harness: Harness, moderator: str) -> dict[str, str]:
    message = harness.emulator.current_messages_to(moderator)[-1]
    return {
        e["action_id"]: e["value"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for e in block["elements"]
    }


def press_join_suggestion(harness: Harness, answer: JSON, user: str) -> None:
    """Press the Join button under a "did you mean X?" answer, as Slack sends it."""
    ((block_id, button),) = [
        (block.get("block_id"), e)
        for block in answer.get("blocks") or []
        if block.get("type") == "actions"
        for e in block["elements"]
        if e["action_id"] == "home_join"
    ]
    result = harness.slack.block_action(
        user, button["action_id"], value=button["value"], channel="CGENERAL", block_id=block_id
    )
    assert result.status == 200
    harness.drain()


def event(harness: Harness, payload: JSON) -> None:
    result = harness.slack.event(payload)
    assert result.status == 200, result.text


# ---- /cdp create --------------------------------------------------------------------------------
def test_create_opens_the_initiate_a_cdp_form_in_english(harness: Harness) -> None:
    view = open_form(harness, "create", ALICE)
    assert view["title"]["text"] == "Initiate a CdP"
    values = initial_values(view)
    assert values["moderators"] == [ALICE]  # the creator, preselected
    assert values["timezone"] == "America/New_York"  # from users.info
    assert values["language"] == "en"
    objectives = next(b for b in view["blocks"] if b.get("block_id") == "objectives")
    assert [o["text"]["text"] for o in objectives["element"]["options"]] == [
        "Exchange information on a specific issue",
        "Develop potential solutions",
        "Test practical applications",
        "Introduce a change process to embed the solutions",
    ]
    cadence = next(b for b in view["blocks"] if b.get("block_id") == "cadence")
    assert [o["value"] for o in cadence["element"]["options"]] == ["2", "4", "8", "12"]
    assert row_counts(harness) == (0, 0, 0, 0)  # opening the form stores nothing


def test_create_form_in_french(harness: Harness) -> None:
    view = open_form(harness, "create", BRUNO)
    assert view["title"]["text"] == "Initier une CdP"
    assert view["submit"]["text"] == "Créer"
    values = initial_values(view)
    assert values["moderators"] == [BRUNO]
    assert values["timezone"] == "Europe/Paris"
    assert values["language"] == "fr"
    objectives = next(b for b in view["blocks"] if b.get("block_id") == "objectives")
    assert objectives["label"]["text"] == "Objectifs"
    assert (
        objectives["element"]["options"][0]["text"]["text"]
        == "Échanger des informations sur un enjeu spécifique"
    )


def test_create_with_an_existing_public_channel(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE], bot_is_member=False)
    community = create_community(
        harness,
        ALICE,
        "Safe streets",
        channel="CSTREETS",
        objectives=["exchange_information", "develop_solutions"],
        objectives_other="Map the dangerous crossings",
        moderators=[ALICE, DAVID],
        key_people=[CHLOE, BRUNO],
        cadence="8",
    )
    # Stored as the form said.
    assert community.domain == DOMAIN
    assert community.objectives == ["exchange_information", "develop_solutions"]
    assert community.objectives_other == "Map the dangerous crossings"
    assert community.key_people == [CHLOE, BRUNO]
    assert (community.visibility, community.language, community.timezone) == (
        "open",
        "en",
        "America/New_York",
    )
    assert (community.review_cadence_weeks, community.status, community.created_by) == (8, "active", ALICE)
    assert community.next_review_on == date(2026, 4, 27)  # 8 weeks after 2 March 2026, a Monday
    # Bound to the channel, which the bot joined.
    assert [(b.channel_id, b.name, b.is_private) for b in bindings(harness, community.id)] == [
        ("CSTREETS", "safe-streets", False)
    ]
    assert [c["channel"] for c in harness.emulator.calls_to("conversations.join")] == ["CSTREETS"]
    assert harness.emulator.calls_to("conversations.create") == []
    # The creator and the moderators are the core group; nobody else is a member yet.
    rows = members(harness, community.id)
    assert {u: (m.role, m.circle, m.left_at) for u, m in rows.items()} == {
        ALICE: ("core", "outer", None),
        DAVID: ("core", "outer", None),
    }
    assert DAVID in harness.emulator.channels["CSTREETS"]["members"]  # moderators are brought in
    # The welcome message states the objectives, the moderators and how the circles work.
    (welcome,) = channel_messages(harness, "CSTREETS")
    assert "Welcome to the community of practice *Safe streets*!" in welcome
    assert DOMAIN in welcome
    for objective in ("Exchange information on a specific issue", "Develop potential solutions"):
        assert objective in welcome
    assert "Map the dangerous crossings" in welcome
    assert "Test practical applications" not in welcome
    assert "<@UALICE>" in welcome and "<@UDAVID>" in welcome
    assert "*How the circles work:*" in welcome and "outer circle" in welcome
    # The key people are invited, each in their own language.
    (to_chloe,) = dms(harness, CHLOE)
    assert "<@UALICE> started the community of practice *Safe streets*" in to_chloe
    assert "`/cdp join Safe streets`" in to_chloe
    (to_bruno,) = dms(harness, BRUNO)
    assert "<@UALICE> a lancé la communauté de pratique *Safe streets*" in to_bruno
    # The creator hears it is done.
    assert any("*Safe streets* is created in <#CSTREETS>" in m for m in dms(harness, ALICE))


def test_create_with_a_new_channel_in_french(harness: Harness) -> None:
    community = create_community(
        harness,
        BRUNO,
        "Mobilité douce",
        channel=None,
        new_channel="cdp-mobilite",
        objectives=["test_applications"],
    )
    (create_call,) = harness.emulator.calls_to("conversations.create")
    assert create_call["name"] == "cdp-mobilite"
    new_id = next(c["id"] for c in harness.emulator.channels.values() if c["name"] == "cdp-mobilite")
    assert [(b.channel_id, b.name) for b in bindings(harness, community.id)] == [(new_id, "cdp-mobilite")]
    assert community.language == "fr" and community.timezone == "Europe/Paris"
    assert active_members(harness, community.id) == {BRUNO: "core"}
    assert BRUNO in harness.emulator.channels[new_id]["members"]
    (welcome,) = channel_messages(harness, new_id)
    assert "Bienvenue dans la communauté de pratique *Mobilité douce* !" in welcome
    assert "Tester des applications pratiques" in welcome
    assert "*Comment fonctionnent les cercles :*" in welcome
    assert any(f"*Mobilité douce* est créée dans <#{new_id}>" in m for m in dms(harness, BRUNO))


# ---- /cdp join ----------------------------------------------------------------------------------
def test_join_by_name_puts_a_newcomer_in_the_outer_circle_and_invites_them(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    text = say(harness, "join Safe streets", CHLOE)
    assert "Welcome to *Safe streets*! You start in the *outer circle*" in text
    assert "<#CSTREETS>" in text
    row = members(harness, community.id)[CHLOE]
    assert (row.role, row.circle, row.left_at, row.joined_via) == ("member", "outer", None, "command")
    assert invited(harness, "CSTREETS") == [CHLOE]
    assert CHLOE in harness.emulator.channels["CSTREETS"]["members"]


def test_join_resolves_slug_channel_mention_and_close_typo(harness: Harness) -> None:
    add_channel(harness, "CMOBIL", "mobilite", members=[ALICE])
    add_channel(harness, "CWATER", "water", members=[ALICE])
    mobility = create_community(harness, ALICE, "Mobilité Douce", channel="CMOBIL")
    create_community(harness, ALICE, "Water quality", channel="CWATER")
    # The slug, without accents or capitals.
    assert "Welcome to *Mobilité Douce*!" in say(harness, "join mobilite-douce", CHLOE)
    # A channel mention, as Slack escapes it in a command's text.
    assert "Bienvenue dans *Mobilité Douce* !" in say(harness, "join <#CMOBIL|mobilite>", BRUNO)
    # A close typo is not taken on its own: "did you mean", with a Join button that joins.
    asked = harness.slack.command("join mobilte douce", DAVID).json()
    assert "Vouliez-vous dire *Mobilité Douce* ?" in shown(asked)
    assert DAVID not in active_members(harness, mobility.id)
    press_join_suggestion(harness, asked, DAVID)
    assert "Bienvenue dans *Mobilité Douce* !" in shown(harness.emulator.responses[-1][1])
    assert active_members(harness, mobility.id) == {
        ALICE: "core",
        CHLOE: "member",
        BRUNO: "member",
        DAVID: "member",
    }


def test_join_an_ambiguous_name_lists_the_candidates(harness: Harness) -> None:
    add_channel(harness, "CURBMOB", "urban-mobility")
    add_channel(harness, "CURBPLAN", "urban-planning")
    create_community(harness, ALICE, "Urban mobility", channel="CURBMOB")
    create_community(harness, ALICE, "Urban planning", channel="CURBPLAN")
    before = row_counts(harness)
    assert "Several communities match “urban”: Urban mobility and Urban planning. Which one?" in say(
        harness, "join urban", CHLOE
    )
    assert "Plusieurs communautés correspondent à « urban » : Urban mobility et Urban planning." in say(
        harness, "join urban", BRUNO
    )
    assert row_counts(harness) == before


def test_join_twice_is_one_membership(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    say(harness, "join Safe streets", BRUNO)
    assert "Vous êtes déjà membre de *Safe streets*." in say(harness, "join safe streets", BRUNO)
    assert "You are already a member of *Safe streets*." in say(harness, "join Safe streets", ALICE)
    with harness.db.session() as session:
        rows = session.scalars(select(Membership).where(Membership.community_id == community.id)).all()
    assert sorted(m.user_id for m in rows) == [ALICE, BRUNO]


def test_join_without_a_name_opens_a_picker_and_submitting_joins(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    view = open_form(harness, "join", BRUNO)
    assert view["title"]["text"] == "Rejoindre une CdP"
    (block,) = view["blocks"]
    options = {o["text"]["text"]: o["value"] for o in block["element"]["options"]}
    assert options == {"Safe streets": str(community.id)}
    assert submit(harness, view, BRUNO, community=str(community.id)) is None
    assert active_members(harness, community.id)[BRUNO] == "member"
    assert members(harness, community.id)[BRUNO].circle == "outer"
    assert BRUNO in invited(harness, "CSTREETS")
    assert any("Bienvenue dans *Safe streets* !" in m for m in dms(harness, BRUNO))


def test_join_without_a_name_when_there_is_nothing_to_join(harness: Harness) -> None:
    assert "Il n'y a pas encore de communauté à rejoindre." in say(harness, "join", BRUNO)
    create_community(harness, ALICE, "Safe streets")
    # The only community is already Alice's: nothing left for her to join.
    assert "There is no community you can join yet. Start one with `/cdp create`." in say(
        harness, "join", ALICE
    )


def test_leave_then_join_again_starts_afresh(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    say(harness, "join Safe streets", CHLOE)
    assert "You have left *Safe streets*." in say(harness, "leave Safe streets", CHLOE)
    row = members(harness, community.id)[CHLOE]
    assert row.left_at is not None
    assert active_members(harness, community.id) == {ALICE: "core"}
    assert "Welcome back to *Safe streets*!" in say(harness, "join Safe streets", CHLOE)
    row = members(harness, community.id)[CHLOE]
    assert (row.role, row.circle, row.left_at) == ("member", "outer", None)
    assert len(members(harness, community.id)) == 2  # still one row per person
    # In French, and leaving twice.
    say(harness, "join Safe streets", DAVID)
    assert "Vous avez quitté *Safe streets*." in say(harness, "leave Safe streets", DAVID)
    assert members(harness, community.id)[DAVID].left_at is not None
    assert "Vous n'êtes pas membre de *Safe streets*." in say(harness, "leave Safe streets", DAVID)


# ---- protected communities ----------------------------------------------------------------------
def test_protected_join_asks_the_moderators_and_approve_makes_a_member(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    community = create_community(
        harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected", moderators=[ALICE, DAVID]
    )
    text = say(harness, "join Trust circle", CHLOE)
    assert "*Trust circle* is a protected community: your request was sent to its moderators." in text
    assert CHLOE not in members(harness, community.id)
    (request,) = requests(harness)
    assert (request.user_id, request.status) == (CHLOE, "pending")
    # Each moderator gets the request with buttons, in their own language.
    assert "<@UCHLOE> asks to join *Trust circle* (protected). Approve?" in dms(harness, ALICE)[-1]
    assert "<@UCHLOE> demande à rejoindre *Trust circle* (protégée)." in dms(harness, DAVID)[-1]
    buttons = join_request_buttons(harness, ALICE)
    assert buttons == {"join_request_approve": str(request.id), "join_request_decline": str(request.id)}
    assert join_request_buttons(harness, DAVID) == buttons
    # Asking again does not make a second request.
    assert "still waiting for a moderator" in say(harness, "join Trust circle", CHLOE)
    assert len(requests(harness)) == 1
    # A moderator approves.
    result = harness.slack.block_action(ALICE, "join_request_approve", value=buttons["join_request_approve"])
    assert result.status == 200
    row = members(harness, community.id)[CHLOE]
    assert (row.role, row.circle, row.left_at) == ("member", "outer", None)
    assert requests(harness)[0].status == "approved"
    assert requests(harness)[0].decided_by == ALICE
    # Every moderator's copy now says who decided, in their language, and has no buttons left.
    assert "✅ <@UALICE> approved <@UCHLOE>'s request to join *Trust circle*." in request_copy(harness, ALICE)
    assert "✅ <@UALICE> a approuvé la demande de <@UCHLOE>" in request_copy(harness, DAVID)
    assert join_request_buttons_now(harness, ALICE) == join_request_buttons_now(harness, DAVID) == {}
    assert "Your request to join *Trust circle* was approved." in dms(harness, CHLOE)[-1]
    assert CHLOE in invited(harness, "CTRUST")
    # The other moderator presses too late: already handled, nothing changes.
    harness.slack.block_action(DAVID, "join_request_approve", value=buttons["join_request_approve"])
    assert "Cette demande a déjà été approuvée par <@UALICE>." in shown(harness.emulator.responses[-1][1])
    assert len(dms(harness, CHLOE)) == 2  # the newcomer's welcome (tests/test_e2e_welcome.py) and the answer
    assert len(members(harness, community.id)) == 3


def test_protected_join_declined_leaves_no_membership(harness: Harness) -> None:
    community = create_community(
        harness,
        ALICE,
        "Trust circle",
        channel=None,
        new_channel="trust",
        visibility="protected",
        moderators=[ALICE, DAVID],
    )
    assert "*Trust circle* est une communauté protégée" in say(harness, "join Trust circle", BRUNO)
    value = join_request_buttons(harness, DAVID)["join_request_decline"]
    harness.slack.block_action(DAVID, "join_request_decline", value=value)
    assert BRUNO not in members(harness, community.id)
    assert requests(harness)[0].status == "declined"
    assert "❌ <@UDAVID> a refusé la demande de <@UBRUNO> pour rejoindre *Trust circle*." in request_copy(
        harness, DAVID
    )
    assert "❌ <@UDAVID> declined <@UBRUNO>'s request to join *Trust circle*." in request_copy(harness, ALICE)
    assert "Votre demande pour rejoindre *Trust circle* a été refusée" in dms(harness, BRUNO)[-1]
    # Pressing approve after the decline changes nothing.
    harness.slack.block_action(ALICE, "join_request_approve", value=value)
    assert "This request was already declined by <@UDAVID>." in shown(harness.emulator.responses[-1][1])
    assert BRUNO not in members(harness, community.id)


def test_a_non_moderator_cannot_approve(harness: Harness) -> None:
    community = create_community(
        harness, ALICE, "Trust circle", channel=None, new_channel="trust", visibility="protected"
    )
    say(harness, "join Trust circle", BRUNO)
    value = join_request_buttons(harness, ALICE)["join_request_approve"]
    harness.slack.block_action(CHLOE, "join_request_approve", value=value)
    assert "Only the moderators of *Trust circle* (or a workspace admin) can do this." in shown(
        harness.emulator.responses[-1][1]
    )
    assert requests(harness)[0].status == "pending"
    assert BRUNO not in members(harness, community.id)
    assert dms(harness, BRUNO) == []


# ---- /cdp list and /cdp info --------------------------------------------------------------------
def test_directory_shows_counts_per_circle_and_moderators(harness: Harness) -> None:
    assert "There is no community of practice yet. Start one with `/cdp create`." in say(
        harness, "list", ALICE
    )
    assert "Il n'y a pas encore de communauté de pratique." in say(harness, "list", BRUNO)
    add_channel(harness, "CSTREETS", "safe-streets")
    add_channel(harness, "CWATER", "water")
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS", moderators=[ALICE, DAVID])
    create_community(harness, BRUNO, "Water quality", channel="CWATER")
    say(harness, "join Safe streets", CHLOE)
    say(harness, "join Safe streets", BRUNO)
    text = say(harness, "list", CHLOE)
    assert "*Communities of practice* (2)" in text
    streets = text.split("*Safe streets*", 1)[1].split("*Water quality*", 1)[0]
    assert DOMAIN in streets
    assert "Core group: 2 · inner circle: 0 · outer circle: 2" in streets
    assert "Moderators: <@UALICE> and <@UDAVID>" in streets
    assert "<#CSTREETS>" in streets
    water = text.split("*Water quality*", 1)[1]
    assert "Core group: 1 · inner circle: 0 · outer circle: 0" in water
    assert "Moderators: <@UBRUNO>" in water
    french = say(harness, "list", DAVID)
    assert "*Communautés de pratique* (2)" in french
    assert "Groupe central : 2 · cercle interne : 0 · cercle externe : 2" in french
    assert "Modérateurs : <@UALICE> et <@UDAVID>" in french


def test_directory_hides_protected_details_from_non_members(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    create_community(harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected")
    outside = say(harness, "list", CHLOE)
    assert "*Trust circle* 🔒 (protected)" in outside
    assert DOMAIN in outside
    assert "Core group:" not in outside
    assert "<@UALICE>" not in outside
    assert "<#CTRUST>" not in outside
    inside = say(harness, "list", ALICE)
    assert "Core group: 1 · inner circle: 0 · outer circle: 0" in inside
    assert "Moderators: <@UALICE>" in inside
    assert "<#CTRUST>" in inside
    # /cdp info hides them the same way.
    info = say(harness, "info Trust circle", BRUNO)
    assert "Cette communauté est protégée : ses détails ne sont visibles que par ses membres." in info
    assert "<@UALICE>" not in info


def test_info_shows_objectives_core_group_counts_and_next_review(harness: Harness) -> None:
    create_community(
        harness,
        ALICE,
        "Safe streets",
        objectives=["change_process"],
        moderators=[ALICE, CHLOE],
    )
    say(harness, "join Safe streets", DAVID)
    text = say(harness, "info safe streets", ALICE)
    assert "*Safe streets*" in text
    assert f"*Domain:* {DOMAIN}" in text
    assert "Introduce a change process to embed the solutions" in text
    assert "*Core group:* <@UALICE> and <@UCHLOE>" in text
    assert "Core group: 2 · inner circle: 0 · outer circle: 1" in text
    assert "every 4 weeks, next on March 30, 2026 (America/New_York)" in text
    french = say(harness, "info safe streets", DAVID)
    assert "Introduire un processus de changement pour intégrer les solutions" in french
    assert "toutes les 4 semaines, prochaine le 30 mars 2026 (America/New_York)" in french


def test_info_typed_in_the_community_channel_needs_no_name(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets")
    add_channel(harness, "CWATER", "water")
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    create_community(harness, ALICE, "Water quality", channel="CWATER")
    assert "*Water quality*" in say(harness, "info", CHLOE, channel="CWATER")
    assert "*Safe streets*" in say(harness, "info", CHLOE, channel="CSTREETS")
    assert "Quelle communauté ?" in say(harness, "info", BRUNO, channel="CGENERAL")


# ---- core group ---------------------------------------------------------------------------------
def test_moderators_are_shown_and_a_moderator_adds_and_removes_one(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    assert "Core group of *Safe streets*: <@UALICE>." in say(harness, "moderators Safe streets", CHLOE)
    text = say(harness, "moderators add <@UCHLOE|chloe> Safe streets", ALICE)
    assert "<@UCHLOE> has joined the core group of *Safe streets*." in text
    assert active_members(harness, community.id) == {ALICE: "core", CHLOE: "core"}
    assert CHLOE in invited(harness, "CSTREETS")
    assert "<@UALICE> named you moderator of *Safe streets*." in dms(harness, CHLOE)[-1]
    assert "Groupe central de *Safe streets* : <@UALICE> et <@UCHLOE>." in say(
        harness, "moderators Safe streets", BRUNO
    )
    # The new co-moderator can now remove the first one.
    assert "<@UALICE> has left the core group of *Safe streets*." in say(
        harness, "moderators remove <@UALICE|alice> Safe streets", CHLOE
    )
    assert active_members(harness, community.id) == {ALICE: "member", CHLOE: "core"}


def test_last_moderator_cannot_be_removed_nor_leave(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    before = row_counts(harness)
    text = say(harness, "moderators remove <@UALICE|alice> Safe streets", ALICE)
    assert "*Safe streets* would have no moderator left: a community needs one to keep momentum." in text
    text = say(harness, "leave Safe streets", ALICE)
    assert "You are the last moderator of *Safe streets*: name a co-moderator first" in text
    assert active_members(harness, community.id) == {ALICE: "core"}
    assert row_counts(harness) == before
    # With a co-moderator, leaving is fine.
    say(harness, "moderators add <@UBRUNO|bruno> Safe streets", ALICE)
    assert "You have left *Safe streets*." in say(harness, "leave Safe streets", ALICE)
    assert active_members(harness, community.id) == {BRUNO: "core"}


def test_a_workspace_admin_may_change_a_community_they_do_not_moderate(harness: Harness) -> None:
    harness.emulator.add_user("UADMIN", "ada", locale="en-US", is_admin=True)
    community = create_community(harness, ALICE, "Safe streets")
    assert "<@UCHLOE> has joined the core group of *Safe streets*." in say(
        harness, "moderators add <@UCHLOE|chloe> Safe streets", "UADMIN"
    )
    assert active_members(harness, community.id) == {ALICE: "core", CHLOE: "core"}
    assert "UADMIN" not in members(harness, community.id)  # changing it does not make them a member
    view = open_form(harness, "dissolve Safe streets", "UADMIN")
    assert submit(harness, view, "UADMIN") is None
    assert community_named(harness, "Safe streets").status == "dissolved"


# ---- /cdp settings ------------------------------------------------------------------------------
def test_settings_open_prefilled_and_save_changes(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    add_channel(harness, "CSCHOOLS", "school-routes", members=[ALICE], bot_is_member=False)
    community = create_community(
        harness,
        ALICE,
        "Safe streets",
        channel="CSTREETS",
        objectives=["develop_solutions"],
        key_people=[CHLOE],
    )
    harness.emulator.reset_calls()
    view = open_form(harness, "settings Safe streets", ALICE)
    assert view["title"]["text"] == "Community settings"
    values = initial_values(view)
    assert values["name"] == "Safe streets"
    assert values["domain"] == DOMAIN
    assert values["objectives"] == ["develop_solutions"]
    assert values["key_people"] == [CHLOE]
    assert values["moderators"] == [ALICE]
    assert values["channels"] == ["CSTREETS"]
    assert (values["visibility"], values["language"], values["cadence"]) == ("open", "en", "4")
    assert values["timezone"] == "America/New_York"
    assert values["circle_window_days"] == "30"
    answer = submit(
        harness,
        view,
        ALICE,
        cadence="12",
        language="fr",
        moderators=[ALICE, BRUNO],
        channels=["CSTREETS", "CSCHOOLS"],
        inner_min_contributions="6",
    )
    assert answer is None, answer
    changed = community_named(harness, "Safe streets")
    assert (changed.review_cadence_weeks, changed.language) == (12, "fr")
    assert changed.inner_min_contributions == 6
    assert changed.next_review_on == date(2026, 5, 25)  # 12 weeks from now, a Monday
    assert [b.channel_id for b in bindings(harness, community.id)] == ["CSTREETS", "CSCHOOLS"]
    assert [c["channel"] for c in harness.emulator.calls_to("conversations.join")] == ["CSCHOOLS"]
    assert active_members(harness, community.id) == {ALICE: "core", BRUNO: "core"}
    assert "Settings of *Safe streets* saved." in dms(harness, ALICE)[-1]
    # The second channel is now the community's too.
    assert "*Safe streets*" in say(harness, "info", CHLOE, channel="CSCHOOLS")


def test_settings_in_french(harness: Harness) -> None:
    create_community(harness, BRUNO, "Mobilité douce")
    view = open_form(harness, "settings mobilite douce", BRUNO)
    assert view["title"]["text"] == "Paramètres"
    assert view["submit"]["text"] == "Enregistrer"
    assert submit(harness, view, BRUNO, name="Mobilité active") is None
    assert community_named(harness, "Mobilité active").slug == "mobilite-active"
    assert "Paramètres de *Mobilité active* enregistrés." in dms(harness, BRUNO)[-1]


def test_settings_can_move_the_community_to_another_channel(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets")
    add_channel(harness, "CSCHOOLS", "school-routes", bot_is_member=False)
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    view = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, view, ALICE, channels=["CSCHOOLS"]) is None
    assert [(b.channel_id, b.name) for b in bindings(harness, community.id)] == [
        ("CSCHOOLS", "school-routes")
    ]
    assert "*Safe streets*" in say(harness, "info", CHLOE, channel="CSCHOOLS")
    assert "Which community?" in say(harness, "info", CHLOE, channel="CSTREETS")
    before = row_counts(harness)
    event(harness, {"type": "member_joined_channel", "user": CHLOE, "channel": "CSTREETS", "team": "T0CDP"})
    assert row_counts(harness) == before
    event(harness, {"type": "member_joined_channel", "user": CHLOE, "channel": "CSCHOOLS", "team": "T0CDP"})
    assert members(harness, community.id)[CHLOE].circle == "outer"


# ---- /cdp dissolve ------------------------------------------------------------------------------
def test_dissolve_after_confirmation(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    say(harness, "join Safe streets", CHLOE)
    view = open_form(harness, "dissolve Safe streets", ALICE)
    assert view["title"]["text"] == "Dissolve the community"
    assert "Dissolve *Safe streets*? It stays in the directory, read-only" in shown(view)
    assert community_named(harness, "Safe streets").status == "active"  # not before confirming
    assert submit(harness, view, ALICE) is None
    dissolved = community_named(harness, "Safe streets")
    assert (dissolved.status, dissolved.dissolved_by, dissolved.next_review_on) == ("dissolved", ALICE, None)
    assert dissolved.dissolved_at is not None
    assert any(
        "*Safe streets*, was dissolved by <@UALICE>" in m for m in channel_messages(harness, "CSTREETS")
    )
    assert "*Safe streets* is dissolved." in dms(harness, ALICE)[-1]
    # Kept, read-only, in the directory.
    assert "*Safe streets* (dissolved, read-only)" in say(harness, "list", CHLOE)
    assert "*Safe streets* (dissoute, en lecture seule)" in say(harness, "list", BRUNO)
    assert "(dissolved, read-only)" in say(harness, "info Safe streets", CHLOE)
    # Nobody joins it any more; members are not thrown out of the record.
    before = row_counts(harness)
    assert "*Safe streets* was dissolved: it is read-only now." in say(harness, "join Safe streets", ALICE)
    assert "*Safe streets* a été dissoute" in say(harness, "join Safe streets", DAVID)
    assert row_counts(harness) == before
    assert DAVID not in members(harness, community.id)
    assert "Il n'y a pas encore de communauté à rejoindre." in say(harness, "join", DAVID)


# ---- Slack-side changes -------------------------------------------------------------------------
def test_joining_the_channel_in_slack_gives_the_same_membership_as_join(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    say(harness, "join Safe streets", CHLOE)
    event(harness, {"type": "member_joined_channel", "user": BRUNO, "channel": "CSTREETS", "team": "T0CDP"})
    rows = members(harness, community.id)
    via_command, via_channel = rows[CHLOE], rows[BRUNO]
    assert (via_channel.role, via_channel.circle, via_channel.left_at) == ("member", "outer", None)
    assert (via_channel.role, via_channel.circle, via_channel.left_at) == (
        via_command.role,
        via_command.circle,
        via_command.left_at,
    )
    assert via_channel.joined_via == "channel"
    # Slack tells again (a second join event, or the invite /cdp join made): still one row.
    event(harness, {"type": "member_joined_channel", "user": CHLOE, "channel": "CSTREETS", "team": "T0CDP"})
    event(harness, {"type": "member_joined_channel", "user": BRUNO, "channel": "CSTREETS", "team": "T0CDP"})
    assert len(members(harness, community.id)) == 3
    assert "Vous êtes déjà membre de *Safe streets*." in say(harness, "join Safe streets", BRUNO)


def test_a_bot_joining_the_channel_or_an_unbound_channel_makes_no_member(harness: Harness) -> None:
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    community = create_community(harness, ALICE, "Safe streets")
    add_channel(harness, "CRANDOM", "random")
    before = row_counts(harness)
    event(
        harness, {"type": "member_joined_channel", "user": "UHELPER", "channel": "CGENERAL", "team": "T0CDP"}
    )
    event(harness, {"type": "member_joined_channel", "user": CHLOE, "channel": "CRANDOM", "team": "T0CDP"})
    assert row_counts(harness) == before
    assert "UHELPER" not in members(harness, community.id)


def test_leaving_the_channel_in_slack_ends_the_membership(harness: Harness) -> None:
    community = create_community(harness, ALICE, "Safe streets")
    say(harness, "join Safe streets", CHLOE)
    event(harness, {"type": "member_left_channel", "user": CHLOE, "channel": "CGENERAL", "team": "T0CDP"})
    row = members(harness, community.id)[CHLOE]
    assert row.left_at is not None
    assert "You are not a member of *Safe streets*." in say(harness, "leave Safe streets", CHLOE)
    # Someone who was never a member leaving: nothing.
    before = row_counts(harness)
    event(harness, {"type": "member_left_channel", "user": DAVID, "channel": "CGENERAL", "team": "T0CDP"})
    assert row_counts(harness) == before


def test_channel_rename_archive_and_unarchive_are_reflected(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets")
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    event(
        harness,
        {"type": "channel_rename", "channel": {"id": "CSTREETS", "name": "streets-for-kids", "created": 1}},
    )
    (binding,) = bindings(harness, community.id)
    assert (binding.name, binding.is_archived) == ("streets-for-kids", False)
    event(harness, {"type": "channel_archive", "channel": "CSTREETS", "user": ALICE})
    assert bindings(harness, community.id)[0].is_archived is True
    event(harness, {"type": "channel_unarchive", "channel": "CSTREETS", "user": ALICE})
    assert bindings(harness, community.id)[0].is_archived is False
    # An unbound channel's events change nothing.
    before = row_counts(harness)
    event(
        harness,
        {"type": "channel_rename", "channel": {"id": "CGENERAL", "name": "town-square", "created": 1}},
    )
    event(harness, {"type": "channel_archive", "channel": "CGENERAL", "user": ALICE})
    assert row_counts(harness) == before
    assert bindings(harness, community.id)[0].name == "streets-for-kids"
