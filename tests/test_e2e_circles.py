"""End to end: circles inferred from activity, explained to members, kept private (issue 4)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot import backfill
from bot.scheduler import recompute_all
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.models import ActivityDay, Base, CircleChange, CommunityChannel, Membership
from storage.repositories import communities as community_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft

CHANNEL = "CURB"
PROMOTION_FR = "Vous faites maintenant partie du *cercle interne* de *Urbanism*"


# ---- helpers -----------------------------------------------------------------------------------
def make_community(harness: Harness, *, members: tuple[str, ...] = (ALICE, BRUNO, CHLOE, DAVID)) -> int:
    harness.emulator.add_channel(CHANNEL, "urbanism", members=list(members))
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft("Urbanism"),
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=harness.clock.now(),
        )
        s.flush()
        return int(community.id)


def now_ts(harness: Harness, offset: float = 0.0) -> str:
    return f"{harness.clock.now().timestamp() + offset:.6f}"


def message(harness: Harness, user: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": user,
        "text": text,
        "ts": now_ts(harness),
        "channel_type": "channel",
        **extra,
    }


def post(harness: Harness, user: str, text: str = "hello", **extra: Any) -> None:
    result = harness.slack.event(message(harness, user, text, **extra))
    assert result.status == 200
    harness.clock.advance(timedelta(minutes=1))


def say(harness: Harness, text: str, user: str) -> str:
    result = harness.slack.command(text, user)
    assert result.status == 200
    answer = result.json()
    parts = [answer.get("text") or ""]
    for block in answer.get("blocks") or []:
        parts.append(((block.get("text") or {}).get("text")) or "")
    return "\n".join(parts)


def activity(harness: Harness, user: str) -> list[tuple[str, int, int]]:
    with harness.db.session() as s:
        rows = s.scalars(select(ActivityDay).where(ActivityDay.user_id == user)).all()
        return sorted((r.day.isoformat(), r.contributions, r.reactions) for r in rows)


def contributions(harness: Harness, user: str) -> int:
    return sum(c for _, c, _ in activity(harness, user))


def circle_of(harness: Harness, user: str) -> str | None:
    with harness.db.session() as s:
        m = s.scalars(select(Membership).where(Membership.user_id == user)).first()
        return None if m is None else m.circle


def changes(harness: Harness, user: str) -> list[tuple[str, str, str]]:
    with harness.db.session() as s:
        rows = s.scalars(
            select(CircleChange).where(CircleChange.user_id == user).order_by(CircleChange.id)
        ).all()
        return [(c.from_circle, c.to_circle, c.reason_key) for c in rows]


def drain(harness: Harness) -> None:
    harness.drain()


def promote_bruno(harness: Harness) -> None:
    """Bruno joins, then posts 4 messages over 2 days (Mar 2 and Mar 3)."""
    assert "Urbanism" in say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    post(harness, BRUNO)
    post(harness, BRUNO)
    harness.clock.advance(timedelta(days=1))
    post(harness, BRUNO)
    post(harness, BRUNO, thread_ts=now_ts(harness, -120))  # a thread reply counts too


# ---- 1. newcomer → inner circle -------------------------------------------------------------------
def test_newcomer_posts_and_is_promoted_with_a_warm_dm(harness: Harness) -> None:
    make_community(harness)
    assert "Urbanism" in say(harness, "join Urbanism", BRUNO)
    assert circle_of(harness, BRUNO) == "outer"
    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle externe · nouveau membre" in me
    assert "Vous avez rejoint la communauté récemment" in me
    assert "4 contributions sur 2 jours différents en 30 jours" in me

    harness.clock.advance(timedelta(minutes=5))
    post(harness, BRUNO)
    post(harness, BRUNO)
    me = say(harness, "me", BRUNO)
    assert "2 contributions sur 1 jour au cours des 30 derniers jours" in me
    assert "Pour rejoindre le cercle interne : encore 2 contributions, dont au moins une un autre jour." in me
    assert "nouveau membre" not in me

    harness.clock.advance(timedelta(days=1))
    post(harness, BRUNO)
    assert circle_of(harness, BRUNO) == "outer"
    assert "Pour rejoindre le cercle interne : encore 1 contribution." in say(harness, "me", BRUNO)
    post(harness, BRUNO, thread_ts=now_ts(harness, -60))
    assert circle_of(harness, BRUNO) == "inner"
    drain(harness)

    notes = [m["text"] for m in harness.emulator.messages_to(BRUNO)]
    assert sum(PROMOTION_FR in n for n in notes) == 1, notes
    assert changes(harness, BRUNO) == [("outer", "inner", "circles.reason.promoted")]
    assert activity(harness, BRUNO) == [("2026-03-02", 2, 0), ("2026-03-03", 2, 0)]

    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle interne" in me
    assert "Vous êtes dans le cercle interne : 4 contributions sur 2 jours différents" in me
    assert "des comptes quotidiens sur 2 jours" in me

    # Further posts in the inner circle send no second note.
    post(harness, BRUNO)
    drain(harness)
    assert sum(PROMOTION_FR in m["text"] for m in harness.emulator.messages_to(BRUNO)) == 1


# ---- 2. grace period before demotion ---------------------------------------------------------------
def test_quiet_member_is_demoted_only_after_the_grace_period_and_silently(harness: Harness) -> None:
    make_community(harness)
    promote_bruno(harness)
    drain(harness)
    dms_before = len(harness.emulator.messages_to(BRUNO))
    # Last qualifying day: Mar 31 (the 30-day window still holds Mar 2 and Mar 3).
    harness.clock.set(datetime(2026, 5, 14, 9, 0, tzinfo=UTC))  # 44 days later
    recompute_all(harness.runtime.deps)
    assert circle_of(harness, BRUNO) == "inner"
    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle interne" in me
    assert "vous gardez votre place dans le cercle interne encore 1 jour" in me

    harness.clock.set(datetime(2026, 5, 15, 9, 0, tzinfo=UTC))  # 45 days later
    recompute_all(harness.runtime.deps)
    assert circle_of(harness, BRUNO) == "outer"
    assert changes(harness, BRUNO)[-1] == ("inner", "outer", "circles.reason.demoted")
    drain(harness)
    assert len(harness.emulator.messages_to(BRUNO)) == dms_before  # demotion sends nothing

    # /cdp me says why he moved (the reason recorded with the change), not the generic outer reason...
    demoted_fr = (
        "Depuis 45 jours, vous n'avez plus eu 4 contributions sur 2 jours différents en 30 jours : "
        "vous passez dans le cercle externe. Contribuez à nouveau et vous revenez aussitôt dans le cercle interne."
    )
    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle externe" in me
    assert demoted_fr in me
    assert "Vous êtes dans le cercle externe : aucune contribution" not in me
    assert "Pour rejoindre le cercle interne : encore 4 contributions, sur au moins 2 autres jours." in me

    # A second pass changes nothing more, and the explanation stays while he is quiet.
    harness.clock.set(datetime(2026, 5, 20, 9, 0, tzinfo=UTC))
    recompute_all(harness.runtime.deps)
    assert len(changes(harness, BRUNO)) == 2
    assert demoted_fr in say(harness, "me", BRUNO)

    # ...until he contributes again: then the reason is today's.
    post(harness, BRUNO)
    me = say(harness, "me", BRUNO)
    assert demoted_fr not in me
    assert "Vous êtes dans le cercle externe : 1 contribution sur 1 jour au cours des 30 derniers jours" in me
    assert circle_of(harness, BRUNO) == "outer"


# ---- 3. retries ---------------------------------------------------------------------------------
def test_a_retried_event_counts_once(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    event = message(harness, BRUNO)
    assert harness.slack.event(event, event_id="EvRETRY1").status == 200
    for retry in (1, 2, 3):
        assert harness.slack.event(event, event_id="EvRETRY1", retry_num=retry).status == 200
    assert activity(harness, BRUNO) == [("2026-03-02", 1, 0)]
    # Same for a reaction.
    reaction = {
        "type": "reaction_added",
        "user": BRUNO,
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": CHANNEL, "ts": event["ts"]},
        "event_ts": now_ts(harness),
    }
    for retry in (None, 1, 2):
        assert harness.slack.event(reaction, event_id="EvRETRY2", retry_num=retry).status == 200
    assert activity(harness, BRUNO) == [("2026-03-02", 1, 1)]


# ---- 4. what is not a contribution ------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"subtype": "bot_message", "bot_id": "B1"},
        {"bot_id": "B1"},
        {"subtype": "message_changed", "message": {"user": BRUNO, "text": "edited"}},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "channel_leave"},
        {"subtype": "some_future_subtype"},
        {"user": "UBOT"},
        {"channel": "CGENERAL"},
        {"channel": None},
        {"user": None},
        {"ts": "not-a-number"},
        {"ts": None},
        {"ts": "-5"},
        {"ts": "nan"},
        {"far_future": 2},
        {"far_future": 3650},
        {"ancient": 400},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())[:40],
)
def test_non_contributions_count_nothing(harness: Harness, change: dict[str, Any]) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    event = message(harness, BRUNO)
    change = dict(change)
    if "far_future" in change:
        event["ts"] = now_ts(harness, change.pop("far_future") * 86400)
    if "ancient" in change:
        event["ts"] = now_ts(harness, -change.pop("ancient") * 86400)
    event.update(change)
    event = {k: v for k, v in event.items() if v is not None}
    assert harness.slack.event(event).status == 200
    assert activity(harness, BRUNO) == []
    assert activity(harness, "UBOT") == []


@pytest.mark.parametrize("ts", ["inf", "1e15"])
def test_absurd_far_future_ts_is_acknowledged(harness: Harness, ts: str) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    event = message(harness, BRUNO)
    event["ts"] = ts
    assert harness.slack.event(event).status == 200
    reaction = {
        "type": "reaction_added",
        "user": BRUNO,
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "event_ts": ts,
    }
    assert harness.slack.event(reaction).status == 200
    assert activity(harness, BRUNO) == []


def test_unknown_team_is_acknowledged_and_ignored(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    assert harness.slack.event(message(harness, BRUNO), team_id="TOTHER").status == 200
    assert activity(harness, BRUNO) == []


# ---- 5. a member who left ---------------------------------------------------------------------
def test_a_member_who_left_is_not_counted(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    post(harness, BRUNO)
    assert contributions(harness, BRUNO) == 1
    say(harness, "leave Urbanism", BRUNO)
    with harness.db.session() as s:
        m = s.scalars(select(Membership).where(Membership.user_id == BRUNO)).one()
        assert m.left_at is not None
    post(harness, BRUNO)
    post(harness, BRUNO)
    assert contributions(harness, BRUNO) == 1
    react(harness, BRUNO)
    assert activity(harness, BRUNO) == [("2026-03-02", 1, 0)]


# ---- 6. reactions ------------------------------------------------------------------------------
def react(harness: Harness, user: str, ts: str | None = None) -> None:
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts or now_ts(harness, -30)},
        "event_ts": now_ts(harness),
    }
    assert harness.slack.event(event).status == 200


def test_reactions_are_counted_apart_and_never_promote(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    for _ in range(3):
        react(harness, BRUNO)
        harness.clock.advance(timedelta(minutes=1))
    harness.clock.advance(timedelta(days=1))
    for _ in range(3):
        react(harness, BRUNO)
    assert activity(harness, BRUNO) == [("2026-03-02", 0, 3), ("2026-03-03", 0, 3)]
    assert circle_of(harness, BRUNO) == "outer"
    recompute_all(harness.runtime.deps)
    assert circle_of(harness, BRUNO) == "outer"
    assert changes(harness, BRUNO) == []
    # The app's own reactions and reactions in unbound channels count nothing.
    react(harness, "UBOT")
    event = {
        "type": "reaction_added",
        "user": BRUNO,
        "reaction": "x",
        "item": {"type": "message", "channel": "CGENERAL", "ts": now_ts(harness)},
        "event_ts": now_ts(harness),
    }
    assert harness.slack.event(event).status == 200
    assert activity(harness, "UBOT") == []
    assert activity(harness, BRUNO) == [("2026-03-02", 0, 3), ("2026-03-03", 0, 3)]


# ---- 7. backfill ------------------------------------------------------------------------------
def test_backfill_seeds_counts_waits_out_429_and_never_double_counts(harness: Harness) -> None:
    bound = harness.clock.now().timestamp()
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE])
    day = 86400.0
    # Chloe qualifies from history alone: 4 messages on 2 days, within 30 days before binding.
    for offset in (3 * day, 3 * day - 60, 2 * day, 2 * day - 60):
        harness.emulator.add_message(CHANNEL, CHLOE, f"{bound - offset:.6f}", text="history")
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound - day:.6f}", text="history")
    # Not contributions.
    harness.emulator.add_message(CHANNEL, None, f"{bound - day - 1:.6f}", subtype="bot_message", bot_id="B1")
    harness.emulator.add_message(CHANNEL, "UBOT", f"{bound - day - 2:.6f}", text="me", bot_id="BBOT")
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound - day - 3:.6f}", subtype="channel_join")
    # Too old: more than 30 days before binding.
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound - 40 * day:.6f}", text="old")
    # Already live: after the binding.
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound + 30:.6f}", text="live")

    make_community(harness, members=(ALICE, BRUNO, CHLOE))
    harness.emulator.rate_limit("conversations.history", retry_after=1)
    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)

    history_calls = harness.emulator.calls_to("conversations.history")
    assert len(history_calls) == 2  # one 429, then the page
    assert contributions(harness, CHLOE) == 4
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0)]
    assert circle_of(harness, CHLOE) == "inner"  # circles mean something on day one
    assert circle_of(harness, BRUNO) == "outer"

    # The live event of the message after the binding counts once; resuming again counts nothing.
    live = message(harness, BRUNO)
    live["ts"] = f"{bound + 30:.6f}"
    harness.clock.advance(timedelta(minutes=2))
    assert harness.slack.event(live).status == 200
    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0), ("2026-03-02", 1, 0)]
    assert contributions(harness, CHLOE) == 4


def test_backfill_message_at_the_binding_instant_counts_once(harness: Harness) -> None:
    bound = harness.clock.now().timestamp()
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO])
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound:.6f}", text="edge")
    make_community(harness, members=(ALICE, BRUNO))
    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)
    live = message(harness, BRUNO)
    live["ts"] = f"{bound:.6f}"
    assert harness.slack.event(live).status == 200
    assert contributions(harness, BRUNO) == 1


# ---- 8. privacy: export and forget ---------------------------------------------------------------
def test_export_contains_all_rows_and_forget_erases_them(harness: Harness) -> None:
    make_community(harness)
    promote_bruno(harness)
    react(harness, BRUNO)
    drain(harness)
    expected = activity(harness, BRUNO)
    assert len(expected) == 2

    answer = say(harness, "privacy export", BRUNO)
    assert "le fichier arrivera dans un instant en message direct" in answer
    uploads = list(harness.emulator.uploads.values())
    assert len(uploads) == 1
    data = json.loads(uploads[0].content)
    assert data["user_id"] == BRUNO
    exported = sorted((a["day"], a["contributions"], a["reactions"]) for a in data["activity_days"])
    assert exported == expected
    assert all(a["community"] == "Urbanism" and a["channel_id"] == CHANNEL for a in data["activity_days"])
    assert [m["community"] for m in data["memberships"]] == ["Urbanism"]
    assert [(c["from"], c["to"]) for c in data["circle_changes"]] == [("outer", "inner")]
    assert "hello" not in uploads[0].content.decode()

    # Another member's data is untouched by Bruno's forget.
    post(harness, CHLOE)
    assert contributions(harness, CHLOE) == 1

    harness.slack.command("privacy forget", BRUNO)
    view = harness.emulator.last_view()
    assert view["callback_id"] == "privacy_forget"
    result = harness.slack.view_submission(view, BRUNO)
    assert result.status == 200
    assert "C'est fait" in json.dumps(result.json(), ensure_ascii=False)
    assert activity(harness, BRUNO) == []
    assert changes(harness, BRUNO) == []
    assert circle_of(harness, BRUNO) is None
    assert contributions(harness, CHLOE) == 1
    assert "Vous n'êtes encore membre d'aucune communauté" in say(harness, "me", BRUNO)

    # Not counted again, even though he is still in the channel...
    post(harness, BRUNO)
    react(harness, BRUNO)
    assert activity(harness, BRUNO) == []
    assert circle_of(harness, BRUNO) is None

    # ...until he joins again.
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=1))
    post(harness, BRUNO)
    assert contributions(harness, BRUNO) == 1
    assert circle_of(harness, BRUNO) == "outer"


def test_forget_is_not_undone_by_a_later_backfill(harness: Harness) -> None:
    bound = harness.clock.now().timestamp()
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO])
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound - 3600:.6f}", text="history")
    make_community(harness, members=(ALICE, BRUNO))
    harness.slack.command("privacy forget", BRUNO)
    assert harness.slack.view_submission(harness.emulator.last_view(), BRUNO).status == 200
    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)
    assert activity(harness, BRUNO) == []
    assert circle_of(harness, BRUNO) is None


# ---- 9. privacy canary ----------------------------------------------------------------------------
def test_no_message_text_reaches_the_database_or_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "CANARY-7f3a"
    caplog.set_level(logging.DEBUG)
    make_community(harness)
    say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    post(harness, BRUNO, f"top {canary} level")
    post(harness, BRUNO, f"reply {canary}", thread_ts=now_ts(harness, -30))
    harness.clock.advance(timedelta(days=1))
    post(harness, BRUNO, f"{canary} again")
    post(harness, BRUNO, f"{canary} promoted")
    post(harness, BRUNO, f"{canary}", subtype="message_changed")
    post(harness, BRUNO, f"{canary}", subtype="bot_message", bot_id="B1")
    post(harness, CHLOE, f"chloe {canary}")
    evt = message(harness, BRUNO, canary)
    evt["ts"] = "garbage"
    harness.slack.event(evt)
    drain(harness)
    assert circle_of(harness, BRUNO) == "inner"  # the events were really processed
    assert contributions(harness, BRUNO) == 4

    with harness.db.session() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                assert canary not in repr(tuple(row)), f"{canary} stored in {table.name}"
    assert caplog.records
    for record in caplog.records:
        line = record.getMessage() + repr(getattr(record, "fields", "")) + repr(record.args)
        assert canary not in line, f"{canary} logged by {record.name}: {line[:300]}"
    assert canary not in caplog.text


# ---- 10. /cdp circles ---------------------------------------------------------------------------
def test_circles_counts_for_members_and_who_is_where_for_moderators(harness: Harness) -> None:
    make_community(harness)
    say(harness, "join Urbanism", DAVID)  # will lurk
    promote_bruno(harness)
    say(harness, "join Urbanism", CHLOE)
    post(harness, CHLOE)

    counts_fr = "*Urbanism* : groupe central 1 · cercle interne 1 · cercle externe 2"
    answer = say(harness, "circles Urbanism", BRUNO)
    assert counts_fr in answer
    assert "Par canal de sous-enjeu" not in answer  # one channel: no sub-issues
    assert "Qui est où" not in answer and "<@UDAVID>" not in answer

    answer = say(harness, "circles Urbanism", ALICE)
    assert "*Urbanism*: core group 1 · inner circle 1 · outer circle 2" in answer
    assert "*Who is where* (visible to moderators):" in answer
    assert "core group (moderator): <@UALICE>" in answer
    assert "inner circle: <@UBRUNO>" in answer
    assert "outer circle:" in answer and "<@UDAVID>" in answer and "<@UCHLOE>" in answer
    assert "No newcomer is lurking." in answer  # David joined a day ago only
    assert "Per sub-issue channel" not in answer and "Inner circle in" not in answer

    harness.clock.advance(timedelta(days=14))
    answer = say(harness, "circles Urbanism", ALICE)
    assert "*Newcomers lurking for 14+ days* (a word of welcome may help): <@UDAVID>" in answer
    assert "<@UCHLOE>" not in answer.split("lurking for 14+ days")[1]
    me = say(harness, "me", DAVID)
    assert "Vous suivez les échanges depuis un moment" in me

    # Run from the community's channel, the name can be left out.
    result = harness.slack.command("circles", CHLOE, channel=CHANNEL).json()
    assert "*Urbanism*: core group 1 · inner circle 1 · outer circle 2" in result["text"]


# ---- 11. sub-issues: circles per channel ----------------------------------------------------------
BIKES = "CBIKE"


def bind_sub_issue(
    harness: Harness, community_id: int, channel_id: str = BIKES, name: str = "urbanism-bikes"
) -> None:
    harness.emulator.add_channel(channel_id, name, members=[ALICE, BRUNO, CHLOE, DAVID])
    with harness.db.session() as s:
        community = community_repo.get(s, team_id=harness.emulator.team_id, community_id=community_id)
        assert community is not None
        svc.bind_channel(
            s, community=community, channel=ChannelChoice(channel_id, name, False), now=harness.clock.now()
        )


def test_sub_issue_channels_have_their_own_circles(harness: Harness) -> None:
    community_id = make_community(harness)
    bind_sub_issue(harness, community_id)
    assert "Urbanism" in say(harness, "join Urbanism", BRUNO)
    harness.clock.advance(timedelta(minutes=5))
    # Bruno only posts in the bikes channel: 4 contributions on 2 days there.
    # Chloe posts 1 + 1 in each channel on 2 days: enough for the community, for neither channel alone.
    for _ in range(2):
        post(harness, BRUNO, channel=BIKES)
        post(harness, BRUNO, channel=BIKES)
        post(harness, CHLOE)
        post(harness, CHLOE, channel=BIKES)
        harness.clock.advance(timedelta(days=1))
    assert circle_of(harness, BRUNO) == "inner"
    assert circle_of(harness, CHLOE) == "inner"

    me = say(harness, "me", BRUNO)
    assert "*Urbanism* : cercle interne" in me
    assert "<#CURB> : cercle externe" in me
    assert "<#CBIKE> : cercle interne" in me
    me = say(harness, "me", CHLOE)
    assert "*Urbanism*: inner circle" in me
    assert "<#CURB>: outer circle" in me and "<#CBIKE>: outer circle" in me

    # Everyone sees the counts per channel; Alice (core group) posted nowhere: outer in both.
    answer = say(harness, "circles Urbanism", BRUNO)
    assert "*Urbanism* : groupe central 1 · cercle interne 2 · cercle externe 0" in answer
    assert "*Par canal de sous-enjeu* (en ne comptant que ce qui y est publié) :" in answer
    assert "<#CURB> : cercle interne 0 · cercle externe 3" in answer
    assert "<#CBIKE> : cercle interne 1 · cercle externe 2" in answer
    assert "Cercle interne dans" not in answer and "<@UBRUNO>" not in answer

    # Moderators also see who is inner in each channel.
    answer = say(harness, "circles Urbanism", ALICE)
    assert "<#CURB>: inner circle 0 · outer circle 3" in answer
    assert "<#CBIKE>: inner circle 1 · outer circle 2" in answer
    assert "Inner circle in <#CURB>: nobody" in answer
    assert "Inner circle in <#CBIKE>: <@UBRUNO>" in answer
    assert answer.index("*Who is where*") < answer.index("Inner circle in <#CURB>")

    # The per-channel place follows each channel's window: 31 days later, nobody is inner anywhere.
    harness.clock.advance(timedelta(days=31))
    answer = say(harness, "circles Urbanism", ALICE)
    assert "<#CBIKE>: inner circle 0 · outer circle 3" in answer


# ---- 12. backfill of thread replies ----------------------------------------------------------------
def seed_threads(harness: Harness) -> float:
    """History before the binding, with threads; returns the binding instant."""
    bound = harness.clock.now().timestamp()
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE])
    day = 86400.0
    p1, p2 = f"{bound - 3 * day:.6f}", f"{bound - 2 * day:.6f}"
    harness.emulator.add_message(CHANNEL, ALICE, p1, text="a question")
    for offset, user, extra in (
        (60, CHLOE, {}),
        (120, CHLOE, {}),
        (180, "UBOT", {"bot_id": "BBOT"}),  # the app's own reply
        (190, None, {"subtype": "bot_message", "bot_id": "B1"}),
        (200, BRUNO, {"subtype": "channel_join"}),
        (240, CHLOE, {"subtype": "thread_broadcast"}),  # also in the history: counted once
    ):
        harness.emulator.add_message(CHANNEL, user, f"{bound - 3 * day + offset:.6f}", thread_ts=p1, **extra)
    # A reply after the binding: live events count it, the backfill does not.
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound + 30:.6f}", thread_ts=p1, text="late")
    # A bot's message with a human reply: the reply counts.
    harness.emulator.add_message(CHANNEL, None, p2, subtype="bot_message", bot_id="B1")
    harness.emulator.add_message(CHANNEL, CHLOE, f"{bound - 2 * day + 60:.6f}", thread_ts=p2)
    harness.emulator.add_message(CHANNEL, BRUNO, f"{bound - day:.6f}", text="no thread")
    # A thread too old for the window.
    old = f"{bound - 40 * day:.6f}"
    harness.emulator.add_message(CHANNEL, BRUNO, old, text="old")
    harness.emulator.add_message(CHANNEL, CHLOE, f"{bound - 40 * day + 60:.6f}", thread_ts=old)
    return bound


def binding_id(harness: Harness, channel_id: str = CHANNEL) -> int:
    with harness.db.session() as s:
        return int(
            s.scalars(select(CommunityChannel.id).where(CommunityChannel.channel_id == channel_id)).one()
        )


def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two messages a page, so history and replies are both read over several pages."""
    monkeypatch.setattr(backfill, "PAGE_SIZE", 2)
    monkeypatch.setattr(backfill, "REPLIES_PAGE_SIZE", 2)


