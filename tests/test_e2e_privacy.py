"""End to end: trust and privacy (issue 8, section 4, and the export's language, section 5).

Protected communities live in private channels; `/cdp privacy export` shows everything stored about a
person, in their language; `/cdp privacy forget` leaves their id nowhere in the database; the list of
forgotten people holds a keyed hash only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import select, text

from bot.reminders import tick
from bot.server import HttpServer, Runtime
from bot.testing.slack_emulator import SignedSender
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import (
    AppSecret,
    Base,
    Community,
    ForgottenUser,
    JoinRequest,
    Membership,
    OutboxMessage,
    Review,
)
from storage.repositories import activity as activity_repo
from storage.repositories import privacy as privacy_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, SIGNING_SECRET, Harness, app_settings
from tests.test_e2e_communities import (
    DOMAIN,
    add_channel,
    bindings,
    community_named,
    create_community,
    join_request_buttons,
    open_form,
    row_counts,
    say,
    shown,
    submit,
)
from tests.test_e2e_reviews import ALL_YES

JSON = dict[str, Any]


# ---- helpers -----------------------------------------------------------------------------------
def post(harness: Harness, channel: str, user: str, sender: SignedSender | None = None) -> None:
    """`user` posts in `channel` a minute from now."""
    harness.clock.advance(timedelta(minutes=1))
    event = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": "hello",
        "ts": f"{harness.clock.now().timestamp():.6f}",
        "channel_type": "group",
    }
    assert (sender or harness.slack).event(event).status == 200


def react(harness: Harness, channel: str, user: str) -> None:
    harness.clock.advance(timedelta(minutes=1))
    ts = f"{harness.clock.now().timestamp():.6f}"
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": ts,
    }
    assert harness.slack.event(event).status == 200


def contributions(harness: Harness, user: str) -> int:
    with harness.db.session() as session:
        rows = activity_repo.for_user(session, team_id=harness.emulator.team_id, user_id=user)
        return sum(a.contributions for a in rows)


def rows_naming(harness: Harness, user_id: str) -> dict[str, int]:
    """Per table, the rows where any column (text or JSON) holds the id: what the database knows of them."""
    found: dict[str, int] = {}
    with harness.db.session() as session:
        for table in Base.metadata.sorted_tables:
            count = sum(1 for row in session.execute(select(table)) if user_id in repr(tuple(row)))
            if count:
                found[table.name] = count
    return found


def exported(harness: Harness, user: str) -> JSON:
    """Type `/cdp privacy export` and read the file the app uploaded."""
    before = set(harness.emulator.uploads)
    answer = say(harness, "privacy export", user)
    assert "le fichier arrivera dans un instant" in answer or "the file will arrive" in answer
    # Only the export: community charts may be uploaded meanwhile (review prompts the tick wrote).
    [new] = [
        u
        for key, u in harness.emulator.uploads.items()
        if key not in before and u.filename == "cdp-bot-my-data.json"
    ]
    data: JSON = json.loads(new.content)
    return data


def complete_review(harness: Harness, user: str, community: str, **values: str) -> None:
    """`/cdp review name` opens the checklist at once; submit it answered."""
    assert harness.slack.command(f"review {community}", user).text == ""
    view = harness.emulator.last_view()
    assert view["callback_id"] == "review_checklist"
    result = harness.slack.view_submission(view, user, {**ALL_YES, "decision": "continue", **values})
    assert result.status == 200 and result.text == "", result.text


def by_community(items: list[JSON]) -> dict[str, JSON]:
    return {item["community"]: item for item in items}


# ---- 1. protected communities live in private channels ------------------------------------------
def test_a_protected_community_gets_a_private_new_channel(harness: Harness) -> None:
    trust = create_community(
        harness, ALICE, "Trust circle", channel=None, new_channel="trust-circle", visibility="protected"
    )
    [call] = harness.emulator.calls_to("conversations.create")
    assert str(call.get("is_private")).lower() in ("true", "1")
    [binding] = bindings(harness, trust.id)
    assert binding.is_private
    assert harness.emulator.channels[binding.channel_id]["is_private"]
    # An open community's new channel stays public: anyone may read it and join.
    streets = create_community(harness, ALICE, "Safe streets", channel=None, new_channel="safe-streets")
    [binding] = bindings(harness, streets.id)
    assert not binding.is_private and not harness.emulator.channels[binding.channel_id]["is_private"]


def test_a_public_channel_is_refused_for_a_protected_community(harness: Harness) -> None:
    add_channel(harness, "CPUBLIC", "public-talk", bot_is_member=False)
    before = row_counts(harness)
    view = open_form(harness, "create", ALICE)
    answer = submit(
        harness, view, ALICE, name="Trust circle", domain=DOMAIN, channel="CPUBLIC", visibility="protected"
    )
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["channel"]
    assert answer["errors"]["channel"].startswith("A protected community lives in a private channel")
    assert row_counts(harness) == before
    assert harness.emulator.calls_to("conversations.join") == []  # refused before the bot joined it
    # In French for a French speaker.
    view = open_form(harness, "create", BRUNO)
    answer = submit(
        harness, view, BRUNO, name="Cercle", domain=DOMAIN, channel="CGENERAL", visibility="protected"
    )
    assert answer["errors"]["channel"].startswith("Une communauté protégée vit dans un canal privé")
    assert row_counts(harness) == before
    # The same public channel is fine for an open community.
    assert create_community(harness, ALICE, "Open talk", channel="CPUBLIC").visibility == "open"
    assert [c["channel"] for c in harness.emulator.calls_to("conversations.join")] == ["CPUBLIC"]


def test_settings_refuse_protected_while_a_public_channel_is_bound(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets")  # in #general, public
    view = open_form(harness, "settings Safe streets", ALICE)
    before = row_counts(harness)
    answer = submit(harness, view, ALICE, visibility="protected", cadence="12", language="fr")
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["channels"]
    assert answer["errors"]["channels"].startswith("A protected community lives in private channels only")
    unchanged = community_named(harness, "Safe streets")
    assert (unchanged.visibility, unchanged.review_cadence_weeks, unchanged.language) == ("open", 4, "en")
    assert row_counts(harness) == before

    # A protected community cannot take a public channel either, and the bot does not join it.
    trust = create_community(
        harness, ALICE, "Trust circle", channel=None, new_channel="trust", visibility="protected"
    )
    add_channel(harness, "CSCHOOLS", "school-routes", bot_is_member=False)
    view = open_form(harness, "settings Trust circle", ALICE)
    channels = [b.channel_id for b in bindings(harness, trust.id)]
    harness.emulator.reset_calls()
    before = row_counts(harness)
    answer = submit(harness, view, ALICE, channels=[*channels, "CSCHOOLS"])
    assert list(answer["errors"]) == ["channels"]
    assert "private channels only" in answer["errors"]["channels"]
    assert [b.channel_id for b in bindings(harness, trust.id)] == channels
    assert row_counts(harness) == before
    assert harness.emulator.calls_to("conversations.join") == []


def test_settings_switch_to_protected_once_the_channels_are_private(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    community = create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    assert not bindings(harness, community.id)[0].is_private
    harness.emulator.channels["CSTREETS"].update(is_private=True, is_channel=False)  # made private in Slack
    add_channel(harness, "CPRIVATE", "safe-streets-core", is_private=True, bot_is_member=True)
    view = open_form(harness, "settings Safe streets", ALICE)
    answer = submit(harness, view, ALICE, visibility="protected", channels=["CSTREETS", "CPRIVATE"])
    assert answer is None, answer
    assert community_named(harness, "Safe streets").visibility == "protected"
    assert [(b.channel_id, b.is_private) for b in bindings(harness, community.id)] == [
        ("CSTREETS", True),
        ("CPRIVATE", True),
    ]


# ---- 2 and 3. export everything, in the person's language; forget everything -------------------
def bruno_does_everything(harness: Harness) -> dict[str, Any]:
    """Bruno (French-speaking) leaves a trace in every place the app stores a person's id."""
    team = harness.emulator.team_id
    trust = create_community(
        harness,
        ALICE,
        "Trust circle",
        channel=None,
        new_channel="trust",
        visibility="protected",
        moderators=[ALICE, BRUNO],
        key_people=[BRUNO],
    )
    trust_channel = bindings(harness, trust.id)[0].channel_id
    say(harness, "join Trust circle", CHLOE)
    approve = join_request_buttons(harness, BRUNO)["join_request_approve"]
    assert harness.slack.block_action(BRUNO, "join_request_approve", value=approve).status == 200
    add_channel(harness, "CURB", "urbanism")
    create_community(harness, BRUNO, "Urbanism", channel="CURB")  # he is its only moderator
    create_community(harness, BRUNO, "Old group", channel=None, new_channel="old-group")
    assert submit(harness, open_form(harness, "dissolve Old group", BRUNO), BRUNO) is None
    create_community(harness, DAVID, "Quiet room", channel=None, new_channel="quiet", visibility="protected")
    say(harness, "join Quiet room", BRUNO)  # his own request, still pending
    water = create_community(harness, ALICE, "Water", channel=None, new_channel="water")
    say(harness, "join Water", BRUNO)  # he will read without posting, then be greeted

    for _ in range(2):  # 4 contributions on 2 days: the inner circle of Trust circle
        post(harness, trust_channel, BRUNO)
        post(harness, trust_channel, BRUNO)
        harness.clock.advance(timedelta(days=1))
    react(harness, trust_channel, BRUNO)
    harness.clock.advance(timedelta(days=14))
    greeted = harness.slack.block_action(ALICE, "alert_greeted", value=str(water.id), channel="DM")
    assert greeted.status == 200
    complete_review(
        harness,
        BRUNO,
        "Trust circle",
        item_moderator_time="partly",
        note_moderator_time="Plus de temps en mai",
    )
    complete_review(
        harness,
        ALICE,
        "Water",
        note_key_people="Welcomed <@UBRUNO> last week",
        note_enough_people="A good group",
    )
    now = harness.clock.now()
    later = datetime.now(UTC) + timedelta(days=1)  # not due yet: the worker leaves them pending
    with harness.db.session() as session:  # the outbox (sent by a worker): messages to him and about him
        session.add_all(
            [
                OutboxMessage(
                    team_id=team,
                    kind="message",
                    target=BRUNO,
                    payload={
                        "render": "text",
                        "args": {"key_name": "activity.promotion.note", "params": {"name": "Trust circle"}},
                    },
                    dedupe_key=f"promotion:{trust.id}:{BRUNO}",
                    status="pending",
                    created_at=now,
                    not_before=later,
                    attempts=0,
                ),
                OutboxMessage(
                    team_id=team,
                    kind="message",
                    target=DAVID,
                    payload={
                        "render": "communities.join_request",
                        "args": {"name": "Quiet room", "requester": BRUNO, "request_id": 1},
                    },
                    ref="join_request:quiet",
                    status="sent",
                    created_at=now,
                    not_before=now,
                    attempts=1,
                    sent_at=now,
                ),
                OutboxMessage(
                    team_id=team,
                    kind="message",
                    target=ALICE,
                    payload={"render": "plain", "args": {"text": "review 1"}},
                    status="pending",
                    created_at=now,
                    not_before=later,
                    attempts=0,
                ),
            ]
        )
    return {"trust": trust.id, "trust_channel": trust_channel, "water": water.id}


