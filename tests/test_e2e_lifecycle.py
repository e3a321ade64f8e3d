"""End to end: a community's lifecycle over a simulated year (issue 11, item 3).

Forming while younger than one review cadence, active, stalling when activity falls under half its
usual for 3 weeks, dormant after 8 weeks without a contribution (the moderators told once, in working
hours), active again when members contribute: each state shown in `/cdp info` with its reason, in the
reader's language, and in `/cdp list`; each transition recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.lifecycle_job import lifecycle_pass
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from storage.models import Community, LifecycleTransition
from storage.repositories import activity as activity_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft

CHANNEL = "CURB"
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # Monday, 09:00 in Paris
DORMANT_EN = "*Urbanism* is dormant: nobody has contributed for 8 weeks."
DORMANT_FR = "*Urbanism* est en sommeil : personne n'a contribué depuis 8 semaines."


def make_community(harness: Harness) -> int:
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE, DAVID])
    harness.clock.set(START)
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft("Urbanism", moderators=(ALICE, BRUNO), timezone="Europe/Paris"),
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=START,
        )
        s.flush()
        community_id = int(community.id)
        svc.join(s, community=community, user_id=CHLOE, now=START)
    return community_id


def seed(harness: Harness, community_id: int, user: str, day: date, contributions: int) -> None:
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


def shown(payload: dict[str, Any]) -> str:
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


def say(harness: Harness, text: str, user: str) -> str:
    result = harness.slack.command(text, user)
    assert result.status == 200
    return shown(result.json())


def texts_to(harness: Harness, user: str) -> list[str]:
    """Every direct message `user` received, as text and blocks."""
    return [shown(m) for m in harness.emulator.messages_to(user)]


def dormant_dms(harness: Harness, user: str) -> list[str]:
    texts = [shown(p) for p in harness.emulator.messages_to(user)]
    return [x for x in texts if DORMANT_EN in x or DORMANT_FR in x]


def homes(harness: Harness, user: str) -> list[dict[str, Any]]:
    return [
        call.params["view"]
        for call in harness.emulator.calls
        if call.method == "views.publish"
        and call.response
        and call.response.get("ok")
        and call.params.get("user_id") == user
    ]


def open_home(harness: Harness, user: str) -> str:
    """`user` opens the app's Home tab: the Home as published for it."""
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"}
    assert harness.slack.event({**event, "event_ts": "1.000001"}).status == 200
    return home_now(harness, user)


def home_now(harness: Harness, user: str) -> str:
    """The Home as `user` sees it once every pending refresh went out."""
    harness.drain(include_later=True)
    return shown(homes(harness, user)[-1])


def state(harness: Harness, community_id: int) -> str | None:
    with harness.db.session() as s:
        community = s.get(Community, community_id)
        assert community is not None
        return community.lifecycle_state


def live(
    harness: Harness, community_id: int, days: range, activity: Callable[[int], dict[str, int]]
) -> dict[str, int]:
    """Each day of `days` (counted from START) at 11:00 in Paris: the day's contributions, then the
    pass. Returns the first day each state was entered."""
    entered: dict[str, int] = {}
    for n in days:
        now = START + timedelta(days=n, hours=2)
        harness.clock.set(now)
        for user, count in activity(n).items():
            seed(harness, community_id, user, now.date(), count)
        before = state(harness, community_id)
        lifecycle_pass(harness.runtime.deps)
        after = state(harness, community_id)
        if after != before and after is not None:
            entered.setdefault(after, n)
    return entered


def transitions(harness: Harness, community_id: int) -> list[tuple[str | None, str, str]]:
    with harness.db.session() as s:
        rows = s.scalars(
            select(LifecycleTransition)
            .where(LifecycleTransition.community_id == community_id)
            .order_by(LifecycleTransition.id)
        ).all()
        return [(r.from_state, r.to_state, str(r.reason["key"])) for r in rows]


def busy(n: int) -> dict[str, int]:
    return {ALICE: 1, CHLOE: 2}  # 21 contributions a week


def slowing(n: int) -> dict[str, int]:
    return {ALICE: 1} if n % 7 == 5 else {}  # 1 a week, on Saturdays: under half the usual 21


def silent(n: int) -> dict[str, int]:
    return {}


