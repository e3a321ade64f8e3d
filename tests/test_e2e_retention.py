"""Data retention end to end (issue 12, item 5): a year and more of activity, the nightly job, and what
people see afterwards (the chart's history, their export, `/cdp me`), on both databases."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update

from bot.domain.retention import RetentionPolicy
from bot.services import onramp
from bot.services import retention as retention_service
from bot.testing.slack_emulator import SlackEmulator
from storage.models import ActivityDay, ActivityMonth, CircleChange, Community
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, app_settings, serving
from tests.test_e2e_circles import CHANNEL, make_community, say
from tests.test_e2e_privacy import exported

JSON = dict[str, Any]
DAYS = 460  # of history before "now": a year and three months
RETENTION = 400  # the default


# ---- helpers -----------------------------------------------------------------------------------
def counts(user: str, index: int) -> tuple[int, int]:
    """(contributions, reactions) of `user` on day `index` of the history: varied, some days without a
    contribution; David contributed only in the first month."""
    if user == DAVID:
        return (1 + index % 2, 1) if index < 30 else (0, 0)
    offset = {ALICE: 0, BRUNO: 1, CHLOE: 2}[user]
    return (index + offset) % 4, index % 3


def seed_history(harness: Harness) -> tuple[int, date]:
    """Urbanism created DAYS ago, its members joined then, a daily row for each day of each member with
    something to count (one executemany, not the ORM row by row); the clock moves to today."""
    start = harness.clock.now()
    community_id = make_community(harness)
    for user in (BRUNO, CHLOE, DAVID):
        assert "Urbanism" in say(harness, "join Urbanism", user)
    first = start.date()
    rows = []
    for index in range(DAYS):
        for user in (ALICE, BRUNO, CHLOE, DAVID):
            contributions, reactions = counts(user, index)
            if contributions or reactions:
                rows.append(
                    {
                        "team_id": harness.emulator.team_id,
                        "community_id": community_id,
                        "channel_id": CHANNEL,
                        "user_id": user,
                        "day": first + timedelta(days=index),
                        "contributions": contributions,
                        "reactions": reactions,
                    }
                )
    with harness.db.session() as session:
        session.execute(insert(ActivityDay), rows)
    harness.clock.set(start + timedelta(days=DAYS))
    return community_id, first


def days(harness: Harness) -> list[tuple[str, date, int, int]]:
    with harness.db.session() as session:
        rows = session.execute(
            select(ActivityDay.user_id, ActivityDay.day, ActivityDay.contributions, ActivityDay.reactions)
        ).all()
    return sorted((str(u), d, int(c), int(r)) for u, d, c, r in rows)


def months(harness: Harness) -> dict[tuple[str, date], tuple[int, int]]:
    with harness.db.session() as session:
        rows = session.execute(
            select(
                ActivityMonth.user_id,
                ActivityMonth.month,
                ActivityMonth.contributions,
                ActivityMonth.reactions,
            )
        ).all()
    return {(str(u), m): (int(c), int(r)) for u, m, c, r in rows}


def expected_months(first: date, cutoff: date) -> dict[tuple[str, date], tuple[int, int]]:
    """The exact monthly sums of the days before `cutoff`, David's last day with a contribution aside."""
    result: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for index in range(DAYS):
        day = first + timedelta(days=index)
        for user in (ALICE, BRUNO, CHLOE, DAVID):
            contributions, reactions = counts(user, index)
            if day >= cutoff or not (contributions or reactions) or (user == DAVID and index == 29):
                continue
            total = result[(user, day.replace(day=1))]
            total[0] += contributions
            total[1] += reactions
    return {key: (c, r) for key, (c, r) in result.items()}


def run_job(harness: Harness) -> None:
    """The scheduled job itself (timed and counted as in production)."""
    job = harness.runtime.scheduler.get_job("retention")
    job.func(*job.args)


def me(harness: Harness, user: str) -> str:
    """`/cdp me` as the person reads it: the text, the sections and the small print (context blocks)."""
    result = harness.slack.command("me", user)
    assert result.status == 200
    answer = result.json()
    parts = [answer.get("text") or ""]
    for block in answer.get("blocks") or []:
        parts.append(((block.get("text") or {}).get("text")) or "")
        parts.extend(element.get("text", "") for element in block.get("elements") or [])
    return "\n".join(parts)


def chart(harness: Harness, community_id: int) -> tuple[int, ...]:
    with harness.db.session() as session:
        data = onramp.chart_data_many(session, community_ids=[community_id], now=harness.clock.now())
    return data[community_id].contributions