CHLOE_FROM_THREADS = [("2026-02-27", 3, 0), ("2026-02-28", 1, 0)]


def test_backfill_counts_thread_replies_once_and_waits_out_429(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch)
    bound = seed_threads(harness)
    make_community(harness, members=(ALICE, BRUNO, CHLOE))
    harness.emulator.rate_limit("conversations.replies", retry_after=7)
    waits: list[float] = []
    # A client without the SDK's own 429 retries (the app's has them): the backfill's handling is tested.
    client = WebClient(token=harness.emulator.token, base_url=harness.emulator.api_url)
    backfill.backfill_channel(harness.runtime.deps, client, binding_id(harness), sleep=waits.append)

    assert waits == [7.0]  # the 429 on replies was waited out for as long as Slack asked
    replies_calls = harness.emulator.calls_to("conversations.replies")
    assert len(replies_calls) == 1 + len(harness.emulator.successful_calls_to("conversations.replies"))
    assert {c["ts"] for c in replies_calls} == {f"{bound - 3 * 86400:.6f}", f"{bound - 2 * 86400:.6f}"}
    assert all(c["latest"] == f"{bound:.6f}" for c in replies_calls)
    # Chloe: 2 replies + 1 broadcast reply on Feb 27, 1 reply to the bot on Feb 28; bots and joins count nothing.
    assert activity(harness, CHLOE) == CHLOE_FROM_THREADS
    assert activity(harness, ALICE) == [("2026-02-27", 1, 0)]
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0)]
    assert activity(harness, "UBOT") == []
    assert circle_of(harness, CHLOE) == "inner"  # the threads alone qualify her

    # The reply posted after the binding arrives live and counts once; another pass counts nothing.
    live = message(harness, BRUNO, thread_ts=f"{bound - 3 * 86400:.6f}")
    live["ts"] = f"{bound + 30:.6f}"
    harness.clock.advance(timedelta(minutes=2))
    assert harness.slack.event(live).status == 200
    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0), ("2026-03-02", 1, 0)]
    assert activity(harness, CHLOE) == CHLOE_FROM_THREADS


