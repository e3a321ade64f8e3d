"""The four typical objectives as a path (issue 11, item 9), end to end through the emulator: the path
in `/cdp info`, the stage in the directories and the review prompt, the review's question moving a
community on, the settings, in English and French; and the migration's backfill on both databases."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import Community, StageChange
from tests.conftest import ALICE, BACKENDS, BRUNO, CHLOE, DAVID, PG_URL, Harness, replace_schema, schema_url
from tests.test_e2e_communities import (
    community_named,
    create_community,
    dms,
    initial_values,
    open_form,
    say,
    shown,
    submit,
)
from tests.test_e2e_home import open_home
from tests.test_e2e_privacy import exported, rows_naming
from tests.test_e2e_reviews import ALL_YES, prompts_to, run

EX, DEV, TEST, CHANGE = "exchange_information", "develop_solutions", "test_applications", "change_process"
JSON = dict[str, Any]


def urbanism(harness: Harness, *objectives: str, language: str = "en") -> Community:
    """Urbanism, in CGENERAL, moderated by Alice (English) and Bruno (French)."""
    return create_community(
        harness, ALICE, "Urbanism", objectives=list(objectives), moderators=[ALICE, BRUNO], language=language
    )


def checklist(harness: Harness, user: str) -> JSON:
    """`/cdp review Urbanism`: the checklist opens at once."""
    view = open_form(harness, "review Urbanism", user)
    assert view["callback_id"] == "review_checklist"
    return view


def question(view: JSON) -> JSON | None:
    return next((b for b in view["blocks"] if b.get("block_id") == "stage_next"), None)


def complete(harness: Harness, user: str, decision: str = "continue", **values: Any) -> Any:
    """Fill in the checklist (every item yes) with `decision` and `values`; the follow-ups are sent."""
    view = checklist(harness, user)
    answer = harness.slack.view_submission(view, user, {**ALL_YES, "decision": decision, **values})
    assert answer.status == 200
    harness.drain()
    return answer


def stage_of(harness: Harness) -> str | None:
    return community_named(harness, "Urbanism").stage


def changes(harness: Harness) -> list[StageChange]:
    with harness.db.session() as session:
        return list(session.scalars(select(StageChange).order_by(StageChange.id)))


def next_day(harness: Harness) -> None:
    """A day later: an on-demand review completed today makes the next one tomorrow's."""
    harness.clock.advance(timedelta(days=1))


# ---- shown -----------------------------------------------------------------------------------------
def test_info_the_directories_and_the_prompt_show_the_path_in_english_and_french(harness: Harness) -> None:
    urbanism(harness, TEST, EX)  # the form's order does not matter: the card's does
    assert stage_of(harness) == EX  # a new community starts at its first stage
    assert "*Path:* *exchange* (now) → test solutions" in say(harness, "info Urbanism", ALICE)
    assert "*Parcours :* *échanger* (en cours) → tester les solutions" in say(harness, "info Urbanism", BRUNO)
    assert "🧭 exchange (1/2)" in say(harness, "list", CHLOE)
    assert "🧭 échanger (1/2)" in say(harness, "list", DAVID)
    home = open_home(harness, CHLOE)  # not a member: Urbanism is in the Home's directory
    assert home is not None and "🧭 exchange (1/2)" in shown(home)
    home = open_home(harness, DAVID)
    assert home is not None and "🧭 échanger (1/2)" in shown(home)

    # The review prompt says where it stands and what the review will ask.
    harness.clock.set(community_named(harness, "Urbanism").next_due_at or harness.clock.now())
    run(harness)
    [alice] = prompts_to(harness, ALICE)
    assert "Stage: *exchange*. This review asks whether it moves on to: test solutions." in shown(alice)
    [bruno] = prompts_to(harness, BRUNO)
    assert "Étape : *échanger*. Cette revue demande s'il est temps de passer à : tester les solutions." in (
        shown(bruno)
    )


def test_no_typical_objective_no_path(harness: Harness) -> None:
    urbanism(harness)
    assert stage_of(harness) is None
    info = say(harness, "info Urbanism", ALICE)
    assert "Path" not in info and "→" not in info
    assert "🧭" not in say(harness, "list", CHLOE)
    assert question(checklist(harness, ALICE)) is None
    complete(harness, ALICE)
    assert changes(harness) == [] and stage_of(harness) is None


