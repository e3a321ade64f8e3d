"""End to end, through the Slack emulator: notes lead somewhere (issue 11, item 5). After a review, an
item answered "no" or "partly" becomes a follow-up with an owner and a date; the owner is told by DM (in
their language) and sees it on their App Home, the moderators on theirs and in the next review's prompt;
"Done" closes it once. "Management support: no" offers to send the review's summary to the sponsor
named in the settings, once per review. Bad input gets field errors or a refusal, in the user's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from storage.models import FollowUp
from storage.repositories import communities as community_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_buttons import buttons_of, find, press
from tests.test_e2e_communities import create_community, dms, open_form, say, shown, submit
from tests.test_e2e_home import buttons as home_buttons
from tests.test_e2e_home import home_now, open_home
from tests.test_e2e_home import press as home_press
from tests.test_e2e_privacy import exported, rows_naming
from tests.test_e2e_reviews import ALL_YES, due_prompt, open_checklist, prompts_to, run

JSON = dict[str, Any]
MAKE, DONE, SPONSOR = "follow_up_make", "follow_up_done", "follow_up_sponsor"
NOTE = "Recruit two planners"


def decide(harness: Harness, user: str, review_id: str, **answers: str) -> None:
    """`user` fills the checklist (all yes but `answers`) and continues; what it sends is delivered."""
    view = open_checklist(harness, user, review_id)
    result = harness.slack.view_submission(view, user, {**ALL_YES, **answers, "decision": "continue"})
    assert result.status == 200 and result.text == "", result.text
    harness.drain()


def offer_to(harness: Harness, user: str) -> JSON:
    """The last message `user` got with a "Make it a follow-up" or "Send the summary" button."""
    offers = [
        m
        for m in harness.emulator.messages_to(user)
        if any(b["action_id"] in (MAKE, SPONSOR) for _, b in buttons_of(m))
    ]
    assert offers, dms(harness, user)
    return offers[-1]


def open_follow_up_form(harness: Harness, user: str, offer: JSON, item: str) -> JSON:
    """Press "Make it a follow-up" on `item`: the modal that opened."""
    before = len(harness.emulator.opened_views())
    (block_id, button) = next(
        (b, e) for b, e in buttons_of(offer) if e["action_id"] == MAKE and e["value"].endswith(item)
    )
    assert press(harness, user, block_id, button, channel="DM") == {}
    assert len(harness.emulator.opened_views()) == before + 1
    view = harness.emulator.last_view()
    assert view["callback_id"] == "follow_up_create"
    return view


def follow_ups(harness: Harness) -> list[FollowUp]:
    with harness.db.session() as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.id)))


def test_a_no_becomes_a_follow_up_listed_on_home_and_in_the_next_prompt_then_done(harness: Harness) -> None:
    _community_id, review_id = due_prompt(harness)  # Urbanism: Alice (English) and Bruno (French)
    decide(harness, ALICE, review_id, item_enough_people="no", note_enough_people=NOTE)
    offer = offer_to(harness, ALICE)
    assert "Each item answered no or partly can become a follow-up" in shown(offer)
    assert "enough people working on the same question" in shown(offer)
    assert [b["text"]["text"] for _, b in buttons_of(offer)] == ["Make it a follow-up"]

    view = open_follow_up_form(harness, ALICE, offer, "enough_people")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["text"]["initial_value"] == NOTE  # the moderator's note, prefilled
    assert inputs["owner"]["initial_user"] == ALICE
    assert inputs["due_on"]["initial_date"] == "2026-03-30"  # two weeks after the review
    answer = submit(harness, view, ALICE, text="Ask the planning office for two people", owner=BRUNO)
    assert answer is None or answer == {}, answer
    harness.drain()
    [row] = follow_ups(harness)
    assert (row.owner_id, row.created_by, row.item, row.done_at) == (BRUNO, ALICE, "enough_people", None)

    # The owner is told in French, with "Done"; the moderator gets a confirmation in English.
    owned = harness.emulator.messages_to(BRUNO)[-1]
    assert "Vous êtes responsable d'un suivi de *Urbanism* : Ask the planning office for two people" in shown(
        owned
    )
    assert "pour le 30 mars 2026" in shown(owned)
    find(owned, DONE, str(row.id))
    assert "Follow-up of *Urbanism* created: <@UBRUNO> owns it" in dms(harness, ALICE)[-1]

    # Listed: the owner's Home ("Mes suivis", with Done), the moderators' Home (owner, date).
    bruno_home = open_home(harness, BRUNO)
    assert bruno_home is not None
    assert "Mes suivis" in shown(bruno_home)
    assert "*Urbanism* : Ask the planning office for two people — pour le 30 mars 2026" in shown(bruno_home)
    assert (DONE, str(row.id), "Fait") in home_buttons(bruno_home)
    alice_home = open_home(harness, ALICE)
    assert alice_home is not None
    assert "*Open follow-ups:*\n• Ask the planning office for two people — by March 30, 2026 (<@UBRUNO>)" in (
        shown(alice_home)
    )

    # The next review's prompt lists it, overdue by then.
    harness.clock.set(datetime(2026, 3, 31, 8, 0, tzinfo=UTC))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 2
    prompt = shown(prompts_to(harness, ALICE)[-1])
    assert "*Open follow-ups since the last review:*" in prompt
    assert "Ask the planning office for two people — *overdue* since March 30, 2026 (<@UBRUNO>)" in prompt
    assert "*en retard* depuis le 30 mars 2026" in shown(prompts_to(harness, BRUNO)[-1])

    # Done, once: a second press says by whom; it leaves the lists.
    block_id, button = find(owned, DONE, str(row.id))
    assert "Fait : « Ask the planning office for two people » (Urbanism). Merci !" in shown(
        press(harness, BRUNO, block_id, button, channel="DM")
    )
    again = press(harness, ALICE, block_id, button, channel="DM")
    assert "was already marked done by <@UBRUNO>" in shown(again)
    [row] = follow_ups(harness)
    assert row.done_by == BRUNO and row.done_at is not None
    bruno_home = home_now(harness, BRUNO)
    assert "Ask the planning office" not in shown(bruno_home)
    assert not [b for b in home_buttons(bruno_home) if b[0] == DONE]


def test_done_from_the_owners_home(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    decide(harness, BRUNO, review_id, item_moderator_time="partly", note_moderator_time="Busy until May")
    offer = offer_to(harness, BRUNO)
    assert "Quelle suite donner à la revue de *Urbanism*" in shown(offer)
    assert [b["text"]["text"] for _, b in buttons_of(offer)] == ["En faire un suivi"]
    view = open_follow_up_form(harness, BRUNO, offer, "moderator_time")
    submit(harness, view, BRUNO, owner=CHLOE)
    harness.drain()
    [row] = follow_ups(harness)
    assert row.text == "Busy until May" and row.owner_id == CHLOE
    assert "You own a follow-up of *Urbanism*: Busy until May — by March 30, 2026" in dms(harness, CHLOE)[-1]
    home = open_home(harness, CHLOE)
    assert home is not None and "My follow-ups" in shown(home)
    home_press(harness, CHLOE, home, DONE, str(row.id))
    harness.drain()
    assert "Done: “Busy until May” (Urbanism). Thank you!" in dms(harness, CHLOE)[-1]
    assert follow_ups(harness)[0].done_by == CHLOE


def test_sponsor_named_in_settings_gets_the_summary_once(harness: Harness) -> None:
    _community_id, review_id = due_prompt(harness)
    view = open_form(harness, "settings Urbanism", ALICE)
    sponsor_field = next(b for b in view["blocks"] if b.get("block_id") == "sponsor")
    assert sponsor_field["label"]["text"] == "Sponsor (optional)" and sponsor_field["optional"] is True
    assert submit(harness, view, ALICE, sponsor=DAVID) is None
    harness.drain()
    assert "*Sponsor:* <@UDAVID>" in say(harness, "info Urbanism", ALICE)
    assert "*Parrain ou marraine :* <@UDAVID>" in say(harness, "info Urbanism", BRUNO)
    # The settings keep it when saved again untouched.
    assert submit(harness, open_form(harness, "settings Urbanism", ALICE), ALICE) is None
    assert "*Sponsor:* <@UDAVID>" in say(harness, "info Urbanism", ALICE)

    decide(
        harness,
        ALICE,
        review_id,
        item_management_support="no",
        note_management_support="No budget for the workshops",
    )
    offer = offer_to(harness, ALICE)
    assert "Send the review's summary of *Urbanism* to its sponsor, <@UDAVID>?" in shown(offer)
    block_id, button = find(offer, SPONSOR, review_id)
    assert button["text"]["text"] == "Send the summary"
    assert "sent to <@UDAVID>" in shown(press(harness, ALICE, block_id, button, channel="DM"))
    summary = dms(harness, DAVID)[-1]  # David reads French
    assert "en tant que parrain ou marraine de la communauté de pratique *Urbanism*" in summary
    assert "*Décision :* Continuer ainsi. *Prochaine revue :* 30 mars 2026." in summary
    assert "soutien de la direction" in summary and "_No budget for the workshops_" in summary
    sent = len(dms(harness, DAVID))
    assert "was already sent to <@UDAVID>" in shown(press(harness, ALICE, block_id, button, channel="DM"))
    assert len(dms(harness, DAVID)) == sent  # once per review
    # A member who is not a moderator cannot send it.
    say(harness, "join Urbanism", CHLOE)
    assert "Only the moderators of *Urbanism*" in shown(press(harness, CHLOE, block_id, button, channel="DM"))


def test_without_a_sponsor_the_offer_says_how_to_name_one(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    decide(harness, BRUNO, review_id, item_management_support="partly")
    offer = offer_to(harness, BRUNO)
    assert "n'a pas de parrain ni de marraine : nommez-en un ou une avec `/cdp settings Urbanism`" in shown(
        offer
    )
    assert not [b for _, b in buttons_of(offer) if b["action_id"] == SPONSOR]
    # "En faire un suivi" is still offered for the item itself.
    find(offer, MAKE, f"{review_id}:management_support")


def test_all_yes_offers_nothing(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    before = len(dms(harness, ALICE))
    decide(harness, ALICE, review_id)
    assert len(dms(harness, ALICE)) == before + 1  # the "review done" DM alone
    assert "Next review on March 30, 2026" in dms(harness, ALICE)[-1]


def test_bad_input_changes_nothing_and_says_why(harness: Harness) -> None:
    community_id, review_id = due_prompt(harness)
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    decide(harness, ALICE, review_id, item_enough_people="no", item_objectives_clear="partly")
    offer = offer_to(harness, ALICE)

    # Not a moderator: refused, in their language, no modal.
    say(harness, "join Urbanism", CHLOE)
    say(harness, "join Urbanism", DAVID)
    block_id, button = find(offer, MAKE, f"{review_id}:enough_people")
    before = len(harness.emulator.opened_views())
    assert "Only the moderators of *Urbanism*" in shown(press(harness, CHLOE, block_id, button, channel="DM"))
    assert "Seul le groupe central de *Urbanism*" in shown(
        press(harness, DAVID, block_id, button, channel="DM")
    )
    assert len(harness.emulator.opened_views()) == before

    # Field errors: empty text, too long text, a past date, a bot as owner (English, then French).
    view = open_follow_up_form(harness, ALICE, offer, "enough_people")
    errors = submit(harness, view, ALICE, text="  ", due_on="2026-03-15", owner="UHELPER")["errors"]
    assert errors == {
        "text": "Say what is to be done.",
        "due_on": "The due date cannot be in the past.",
        "owner": "Pick people, not bots or deactivated accounts.",
    }
    errors = submit(harness, view, ALICE, text="x" * 301)["errors"]
    assert errors == {"text": "At most 300 characters, please."}
    view = open_follow_up_form(harness, BRUNO, offer, "objectives_clear")
    errors = submit(harness, view, BRUNO, text="", due_on="2026-03-01")["errors"]
    assert errors == {
        "text": "Dites ce qu'il faut faire.",
        "due_on": "L'échéance ne peut pas être dans le passé.",
    }
    assert follow_ups(harness) == []

    # Two moderators make the same item a follow-up at once: the second is told who owns the first.
    first = open_follow_up_form(harness, ALICE, offer, "enough_people")
    second = open_follow_up_form(harness, BRUNO, offer, "enough_people")
    assert submit(harness, first, ALICE, text="Recruit") is None
    answer = submit(harness, second, BRUNO, text="Recruit again")
    assert "déjà un suivi, dont <@UALICE> est responsable" in shown(answer["view"])
    [row] = follow_ups(harness)
    assert row.text == "Recruit"
    # ...and the button no longer opens a form for it.
    assert "already a follow-up, owned by <@UALICE>" in shown(
        press(harness, ALICE, block_id, button, channel="DM")
    )

    # Someone who neither owns it nor moderates cannot mark it done.
    harness.drain()
    owned = harness.emulator.messages_to(ALICE)[-1]
    done_block, done_button = find(owned, DONE, str(row.id))
    assert "Only its owner or the moderators of *Urbanism*" in shown(
        press(harness, CHLOE, done_block, done_button, channel="DM")
    )

    # A dissolved community: its buttons are refused, nothing changes.
    with harness.db.session() as session:
        assert community_repo.dissolve(
            session, community_id=community_id, actor=ALICE, now=harness.clock.now()
        )
    assert "dissolved" in shown(press(harness, ALICE, block_id, button, channel="DM"))
    assert "dissolved" in shown(press(harness, ALICE, done_block, done_button, channel="DM"))
    assert follow_ups(harness)[0].done_at is None


def test_a_sponsor_named_at_creation_and_a_bot_refused(harness: Harness) -> None:
    harness.emulator.add_user("UHELPER", "helper-bot", is_bot=True)
    view = open_form(harness, "create", BRUNO)
    assert next(b for b in view["blocks"] if b.get("block_id") == "sponsor")["label"]["text"] == (
        "Parrain ou marraine (facultatif)"
    )
    answer = submit(
        harness, view, BRUNO, name="Mobility", domain="Buses", channel="CGENERAL", sponsor="UHELPER"
    )
    assert answer["errors"] == {
        "sponsor": "Choisissez des personnes, pas des bots ni des comptes désactivés."
    }
    create_community(harness, ALICE, "Mobility", sponsor=CHLOE)
    assert "*Sponsor:* <@UCHLOE>" in say(harness, "info Mobility", ALICE)


def test_the_export_lists_follow_ups_and_sponsorship_and_forget_erases_them(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    view = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, view, ALICE, sponsor=CHLOE) is None
    decide(harness, ALICE, review_id, item_enough_people="no", note_enough_people=NOTE)
    form = open_follow_up_form(harness, ALICE, offer_to(harness, ALICE), "enough_people")
    assert submit(harness, form, ALICE, owner=CHLOE) is None
    harness.drain()
    data = exported(harness, CHLOE)
    assert data["sections"]["follow_ups"].startswith("Follow-ups you own")
    [entry] = data["follow_ups"]
    assert (entry["community"], entry["text"], entry["owner"], entry["due_on"]) == (
        "Urbanism",
        NOTE,
        CHLOE,
        "2026-03-30",
    )
    assert data["sponsor_of"] == [{"community": "Urbanism"}]

    harness.slack.command("privacy forget", CHLOE)
    assert harness.slack.view_submission(harness.emulator.last_view(), CHLOE).status == 200
    assert rows_naming(harness, CHLOE) == {}
    [row] = follow_ups(harness)
    assert row.owner_id == "" and row.text == NOTE  # the community's follow-up stays, by a former member