# ---- the nightly job -----------------------------------------------------------------------------
def test_a_year_of_activity_is_rolled_up_into_exact_months_once(harness: Harness) -> None:
    community_id, first = seed_history(harness)
    today = harness.clock.now().date()
    cutoff = today - timedelta(days=RETENTION)
    before = days(harness)
    chart_before = chart(harness, community_id)

    run_job(harness)

    after = days(harness)
    # Recent days untouched; old days gone but David's last day with a contribution (however old: it
    # says he contributed since joining, so he is no lurking newcomer).
    assert [row for row in after if row[1] >= cutoff] == [row for row in before if row[1] >= cutoff]
    assert [row for row in after if row[1] < cutoff] == [(DAVID, first + timedelta(days=29), 2, 1)]
    assert any(row[1] < cutoff for row in before if row[0] != DAVID)
    # The months hold the exact sums of what was deleted: nothing lost, nothing counted twice.
    assert months(harness) == expected_months(first, cutoff)
    total = sum(c for _, _, c, _ in before)
    assert sum(c for _, _, c, _ in after) + sum(c for c, _ in months(harness).values()) == total

    # A second run (or the next night) changes nothing.
    rolled_up = months(harness)
    run_job(harness)
    assert days(harness) == after and months(harness) == rolled_up

    # The chart still shows the whole history: the same total, the weeks after the cutoff as before,
    # and the rolled-up weeks drawn from their months (not empty).
    chart_after = chart(harness, community_id)
    assert len(chart_after) == len(chart_before) == DAYS // 7 + 1
    assert sum(chart_after) == sum(chart_before) == total
    recent = (today - cutoff).days // 7  # whole weeks after the cutoff
    assert chart_after[-recent:] == chart_before[-recent:]
    assert all(week > 0 for week in chart_after[:5])


def test_several_small_batches_give_the_same_months_as_one(harness: Harness) -> None:
    _, first = seed_history(harness)
    cutoff = harness.clock.now().date() - timedelta(days=RETENTION)
    result = retention_service.apply(
        harness.db, policy=RetentionPolicy(), now=harness.clock.now(), batch_rows=7
    )
    assert result.batches > 20  # 60 days of 4 people in batches of 7 rows
    assert months(harness) == expected_months(first, cutoff)
    assert retention_service.apply(
        harness.db, policy=RetentionPolicy(), now=harness.clock.now(), batch_rows=7
    ) == (retention_service.RetentionResult(0, 0, 0))


def test_a_community_whose_rule_looks_further_back_keeps_its_days(harness: Harness) -> None:
    community_id, _ = seed_history(harness)
    with harness.db.session() as session:
        session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values(circle_window_days=365, demotion_grace_days=120)
        )
    before = days(harness)
    run_job(harness)
    assert days(harness) == before and months(harness) == {}  # 487 days kept: all of its 460


def add_promotions(harness: Harness, community_id: int, ages: list[int]) -> None:
    """Bruno's promotions to the inner circle, one `age` days ago each."""
    now = harness.clock.now()
    with harness.db.session() as session:
        session.execute(
            insert(CircleChange),
            [
                {
                    "team_id": harness.emulator.team_id,
                    "community_id": community_id,
                    "user_id": BRUNO,
                    "from_circle": "outer",
                    "to_circle": "inner",
                    "reason_key": "circles.reason.inner",
                    "reason_params": {},
                    "changed_at": now - timedelta(days=age),
                }
                for age in ages
            ],
        )


def test_old_circle_changes_are_deleted_and_the_recent_kept(harness: Harness) -> None:
    community_id = make_community(harness)
    now = harness.clock.now()
    add_promotions(harness, community_id, [2000, 761, 759, 30])  # days; the default keeps 760
    run_job(harness)
    with harness.db.session() as session:
        kept = session.scalars(select(CircleChange.changed_at).order_by(CircleChange.changed_at)).all()
    assert kept == [now - timedelta(days=759), now - timedelta(days=30)]