# ---- the review asks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_review_answering_yes_moves_it_on(harness: Harness, language: str) -> None:
    urbanism(harness, EX, TEST, language=language)
    view = checklist(harness, ALICE)
    asked = question(view)
    assert asked is not None and asked.get("optional") is True
    assert asked["label"]["text"] == "Move on to the next stage: test solutions?"
    assert [o["text"]["text"] for o in asked["element"]["options"]] == ["Yes, move on", "Not yet"]
    answer = harness.slack.view_submission(
        view, ALICE, {**ALL_YES, "decision": "continue", "stage_next": TEST}
    )
    assert answer.status == 200 and answer.text == ""
    harness.drain()
    assert stage_of(harness) == TEST
    [change] = changes(harness)
    assert (change.from_stage, change.to_stage, change.changed_by) == (EX, TEST, ALICE)
    assert change.review_id is not None
    # The moderator's word, in their language; the channel's outcome, in the community's.
    said = "🧭 *Urbanism* moves on to: *test solutions*. Path: ✅ exchange → *test solutions* (now)"
    assert any(said in m for m in dms(harness, ALICE))
    channel = [m["text"] for m in harness.emulator.messages_to("CGENERAL")]
    if language == "en":
        assert "🧭 *Urbanism* moves on to: *test solutions*." in channel
    else:
        assert "🧭 *Urbanism* passe à l'étape : *tester les solutions*." in channel
    assert "*Path:* ✅ exchange → *test solutions* (now)" in say(harness, "info Urbanism", ALICE)
    assert "*Parcours :* ✅ échanger → *tester les solutions* (en cours)" in say(
        harness, "info Urbanism", BRUNO
    )
    assert "🧭 test solutions (2/2)" in say(harness, "list", CHLOE)

    # The last stage: the next review asks nothing (in French too).
    next_day(harness)
    view = checklist(harness, BRUNO)
    assert question(view) is None
    assert "Passer à l'étape suivante" not in str(view)


def test_the_question_in_french(harness: Harness) -> None:
    urbanism(harness, EX, DEV, TEST)
    asked = question(checklist(harness, BRUNO))
    assert asked is not None
    assert asked["label"]["text"] == "Passer à l'étape suivante : développer des solutions ?"
    assert [o["text"]["text"] for o in asked["element"]["options"]] == [
        "Oui, passer à la suite",
        "Pas encore",
    ]
    complete(harness, BRUNO, stage_next=DEV)
    assert stage_of(harness) == DEV
    said = "🧭 *Urbanism* passe à l'étape : *développer des solutions*. Parcours : ✅ échanger"
    assert any(said in m for m in dms(harness, BRUNO))
    assert "*Parcours :* ✅ échanger → *développer des solutions* (en cours) → tester les solutions" in say(
        harness, "info Urbanism", BRUNO
    )


def test_not_yet_or_no_answer_keeps_the_stage_and_dissolve_leaves_it(harness: Harness) -> None:
    urbanism(harness, EX, TEST)
    complete(harness, ALICE, stage_next="stay")
    assert stage_of(harness) == EX
    next_day(harness)
    complete(harness, ALICE)  # the question is optional: unanswered, nothing moves
    assert stage_of(harness) == EX
    next_day(harness)
    answer = complete(harness, ALICE, decision="dissolve", stage_next=TEST).json()
    assert answer["view"]["callback_id"] == "community_dissolve"
    assert stage_of(harness) == EX and changes(harness) == []
    assert not any("moves on" in m for m in dms(harness, ALICE))
    assert not any("🧭" in m["text"] for m in harness.emulator.messages_to("CGENERAL"))


def test_a_stale_question_moves_nothing(harness: Harness) -> None:
    """The modal offered the next stage; the settings moved the community there meanwhile: "yes" does
    not skip a stage."""
    urbanism(harness, EX, DEV, TEST)
    view = checklist(harness, ALICE)
    settings = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, settings, ALICE, stage=DEV) is None
    harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "continue", "stage_next": DEV})
    assert stage_of(harness) == DEV
    assert [c.to_stage for c in changes(harness)] == [DEV]


# ---- settings ----------------------------------------------------------------------------------------
def test_moderators_set_the_stage_and_changed_objectives_keep_it_on_the_path(harness: Harness) -> None:
    urbanism(harness, EX, DEV, TEST)
    view = open_form(harness, "settings Urbanism", ALICE)
    assert initial_values(view)["stage"] == EX
    select_block = next(b for b in view["blocks"] if b.get("block_id") == "stage")
    assert [o["value"] for o in select_block["element"]["options"]] == [EX, DEV, TEST]
    assert select_block["label"]["text"] == "Current stage"
    assert submit(harness, view, ALICE, stage=DEV) is None
    assert stage_of(harness) == DEV
    # Develop solutions is no longer chosen: the first chosen stage not yet passed (test).
    view = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, view, ALICE, objectives=[EX, TEST, CHANGE]) is None
    assert stage_of(harness) == TEST
    # None of the four left: no stage, no path.
    view = open_form(harness, "settings Urbanism", ALICE)
    assert submit(harness, view, ALICE, objectives=[]) is None
    assert stage_of(harness) is None
    assert "→" not in say(harness, "info Urbanism", ALICE)
    # Chosen again: the start of the path.
    view = open_form(harness, "settings Urbanism", BRUNO)
    assert next((b for b in view["blocks"] if b.get("block_id") == "stage"), None) is None
    assert submit(harness, view, BRUNO, objectives=[TEST, CHANGE]) is None
    assert stage_of(harness) == TEST
    assert [(c.from_stage, c.to_stage, c.review_id) for c in changes(harness)] == [
        (EX, DEV, None),
        (DEV, TEST, None),
        (TEST, None, None),
        (None, TEST, None),
    ]
    assert changes(harness)[-1].changed_by == BRUNO


