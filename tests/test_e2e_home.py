"""End to end: App Home (issue 10, item 5), on both databases, in English and French.

A member sees their communities (circle, why, what would move them in, channels), the directory with
Join / Request to join and Info, and their data; a moderator sees each community's circles, the
newcomers waiting (named), pending join requests with working Approve / Decline, the next review with
Start now and Snooze; a newcomer to the app sees what it is and can create a community; 200
communities fit in pages of at most 100 blocks; a change republishes the Home of those who opened it.
Every view is published through the emulator, which validates it as Slack does.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import event, select

from bot.reminders import momentum_pass
from bot.services import home as home_service
from storage.models import Community, JoinRequest, Membership
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_communities import (
    active_members,
    add_channel,
    create_community,
    dms,
    open_form,
    say,
    shown,
    submit,
)
from tests.test_e2e_reviews import ALL_YES

JSON = dict[str, Any]


# ---- helpers -----------------------------------------------------------------------------------
def homes(harness: Harness, user: str) -> list[JSON]:
    """Every Home view published for `user`, as Slack stored it (with its id), oldest first."""
    emulator = harness.emulator
    with emulator.lock:
        return [
            dict(call.response["view"])
            for call in emulator.calls
            if call.method == "views.publish"
            and call.response
            and call.response.get("ok")
            and call.params.get("user_id") == user
        ]


def open_home(harness: Harness, user: str, tab: str = "home") -> JSON | None:
    """`user` clicks the app's Home tab; the Home the app publishes for it (None: nothing published)."""
    before = len(homes(harness, user))
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user[1:]}",
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    assert harness.slack.event(event).status == 200
    harness.drain()
    published = homes(harness, user)
    return published[-1] if len(published) > before else None


def home_now(harness: Harness, user: str) -> JSON:
    """The Home as `user` sees it once every pending refresh went out."""
    harness.drain(include_later=True)
    return homes(harness, user)[-1]


