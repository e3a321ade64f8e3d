"""Checklist reviews end to end: due in the community's timezone, claimed before sent, sent once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.reminders import escalate, send_due_reviews, tick
from bot.server import Runtime
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import state_values
from storage.models import Community, Review
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, app_settings, community_draft

CHANNEL = "CURB"
# Created Monday 2 March 2026, 09:00 UTC (10:00 in Paris); every 2 weeks -> first review Monday 16 March,
# due 09:00 Paris = 08:00 UTC (Paris is UTC+1 until 29 March).
FIRST_DUE = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)


def make_community(
    harness: Harness, *, moderators: tuple[str, ...] = (ALICE, BRUNO), cadence: int = 2
) -> int:
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE, DAVID])
    draft = community_draft(
        "Urbanism",
        domain="Safer streets",
        moderators=moderators,
        timezone="Europe/Paris",
        cadence_weeks=cadence,
    )
    with harness.db.session() as session:
        community = svc.create(
            session,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=draft,
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=harness.clock.now(),
        )
        return community.id


def prompts_to(harness: Harness, user: str) -> list[dict[str, Any]]:
    return [
        m
        for m in harness.emulator.messages_to(user)
        if any(
            e.get("action_id") == "review_start"
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
        )
    ]


def review_id_in(message: dict[str, Any]) -> str:
    for block in message["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == "review_start":
                return str(element["value"])
    raise AssertionError("no Start review button")


def run(harness: Harness, job: Any = tick) -> None:
    """One pass of a scheduled job, then what it wrote to the outbox is sent (as a moment later)."""
    job(harness.runtime.deps, harness.jobs_client)
    harness.drain()


def reviews(harness: Harness) -> list[Review]:
    with harness.db.session() as session:
        return list(session.scalars(select(Review).order_by(Review.id)).all())


def community_row(harness: Harness, community_id: int) -> Community:
    with harness.db.session() as session:
        community = session.get(Community, community_id)
        assert community is not None
        return community


def test_the_review_goes_out_once_at_its_local_due_time(harness: Harness) -> None:
    community_id = make_community(harness)
    assert community_row(harness, community_id).next_review_on == date(2026, 3, 16)
    harness.clock.set(FIRST_DUE - timedelta(minutes=1))
    run(harness)
    assert prompts_to(harness, ALICE) == [] and reviews(harness) == []
    harness.clock.set(FIRST_DUE)
    run(harness)
    run(harness)
    harness.clock.advance(timedelta(minutes=5))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1
    assert len(prompts_to(harness, BRUNO)) == 1
    assert "Time for the checklist review of Urbanism" in prompts_to(harness, ALICE)[0]["text"]
    assert "C'est le moment de la revue de Urbanism" in prompts_to(harness, BRUNO)[0]["text"]
    assert prompts_to(harness, CHLOE) == []  # only the moderators
    [review] = reviews(harness)
    assert review.due_on == date(2026, 3, 16) and review.sent_at == FIRST_DUE
    assert (review.core_count, review.inner_count, review.outer_count) == (2, 0, 0)


def test_summer_time_moves_the_utc_hour(harness: Harness) -> None:
    """After 29 March Paris is UTC+2: a review due Monday 13 April goes out at 07:00 UTC."""
    harness.clock.set(datetime(2026, 3, 30, 9, 0, tzinfo=UTC))
    make_community(harness)
    harness.clock.set(datetime(2026, 4, 13, 6, 59, tzinfo=UTC))
    run(harness)
    assert prompts_to(harness, ALICE) == []
    harness.clock.set(datetime(2026, 4, 13, 7, 0, tzinfo=UTC))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def test_down_at_the_due_time_sent_once_at_the_next_start(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE + timedelta(days=1, hours=3))  # Tuesday: the app was down on Monday
    restarted = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    try:
        for _ in range(3):  # the start-up pass and the ticks after it
            tick(restarted.deps, restarted.deps.jobs_client)
    finally:
        restarted.close()
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1
    assert len(reviews(harness)) == 1


def test_two_instances_sharing_the_database_send_once(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE)
    other = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    try:
        threads = [
            threading.Thread(target=tick, args=(runtime.deps, runtime.deps.jobs_client))
            for runtime in (harness.runtime, other, harness.runtime, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.close()
    harness.drain()  # whatever the other instance had not sent before it stopped
    assert len(prompts_to(harness, ALICE)) == 1
    assert len(prompts_to(harness, BRUNO)) == 1


def test_a_429_is_waited_out_and_the_review_still_goes(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE, BRUNO))
    harness.clock.set(FIRST_DUE)
    harness.emulator.rate_limit("chat.postMessage", retry_after=1)
    run(harness)
    assert reviews(harness)[0].sent_at is not None  # written to the outbox: the tick is done
    harness.drain(include_later=True)
    assert len(prompts_to(harness, ALICE)) == 1 and len(prompts_to(harness, BRUNO)) == 1
    posts = harness.emulator.calls_to("chat.postMessage")
    assert len(posts) == 3  # one refused (429), then each moderator once
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1 and len(prompts_to(harness, BRUNO)) == 1


def test_a_failed_send_is_retried_not_dropped(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE,))
    harness.clock.set(FIRST_DUE)
    harness.runtime.deps.outbox.backoff_first = 0.05  # type: ignore[union-attr]
    harness.emulator.fail("chat.postMessage", "internal_error", times=3)
    run(harness)
    harness.drain(include_later=True)
    assert len(prompts_to(harness, ALICE)) == 1  # after three refusals, once
    assert len(harness.emulator.calls_to("chat.postMessage")) == 4
    harness.clock.advance(timedelta(minutes=1))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def test_a_crashed_claim_is_taken_again_after_its_lease(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE,))
    harness.clock.set(FIRST_DUE)
    from bot.services import reviews as review_service

    with harness.db.session() as session:  # a sender claimed it, then died before sending
        review_service.open_due_reviews(session, now=harness.clock.now())
    with harness.db.session() as session:
        [review] = session.scalars(select(Review)).all()
        assert review_service.claim(session, review_id=review.id, now=harness.clock.now())
    run(harness)
    assert prompts_to(harness, ALICE) == []  # the claim is still fresh
    harness.clock.advance(timedelta(minutes=11))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def test_nothing_outside_working_hours(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE,))
    harness.clock.set(datetime(2026, 3, 21, 10, 0, tzinfo=UTC))  # Saturday, past the due date
    run(harness)
    harness.clock.set(datetime(2026, 3, 23, 7, 59, tzinfo=UTC))  # Monday 08:59 Paris
    run(harness)
    assert prompts_to(harness, ALICE) == []
    harness.clock.set(datetime(2026, 3, 23, 8, 0, tzinfo=UTC))  # Monday 09:00 Paris
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def test_escalation_after_three_then_six_days(harness: Harness) -> None:
    community_id = make_community(harness, moderators=(ALICE, BRUNO))
    with harness.db.session() as session:  # the creator stepped back from the core group
        community = svc.require_by_id(session, team_id=harness.emulator.team_id, community_id=community_id)
        svc.set_moderators(session, community=community, user_ids=[BRUNO, DAVID], now=harness.clock.now())
    harness.clock.set(FIRST_DUE)
    run(harness)
    assert (len(prompts_to(harness, BRUNO)), len(prompts_to(harness, ALICE))) == (1, 0)
    harness.clock.set(FIRST_DUE + timedelta(days=3) - timedelta(minutes=1))
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 1
    harness.clock.set(FIRST_DUE + timedelta(days=3))
    run(harness)
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 2 and len(prompts_to(harness, DAVID)) == 2
    assert "Rappel" in prompts_to(harness, BRUNO)[-1]["text"]
    assert prompts_to(harness, ALICE) == []
    harness.clock.set(FIRST_DUE + timedelta(days=6))  # Sunday: outside working hours, it waits
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 2
    harness.clock.set(FIRST_DUE + timedelta(days=7))  # Monday 09:00 in Paris
    run(harness)
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 3
    assert len(prompts_to(harness, ALICE)) == 1  # the creator joins at the last step
    assert "waiting for 6 days" in prompts_to(harness, ALICE)[0]["text"]
    harness.clock.set(FIRST_DUE + timedelta(days=20))
    run(harness)
    assert len(prompts_to(harness, BRUNO)) == 3  # no further step


def test_snooze_moves_the_review_a_week(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE,))
    harness.clock.set(FIRST_DUE)
    run(harness)
    review_id = review_id_in(prompts_to(harness, ALICE)[0])
    harness.clock.advance(timedelta(hours=1))
    channel, prompt = harness.emulator.delivered(ALICE)[-1]
    harness.slack.block_action(ALICE, "review_snooze", value=review_id, channel=channel, message=prompt)
    _, prompt = harness.emulator.delivered(ALICE)[-1]  # the prompt itself says so, buttons gone
    assert "Snoozed" in prompt["text"] and not any(b["type"] == "actions" for b in prompt["blocks"])
    harness.clock.set(FIRST_DUE + timedelta(days=3))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1  # no reminder while snoozed
    harness.clock.set(FIRST_DUE + timedelta(days=7, hours=1))
    run(harness)
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 2  # back, once


ALL_YES = {
    f"item_{item}": "yes"
    for item in (
        "enough_people",
        "objectives_clear",
        "key_people",
        "roles_carried",
        "moderator_time",
        "management_support",
        "effort_realistic",
        "products_shared",
    )
}


def open_checklist(harness: Harness, user: str, review_id: str) -> dict[str, Any]:
    harness.slack.block_action(user, "review_start", value=review_id, channel="DM")
    view = harness.emulator.last_view()
    assert view["callback_id"] == "review_checklist"
    return view


def due_prompt(harness: Harness, moderators: tuple[str, ...] = (ALICE, BRUNO)) -> tuple[int, str]:
    community_id = make_community(harness, moderators=moderators)
    harness.clock.set(FIRST_DUE)
    run(harness)
    return community_id, review_id_in(prompts_to(harness, moderators[0])[0])


def test_checklist_continue_stores_answers_and_sets_the_next_date(harness: Harness) -> None:
    community_id, review_id = due_prompt(harness)
    view = open_checklist(harness, ALICE, review_id)
    # 8 items x (answer, note), the decision, and "decide now or save for the others"
    assert len([b for b in view["blocks"] if b["type"] == "input"]) == 18
    answer = harness.slack.view_submission(
        view,
        ALICE,
        {
            **ALL_YES,
            "item_moderator_time": "partly",
            "note_moderator_time": "Busy until May",
            "decision": "continue",
        },
    )
    assert answer.status == 200 and answer.text == ""
    [review] = reviews(harness)
    assert review.decision == "continue" and review.completed_by == ALICE
    assert {"item": "moderator_time", "answer": "partly", "note": "Busy until May"} in (review.answers or [])
    assert community_row(harness, community_id).next_review_on == date(2026, 3, 30)
    story = str(harness.emulator.messages_to(CHANNEL)[-1]["blocks"])  # the story, not a score
    assert "What we adjust" in story and "A moderator with time (Partly) — Busy until May" in story
    assert "*Decision:* Continue as we are." in story and "7 yes" not in story
    # The "review done" DM; the follow-ups' offer (issue 11 item 5) comes right after it.
    assert "Next review on March 30, 2026" in harness.emulator.messages_to(ALICE)[-2]["text"]
    # Completed: no more reminders.
    harness.clock.set(FIRST_DUE + timedelta(days=6))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 1


def prompt_now(harness: Harness, user: str) -> dict[str, Any]:
    """The (first) review prompt `user` received, as it looks in Slack now (after any chat.update)."""
    posted, current = harness.emulator.messages_to(user), harness.emulator.delivered(user)
    first = next(i for i, p in enumerate(posted) if "review_start" in str(p.get("blocks")))
    return current[first][1]


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def test_a_completed_review_leaves_no_live_buttons_in_any_moderators_prompt(harness: Harness) -> None:
    _, review_id = due_prompt(harness)  # Alice (English) and Bruno (French) each got the prompt
    assert has_buttons(prompt_now(harness, ALICE)) and has_buttons(prompt_now(harness, BRUNO))
    view = open_checklist(harness, ALICE, review_id)
    harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "continue"})
    alice, bruno = prompt_now(harness, ALICE), prompt_now(harness, BRUNO)
    assert "✅ <@UALICE> completed the checklist review of *Urbanism*: Continue as we are." in alice["text"]
    assert bruno["text"].startswith("✅ <@UALICE> a fait la revue de *Urbanism* : Continuer ainsi")
    assert not has_buttons(alice) and not has_buttons(bruno)


def test_a_snooze_settles_every_moderators_prompt(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    channel, prompt = harness.emulator.delivered(ALICE)[-1]
    harness.slack.block_action(ALICE, "review_snooze", value=review_id, channel=channel, message=prompt)
    alice, bruno = prompt_now(harness, ALICE), prompt_now(harness, BRUNO)
    assert alice["text"].startswith("Snoozed: I will bring the checklist review of *Urbanism* back in a week")
    assert bruno["text"].startswith("<@UALICE> a reporté la revue de *Urbanism* : elle reviendra")
    assert not has_buttons(alice) and not has_buttons(bruno)


def test_checklist_field_errors(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    view = open_checklist(harness, BRUNO, review_id)
    values = {**ALL_YES, "note_key_people": "x" * 501}
    del values["item_objectives_clear"]
    answer = harness.slack.view_submission(view, BRUNO, values).json()
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {
        "item_objectives_clear": "Choisissez oui, en partie ou non.",
        "note_key_people": "Cette note est trop longue : 500 caractères au plus.",
        "decision": "Choisissez de continuer, d'ajuster ou de dissoudre la communauté.",
    }
    assert reviews(harness)[0].completed_at is None


def test_checklist_adjust_opens_the_settings_and_dissolve_its_confirmation(harness: Harness) -> None:
    community_id, review_id = due_prompt(harness)
    view = open_checklist(harness, ALICE, review_id)
    answer = harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "adjust"}).json()
    assert answer["response_action"] == "update" and answer["view"]["callback_id"] == "community_settings"
    assert reviews(harness)[0].decision == "adjust"

    harness.clock.set(datetime(2026, 3, 30, 7, 0, tzinfo=UTC))  # the next review (summer time: 07:00 UTC)
    run(harness)
    second = review_id_in(prompts_to(harness, ALICE)[-1])
    assert second != review_id
    view = open_checklist(harness, ALICE, second)
    answer = harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "dissolve"}).json()
    assert answer["response_action"] == "update" and answer["view"]["callback_id"] == "community_dissolve"
    assert community_row(harness, community_id).status == "active"  # not before the confirmation
    confirm = dict(answer["view"], id="VCONFIRM", state={"values": state_values(answer["view"], {})})
    assert harness.slack.view_submission(confirm, ALICE).status == 200
    community = community_row(harness, community_id)
    assert community.status == "dissolved" and community.next_review_on is None
    harness.clock.set(datetime(2026, 5, 4, 7, 0, tzinfo=UTC))
    run(harness)
    assert len(prompts_to(harness, ALICE)) == 2  # no more reviews


def test_bad_inputs_on_reviews(harness: Harness) -> None:
    community_id, review_id = due_prompt(harness)
    # A non-moderator pressing the button.
    harness.slack.block_action(CHLOE, "review_start", value=review_id, channel="DM")
    assert "Only the moderators of *Urbanism*" in harness.emulator.responses[-1][1]["text"]
    # Completed by a co-moderator while the other had the form open.
    alice_view = open_checklist(harness, ALICE, review_id)
    bruno_view = open_checklist(harness, BRUNO, review_id)
    assert harness.slack.view_submission(alice_view, ALICE, {**ALL_YES, "decision": "continue"}).text == ""
    answer = harness.slack.view_submission(bruno_view, BRUNO, {**ALL_YES, "decision": "continue"}).json()
    assert answer["response_action"] == "update"
    assert "a déjà été faite par <@UALICE>" in str(answer["view"])
    assert reviews(harness)[0].completed_by == ALICE
    harness.slack.block_action(BRUNO, "review_start", value=review_id, channel="DM")
    assert "a déjà été faite" in harness.emulator.responses[-1][1]["text"]
    # A stale form after the community was dissolved.
    harness.slack.command("review Urbanism", ALICE)
    stale_view = harness.emulator.last_view()
    with harness.db.session() as session:
        community = svc.require_by_id(session, team_id=harness.emulator.team_id, community_id=community_id)
        svc.dissolve(session, community=community, actor=ALICE, is_admin=False, now=harness.clock.now())
    answer = harness.slack.view_submission(stale_view, ALICE, {**ALL_YES, "decision": "continue"}).json()
    assert answer["response_action"] == "update" and "was dissolved" in str(answer["view"])
    # An unknown review id.
    harness.slack.block_action(ALICE, "review_start", value="999999", channel="DM")
    assert "This review no longer exists." in harness.emulator.responses[-1][1]["text"]


def test_review_on_demand(harness: Harness) -> None:
    make_community(harness)
    assert "Only the moderators" in harness.slack.command("review Urbanism", CHLOE).json()["text"]
    assert harness.slack.command("review Urbanism", BRUNO).text == ""
    view = harness.emulator.last_view()
    assert view["callback_id"] == "review_checklist"
    assert "Urbanism" in str(view["blocks"][0])
    run(harness)
    assert prompts_to(harness, BRUNO) == []  # in hand: no prompt on top of the open form
    assert harness.slack.view_submission(view, BRUNO, {**ALL_YES, "decision": "continue"}).text == ""
    [review] = reviews(harness)
    assert review.on_demand and review.decision == "continue"


def test_moderators_who_left_or_cannot_be_reached_are_skipped(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE, BRUNO, DAVID))
    harness.emulator.add_user(DAVID, "david", deleted=True)  # left the workspace
    harness.emulator.fail("chat.postMessage", "cannot_dm_bot")  # the first DM sent is refused
    harness.clock.set(FIRST_DUE)
    run(harness)
    # Alice's and Bruno's prompts go out side by side: whichever was refused, the other got it.
    reached = [user for user in (ALICE, BRUNO) if prompts_to(harness, user)]
    assert len(reached) == 1 and len(prompts_to(harness, reached[0])) == 1
    assert prompts_to(harness, DAVID) == []
    assert reviews(harness)[0].sent_at is not None  # sent, not retried forever
    run(harness)
    assert [user for user in (ALICE, BRUNO) if prompts_to(harness, user)] == reached
    assert len(prompts_to(harness, reached[0])) == 1


def test_the_scheduler_started_by_the_app_sends_an_overdue_review(harness: Harness) -> None:
    """The APScheduler wiring itself: the start-up pass of `Runtime.start` sends what fell due."""
    import time

    make_community(harness, moderators=(ALICE,))
    harness.clock.set(FIRST_DUE + timedelta(hours=2))
    started = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url), clock=harness.clock
    )
    try:
        jobs = {job.id for job in started.scheduler.get_jobs()}
        deadline = time.monotonic() + 20
        while not prompts_to(harness, ALICE) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        started.close()
    assert len(prompts_to(harness, ALICE)) == 1
    assert {"reminders", "momentum", "recompute_circles", "prune_processed_events"} <= jobs


def test_escalate_alone_sends_nothing_before_the_prompt(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE + timedelta(days=7))
    run(harness, escalate)
    assert prompts_to(harness, ALICE) == []
    run(harness, send_due_reviews)
    assert len(prompts_to(harness, ALICE)) == 1
