"""End to end: a newcomer's first contribution is noticed, and the time to its first reply (issue 10, 2).

Through the real app and the Slack emulator, on SQLite and PostgreSQL: what the newcomer sees (one
reaction on their message, one thank-you only they see), what the moderators see (the first posts and
whether anyone answered), and what is stored (timestamps only, never text).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, text

from bot.reminders import send_due_reviews
from bot.services import communities as svc
from bot.services import privacy as privacy_service
from bot.services.communities import ChannelChoice
from bot.services.first_posts import FirstPostSeen, recent_first_posts
from storage.models import ActivityDay, Base, CommunityChannel, FirstPost, Membership
from tests import test_e2e_circles as circles_e2e
from tests import test_e2e_reviews as reviews_e2e
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_communities import open_form, submit
from tests.test_event_path import cache_of, statements

CHANNEL = circles_e2e.CHANNEL
THANKS_EN = "Thank you for your first message in *Urbanism*!"
RULE_EN = "4 contributions on 2 different days within 30 days bring you into the inner circle"
THANKS_FR = "Merci pour votre premier message dans *Urbanisme* !"
RULE_FR = "4 contributions sur 2 jours différents en 30 jours vous font entrer dans le cercle interne"
# The circle rule's own words for what is left (bot/domain/circles.py progress_reason).
PROGRESS_EN = "To join the inner circle: 3 more contributions, at least one of them on another day."
PROGRESS_FR = "Pour rejoindre le cercle interne : encore 3 contributions, dont au moins une un autre jour."


# ---- helpers -----------------------------------------------------------------------------------
def make_community(harness: Harness, *, language: str = "en") -> int:
    """Urbanism (Urbanisme in French), bound to #urbanism, Alice its founder and moderator."""
    if language == "en":
        return circles_e2e.make_community(harness)
    harness.emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE, DAVID])
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft("Urbanisme", domain="Rues", language=language),
            channel=ChannelChoice(CHANNEL, "urbanism", False),
            now=harness.clock.now(),
        )
        s.flush()
        return int(community.id)


def message_event(
    harness: Harness, user: str, *, words: str = "hello", thread_ts: str | None = None
) -> dict[str, Any]:
    """A message as Slack sends it, also put in the emulated channel's history (what reactions.add
    finds)."""
    ts = circles_e2e.now_ts(harness)
    extra = {"thread_ts": thread_ts} if thread_ts else {}
    harness.emulator.add_message(CHANNEL, user, ts, **extra)
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": user,
        "text": words,
        "ts": ts,
        "channel_type": "channel",
        **extra,
    }


def post(
    harness: Harness, user: str, *, words: str = "hello", thread_ts: str | None = None, advance: int = 1
) -> str:
    """`user` posts; the event is delivered, then the outbox drained. The message's ts."""
    body = message_event(harness, user, words=words, thread_ts=thread_ts)
    assert harness.slack.event(body).status == 200
    harness.clock.advance(timedelta(minutes=advance))
    return str(body["ts"])


def thanks_to(harness: Harness, user: str) -> list[str]:
    return [str(p.get("text") or "") for p in harness.emulator.ephemerals_to(user)]


def reactions_added(harness: Harness) -> list[dict[str, Any]]:
    return harness.emulator.successful_calls_to("reactions.add")


def first_posts(harness: Harness, community_id: int) -> list[FirstPostSeen]:
    with harness.db.session() as session:
        return recent_first_posts(
            session, team_id=harness.emulator.team_id, community_id=community_id, now=harness.clock.now()
        )


def set_emoji(harness: Harness, value: str, *, user: str = ALICE) -> Any:
    view = open_form(harness, "settings Urbanism", user)
    block = next(b for b in view["blocks"] if b.get("block_id") == "first_post_emoji")
    assert block["optional"] is True
    return submit(harness, view, user, first_post_emoji=value)