def test_the_french_settings_select(harness: Harness) -> None:
    urbanism(harness, EX, TEST)
    view = open_form(harness, "settings Urbanism", BRUNO)
    select_block = next(b for b in view["blocks"] if b.get("block_id") == "stage")
    assert select_block["label"]["text"] == "Étape actuelle"
    assert [o["text"]["text"] for o in select_block["element"]["options"]] == [
        "échanger",
        "tester les solutions",
    ]


# ---- privacy --------------------------------------------------------------------------------------------
def test_a_moderators_moves_are_in_their_export_and_forgetting_them_keeps_the_move(harness: Harness) -> None:
    urbanism(harness, EX, TEST)
    complete(harness, BRUNO, stage_next=TEST)
    [moved] = exported(harness, BRUNO)["stages_moved"]
    assert (moved["community"], moved["from"], moved["to"], moved["by_review"]) == (
        "Urbanism",
        EX,
        TEST,
        True,
    )
    assert exported(harness, BRUNO)["sections"]["stages_moved"].startswith("Les étapes du parcours")
    assert harness.slack.command("privacy forget", BRUNO).status == 200
    assert harness.slack.view_submission(harness.emulator.last_view(), BRUNO).status == 200
    [change] = changes(harness)
    assert (change.from_stage, change.to_stage, change.changed_by) == (EX, TEST, "")  # "a former member"
    assert "stage_changes" not in rows_naming(harness, BRUNO)
    assert stage_of(harness) == TEST


# ---- the migration's backfill --------------------------------------------------------------------------
INSERT_COMMUNITY = (
    "INSERT INTO communities (id, team_id, name, slug, domain, objectives, objectives_other, key_people,"
    " visibility, language, timezone, review_cadence_weeks, status, created_by, created_at,"
    " circle_window_days, inner_min_contributions, inner_min_days, demotion_grace_days, promotion_dm,"
    " review_outcome_in_channel) VALUES (:id, 'T', :name, :name, '', :objectives, '', '[]', 'open', 'en',"
    " 'UTC', 4, 'active', 'UA', '2026-03-01', 30, 4, 2, 45, true, true)"
)


@pytest.fixture(params=BACKENDS)
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty database of each kind, not migrated (PostgreSQL: a schema of this test's own)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()
        return
    schema = f"cdp_stages_{os.getpid()}"
    admin = Database(PG_URL)
    replace_schema(admin, schema, create=True)
    db = Database(schema_url(schema))
    try:
        yield db
    finally:
        db.dispose()
        replace_schema(admin, schema, create=False)
        admin.dispose()


def test_the_migration_gives_existing_communities_their_first_chosen_stage(old_database: Database) -> None:
    upgrade(old_database.engine, "0015")
    rows = [
        (1, "a", '["test_applications", "exchange_information"]'),
        (2, "b", '["change_process"]'),
        (3, "c", "[]"),
        (4, "d", '["develop_solutions", "change_process", "test_applications"]'),
    ]
    with old_database.engine.begin() as c:
        for community_id, name, objectives in rows:
            c.execute(text(INSERT_COMMUNITY), {"id": community_id, "name": name, "objectives": objectives})
    upgrade(old_database.engine)  # 0016e and whatever comes after it
    with old_database.engine.connect() as c:
        stages = dict(c.execute(text("SELECT id, stage FROM communities ORDER BY id")).all())
        assert c.execute(text("SELECT count(*) FROM stage_changes")).scalar() == 0
    assert stages == {1: EX, 2: CHANGE, 3: None, 4: DEV}
    # Down again: the table and the column go, the communities stay.
    command.downgrade(alembic_config(old_database.engine), "0015")
    with old_database.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM communities")).scalar() == 4
    assert "stage_changes" not in inspect(old_database.engine).get_table_names()
    assert "stage" not in {col["name"] for col in inspect(old_database.engine).get_columns("communities")}