def test_export_shows_every_stored_fact_and_forget_leaves_the_id_nowhere(harness: Harness) -> None:
    ids = bruno_does_everything(harness)
    stored = rows_naming(harness, BRUNO)
    assert set(stored) == {
        "communities",
        "memberships",
        "join_requests",
        "activity_days",
        "circle_changes",
        "reviews",
        "review_answers",  # his answers to the review he completed (a review done together)
        "outbox",
    }

    data = exported(harness, BRUNO)
    assert (data["user_id"], data["language"]) == (BRUNO, "fr")
    assert data["note"].startswith("Tout ce que cdp-bot enregistre sur vous")
    assert data["sections"]["memberships"].startswith("Les communautés dont vous êtes")
    # Every row that names him is in the file: as many rows per table as entries.
    shown_rows = {
        "communities": len(
            {
                c["community"]
                for key in ("communities_created", "communities_dissolved", "key_person_of")
                for c in data[key]
            }
        ),
        "memberships": len(data["memberships"]),
        "join_requests": len(data["join_requests"]) + len(data["requests_decided"]),
        "activity_days": len(data["activity_days"]),
        "circle_changes": len(data["circle_changes"]),
        "reviews": len(data["reviews_completed"]) + len(data["review_notes_about_you"]),
        "outbox": len(data["outbox"]),
        "review_answers": len(data["review_answers_saved"]),
    }
    assert shown_rows == stored
    # ...with what each row says, labels in French.
    memberships = by_community(data["memberships"])
    assert set(memberships) == {"Trust circle", "Urbanism", "Old group", "Water"}
    trust = memberships["Trust circle"]
    assert (trust["role"], trust["role_label"]) == ("core", "groupe central (modérateur)")
    assert (trust["circle"], trust["circle_label"]) == ("inner", "cercle interne")
    water = memberships["Water"]
    assert (water["role_label"], water["circle_label"], water["joined_via"]) == (
        "membre",
        "cercle externe",
        "command",
    )
    assert water["joined_via_label"] == "adhésion par /cdp join"
    assert water["greeted_at"] is not None
    assert sum(a["contributions"] for a in data["activity_days"]) == 4
    assert sum(a["reactions"] for a in data["activity_days"]) == 1
    assert {a["channel_id"] for a in data["activity_days"]} == {ids["trust_channel"]}
    [change] = data["circle_changes"]
    assert (change["from_label"], change["to_label"]) == ("cercle externe", "cercle interne")
    assert change["reason_text"].startswith("Bienvenue dans le cercle interne : 4 contributions sur 2 jours")
    [request] = data["join_requests"]
    assert (request["community"], request["status"], request["status_label"]) == (
        "Quiet room",
        "pending",
        "en attente d'un modérateur",
    )
    [decided] = data["requests_decided"]
    assert (decided["community"], decided["requester"], decided["decision_label"]) == (
        "Trust circle",
        CHLOE,
        "approuvée",
    )
    assert [c["community"] for c in data["communities_created"]] == ["Urbanism", "Old group"]
    assert [c["community"] for c in data["communities_dissolved"]] == ["Old group"]
    assert [c["community"] for c in data["key_person_of"]] == ["Trust circle"]
    [review] = data["reviews_completed"]
    assert (review["community"], review["decision_label"]) == ("Trust circle", "Continuer ainsi")
    answers = {a["item"]: a for a in review["answers"]}
    assert len(answers) == 8
    assert (answers["moderator_time"]["answer_label"], answers["moderator_time"]["note"]) == (
        "En partie",
        "Plus de temps en mai",
    )
    assert answers["moderator_time"]["question"].startswith("Un modérateur a-t-il le temps")
    assert data["review_notes_about_you"] == [
        {
            "community": "Water",
            "due_on": data["review_notes_about_you"][0]["due_on"],
            "item": "key_people",
            "note": "Welcomed <@UBRUNO> last week",
        }
    ]
    outbox = sorted((m["to_you"], m["status_label"]) for m in data["outbox"])
    # Messages sent to him (the join request he decided...), one still owed to him, one about him.
    assert {(True, "envoyé"), (True, "pas encore envoyé"), (False, "envoyé")} <= set(outbox)
    assert (data["forgotten"], data["forgotten_label"]) == (
        False,
        "Vous n'avez pas demandé l'effacement de vos données.",
    )
    # English speakers read English labels.
    english = exported(harness, ALICE)
    assert english["note"].startswith("Everything cdp-bot stores about you")
    assert {m["role_label"] for m in english["memberships"]} == {"core group (moderator)"}

    # Forget: the modal warns that Urbanism would have no moderator left (not the others).
    assert harness.slack.command("privacy forget", BRUNO).status == 200
    view = harness.emulator.last_view()
    warning = shown(view)
    assert "Vous êtes le dernier modérateur de *Urbanism*" in warning
    assert "Trust circle" not in warning and "Old group" not in warning  # co-moderated; dissolved
    result = harness.slack.view_submission(view, BRUNO)
    assert result.status == 200
    assert "C'est fait" in json.dumps(result.json(), ensure_ascii=False)

    assert rows_naming(harness, BRUNO) == {}  # his id is in no column of any table
    with harness.db.session() as session:
        communities = {c.name: c for c in session.scalars(select(Community))}
        assert communities["Urbanism"].created_by == ""  # "a former member"
        assert (communities["Old group"].status, communities["Old group"].dissolved_by) == ("dissolved", "")
        assert communities["Old group"].created_by == ""
        assert communities["Trust circle"].key_people == []
        assert communities["Trust circle"].created_by == ALICE
        chloe_request = session.scalars(select(JoinRequest).where(JoinRequest.user_id == CHLOE)).one()
        assert (chloe_request.status, chloe_request.decided_by) == ("approved", "")
        reviews = {r.community_id: r for r in session.scalars(select(Review))}
        his = reviews[ids["trust"]]
        assert (his.completed_by, his.decision) == ("", "continue")
        assert {a["item"]: (a["answer"], a["note"]) for a in his.answers or []}["moderator_time"] == (
            "partly",
            "",
        )
        assert all(a["note"] == "" for a in his.answers or [])
        hers = {a["item"]: (a["answer"], a["note"]) for a in reviews[ids["water"]].answers or []}
        assert hers["key_people"] == ("yes", "")  # her note named him: erased, her answer kept
        assert hers["enough_people"] == ("yes", "A good group")
        kept = session.scalars(select(OutboxMessage)).all()
        assert BRUNO not in {m.target for m in kept}
        assert {"text": "review 1"} in [m.payload.get("args") for m in kept]  # not about him: kept
        assert session.scalars(select(Membership).where(Membership.community_id == ids["trust"])).all()
        [forgotten] = session.scalars(select(ForgottenUser)).all()
        assert len(forgotten.user_hash) == 64

    # The history reads "a former member" where it named him.
    harness.slack.block_action(ALICE, "join_request_decline", value=approve_value(harness))
    assert "This request was already approved by a former member." in shown(harness.emulator.responses[-1][1])
    harness.slack.block_action(ALICE, "review_start", value=str(his.id), channel="DM")
    assert "already completed by a former member." in harness.emulator.responses[-1][1]["text"]
    assert "*Urbanism*" in say(harness, "info Urbanism", CHLOE)
    assert "*Urbanism*" in say(harness, "list", CHLOE)

    # Urbanism has no moderator nor creator any more: its review and momentum alerts still run, to the
    # members still there, and name nobody who is gone.
    harness.clock.advance(timedelta(days=30))
    tick(harness.runtime.deps, harness.jobs_client)
    assert rows_naming(harness, BRUNO) == {}

    # His export now says he asked to be forgotten, and nothing else.
    after = exported(harness, BRUNO)
    assert after["forgotten"] is True
    assert after["forgotten_label"].startswith("Vous avez demandé l'effacement de vos données")
    assert all(after[key] == [] for key in after["sections"] if key != "forgotten")

    # Still in the Slack channel, he is not counted...
    post(harness, ids["trust_channel"], BRUNO)
    assert contributions(harness, BRUNO) == 0
    # ...until he joins a community again.
    say(harness, "join Water", BRUNO)
    post(harness, bindings(harness, ids["water"])[0].channel_id, BRUNO)
    assert contributions(harness, BRUNO) == 1
    with harness.db.session() as session:
        assert session.scalars(select(ForgottenUser)).all() == []