# ---- the newcomer ------------------------------------------------------------------------------
def test_a_first_post_gets_one_reaction_and_one_thank_you_even_when_retried(harness: Harness) -> None:
    make_community(harness)
    body = message_event(harness, CHLOE)
    for retry in (None, 1, 2, 3):  # Slack retries the same event id three times
        result = harness.slack.event(body, event_id="EvFIRST", retry_num=retry)
        assert result.status == 200
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, body["ts"]) == ["wave"]
    assert len(reactions_added(harness)) == 1
    [thanks] = thanks_to(harness, CHLOE)
    assert THANKS_EN in thanks and RULE_EN in thanks and thanks.endswith(PROGRESS_EN)
    assert harness.emulator.ephemerals_to(CHLOE)[0]["channel"] == CHANNEL
    harness.clock.advance(timedelta(minutes=3))

    second = post(harness, CHLOE)  # the second post: nothing more
    harness.clock.advance(timedelta(days=1))
    post(harness, CHLOE)  # nor on another day
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, second) == []
    assert len(reactions_added(harness)) == 1
    assert len(thanks_to(harness, CHLOE)) == 1


def test_a_first_post_in_french(harness: Harness) -> None:
    make_community(harness, language="fr")
    ts = post(harness, DAVID)
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == ["wave"]
    [thanks] = thanks_to(harness, DAVID)
    assert THANKS_FR in thanks and RULE_FR in thanks and thanks.endswith(PROGRESS_FR)
    assert "cercle externe" in thanks
    # The thank-you speaks the poster's language, as their welcome does, not the community's.
    post(harness, CHLOE)  # en-GB
    harness.drain()
    [thanks] = thanks_to(harness, CHLOE)
    assert "Thank you for your first message in *Urbanisme*!" in thanks


def test_a_founder_or_moderator_first_post_is_not_a_newcomer_s(harness: Harness) -> None:
    make_community(harness)
    ts = post(harness, ALICE)  # the founder, a moderator
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == []
    assert reactions_added(harness) == [] and thanks_to(harness, ALICE) == []


def test_someone_who_contributed_before_is_not_thanked(harness: Harness) -> None:
    """History older than the rule's window (the channel's backfill, or before this feature): not a
    newcomer, though the window alone shows nothing."""
    community_id = make_community(harness)
    with harness.db.session() as s:
        s.add(
            ActivityDay(
                team_id=harness.emulator.team_id,
                community_id=community_id,
                channel_id=CHANNEL,
                user_id=CHLOE,
                day=(harness.clock.now() - timedelta(days=60)).date(),
                contributions=3,
                reactions=0,
            )
        )
    ts = post(harness, CHLOE)
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == []
    assert thanks_to(harness, CHLOE) == []
    assert first_posts(harness, community_id) == []


def test_the_reaction_emoji_is_a_setting_and_empty_means_none(harness: Harness) -> None:
    make_community(harness)
    assert set_emoji(harness, ":tada:") is None  # saved: the modal closes
    ts = post(harness, BRUNO)
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == ["tada"]
    view = open_form(harness, "settings Urbanism", ALICE)  # shown as it is now
    block = next(b for b in view["blocks"] if b.get("block_id") == "first_post_emoji")
    assert block["element"]["initial_value"] == "tada"

    assert set_emoji(harness, "") is None
    ts = post(harness, CHLOE)
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == []
    assert len(reactions_added(harness)) == 1
    assert len(thanks_to(harness, CHLOE)) == 1  # no reaction, still the thank-you