def test_history_lists_parents_and_replies_lists_the_thread(harness: Harness) -> None:
    bound = seed_threads(harness)
    client = harness.jobs_client
    parents = client.conversations_history(channel=CHANNEL, latest=f"{bound:.6f}")["messages"]
    p1 = f"{bound - 3 * 86400:.6f}"
    assert [m.get("subtype") for m in parents if m.get("thread_ts") not in (None, m["ts"])] == [
        "thread_broadcast"
    ]
    first = next(m for m in parents if m["ts"] == p1)
    assert first["reply_count"] == 7 and first["latest_reply"] == f"{bound + 30:.6f}"
    thread = client.conversations_replies(channel=CHANNEL, ts=p1, latest=f"{bound:.6f}", limit=4)
    assert thread["messages"][0]["ts"] == p1  # the parent first
    assert [float(m["ts"]) for m in thread["messages"][1:]] == sorted(
        float(m["ts"]) for m in thread["messages"][1:]
    )
    rest = client.conversations_replies(
        channel=CHANNEL,
        ts=p1,
        latest=f"{bound:.6f}",
        limit=4,
        cursor=thread["response_metadata"]["next_cursor"],
    )
    assert len(thread["messages"]) + len(rest["messages"]) == 7  # the parent and 6 replies before the binding
    assert not rest["has_more"]