def approve_value(harness: Harness) -> str:
    with harness.db.session() as session:
        return str(session.scalars(select(JoinRequest.id).where(JoinRequest.user_id == CHLOE)).one())


def test_the_forgotten_list_holds_a_keyed_hash_that_another_instance_recognises(harness: Harness) -> None:
    add_channel(harness, "CURB", "urbanism")
    create_community(harness, ALICE, "Urbanism", channel="CURB")
    say(harness, "join Urbanism", BRUNO)
    post(harness, "CURB", BRUNO)
    assert contributions(harness, BRUNO) == 1
    harness.slack.command("privacy forget", BRUNO)
    view = harness.emulator.last_view()
    assert "dernier modérateur" not in shown(view)  # not a moderator: no warning
    assert harness.slack.view_submission(view, BRUNO).status == 200

    team = harness.emulator.team_id
    with harness.db.session() as session:
        [row] = session.scalars(select(ForgottenUser)).all()
        key = session.scalar(select(AppSecret.value).where(AppSecret.name == "forgotten_users_hmac"))
        assert key is not None and len(key) == 64
        expected = hmac.new(bytes.fromhex(key), json.dumps([team, BRUNO]).encode(), hashlib.sha256)
        assert (row.team_id, row.user_hash) == (team, expected.hexdigest())

    # Another instance, started afresh on the same database, uses the same key: he stays forgotten.
    other = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    server = HttpServer(other)
    try:
        sender = SignedSender(server.start(), SIGNING_SECRET, harness.emulator)
        post(harness, "CURB", BRUNO, sender)
        post(harness, "CURB", CHLOE, sender)  # someone else is counted (the event really arrived)
        assert contributions(harness, BRUNO) == 0
        assert contributions(harness, CHLOE) == 1
        with harness.db.session() as session:
            assert session.scalar(select(AppSecret.value)) == key
    finally:
        server.stop()
        other.close()