@pytest.mark.parametrize(
    ("user", "error"),
    [(ALICE, "That is not an emoji name"), (BRUNO, "Ce n'est pas un nom d'emoji")],
)
def test_a_bad_emoji_is_refused_on_its_field_in_the_user_s_language(
    harness: Harness, user: str, error: str
) -> None:
    community_id = make_community(harness)
    if user == BRUNO:  # Bruno (French) moderates too
        with harness.db.session() as s:
            community = svc.require_by_id(s, team_id=harness.emulator.team_id, community_id=community_id)
            svc.set_moderators(s, community=community, user_ids=(ALICE, BRUNO), now=harness.clock.now())
    answer = set_emoji(harness, "not an emoji!", user=user)
    assert answer["response_action"] == "errors"
    assert error in answer["errors"]["first_post_emoji"]
    ts = post(harness, CHLOE)
    harness.drain()
    assert harness.emulator.reactions_on(CHANNEL, ts) == ["wave"]  # nothing changed


# ---- the first reply -----------------------------------------------------------------------------
def test_a_reply_by_someone_else_sets_the_time_to_first_reply_once(harness: Harness) -> None:
    community_id = make_community(harness)
    first = post(harness, BRUNO, advance=10)
    post(harness, BRUNO, thread_ts=first, advance=20)  # the newcomer themself: no reply
    [seen] = first_posts(harness, community_id)
    assert seen.user_id == BRUNO and not seen.replied and seen.time_to_first_reply is None
    assert seen.channel_id == CHANNEL

    post(harness, ALICE, thread_ts=first, advance=15)  # 30 minutes after the first post
    post(harness, ALICE)  # later messages change nothing
    [seen] = first_posts(harness, community_id)
    assert seen.replied and seen.time_to_first_reply == timedelta(minutes=30)
    assert seen.first_reply_by == ALICE


def test_a_message_in_the_channel_outside_the_thread_is_a_reply_too(harness: Harness) -> None:
    community_id = make_community(harness)
    post(harness, BRUNO, advance=90)
    post(harness, CHLOE)  # Chloe's own first post, and the first answer to Bruno's
    by_user = {p.user_id: p for p in first_posts(harness, community_id)}
    assert by_user[BRUNO].time_to_first_reply == timedelta(minutes=90)
    assert not by_user[CHLOE].replied
    post(harness, BRUNO)
    by_user = {p.user_id: p for p in first_posts(harness, community_id)}
    assert by_user[CHLOE].time_to_first_reply == timedelta(minutes=1)


def test_the_moderators_review_prompt_lists_first_posts(harness: Harness) -> None:
    reviews_e2e.make_community(harness, moderators=(ALICE, BRUNO))  # Bruno reads French
    harness.clock.set(reviews_e2e.FIRST_DUE - timedelta(hours=3))
    first = post(harness, CHLOE, advance=45)
    post(harness, DAVID, advance=5)  # David's first post; he answers Chloe 45 minutes later
    assert first
    harness.clock.set(reviews_e2e.FIRST_DUE)
    reviews_e2e.run(harness, send_due_reviews)
    [alice_prompt] = reviews_e2e.prompts_to(harness, ALICE)
    words = json.dumps(alice_prompt["blocks"], ensure_ascii=False)
    assert "First posts since the last review" in words
    assert f"<@{CHLOE}> posted for the first time 3 hours ago — first reply after 45 minutes" in words
    assert f"<@{DAVID}> posted for the first time 2 hours ago — nobody has replied yet" in words
    [bruno_prompt] = reviews_e2e.prompts_to(harness, BRUNO)
    words = json.dumps(bruno_prompt["blocks"], ensure_ascii=False)
    assert f"<@{DAVID}> a publié pour la première fois il y a 2 h — personne n'a encore répondu" in words


def test_ordinary_messages_stay_one_statement_on_postgresql(harness: Harness) -> None:
    """Issue 9: once a first post is answered, the channel's messages cost one statement again; while
    it waits, the newcomer's own messages cost one too (only someone else's answer costs a second)."""
    make_community(harness)
    cache_of(harness.db).ttl = 3600
    post(harness, ALICE)
    post(harness, BRUNO)  # Bruno's first post: waits for a reply
    with statements(harness) as seen:
        harness.slack.event(message_event(harness, BRUNO))
    harness.clock.advance(timedelta(minutes=1))
    counted = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    if harness.db.backend == "postgresql":
        assert len(counted) == 1, counted
    post(harness, ALICE)  # the answer: recorded, the channel's mark cleared
    with harness.db.session() as s:
        assert s.scalars(select(CommunityChannel.awaiting_reply_since)).all() == [None]
    with statements(harness) as seen:
        harness.slack.event(message_event(harness, ALICE))
    counted = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    if harness.db.backend == "postgresql":
        assert len(counted) == 1, counted
    else:
        assert 1 < len(counted) <= 6, counted