class CrashingClient(WebClient):
    """A worker killed in the middle of reading a page's threads."""

    def __init__(self, harness: Harness, crash_at: int) -> None:
        super().__init__(token=harness.emulator.token, base_url=harness.emulator.api_url)
        self.replies_calls = 0
        self.crash_at = crash_at

    def conversations_replies(self, **kwargs: Any) -> Any:
        self.replies_calls += 1
        if self.replies_calls == self.crash_at:
            raise RuntimeError("killed")
        return super().conversations_replies(**kwargs)


def test_backfill_resumed_mid_thread_never_counts_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch)
    seed_threads(harness)
    make_community(harness, members=(ALICE, BRUNO, CHLOE))
    # Page 1 (Bruno's message, the bot's thread) is committed; the crash hits the 2nd page of Alice's thread.
    with pytest.raises(RuntimeError):
        backfill.backfill_channel(
            harness.runtime.deps, CrashingClient(harness, crash_at=3), binding_id(harness)
        )
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0)]
    assert activity(harness, CHLOE) == [("2026-02-28", 1, 0)]
    assert activity(harness, ALICE) == []
    # A Slack error other than 429 stops the backfill without counting the page either.
    harness.emulator.fail("conversations.replies", "internal_error")
    backfill.backfill_channel(harness.runtime.deps, harness.jobs_client, binding_id(harness))
    assert activity(harness, ALICE) == []

    backfill.resume_all(harness.runtime.deps, harness.jobs_client)
    drain(harness)
    assert activity(harness, CHLOE) == CHLOE_FROM_THREADS
    assert activity(harness, ALICE) == [("2026-02-27", 1, 0)]
    assert activity(harness, BRUNO) == [("2026-03-01", 1, 0)]
    assert circle_of(harness, CHLOE) == "inner"