def test_migration_0005_turns_forgotten_ids_into_keyed_hashes(database_url: str) -> None:
    db = Database(database_url)
    try:
        command.downgrade(alembic_config(db.engine), "0004")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO forgotten_users (team_id, user_id, forgotten_at)"
                    " VALUES ('T1', 'UBRUNO', '2026-03-02 09:00:00'), ('T1', 'UCHLOE', '2026-03-02 09:00:00')"
                )
            )
        upgrade(db.engine)
        with db.session() as session:
            assert activity_repo.is_forgotten(session, team_id="T1", user_id=BRUNO)
            assert activity_repo.is_forgotten(session, team_id="T1", user_id=CHLOE)
            assert not activity_repo.is_forgotten(session, team_id="T2", user_id=BRUNO)
            assert not activity_repo.is_forgotten(session, team_id="T1", user_id=ALICE)
            rows = session.execute(select(ForgottenUser.__table__)).all()
            assert len(rows) == 2
            assert not any(BRUNO in repr(tuple(row)) or CHLOE in repr(tuple(row)) for row in rows)
    finally:
        db.dispose()


def test_a_person_is_named_by_their_whole_id_only() -> None:
    assert privacy_repo.names("Welcomed <@UBRUNO> last week", BRUNO)
    assert privacy_repo.names({"renderer": "join_request", "people": ["UALICE", "UBRUNO"]}, BRUNO)
    assert privacy_repo.names(["dm:UBRUNO:3", None], BRUNO)
    assert not privacy_repo.names("<@UBRUNO2> and UBRUNOX", BRUNO)  # someone else
    assert not privacy_repo.names({"count": 3, "user": "UALICE"}, BRUNO)
