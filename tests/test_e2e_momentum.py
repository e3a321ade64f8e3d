"""End to end: momentum alerts to moderators, each kind at most once a week (issue 5, item 6)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.reminders import momentum_pass
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.models import Alert, Community, Membership, Review
from storage.repositories import activity as activity_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft

CHANNEL = "CURB"
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Paris
TODAY = date(2026, 3, 3)
LONG_AGO = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)

ALERT_EN = "*Momentum alert: Urbanism*"
ALERT_FR = "*Alerte : l'élan faiblit dans Urbanism*"
NOT_MODERATOR_EN = "Only the moderators of *Urbanism* (or a workspace admin) can do this."


# ---- helpers -----------------------------------------------------------------------------------
def make_community(
    harness: Harness,
    *,
    creator: str = ALICE,
    moderators: tuple[str, ...] = (ALICE,),
    created: datetime = LONG_AGO,
    name: str = "Urbanism",
    channel: str = CHANNEL,
    timezone: str = "Europe/Paris",
) -> int:
    harness.emulator.add_channel(channel, name.lower(), members=[ALICE, BRUNO, CHLOE, DAVID])
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=creator,
            draft=community_draft(name, moderators=moderators, timezone=timezone),
            channel=ChannelChoice(channel, name.lower(), False),
            now=created,
        )
        s.flush()
        community_id = int(community.id)
    harness.clock.set(NOW)
    return community_id


def join(harness: Harness, community_id: int, user: str, at: datetime) -> None:
    harness.clock.set(at)
    with harness.db.session() as s:
        community = s.get(Community, community_id)
        assert community is not None
        svc.join(s, community=community, user_id=user, now=at)
    harness.clock.set(NOW)


def leave(harness: Harness, community_id: int, user: str) -> None:
    with harness.db.session() as s:
        community = s.get(Community, community_id)
        assert community is not None
        assert svc.leave(s, community=community, user_id=user, now=harness.clock.now(), via_slack=True)


def seed(harness: Harness, community_id: int, user: str, day: date, contributions: int = 1) -> None:
    with harness.db.session() as s:
        activity_repo.increment(
            s,
            team_id=harness.emulator.team_id,
            community_id=community_id,
            channel_id=CHANNEL,
            user_id=user,
            day=day,
            contributions=contributions,
        )


def set_circle(harness: Harness, community_id: int, user: str, circle: str) -> None:
    with harness.db.session() as s:
        m = s.scalars(
            select(Membership).where(Membership.community_id == community_id, Membership.user_id == user)
        ).one()
        m.circle = circle


def run_pass(harness: Harness) -> int:
    sent = momentum_pass(harness.runtime.deps, harness.jobs_client)
    harness.drain()
    return sent


def alerts(harness: Harness, community_id: int) -> list[tuple[str, str, bool]]:
    with harness.db.session() as s:
        rows = s.scalars(select(Alert).where(Alert.community_id == community_id).order_by(Alert.id)).all()
        return [(a.kind, a.period, a.sent_at is not None) for a in rows]


def shown(payload: dict[str, Any]) -> str:
    """A message as its reader sees it: the text and every text in its blocks."""
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


def dms(harness: Harness, user: str) -> list[str]:
    return [shown(p) for p in harness.emulator.messages_to(user)]


def alert_dms(harness: Harness, user: str) -> list[str]:
    return [d for d in dms(harness, user) if ALERT_EN in d or ALERT_FR in d]


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in payload.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    ]


def last_response(harness: Harness) -> str:
    assert harness.emulator.responses, "nothing was posted to the response_url"
    return shown(harness.emulator.responses[-1][1])


def greeted(harness: Harness, community_id: int, user: str) -> bool:
    with harness.db.session() as s:
        m = s.scalars(
            select(Membership).where(Membership.community_id == community_id, Membership.user_id == user)
        ).one()
        return m.greeted_at is not None


# ---- 1. moderators silent --------------------------------------------------------------------------
@pytest.mark.parametrize("days_ago, fires", [(21, True), (20, False)])
def test_moderators_silent_after_21_days_in_each_moderators_language(
    harness: Harness, days_ago: int, fires: bool
) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    join(harness, cid, CHLOE, LONG_AGO + timedelta(days=1))
    seed(harness, cid, ALICE, TODAY - timedelta(days=days_ago), 2)
    seed(harness, cid, CHLOE, TODAY - timedelta(days=1), 3)  # a member's contribution is not the core's

    sent = run_pass(harness)

    if not fires:
        assert sent == 0
        assert alerts(harness, cid) == []
        assert alert_dms(harness, ALICE) == alert_dms(harness, BRUNO) == []
        return
    assert sent == 1
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]
    (en,) = alert_dms(harness, ALICE)
    assert ALERT_EN in en
    assert "Nobody in the core group has contributed for 21 days (alert from 21 days)." in en
    assert "Post a short update or a question in the channel to get the conversation going again." in en
    (fr,) = alert_dms(harness, BRUNO)
    assert ALERT_FR in fr
    assert (
        "Personne dans le groupe central n'a contribué depuis 21 jours (alerte à partir de 21 jours)." in fr
    )
    assert "Publiez un court point d'étape ou une question dans le canal" in fr
    assert alert_dms(harness, CHLOE) == []  # members are not alerted
    assert buttons(harness.emulator.messages_to(ALICE)[-1]) == []  # only "newcomers waiting" has a button


@pytest.mark.parametrize("age_days, fires", [(21, True), (20, False)])
def test_moderators_silent_who_never_contributed_counts_from_creation(
    harness: Harness, age_days: int, fires: bool
) -> None:
    cid = make_community(harness, created=NOW - timedelta(days=age_days))

    sent = run_pass(harness)

    if fires:
        assert sent == 1
        assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]
        (en,) = alert_dms(harness, ALICE)
        assert "Nobody in the core group has contributed yet (alert after 21 days)." in en
    else:
        assert sent == 0
        assert alerts(harness, cid) == []
        assert alert_dms(harness, ALICE) == []


# ---- 2. channel quiet ------------------------------------------------------------------------------
def seed_steady_weeks(harness: Harness, community_id: int) -> None:
    """One contribution a day over the 8 weeks before the last 14 days (7 a week, 14 per 14 days),
    plus one busy day that the median ignores."""
    for offset in range(14, 70):
        seed(harness, community_id, CHLOE, TODAY - timedelta(days=offset))
    seed(harness, community_id, CHLOE, TODAY - timedelta(days=30), 40)


@pytest.mark.parametrize("recent, fires", [(6, True), (7, False), (14, False)])
def test_channel_quiet_when_the_last_14_days_fall_under_half_the_usual(
    harness: Harness, recent: int, fires: bool
) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO + timedelta(days=1))
    seed_steady_weeks(harness, cid)
    seed(harness, cid, ALICE, TODAY - timedelta(days=1))  # the moderator is not silent
    for offset in range(recent - 1):
        seed(harness, cid, CHLOE, TODAY - timedelta(days=2 + offset % 12))

    sent = run_pass(harness)

    if not fires:
        assert sent == 0
        assert alerts(harness, cid) == []
        assert alert_dms(harness, ALICE) == []
        return
    assert sent == 1
    assert alerts(harness, cid) == [("channel_quiet", "2026-W10", True)]
    (en,) = alert_dms(harness, ALICE)
    assert "The channel is quiet: 6 contributions in the last 14 days, against a usual 14 per 14 days." in en
    assert "Post a question to the community or share a recent result." in en
    assert alert_dms(harness, CHLOE) == []


def test_channel_quiet_in_french_for_a_french_moderator(harness: Harness) -> None:
    cid = make_community(harness, creator=BRUNO, moderators=(BRUNO,))
    seed_steady_weeks(harness, cid)
    seed(harness, cid, BRUNO, TODAY, 2)

    assert run_pass(harness) == 1
    (fr,) = alert_dms(harness, BRUNO)
    assert ALERT_FR in fr
    assert (
        "Le canal est calme : 2 contributions sur les 14 derniers jours, contre 14 d'habitude sur 14 jours."
        in fr
    )
    assert "Posez une question à la communauté ou partagez un résultat récent." in fr


# ---- 3. newcomers waiting --------------------------------------------------------------------------
def test_newcomers_waiting_then_greeted_by_a_moderator_and_not_again(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO + timedelta(days=1))
    seed(harness, cid, CHLOE, TODAY - timedelta(days=20))  # contributed since joining: not lurking
    join(harness, cid, BRUNO, NOW - timedelta(days=13))
    join(harness, cid, DAVID, NOW - timedelta(days=6))
    seed(harness, cid, ALICE, TODAY - timedelta(days=1))

    # Bruno has followed the channel for 13 days: not yet.
    assert run_pass(harness) == 0
    assert alert_dms(harness, ALICE) == []

    # 14 days: the moderator is told, with a button.
    harness.clock.set(NOW + timedelta(days=1))
    assert run_pass(harness) == 1
    assert alerts(harness, cid) == [("newcomers_waiting", "2026-W10", True)]
    (en,) = alert_dms(harness, ALICE)
    assert "1 newcomer has been following the channel for 14 days or more and nobody has greeted them." in en
    assert "Welcome them by name and invite them to share what brings them to the community." in en
    assert "*Waiting:* <@UBRUNO>" in en  # named
    welcome, introduce, button = buttons(harness.emulator.messages_to(ALICE)[-1])
    assert [welcome["action_id"], introduce["action_id"]] == ["lurkers_post_welcome", "lurkers_introduce"]
    assert button["action_id"] == "alert_greeted"
    assert json.loads(button["value"]) == {"c": cid, "u": [BRUNO]}
    assert button["text"]["text"] == "Mark as greeted"
    assert alert_dms(harness, BRUNO) == alert_dms(harness, CHLOE) == []

    # A member who is not a moderator cannot press it.
    result = harness.slack.block_action(CHLOE, "alert_greeted", value=button["value"], channel="DCHLOE")
    assert result.status == 200
    harness.drain()
    assert NOT_MODERATOR_EN in last_response(harness)
    assert not greeted(harness, cid, BRUNO)

    # The moderator greeted Bruno.
    result = harness.slack.block_action(ALICE, "alert_greeted", value=button["value"], channel="DALICE")
    assert result.status == 200
    harness.drain()
    assert "Thanks! 1 newcomer marked as greeted in *Urbanism*." in last_response(harness)
    assert greeted(harness, cid, BRUNO)
    assert not greeted(harness, cid, DAVID)  # not waiting yet: not marked

    # Next week Bruno still lurks but was greeted: no alert for him.
    harness.clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))  # Tuesday, David at 13 days
    seed(harness, cid, ALICE, date(2026, 3, 9))
    assert run_pass(harness) == 0
    assert len(alert_dms(harness, ALICE)) == 1

    # David reaches 14 days: the alert is back, for him alone.
    harness.clock.set(datetime(2026, 3, 11, 10, 0, tzinfo=UTC))
    assert run_pass(harness) == 1
    assert alerts(harness, cid)[-1] == ("newcomers_waiting", "2026-W11", True)
    latest = alert_dms(harness, ALICE)[-1]
    assert "1 newcomer has been following the channel for 14 days or more" in latest


def test_newcomers_waiting_in_french_for_a_french_moderator(harness: Harness) -> None:
    cid = make_community(harness, creator=BRUNO, moderators=(BRUNO,))
    join(harness, cid, CHLOE, NOW - timedelta(days=20))
    join(harness, cid, DAVID, NOW - timedelta(days=14))
    seed(harness, cid, BRUNO, TODAY)

    assert run_pass(harness) == 1
    (fr,) = alert_dms(harness, BRUNO)
    assert (
        "2 nouveaux membres suivent le canal depuis 14 jours ou plus sans avoir reçu de mot d'accueil." in fr
    )
    assert "*En attente :* <@UCHLOE> et <@UDAVID>" in fr
    *_, button = buttons(harness.emulator.messages_to(BRUNO)[-1])
    assert button["text"]["text"] == "Marquer comme accueillis"

    result = harness.slack.block_action(BRUNO, "alert_greeted", value=button["value"], channel="DBRUNO")
    assert result.status == 200
    harness.drain()
    assert "Merci ! 2 nouveaux membres notés comme accueillis dans *Urbanism*." in last_response(harness)
    assert greeted(harness, cid, CHLOE) and greeted(harness, cid, DAVID)


def test_a_member_who_contributed_long_ago_is_not_a_newcomer_waiting(harness: Harness) -> None:
    cid = make_community(harness)
    join(harness, cid, CHLOE, LONG_AGO + timedelta(days=1))  # joined 91 days ago
    seed(harness, cid, CHLOE, date(2025, 12, 5), 5)  # contributed 88 days ago, since joining
    seed(harness, cid, ALICE, TODAY - timedelta(days=1))

    run_pass(harness)
    assert alerts(harness, cid) == []  # observed: [("newcomers_waiting", "2026-W10", True)]
    assert alert_dms(harness, ALICE) == []


# ---- 4. inner circle shrinking ---------------------------------------------------------------------
@pytest.mark.parametrize("before, now, fires", [(3, 2, True), (3, 3, False), (4, 3, False), (3, 1, True)])
def test_inner_circle_shrinking_by_a_third_since_the_last_review(
    harness: Harness, before: int, now: int, fires: bool
) -> None:
    cid = make_community(harness)
    for user in (BRUNO, CHLOE, DAVID):
        join(harness, cid, user, NOW - timedelta(days=3))  # recent: not lurking
    for user in (BRUNO, CHLOE, DAVID)[:now]:
        set_circle(harness, cid, user, "inner")
    seed(harness, cid, ALICE, TODAY - timedelta(days=1))
    with harness.db.session() as s:
        s.add(
            Review(
                team_id=harness.emulator.team_id,
                community_id=cid,
                due_on=date(2026, 2, 2),
                on_demand=False,
                claimed_at=datetime(2026, 2, 2, 8, 0, tzinfo=UTC),
                sent_at=datetime(2026, 2, 2, 8, 0, tzinfo=UTC),
                escalation_level=0,
                core_count=1,
                inner_count=before,
                outer_count=0,
            )
        )

    sent = run_pass(harness)

    if not fires:
        assert sent == 0
        assert alerts(harness, cid) == []
        assert alert_dms(harness, ALICE) == []
        return
    assert sent == 1
    assert alerts(harness, cid) == [("inner_shrinking", "2026-W10", True)]
    (en,) = alert_dms(harness, ALICE)
    assert (
        f"The inner circle shrank from {before} to {now} {'member' if now == 1 else 'members'} since the last review "
        f"({before - now} fewer)." in en
    )
    assert "Ask the members who stepped back what would help them take part again." in en


# ---- 5. no moderator -------------------------------------------------------------------------------
def test_no_moderator_goes_to_the_most_active_members_when_the_creator_is_gone(harness: Harness) -> None:
    cid = make_community(harness)  # Alice created it and is its only moderator
    for user in (BRUNO, CHLOE, DAVID):
        join(harness, cid, user, LONG_AGO + timedelta(days=1))
    seed(harness, cid, ALICE, TODAY - timedelta(days=2), 10)
    seed(harness, cid, BRUNO, TODAY - timedelta(days=3), 5)
    seed(harness, cid, CHLOE, TODAY - timedelta(days=29), 3)
    seed(harness, cid, DAVID, TODAY - timedelta(days=40), 20)  # long ago: not among the most active
    harness.emulator.add_user(ALICE, "alice", deleted=True)

    # The pass asks Slack nothing: it counts Alice as a moderator until the outbox worker, which looks
    # up the people the pass did not know, has learnt she is gone; the next pass knows.
    assert run_pass(harness) == 0
    assert run_pass(harness) == 1
    assert alerts(harness, cid) == [("no_moderator", "2026-W10", True)]  # not "moderators silent" too
    (fr,) = alert_dms(harness, BRUNO)
    assert ALERT_FR in fr
    assert "Cette communauté n'a plus de modérateur actif dans son groupe central." in fr
    assert "Demandez aux membres les plus actifs du cercle interne si l'un d'eux accepterait" in fr
    (en,) = alert_dms(harness, CHLOE)
    assert "This community has no active moderator left in its core group." in en
    assert "would step in as moderator" in en
    assert alert_dms(harness, DAVID) == []
    assert alert_dms(harness, ALICE) == []


def test_no_moderator_reaches_an_active_member_when_the_departed_moderators_were_the_most_active(
    harness: Harness,
) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO, CHLOE))
    join(harness, cid, DAVID, LONG_AGO + timedelta(days=1))
    for user, count in ((ALICE, 10), (BRUNO, 9), (CHLOE, 8), (DAVID, 2)):
        seed(harness, cid, user, TODAY - timedelta(days=2), count)
    harness.emulator.add_user(ALICE, "alice", deleted=True)
    harness.emulator.add_user(BRUNO, "bruno", locale="fr-FR", deleted=True)
    harness.emulator.add_user(CHLOE, "chloe", deleted=True)

    assert run_pass(harness) == 0  # the outbox worker learns that they are gone...
    assert run_pass(harness) == 1  # ...and the next pass knows
    assert alerts(harness, cid) == [("no_moderator", "2026-W10", True)]
    (fr,) = alert_dms(harness, DAVID)
    assert "Cette communauté n'a plus de modérateur actif" in fr


def test_no_moderator_goes_to_the_creator_when_reachable(harness: Harness) -> None:
    cid = make_community(harness, creator=CHLOE, moderators=(ALICE,))
    leave(harness, cid, CHLOE)  # the creator stepped out of the core group
    join(harness, cid, BRUNO, LONG_AGO + timedelta(days=1))
    seed(harness, cid, BRUNO, TODAY - timedelta(days=1), 4)
    harness.emulator.add_user(ALICE, "alice", deleted=True)

    # Not known to be gone yet: Alice is told her core group is silent; the outbox worker finds she
    # cannot receive and gives the alert to the creator instead.
    assert run_pass(harness) == 1
    (silent,) = alert_dms(harness, CHLOE)
    assert "Nobody in the core group has contributed" in silent
    # The next pass knows Alice is gone: no moderator left, the creator is told.
    assert run_pass(harness) == 1
    assert [k for k, _, _ in alerts(harness, cid)] == ["moderators_silent", "no_moderator"]
    en = alert_dms(harness, CHLOE)[-1]
    assert "This community has no active moderator left in its core group." in en
    assert alert_dms(harness, ALICE) == []


def test_no_moderator_alert_not_sent_while_one_moderator_remains(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    seed(harness, cid, BRUNO, TODAY - timedelta(days=1))
    harness.emulator.add_user(ALICE, "alice", deleted=True)

    assert run_pass(harness) == 0
    assert alerts(harness, cid) == []
    assert alert_dms(harness, BRUNO) == []


# ---- 6. at most once a week ------------------------------------------------------------------------
def test_each_kind_once_a_week_per_recipient_then_again_next_week(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    seed(harness, cid, ALICE, TODAY - timedelta(days=25))

    assert run_pass(harness) == 1
    harness.clock.set(NOW + timedelta(minutes=5))
    assert run_pass(harness) == 0
    harness.clock.set(datetime(2026, 3, 6, 15, 0, tzinfo=UTC))  # Friday 16:00 in Paris, same week
    assert run_pass(harness) == 0
    assert len(alert_dms(harness, ALICE)) == len(alert_dms(harness, BRUNO)) == 1
    assert "has contributed for 25 days" in alert_dms(harness, ALICE)[0]

    harness.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # Monday 09:00 in Paris, next ISO week
    assert run_pass(harness) == 1
    assert len(alert_dms(harness, ALICE)) == len(alert_dms(harness, BRUNO)) == 2
    assert "Nobody in the core group has contributed for 31 days" in alert_dms(harness, ALICE)[-1]
    assert "Personne dans le groupe central n'a contribué depuis 31 jours" in alert_dms(harness, BRUNO)[-1]
    assert [(k, p) for k, p, _ in alerts(harness, cid)] == [
        ("moderators_silent", "2026-W10"),
        ("moderators_silent", "2026-W11"),
    ]


def test_the_next_week_sends_nothing_once_the_condition_is_gone(harness: Harness) -> None:
    cid = make_community(harness)
    assert run_pass(harness) == 1
    seed(harness, cid, ALICE, date(2026, 3, 6))
    harness.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    assert run_pass(harness) == 0
    assert len(alert_dms(harness, ALICE)) == 1


# ---- 7. working hours ------------------------------------------------------------------------------
def test_nothing_outside_the_communitys_working_hours(harness: Harness) -> None:
    paris = make_community(harness)
    outside = [
        datetime(2026, 3, 7, 10, 0, tzinfo=UTC),  # Saturday
        datetime(2026, 3, 6, 19, 0, tzinfo=UTC),  # Friday 20:00 in Paris
        datetime(2026, 3, 6, 17, 0, tzinfo=UTC),  # Friday 18:00 in Paris
        datetime(2026, 3, 9, 7, 59, tzinfo=UTC),  # Monday 08:59 in Paris
    ]
    for when in outside:
        harness.clock.set(when)
        assert run_pass(harness) == 0, when
    assert alerts(harness, paris) == []
    assert alert_dms(harness, ALICE) == []

    harness.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # Monday 09:00 in Paris
    assert run_pass(harness) == 1
    assert alerts(harness, paris) == [("moderators_silent", "2026-W11", True)]
    assert len(alert_dms(harness, ALICE)) == 1

    # The community's own timezone counts: at 09:00 in Paris it is 04:00 in New York.
    york = make_community(harness, name="Transit", channel="CTRANSIT", timezone="America/New_York")
    harness.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    assert run_pass(harness) == 0
    assert alerts(harness, york) == []

    # New York moved to summer time on Sunday March 8: 09:00 there is 13:00 UTC.
    harness.clock.set(datetime(2026, 3, 9, 12, 59, tzinfo=UTC))
    assert run_pass(harness) == 0
    harness.clock.set(datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    assert run_pass(harness) == 1
    assert alerts(harness, york) == [("moderators_silent", "2026-W11", True)]
    assert sum("*Momentum alert: Transit*" in d for d in dms(harness, ALICE)) == 1


# ---- 8. Slack failures -----------------------------------------------------------------------------
def test_an_alert_slack_refused_at_first_still_reaches_each_moderator_once(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    harness.runtime.deps.outbox.backoff_first = 0.05  # type: ignore[union-attr]
    harness.emulator.fail("chat.postMessage", "internal_error", times=3)

    assert run_pass(harness) == 1  # decided and written to the outbox with its recipients
    harness.drain(include_later=True)  # the outbox tries again, each recipient on its own
    assert len(alert_dms(harness, ALICE)) == len(alert_dms(harness, BRUNO)) == 1
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]

    harness.clock.set(NOW + timedelta(minutes=15))
    assert run_pass(harness) == 0  # the same week: not again
    assert len(alert_dms(harness, ALICE)) == len(alert_dms(harness, BRUNO)) == 1


def test_a_recipient_who_cannot_be_messaged_does_not_stop_the_others(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    # The first DM Slack is asked for is refused: the outbox sends to both moderators at once, so which
    # of the two cannot be messaged is whichever came first.
    harness.emulator.fail("chat.postMessage", "cannot_dm_bot", times=1)

    assert run_pass(harness) == 1
    received = {user: len(alert_dms(harness, user)) for user in (ALICE, BRUNO)}
    assert sorted(received.values()) == [0, 1], received  # the refusal did not stop the other one
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]

    harness.clock.set(NOW + timedelta(minutes=15))
    assert run_pass(harness) == 0  # recorded as sent: not again this week
    assert {user: len(alert_dms(harness, user)) for user in (ALICE, BRUNO)} == received


def test_a_rate_limited_alert_still_goes_out_once(harness: Harness) -> None:
    cid = make_community(harness)
    harness.emulator.rate_limit("chat.postMessage", retry_after=1, times=1)

    assert run_pass(harness) == 1
    harness.drain(include_later=True)  # after the Retry-After
    assert len(alert_dms(harness, ALICE)) == 1
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]


def test_a_claim_left_unsent_by_a_crashed_sender_is_sent_later(harness: Harness) -> None:
    cid = make_community(harness)
    with harness.db.session() as s:
        s.add(
            Alert(
                team_id=harness.emulator.team_id,
                community_id=cid,
                kind="moderators_silent",
                period="2026-W10",
                claimed_at=NOW - timedelta(minutes=5),
                sent_at=None,
                figures={},
            )
        )

    assert run_pass(harness) == 0  # another sender may still be at it
    assert alert_dms(harness, ALICE) == []
    harness.clock.set(NOW + timedelta(minutes=30))
    assert run_pass(harness) == 1  # the claim went stale: taken again
    assert len(alert_dms(harness, ALICE)) == 1
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]


# ---- 9. dissolved communities ----------------------------------------------------------------------
def test_a_dissolved_community_gets_no_alert(harness: Harness) -> None:
    cid = make_community(harness, moderators=(ALICE, BRUNO))
    join(harness, cid, CHLOE, NOW - timedelta(days=20))  # would be "newcomers waiting"
    with harness.db.session() as s:
        community = s.get(Community, cid)
        assert community is not None
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=NOW)
    harness.emulator.add_user(ALICE, "alice", deleted=True)
    harness.emulator.add_user(BRUNO, "bruno", locale="fr-FR", deleted=True)  # would be "no moderator"

    assert run_pass(harness) == 0
    harness.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    assert run_pass(harness) == 0
    assert alerts(harness, cid) == []
    for user in (ALICE, BRUNO, CHLOE, DAVID):
        assert alert_dms(harness, user) == []


def test_one_broken_community_does_not_stop_the_pass_for_the_others(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_community(harness, moderators=(ALICE,), name="Broken", channel="CBROKEN")
    cid = make_community(harness, moderators=(BRUNO,))
    with harness.db.session() as s:  # a row no form would save (a time zone tzdata does not know)
        community = s.get(Community, broken)
        assert community is not None
        community.timezone = "Mars/Olympus_Mons"

    assert run_pass(harness) == 1  # Urbanism's silent moderators are still told
    assert alerts(harness, cid) == [("moderators_silent", "2026-W10", True)]
    assert len(alert_dms(harness, BRUNO)) == 1
    [failure] = [r for r in caplog.records if r.getMessage() == "momentum pass failed for a community"]
    fields = getattr(failure, "fields", {})
    assert fields["community"] == broken and "Olympus" not in str(fields)  # no stored value in the log