# ---- what is stored ------------------------------------------------------------------------------
def test_no_message_text_is_stored_anywhere(harness: Harness) -> None:
    community_id = make_community(harness)
    secret = "SECRET-words-of-a-newcomer-42"
    first = post(harness, BRUNO, words=secret)
    post(harness, ALICE, words=secret + " reply", thread_ts=first)
    harness.drain()
    with harness.db.session() as s:
        [row] = s.scalars(select(FirstPost)).all()
        assert (row.community_id, row.user_id, row.channel_id, row.message_ts) == (
            community_id,
            BRUNO,
            CHANNEL,
            first,
        )
        assert row.first_reply_by == ALICE and row.first_reply_at is not None
        membership = s.scalars(select(Membership).where(Membership.user_id == BRUNO)).one()
        assert membership.first_contribution_at == row.posted_at
        for table in Base.metadata.sorted_tables:
            for values in s.execute(text(f"SELECT * FROM {table.name}")).all():
                assert "SECRET" not in repr(tuple(values)), table.name


def test_the_export_shows_first_posts_and_forgetting_erases_them(harness: Harness) -> None:
    community_id = make_community(harness)
    first = post(harness, BRUNO)
    post(harness, CHLOE, thread_ts=first)
    harness.drain()
    with harness.db.session() as s:
        mine = privacy_service.export(
            s, team_id=harness.emulator.team_id, user_id=BRUNO, lang="fr", now=harness.clock.now()
        )
        answered = privacy_service.export(
            s, team_id=harness.emulator.team_id, user_id=ALICE, lang="en", now=harness.clock.now()
        )
    [own] = [p for p in mine["first_posts"] if p["yours"]]
    assert (own["community"], own["message_ts"], own["first_reply_by"]) == ("Urbanism", first, CHLOE)
    assert "jamais son texte" in mine["sections"]["first_posts"]
    assert mine["memberships"][0]["first_contribution_at"] == own["posted_at"]
    assert answered["first_posts"] == []
    with harness.db.session() as s:
        from storage.repositories import privacy as privacy_repo

        privacy_repo.erase(s, team_id=harness.emulator.team_id, user_id=CHLOE, former="")
    [seen] = first_posts(harness, community_id)
    assert seen.user_id == BRUNO and seen.replied and seen.first_reply_by == ""
    with harness.db.session() as s:
        privacy_repo.erase(s, team_id=harness.emulator.team_id, user_id=BRUNO, former="")
    assert first_posts(harness, community_id) == []


# ---- the emulator plays Slack ---------------------------------------------------------------------
def test_the_emulator_answers_already_reacted_like_slack(harness: Harness) -> None:
    harness.emulator.add_channel("CEMU", "emu", members=[ALICE])
    harness.emulator.add_message("CEMU", ALICE, "100.000001")
    client = WebClient(token=harness.emulator.token, base_url=harness.emulator.api_url)
    client.reactions_add(channel="CEMU", timestamp="100.000001", name="wave")
    with pytest.raises(SlackApiError) as again:
        client.reactions_add(channel="CEMU", timestamp="100.000001", name="wave")
    assert again.value.response["error"] == "already_reacted"
    with pytest.raises(SlackApiError) as missing:
        client.reactions_add(channel="CEMU", timestamp="999.000001", name="wave")
    assert missing.value.response["error"] == "message_not_found"
    assert harness.emulator.reactions_on("CEMU", "100.000001") == ["wave"]
