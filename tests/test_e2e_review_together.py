"""A checklist review done together (issue 11, items 4 and 6), end to end: two moderators, the previous
review's answers in the modal, saved answers for the others, agreement per item, the channel's story,
the deadline, and the inner circle's anonymous pulse. Alice speaks English, Bruno French; the community
speaks English."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select

from storage.models import ReviewAnswers, ReviewPulse, ReviewPulseVoter
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_pairing import join
from tests.test_e2e_reviews import (
    ALL_YES,
    CHANNEL,
    FIRST_DUE,
    due_prompt,
    has_buttons,
    open_checklist,
    prompt_now,
    prompts_to,
    review_id_in,
    reviews,
    run,
)

SECOND_DUE = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # two weeks on (Paris in summer time: 07:00 UTC)


def context_text(view: dict[str, Any]) -> str:
    return " ".join(
        str(element.get("text"))
        for block in view["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    )


def initial(view: dict[str, Any], block_id: str) -> Any:
    element = next(b["element"] for b in view["blocks"] if b.get("block_id") == block_id)
    option = element.get("initial_option")
    return option["value"] if option else element.get("initial_value")


def latest_prompt_now(harness: Harness, user: str) -> dict[str, Any]:
    """The last message with a Start button `user` received, as it looks in Slack now."""
    posted, current = harness.emulator.messages_to(user), harness.emulator.delivered(user)
    last = max(i for i, p in enumerate(posted) if "review_start" in str(p.get("blocks")))
    return current[last][1]


def answered(harness: Harness) -> str:
    """The text of the last ephemeral answer to whoever pressed a button."""
    return str(harness.emulator.responses[-1][1]["text"])


def first_review_done(harness: Harness) -> str:
    """A first review, decided by Alice alone, then the second one due: its id."""
    _, first = due_prompt(harness)
    view = open_checklist(harness, ALICE, first)
    values = {
        **ALL_YES,
        "item_management_support": "partly",
        "note_management_support": "we lack a sponsor",
        "decision": "continue",
    }
    assert harness.slack.view_submission(view, ALICE, values).text == ""
    harness.clock.set(SECOND_DUE)
    run(harness)
    return review_id_in(prompts_to(harness, ALICE)[-1])


def save(harness: Harness, user: str, review_id: str, values: dict[str, str]) -> dict[str, Any]:
    view = open_checklist(harness, user, review_id)
    answer = harness.slack.view_submission(view, user, {**values, "mode": "save"}).json()
    assert answer["response_action"] == "update"
    return dict(answer["view"])


def test_a_review_done_by_two_moderators_with_the_previous_answers_shown(harness: Harness) -> None:
    second = first_review_done(harness)
    # Alice sees last time's answers and note under each item, saves hers for Bruno.
    alice_view = open_checklist(harness, ALICE, second)
    assert "*Last time:* Partly — “we lack a sponsor”" in context_text(alice_view)
    assert "*Last time:* Yes" in context_text(alice_view)
    alice_answers = {
        **ALL_YES,
        "item_management_support": "no",
        "note_management_support": "still no sponsor",
        "item_effort_realistic": "partly",
        "decision": "adjust",
    }
    saved = save(harness, ALICE, second, alice_answers)
    assert "Your answers to the review of *Urbanism* are saved" in str(saved)
    assert reviews(harness)[-1].completed_at is None
    # Bruno is told, in French, with the Start button.
    told = harness.emulator.messages_to(BRUNO)[-1]
    assert "<@UALICE> a répondu à la revue de *Urbanism*" in told["text"]
    assert "review_start" in str(told["blocks"])
    # Alice opening it again finds her own answers filled in.
    again = open_checklist(harness, ALICE, second)
    assert initial(again, "item_management_support") == "no"
    assert initial(again, "note_management_support") == "still no sponsor"
    assert initial(again, "decision") == "adjust"
    # Bruno sees the last review's answers AND Alice's answers so far; nothing of his is pre-filled.
    bruno_view = open_checklist(harness, BRUNO, review_id_in(told))
    seen = context_text(bruno_view)
    assert "*La dernière fois :* En partie — « we lack a sponsor »" in seen
    assert "*Jusqu'ici :* <@UALICE> Non — “still no sponsor”" in seen
    assert "*Ont déjà répondu :* <@UALICE> (propose : Ajuster" in seen
    assert "la revue se clôt le" in seen
    assert initial(bruno_view, "item_management_support") is None
    bruno_answers = {**ALL_YES, "item_management_support": "partly", "decision": "continue"}
    assert harness.slack.view_submission(bruno_view, BRUNO, bruno_answers).text == ""
    # Decided by Bruno, with both moderators' answers: the cautious answer wins a split.
    review = reviews(harness)[-1]
    assert review.completed_by == BRUNO and review.decision == "continue"
    stored = {a["item"]: a for a in review.answers or []}
    assert stored["management_support"] == {
        "item": "management_support",
        "answer": "no",
        "note": "still no sponsor",
    }
    assert stored["effort_realistic"]["answer"] == "partly" and stored["enough_people"]["answer"] == "yes"
    # The outcome in every moderator's prompt (and in Alice's "add your answers" DM to Bruno): agreement
    # per item, who took part; no live button left.
    settled = latest_prompt_now(harness, ALICE)
    shown = str(settled["blocks"])
    assert "✅ <@UBRUNO> completed the checklist review of *Urbanism*: Continue as we are." in settled["text"]
    assert "*Objectives clear:* 2 yes" in shown
    assert "*Management support:* split: 1 partly, 1 no" in shown
    assert "Took part: <@UALICE> and <@UBRUNO>" in shown
    bruno = str(latest_prompt_now(harness, BRUNO)["blocks"])
    assert "*Soutien de la direction :* partagés : 1 en partie, 1 non" in bruno
    for user in (ALICE, BRUNO):  # the review's messages have no live buttons left...
        review_messages = [
            m
            for m in harness.emulator.current_messages_to(user)
            if "follow_up_make" not in str(m.get("blocks"))
        ]
        assert not any(has_buttons(m) for m in review_messages)
    # ...but the decider is offered to turn what is adjusted into follow-ups (issue 11 item 5)
    assert any("follow_up_make" in str(m.get("blocks")) for m in harness.emulator.current_messages_to(BRUNO))
    # The channel gets the story, in the community's language, not a score.
    story = harness.emulator.messages_to(CHANNEL)[-1]
    told_channel = str(story["blocks"])
    assert story["text"] == "Checklist review of Urbanism: Continue as we are."
    assert "*What goes well:* Enough people, Objectives clear" in told_channel
    assert "• Management support (No) — still no sponsor" in told_channel
    assert "• Realistic effort (Partly)" in told_channel
    assert "*Decision:* Continue as we are." in told_channel
    assert "*Next review:* April 13, 2026." in told_channel
    assert "Took part: <@UALICE> and <@UBRUNO>" in told_channel
    assert " yes, " not in told_channel
    with harness.db.session() as session:
        rows = session.scalars(select(ReviewAnswers).where(ReviewAnswers.review_id == review.id)).all()
        assert sorted(r.user_id for r in rows) == [ALICE, BRUNO]
    # Alice's saved form, submitted now: already decided by Bruno.
    late = harness.slack.view_submission(alice_view, ALICE, {**alice_answers, "mode": "save"}).json()
    assert "already completed by <@UBRUNO>" in str(late["view"])


def test_the_deadline_closes_the_review_from_the_saved_answers(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    harness.clock.set(FIRST_DUE + timedelta(hours=1))  # Monday 10:00 in Paris
    save(harness, ALICE, review_id, {**ALL_YES, "item_key_people": "no", "decision": "adjust"})
    save(harness, BRUNO, review_id, {**ALL_YES, "decision": "continue"})
    # In hand: no reminder at three days; the review stays open until its deadline.
    harness.clock.set(FIRST_DUE + timedelta(days=3))
    run(harness)
    reminders = [m for m in harness.emulator.messages_to(BRUNO) if "Rappel" in m["text"]]
    assert reminders == [] and reviews(harness)[0].completed_at is None
    harness.clock.set(FIRST_DUE + timedelta(days=3, hours=1) - timedelta(minutes=1))
    run(harness)
    assert reviews(harness)[0].completed_at is None
    harness.clock.set(FIRST_DUE + timedelta(days=3, hours=1))
    run(harness)
    run(harness)
    [review] = reviews(harness)
    # One proposes adjust, the other continue: a tie goes to adjust, the cautious one.
    assert review.completed_at is not None and review.completed_by is None and review.decision == "adjust"
    alice_dm = [m["text"] for m in harness.emulator.messages_to(ALICE) if "deadline" in m["text"]]
    assert alice_dm == [
        "The checklist review of *Urbanism* closed on its deadline with the answers saved. "
        "Decision: Adjust (objectives, roles, cadence…). Next review on April 6, 2026."
    ]
    assert any("s'est close à son échéance" in m["text"] for m in harness.emulator.messages_to(BRUNO))
    story = str(harness.emulator.messages_to(CHANNEL)[-1]["blocks"])
    assert "• Key people involved (No)" in story and "*Decision:* Adjust" in story
    prompt = prompt_now(harness, ALICE)
    assert prompt["text"].startswith("✅ The checklist review of *Urbanism* closed on its deadline")
    assert "*Key people involved:* split: 1 yes, 1 no" in str(prompt["blocks"]) and not has_buttons(prompt)
    # Once: a later tick sends nothing more, and the Start button says what happened.
    before = len(harness.emulator.calls_to("chat.postMessage"))
    harness.clock.advance(timedelta(hours=1))
    run(harness)
    assert len(harness.emulator.calls_to("chat.postMessage")) == before
    harness.slack.block_action(ALICE, "review_start", value=review_id, channel="DM")
    assert "was already closed on its deadline" in answered(harness)


def pulse_question(harness: Harness, user: str) -> tuple[str, dict[str, Any]]:
    return next(
        (channel, m)
        for channel, m in reversed(harness.emulator.delivered(user))
        if "review_pulse_yes" in str(m.get("blocks"))
    )


def test_the_inner_circle_pulse_is_counted_anonymously(harness: Harness) -> None:
    community_id, review_id = due_prompt(harness)
    for member in (CHLOE, DAVID):
        join(harness, community_id, member, FIRST_DUE - timedelta(days=10), circle="inner")
    # Only a moderator asks, once.
    harness.slack.block_action(CHLOE, "review_pulse_ask", value=review_id, channel="DM")
    assert "Only the moderators of *Urbanism*" in answered(harness)
    assert "review_pulse_ask" in str(prompt_now(harness, ALICE)["blocks"])
    harness.slack.block_action(ALICE, "review_pulse_ask", value=review_id, channel="DM")
    assert answered(harness).startswith("The inner circle of *Urbanism* is asked (2 members).")
    harness.slack.block_action(BRUNO, "review_pulse_ask", value=review_id, channel="DM")
    assert "a déjà été interrogé" in answered(harness)
    channel, question = pulse_question(harness, CHLOE)
    assert "Is this community useful to you?" in question["text"]
    assert "Cette communauté vous est-elle utile ?" in pulse_question(harness, DAVID)[1]["text"]
    assert not any("review_pulse_yes" in str(m.get("blocks")) for m in harness.emulator.messages_to(ALICE))
    # One vote each; a second press is refused; the question loses its buttons.
    harness.slack.block_action(CHLOE, "review_pulse_yes", value=review_id, channel=channel, message=question)
    assert harness.emulator.delivered(CHLOE)[-1][1]["text"].startswith("Thank you: your answer about")
    harness.slack.block_action(CHLOE, "review_pulse_no", value=review_id, channel=channel, message=question)
    assert "You already answered about *Urbanism*" in answered(harness)
    channel, question = pulse_question(harness, DAVID)
    harness.slack.block_action(
        DAVID, "review_pulse_partly", value=review_id, channel=channel, message=question
    )
    with harness.db.session() as session:
        [pulse] = session.scalars(select(ReviewPulse)).all()
        assert (pulse.yes, pulse.partly, pulse.no, pulse.asked_count) == (1, 1, 0, 2)
        voters = session.scalars(select(ReviewPulseVoter)).all()
        assert sorted(v.user_id for v in voters) == [CHLOE, DAVID]
    # Who voted is kept apart from what was answered: nothing links a person to an answer.
    columns = {c["name"] for c in inspect(harness.db.engine).get_columns("review_pulse_voters")}
    assert columns == {"review_id", "user_id"}
    # The tallies in the modal, then in the outcome and the story.
    view = open_checklist(harness, ALICE, review_id)
    assert "*Pulse of the inner circle:* 1 yes, 1 partly, 0 no — 2 of 2 answered." in context_text(view)
    assert harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "continue"}).text == ""
    tally = "*Pulse of the inner circle:* 1 yes, 1 partly, 0 no — 2 of 2 answered."
    assert tally in str(harness.emulator.messages_to(CHANNEL)[-1]["blocks"])
    assert tally in str(prompt_now(harness, ALICE)["blocks"])
    assert "*Pouls du cercle intérieur :* 1 oui, 1 en partie, 0 non — 2 réponses sur 2." in str(
        prompt_now(harness, BRUNO)["blocks"]
    )
    # A vote on a closed review; a forged review id.
    harness.slack.block_action(DAVID, "review_pulse_yes", value=review_id, channel="DM")
    assert "Cette revue de *Urbanism* est close" in answered(harness)
    harness.slack.block_action(CHLOE, "review_pulse_yes", value="999999", channel="DM")
    assert answered(harness) == "This question no longer exists."
    answer = harness.slack.block_action(CHLOE, "review_pulse_yes", value="not-a-number", channel="DM")
    assert answer.status == 200  # the payload gate refuses it; nothing is counted
    with harness.db.session() as session:
        [pulse] = session.scalars(select(ReviewPulse)).all()
        assert (pulse.yes, pulse.partly, pulse.no) == (1, 1, 0)


def test_a_pulse_with_nobody_in_the_inner_circle_asks_nobody(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    harness.slack.block_action(ALICE, "review_pulse_ask", value=review_id, channel="DM")
    assert "has nobody in its inner circle yet" in answered(harness)
    with harness.db.session() as session:
        assert session.scalars(select(ReviewPulse)).all() == []


def test_bad_input_on_a_review_done_together(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    view = open_checklist(harness, ALICE, review_id)
    # A non-moderator submitting a moderator's form to save answers: refused, nothing saved.
    answer = harness.slack.view_submission(view, CHLOE, {**ALL_YES, "decision": "continue", "mode": "save"})
    assert "Only the moderators of *Urbanism*" in str(answer.json()["view"])
    # A forged review id.
    forged = dict(view, private_metadata=json.dumps({"review_id": 999999}))
    answer = harness.slack.view_submission(forged, ALICE, {**ALL_YES, "decision": "continue", "mode": "save"})
    assert "This review no longer exists." in str(answer.json()["view"])
    # Missing answers are field errors whichever the mode.
    answer = harness.slack.view_submission(view, ALICE, {"decision": "continue", "mode": "save"}).json()
    assert answer["response_action"] == "errors" and "item_enough_people" in answer["errors"]
    with harness.db.session() as session:
        assert session.scalars(select(ReviewAnswers)).all() == []
    assert reviews(harness)[0].answers_due_at is None
    # A moderator alone who saves is told the review waits for a decision (nobody else to tell).
    with harness.db.session() as session:
        from bot.services import communities as svc

        community = svc.require_by_id(
            session, team_id=harness.emulator.team_id, community_id=reviews(harness)[0].community_id
        )
        svc.set_moderators(session, community=community, user_ids=[ALICE], now=harness.clock.now())
    saved = save(harness, ALICE, review_id, {**ALL_YES, "decision": "continue"})
    assert "Open the review again to decide" in str(saved)


def test_forgetting_a_moderator_erases_their_saved_answers_and_notes(harness: Harness) -> None:
    from bot.services import privacy

    _, review_id = due_prompt(harness)
    save(
        harness,
        ALICE,
        review_id,
        {**ALL_YES, "item_key_people": "no", "note_key_people": "Alice's words", "decision": "adjust"},
    )
    view = open_checklist(harness, BRUNO, review_id)
    bruno = {
        **ALL_YES,
        "item_key_people": "partly",
        "note_key_people": "Bruno's words",
        "decision": "continue",
    }
    assert harness.slack.view_submission(view, BRUNO, bruno).text == ""
    assert {a["item"]: a["note"] for a in reviews(harness)[0].answers or []}["key_people"] == (
        "Alice's words / Bruno's words"
    )
    with harness.db.session() as session:
        privacy.forget(session, team_id=harness.emulator.team_id, user_id=ALICE, now=harness.clock.now())
    with harness.db.session() as session:
        assert [r.user_id for r in session.scalars(select(ReviewAnswers)).all()] == [BRUNO]
    assert {a["item"]: a["note"] for a in reviews(harness)[0].answers or []}["key_people"] == "Bruno's words"