# ---- what people see ------------------------------------------------------------------------------
def test_the_export_still_holds_every_contribution_and_forget_erases_the_months(harness: Harness) -> None:
    seed_history(harness)
    run_job(harness)
    data = exported(harness, BRUNO)
    expected = sum(counts(BRUNO, index)[0] for index in range(DAYS))
    assert data["activity_months"] and all(
        set(m) == {"community", "month", "contributions", "reactions"} for m in data["activity_months"]
    )
    exported_total = sum(d["contributions"] for d in data["activity_days"]) + sum(
        m["contributions"] for m in data["activity_months"]
    )
    assert exported_total == expected
    # The first month of his history, as "YYYY-MM".
    assert data["activity_months"][0]["month"] == (harness.clock.now() - timedelta(days=DAYS)).strftime(
        "%Y-%m"
    )
    assert data["sections"]["activity_months"].startswith("Par communauté et par mois")
    assert "les comptes quotidiens de contributions et de réactions pendant 400 jours" in data["retention"]

    assert harness.slack.command("privacy forget", BRUNO).status == 200
    result = harness.slack.view_submission(harness.emulator.last_view(), BRUNO)
    assert result.status == 200 and "C'est fait" in json.dumps(result.json(), ensure_ascii=False)
    assert {user for user, _ in months(harness)} == {ALICE, CHLOE, DAVID}  # his months are gone


def test_cdp_me_says_what_is_kept_and_for_how_long_in_each_language(harness: Harness) -> None:
    seed_history(harness)
    english = me(harness, ALICE)
    assert (
        "What is kept, and for how long: daily counts of contributions and reactions for 400 days" in english
    )
    assert "circle changes for 760 days" in english and "ids of Slack events for 7 days" in english
    assert "never the text of your messages" in english
    french = me(harness, BRUNO)
    assert "Ce qui est conservé, et combien de temps : les comptes quotidiens" in french
    assert "pendant 400 jours" in french and "les changements de cercle pendant 760 jours" in french
    assert "jamais le texte de vos messages" in french
    # Someone who belongs nowhere reads it too.
    harness.emulator.add_user("UERIN", "erin", locale="en-US", tz="UTC")
    assert "daily counts of contributions and reactions for 400 days" in me(harness, "UERIN")


@pytest.fixture
def short_harness(emulator: SlackEmulator, database_url: str, clock: Any) -> Iterator[Harness]:
    """The app with shorter retention settings than the defaults."""
    settings = app_settings(
        emulator, database_url, ACTIVITY_RETENTION_DAYS="120", CIRCLE_HISTORY_RETENTION_DAYS="0"
    )
    with serving(emulator, settings, clock) as harness:
        yield harness


def test_the_settings_values_are_the_ones_applied_and_told(short_harness: Harness) -> None:
    harness = short_harness
    community_id, first = seed_history(harness)
    add_promotions(harness, community_id, [3000])
    cutoff = harness.clock.now().date() - timedelta(days=120)
    run_job(harness)
    assert months(harness) == expected_months(first, cutoff)
    assert min(day for user, day, _, _ in days(harness) if user != DAVID) == cutoff
    english = me(harness, ALICE)
    assert "for 120 days" in english and "circle changes with no time limit" in english
    assert "pendant 120 jours" in me(harness, BRUNO)
    data = exported(harness, ALICE)
    assert "daily counts of contributions and reactions for 120 days" in data["retention"]
    with harness.db.session() as session:  # 0: circle changes are never deleted
        assert (
            session.scalar(
                select(func.count()).select_from(CircleChange).where(CircleChange.user_id == BRUNO)
            )
            == 1
        )


def test_a_retention_below_the_floor_is_refused_with_the_reason() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, ACTIVITY_RETENTION_DAYS="30")
    [problem] = error.value.problems
    assert problem.startswith("ACTIVITY_RETENTION_DAYS: input should be greater than or equal to 91")
    assert "the onramp's 90-day newcomers" in problem
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, CIRCLE_HISTORY_RETENTION_DAYS="100")
    assert error.value.problems[0].startswith(
        "CIRCLE_HISTORY_RETENTION_DAYS: must be 0 (keep) or at least 735"
    )
    assert (
        load_settings(_env_file=None, CIRCLE_HISTORY_RETENTION_DAYS="0").retention_policy.circle_cutoff(
            date(2027, 1, 1)
        )
        is None
    )


def test_a_failure_between_the_roll_up_and_the_delete_counts_no_day_twice(harness: Harness) -> None:
    """The database refuses the batch's DELETE once (as a crash there would): the batch's sums roll back
    with it, and the next run counts each day once."""
    _, first = seed_history(harness)
    cutoff = harness.clock.now().date() - timedelta(days=RETENTION)
    before = days(harness)
    refused: list[str] = []

    def refuse_once(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM ACTIVITY_DAYS") and not refused:
            refused.append(statement)
            raise RuntimeError("the connection died")

    event.listen(harness.db.engine, "before_cursor_execute", refuse_once)
    try:
        with pytest.raises(RuntimeError):
            run_job(harness)
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", refuse_once)
    assert refused and days(harness) == before and months(harness) == {}
    run_job(harness)
    assert months(harness) == expected_months(first, cutoff)