def buttons(view: JSON) -> list[tuple[str, str, str]]:
    """(action_id, value, label) of every button of the view, in order."""
    return [
        (element["action_id"], element.get("value", ""), element["text"]["text"])
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def press(harness: Harness, user: str, view: JSON, action_id: str, value: str) -> None:
    """Press a button of the Home `view`, as Slack sends it (a view container, no response_url)."""
    (block_id,) = [
        block["block_id"]
        for block in view["blocks"]
        if block["type"] == "actions"
        and any(e["action_id"] == action_id and e.get("value") == value for e in block["elements"])
    ]
    result = harness.slack.block_action(user, action_id, value=value, view=view, block_id=block_id)
    assert result.status == 200


def community_id(harness: Harness, name: str) -> int:
    with harness.db.session() as session:
        return int(session.scalars(select(Community.id).where(Community.name == name)).one())


def protected_community(harness: Harness, name: str = "Trust circle") -> int:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    create_community(harness, ALICE, name, channel="CTRUST", visibility="protected")
    return community_id(harness, name)


# ---- a member ----------------------------------------------------------------------------------
def test_a_member_sees_their_circle_why_and_channels_and_the_directory(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    add_channel(harness, "CMOBILITY", "mobility")
    create_community(harness, DAVID, "Mobility", channel="CMOBILITY")
    trust = protected_community(harness)
    assert "Welcome to *Urbanism*" in say(harness, "join Urbanism", CHLOE)

    view = open_home(harness, CHLOE)
    assert view is not None and view["type"] == "home"
    text = shown(view)
    assert "My communities" in text
    assert "*Urbanism*: outer circle · newcomer" in text
    assert "<#CGENERAL>" in text
    # Why, and what would move them in: the words `/cdp me` uses.
    me = say(harness, "me", CHLOE).splitlines()
    at = me.index("*Urbanism*: outer circle · newcomer")
    assert me[at + 1] in text and me[at + 2] in text
    assert "contribution" in me[at + 2]  # what would move them into the inner circle
    # The directory: the other communities, open ones with their size, protected ones name and domain only.
    assert "Other communities" in text
    mobility = community_id(harness, "Mobility")
    assert ("home_join", str(mobility), "Join") in buttons(view)
    assert ("home_info", str(mobility), "Info") in buttons(view)
    assert ("home_join", str(trust), "Request to join") in buttons(view)
    assert ("home_info", str(trust), "Info") in buttons(view)
    assert "*Mobility* · 1 member" in text
    assert "*Trust circle* · 🔒 protected\nHow can our towns" in text
    assert "Urbanism" not in [label for _, _, label in buttons(view)]
    assert ("home_join", str(community_id(harness, "Urbanism")), "Join") not in buttons(view)
    # Their data, and nothing for moderators.
    assert ("home_export", "export", "Export my data") in buttons(view)
    assert ("home_forget", "forget", "Forget me") in buttons(view)
    assert "Communities I moderate" not in text
    assert not [b for b in buttons(view) if b[0].startswith(("join_request", "review_"))]


def test_the_messages_tab_publishes_nothing_and_records_nothing(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    assert open_home(harness, CHLOE, tab="messages") is None
    assert "Welcome to" in say(harness, "join Urbanism", CHLOE)
    harness.drain(include_later=True)
    assert homes(harness, CHLOE) == []  # never opened: never refreshed


def test_forget_me_from_home_asks_first_and_export_sends_the_file(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    say(harness, "join Urbanism", CHLOE)
    view = open_home(harness, CHLOE)
    assert view is not None
    press(harness, CHLOE, view, "home_forget", "forget")
    modal = harness.emulator.last_view()
    assert modal["callback_id"] == "privacy_forget"
    assert "Erase everything cdp-bot stores about you" in shown(modal)
    assert CHLOE in active_members(harness, community_id(harness, "Urbanism"))  # nothing erased yet

    before = set(harness.emulator.uploads)
    press(harness, CHLOE, view, "home_export", "export")
    harness.drain()
    assert "the file will arrive in a direct message" in shown(harness.emulator.last_view())
    (upload,) = [u for key, u in harness.emulator.uploads.items() if key not in before]
    data = json.loads(upload.content)
    assert [set(item) for item in data["app_home"]] == [{"opened_at"}]  # what Home stores about them
    assert data["sections"]["app_home"].startswith("When you last opened the app's Home tab")

    # Confirmed, it is the same erasure as `/cdp privacy forget`: Home's record of them goes too.
    answer = harness.slack.view_submission(modal, CHLOE, {}).json()
    assert "Done: everything stored about you was erased" in shown(answer["view"])
    assert CHLOE not in active_members(harness, community_id(harness, "Urbanism"))
    say(harness, "join Urbanism", CHLOE)
    harness.drain(include_later=True)
    assert len(homes(harness, CHLOE)) == 1  # forgotten: no refresh until they open it again


# ---- a moderator -------------------------------------------------------------------------------
def test_a_moderator_sees_circles_newcomers_waiting_and_requests_that_work_from_home(
    harness: Harness,
) -> None:
    create_community(harness, ALICE, "Urbanism")
    say(harness, "join Urbanism", CHLOE)
    harness.clock.advance(timedelta(days=15))  # Chloé has read for 15 days without a word
    say(harness, "join Urbanism", DAVID)  # David just arrived: not waiting yet
    trust = protected_community(harness)
    assert "votre demande a été envoyée" in say(harness, "join Trust circle", BRUNO)
    (request_id,) = [r.id for r in _requests(harness)]

    view = open_home(harness, ALICE)
    assert view is not None
    text = shown(view)
    assert "Communities I moderate" in text
    assert "Core group 1 · inner circle 0 · outer circle 2" in text  # Urbanism
    assert "1 newcomer waits for a word of welcome: <@UCHLOE>" in text
    assert "<@UDAVID>" not in text.split("Trust circle")[0].split("waits for")[-1]
    assert "<@UBRUNO> asks to join." in text
    assert ("join_request_approve", str(request_id), "Approve") in buttons(view)
    assert ("join_request_decline", str(request_id), "Decline") in buttons(view)
    urbanism = community_id(harness, "Urbanism")
    assert ("home_review_now", str(urbanism), "Start now") in buttons(view)
    assert "Next checklist review:" in text

    # Approve, pressed on the Home: Bruno is a member, and the Home no longer asks.
    press(harness, ALICE, view, "join_request_approve", str(request_id))
    assert BRUNO in active_members(harness, trust)
    assert "approuvée" in dms(harness, BRUNO)[-1]
    after = home_now(harness, ALICE)
    assert "<@UBRUNO> asks to join." not in shown(after)
    assert not [b for b in buttons(after) if b[0] == "join_request_approve"]
    assert "Core group 1 · inner circle 0 · outer circle 1" in shown(after)  # Trust circle now

    # The old Home's Decline: already decided, said plainly, nothing changes.
    press(harness, ALICE, view, "join_request_decline", str(request_id))
    harness.drain()
    assert "already approved by <@UALICE>" in dms(harness, ALICE)[-1]
    assert BRUNO in active_members(harness, trust)

    # Not a moderator: the same buttons refuse (a stale Home of someone else's).
    press(harness, CHLOE, view, "home_review_now", str(urbanism))
    harness.drain()
    assert "moderator" in dms(harness, CHLOE)[-1]


def _requests(harness: Harness) -> list[JoinRequest]:
    with harness.db.session() as session:
        return list(session.scalars(select(JoinRequest).where(JoinRequest.status == "pending")))


def test_start_now_and_snooze_from_home(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    urbanism = community_id(harness, "Urbanism")
    view = open_home(harness, ALICE)
    assert view is not None
    press(harness, ALICE, view, "home_review_now", str(urbanism))
    assert harness.emulator.last_view()["callback_id"] == "review_checklist"

    # The review is open now: the Home offers to answer it or to snooze it, with the review's id.
    after = home_now(harness, ALICE)
    [(_, review_id, _)] = [b for b in buttons(after) if b[0] == "review_start"]
    assert ("review_snooze", review_id, "Snooze a week") in buttons(after)
    assert "Checklist review due since" in shown(after)
    press(harness, ALICE, after, "review_snooze", review_id)
    harness.drain()
    assert "snoozed" in dms(harness, ALICE)[-1].lower()
    assert "Checklist review snoozed until" in shown(home_now(harness, ALICE))


# ---- someone new -------------------------------------------------------------------------------
def test_a_brand_new_user_reads_what_the_app_is_and_can_create_a_community(harness: Harness) -> None:
    view = open_home(harness, ALICE)
    assert view is not None
    text = shown(view)
    assert "community of practice" in text
    assert "There is no community in this workspace yet" in text
    assert ("home_create", "create", "Create a community") in buttons(view)
    assert "My communities" not in text and "Other communities" not in text

    opened = len(harness.emulator.opened_views())
    press(harness, ALICE, view, "home_create", "create")
    assert len(harness.emulator.opened_views()) == opened + 1
    form = harness.emulator.last_view()
    assert form["callback_id"] == "community_create"

    # Created from there, the community is theirs on the Home.
    from tests.test_e2e_communities import DOMAIN

    assert submit(harness, form, ALICE, name="Urbanism", domain=DOMAIN, channel="CGENERAL") is None
    after = home_now(harness, ALICE)
    assert "*Urbanism*: core group (moderator)" in shown(after)
    assert "Communities I moderate" in shown(after)
    assert not [b for b in buttons(after) if b[0] == "home_create"]


def test_someone_in_no_community_of_many_is_invited_to_join_or_create(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    view = open_home(harness, CHLOE)
    assert view is not None
    assert "You are not in any community yet" in shown(view)
    assert ("home_create", "create", "Create a community") in buttons(view)
    assert ("home_join", str(community_id(harness, "Urbanism")), "Join") in buttons(view)


# ---- 200 communities ---------------------------------------------------------------------------
def test_two_hundred_communities_fit_in_pages_of_at_most_a_hundred_blocks(harness: Harness) -> None:
    now = harness.clock.now()
    team = harness.emulator.team_id
    mine = [f"Community {n:03d}" for n in range(200)]
    others = [f"Other {n:02d}" for n in range(30)]
    with harness.db.session() as session:
        rows = [
            Community(
                team_id=team, name=name, slug=name.lower().replace(" ", "-"), created_by=ALICE, created_at=now
            )
            for name in mine + others
        ]
        session.add_all(rows)
        session.flush()
        session.add_all(
            Membership(
                team_id=team, community_id=c.id, user_id=CHLOE, circle_since=now, joined_at=now, role="member"
            )
            for c in rows
            if c.name in mine
        )

    view = open_home(harness, CHLOE)
    assert view is not None
    seen: list[str] = []
    directory: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert len(view["blocks"]) <= 100
        for block in view["blocks"]:
            text = str((block.get("text") or {}).get("text") or "")
            if text.startswith("*Community "):
                seen.append(text[1:14])
            if text.startswith("*Other "):
                directory.append(text[1:9])
        assert ("home_export", "export", "Export my data") in buttons(view)  # on every page
        more = [b for b in buttons(view) if b[0] == "home_more"]
        if not more:
            break
        assert pages < 10
        press(harness, CHLOE, view, "home_more", more[0][1])
        view = home_now(harness, CHLOE)
    assert pages >= 3
    assert seen == mine  # each once, in order, none lost between pages
    assert directory == others
    assert f"Page {pages} of {pages}" in shown(view)
    # And back to the start.
    press(harness, CHLOE, view, "home_first", "0")
    assert "Page 1 of" in shown(home_now(harness, CHLOE))


def test_the_emulator_refuses_a_home_view_over_a_hundred_blocks(harness: Harness) -> None:
    client = WebClient(token=harness.emulator.token, base_url=harness.emulator.api_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {n}"}} for n in range(101)]
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id=ALICE, view={"type": "home", "blocks": blocks})
    assert refused.value.response["error"] == "invalid_blocks"
    assert client.views_publish(user_id=ALICE, view={"type": "home", "blocks": blocks[:100]})["ok"]


# ---- refreshed ---------------------------------------------------------------------------------
def test_a_join_refreshes_the_home_of_the_member_and_of_the_moderators_who_opened_it(
    harness: Harness,
) -> None:
    create_community(harness, ALICE, "Urbanism")
    moderator = open_home(harness, ALICE)
    member = open_home(harness, CHLOE)
    assert moderator is not None and member is not None
    assert "Core group 1 · inner circle 0 · outer circle 0" in shown(moderator)
    assert "My communities" not in shown(member)

    assert "Welcome to *Urbanism*" in say(harness, "join Urbanism", CHLOE)
    harness.drain(include_later=True)
    assert "*Urbanism*: outer circle · newcomer" in shown(homes(harness, CHLOE)[-1])
    assert "Core group 1 · inner circle 0 · outer circle 1" in shown(homes(harness, ALICE)[-1])
    assert homes(harness, DAVID) == []  # never opened the Home: nothing published for them

    # A burst of changes (three joins at once) is one publish for the moderator, not three.
    before = len(homes(harness, ALICE))
    for user in (BRUNO, DAVID):
        say(harness, "join Urbanism", user)
    harness.drain(include_later=True)
    assert len(homes(harness, ALICE)) - before <= 2
    assert "outer circle 3" in shown(homes(harness, ALICE)[-1])
    # Leaving refreshes too.
    say(harness, "leave Urbanism", CHLOE)
    harness.drain(include_later=True)
    assert "My communities" not in shown(homes(harness, CHLOE)[-1])
    assert "outer circle 2" in shown(homes(harness, ALICE)[-1])
    # So does dissolving: the community leaves every member's Home.
    say(harness, "join Urbanism", CHLOE)
    harness.drain(include_later=True)
    assert "*Urbanism*: outer circle" in shown(homes(harness, CHLOE)[-1])
    assert submit(harness, open_form(harness, "dissolve Urbanism", ALICE), ALICE) is None
    harness.drain(include_later=True)
    assert "Urbanism" not in shown(homes(harness, CHLOE)[-1])
    assert "Urbanism" not in shown(homes(harness, ALICE)[-1])


# ---- French ------------------------------------------------------------------------------------
def test_home_in_french(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanisme")
    add_channel(harness, "CMOBILITY", "mobility")
    create_community(harness, DAVID, "Mobilité", channel="CMOBILITY")
    say(harness, "join Urbanisme", BRUNO)
    view = open_home(harness, BRUNO)
    assert view is not None
    text = shown(view)
    assert "Mes communautés" in text
    assert "*Urbanisme* : cercle externe · nouveau membre" in text
    assert "Autres communautés" in text
    assert ("home_join", str(community_id(harness, "Mobilité")), "Rejoindre") in buttons(view)
    assert ("home_export", "export", "Exporter mes données") in buttons(view)
    assert ("home_forget", "forget", "M'oublier") in buttons(view)

    moderator = open_home(harness, DAVID)  # fr-CA
    assert moderator is not None
    assert "Les communautés que je modère" in shown(moderator)
    assert "Groupe central 1 · cercle interne 0 · cercle externe 0" in shown(moderator)
    assert "Prochaine check-list CdP" in shown(moderator)
    assert ("home_review_now", str(community_id(harness, "Mobilité")), "Commencer maintenant") in buttons(
        moderator
    )
    assert "communauté de pratique" not in text  # a member: no introduction


# ---- more of what a moderator sees, and what else refreshes -------------------------------------
def test_the_weeks_momentum_alerts_show_on_the_moderators_home(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    say(harness, "join Urbanism", CHLOE)
    harness.clock.advance(timedelta(days=15, hours=6))  # 15:00 UTC: working hours in New York
    assert momentum_pass(harness.runtime.deps, harness.jobs_client) >= 1
    harness.drain()
    view = open_home(harness, ALICE)
    assert view is not None
    text = shown(view)
    assert "Momentum alerts this week:" in text
    assert "1 newcomer has been following the channel for 14 days or more" in text
    # Next week, last week's alerts are no longer news.
    harness.clock.advance(timedelta(days=7))
    say(harness, "join Urbanism", DAVID)  # a change: the Home is published again
    assert "Momentum alerts this week:" not in shown(home_now(harness, ALICE))


def post(harness: Harness, user: str, channel: str = "CGENERAL") -> None:
    harness.clock.advance(timedelta(minutes=1))
    event = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": "hello",
        "ts": f"{harness.clock.now().timestamp():.6f}",
        "channel_type": "channel",
    }
    assert harness.slack.event(event).status == 200


def test_moving_into_the_inner_circle_refreshes_the_home(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    say(harness, "join Urbanism", CHLOE)
    assert open_home(harness, CHLOE) is not None
    assert open_home(harness, ALICE) is not None
    for _ in range(2):
        post(harness, CHLOE)
    harness.clock.advance(timedelta(days=1))
    for _ in range(2):
        post(harness, CHLOE)
    harness.drain(include_later=True)
    assert "*Urbanism*: inner circle" in shown(homes(harness, CHLOE)[-1])
    assert "Core group 1 · inner circle 1 · outer circle 0" in shown(homes(harness, ALICE)[-1])
    assert "Moves this month: 1 into the inner circle, 0 out of it." in shown(homes(harness, ALICE)[-1])


def test_a_completed_review_refreshes_the_moderators_home(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    urbanism = community_id(harness, "Urbanism")
    view = open_home(harness, ALICE)
    assert view is not None
    press(harness, ALICE, view, "home_review_now", str(urbanism))
    checklist = harness.emulator.last_view()
    opened = home_now(harness, ALICE)
    assert [b for b in buttons(opened) if b[0] == "review_start"]
    result = harness.slack.view_submission(checklist, ALICE, {**ALL_YES, "decision": "continue"})
    assert result.status == 200 and result.text == "", result.text
    after = home_now(harness, ALICE)
    assert not [b for b in buttons(after) if b[0] in ("review_start", "review_snooze")]
    assert "Next checklist review:" in shown(after)
    assert ("home_review_now", str(urbanism), "Start now") in buttons(after)


def test_the_home_reads_the_same_few_statements_for_3_or_40_moderated_communities(harness: Harness) -> None:
    """Set-based reads: a moderator of 40 communities costs the Home no more statements than one of 3."""
    now = harness.clock.now()
    team = harness.emulator.team_id

    def seed(names: list[str]) -> None:
        with harness.db.session() as session:
            rows = [
                Community(
                    team_id=team, name=n, slug=n.lower().replace(" ", "-"), created_by=CHLOE, created_at=now
                )
                for n in names
            ]
            session.add_all(rows)
            session.flush()
            for c in rows:
                for user, role in ((CHLOE, "core"), (DAVID, "member")):
                    session.add(
                        Membership(
                            team_id=team,
                            community_id=c.id,
                            user_id=user,
                            circle_since=now,
                            joined_at=now,
                            role=role,
                        )
                    )
                session.add(JoinRequest(team_id=team, community_id=c.id, user_id=BRUNO, requested_at=now))

    def statements() -> int:
        counted: list[str] = []

        def count(*args: Any) -> None:
            counted.append(str(args[2]))

        event.listen(harness.db.engine, "before_cursor_execute", count)
        try:
            with harness.db.session() as session:
                data = home_service.gather(session, team_id=team, user_id=CHLOE, now=harness.clock.now())
        finally:
            event.remove(harness.db.engine, "before_cursor_execute", count)
        assert all(len(m.requests) == 1 for m in data.moderated)
        return len(counted)

    seed([f"Small {n}" for n in range(3)])
    few = statements()
    seed([f"Large {n:02d}" for n in range(37)])
    many = statements()
    assert many == few, (few, many)
    assert few <= 25


# ---- what the other onramp pieces show on the Home ----------------------------------------------
def test_the_moderators_home_lists_a_newcomers_first_post_and_its_first_reply(harness: Harness) -> None:
    from tests import test_e2e_first_posts as first_posts_e2e

    cid = first_posts_e2e.make_community(harness)
    with harness.db.session() as s:
        community = s.get(Community, cid)
        assert community is not None
        first_posts_e2e.svc.join(s, community=community, user_id=CHLOE, now=harness.clock.now())
    assert open_home(harness, ALICE) is not None
    first = first_posts_e2e.post(harness, CHLOE, advance=5)
    said = shown(home_now(harness, ALICE))
    assert f"<@{CHLOE}> posted for the first time less than an hour ago — nobody has replied yet" in said

    first_posts_e2e.post(harness, ALICE, thread_ts=first)  # the moderator answers in the thread
    assert open_home(harness, ALICE) is not None
    said = shown(home_now(harness, ALICE))
    assert f"<@{CHLOE}> posted for the first time less than an hour ago — first reply after 5 minutes" in said
    assert "nobody has replied yet" not in said


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_pairing_switch_on_home_flips_and_the_home_follows(harness: Harness, lang: str) -> None:
    if lang == "fr":
        harness.emulator.add_user(CHLOE, "chloe", locale="fr-FR")
    create_community(harness, ALICE, "Urbanism")
    say(harness, "join Urbanism", CHLOE)
    view = open_home(harness, CHLOE)
    assert view is not None
    on = {"en": "Pairing is *on* for you", "fr": "Le jumelage est *activé* pour vous"}[lang]
    off = {"en": "Pairing is *off* for you", "fr": "Le jumelage est *désactivé* pour vous"}[lang]
    assert on in shown(view)
    press(harness, CHLOE, view, "pairing_toggle", "off")
    view = home_now(harness, CHLOE)
    assert off in shown(view)
    assert ("pairing_toggle", "on") in [(action, value) for action, value, _ in buttons(view)]
    press(harness, CHLOE, view, "pairing_toggle", "on")
    assert on in shown(home_now(harness, CHLOE))