def test_a_year_forming_active_stalling_dormant_and_active_again(harness: Harness) -> None:
    cid = make_community(harness)

    # Weeks 0-3: forming, however busy (younger than one cadence of 4 weeks).
    assert live(harness, cid, range(0, 27), busy) == {"forming": 0}
    info = say(harness, "info Urbanism", ALICE)
    assert "Lifecycle: *forming* since" in info
    assert "because it is younger than one review cadence (4 weeks)." in info
    info_fr = say(harness, "info Urbanism", BRUNO)
    assert "Cycle de vie : *en formation* depuis le" in info_fr
    assert "car elle a moins d'un cycle de revue (4 semaines)." in info_fr
    assert "Urbanism* · 🌱 forming" in say(harness, "list", CHLOE)
    # The moderators' App Home says it too, and follows each change.
    assert "Lifecycle: *forming* since" in open_home(harness, ALICE)
    assert "Cycle de vie : *en formation* depuis le" in open_home(harness, BRUNO)

    # Day 28 (4 weeks old): active.
    assert live(harness, cid, range(27, 112), busy) == {"active": 28}
    info = say(harness, "info Urbanism", CHLOE)
    assert "Lifecycle: *active* since" in info
    assert "because members contribute at their usual pace." in info
    assert "Urbanism* · 🟢 active" in say(harness, "list", BRUNO)
    assert "Lifecycle: *active* since" in home_now(harness, ALICE)

    # From day 112 one contribution a week: stalling once each of the last 3 weeks is under half the
    # usual 21 (day 129: its oldest week, days 109-115, holds 3 busy days and 1 slow one, 10 < 10.5).
    assert live(harness, cid, range(112, 130), slowing) == {"stalling": 129}
    # Entering stalling sends the momentum alert with its figures at once (not at the next hourly pass).
    harness.drain()
    alert = [text for text in texts_to(harness, ALICE) if "Momentum alert" in text]
    assert alert and "The channel is quiet" in alert[-1] and "against a usual" in alert[-1]
    assert any("Alerte : l'élan faiblit" in text for text in texts_to(harness, BRUNO))
    assert live(harness, cid, range(130, 140), slowing) == {}
    info = say(harness, "info Urbanism", ALICE)
    assert "Lifecycle: *stalling* since" in info
    assert "because activity has been under half its usual level for 3 weeks." in info
    assert "l'activité est sous la moitié de son niveau habituel depuis 3 semaines." in say(
        harness, "info Urbanism", BRUNO
    )

    # Silence from day 140 (the last contribution was on day 138): dormant 8 weeks later, day 194, a
    # Saturday: the moderators are told on Monday, in working hours, once each, in their language.
    assert live(harness, cid, range(140, 196), silent) == {"dormant": 194}
    harness.drain()
    assert dormant_dms(harness, ALICE) == dormant_dms(harness, BRUNO) == []
    live(harness, cid, range(196, 200), silent)
    harness.drain()
    (en,) = dormant_dms(harness, ALICE)
    assert "To revive it, post a question of the week in its channel." in en
    assert "`/cdp dissolve Urbanism`" in en
    (fr,) = dormant_dms(harness, BRUNO)
    assert "Pour la relancer, publiez une question de la semaine dans son canal." in fr
    assert dormant_dms(harness, CHLOE) == []  # members are not told
    info = say(harness, "info Urbanism", ALICE)
    assert "Lifecycle: *dormant* since" in info
    assert "because nobody has contributed for 8 weeks." in info
    assert "Urbanism* · 💤 dormant" in say(harness, "list", CHLOE)
    assert "car personne n'a contribué depuis 8 semaines." in home_now(harness, BRUNO)

    # Members contribute again: active the same day, and the dormant message is not sent again.
    assert live(harness, cid, range(200, 365), busy) == {"active": 200}
    harness.drain()
    assert len(dormant_dms(harness, ALICE)) == len(dormant_dms(harness, BRUNO)) == 1
    assert "Lifecycle: *active* since" in say(harness, "info Urbanism", ALICE)

    assert transitions(harness, cid) == [
        (None, "forming", "lifecycle.reason.young"),
        ("forming", "active", "lifecycle.reason.active"),
        ("active", "stalling", "lifecycle.reason.low_activity"),
        ("stalling", "dormant", "lifecycle.reason.dormant"),
        ("dormant", "active", "lifecycle.reason.active"),
    ]


def test_a_pass_writes_only_changes_and_leaves_dissolved_communities_alone(harness: Harness) -> None:
    cid = make_community(harness)
    assert "Lifecycle: not assessed yet (it is assessed once a day)." in say(harness, "info Urbanism", ALICE)
    live(harness, cid, range(0, 3), silent)
    assert transitions(harness, cid) == [(None, "forming", "lifecycle.reason.young")]  # once, not daily

    with harness.db.session() as s:
        community = s.get(Community, cid)
        assert community is not None
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=harness.clock.now())
    live(harness, cid, range(3, 120), silent)  # silent long enough to be dormant, were it active
    assert transitions(harness, cid) == [(None, "forming", "lifecycle.reason.young")]
    assert "Lifecycle" not in say(harness, "info Urbanism", ALICE)
    harness.drain()
    assert dormant_dms(harness, ALICE) == []
