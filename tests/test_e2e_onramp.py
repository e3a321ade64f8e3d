"""End to end: the onramp figures (issue 11, item 2) on a known history made through the real app, on
SQLite and PostgreSQL, in English and French: newcomers join with /cdp join, post through signed
events, get answered (or not), one is promoted then goes quiet; the review prompts and the moderator's
App Home show the exact figures, the second prompt against the first; the chart data is exact too."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from bot.domain.onramp import ChartData, CircleWeek
from bot.scheduler import recompute_all
from bot.services import communities as svc
from bot.services import onramp as onramp_service
from storage.models import Community
from tests import test_e2e_circles as circles_e2e
from tests import test_e2e_first_posts as first_posts_e2e
from tests import test_e2e_schedules as schedules_e2e
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_communities import open_form, say, shown, submit
from tests.test_e2e_home import home_now, open_home
from tests.test_e2e_reviews import ALL_YES, open_checklist, prompts_to, review_id_in, run

EVE = "UEVE"
FAY = "UFAY"
DAY0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday: the community was created at 09:00 (conftest)
FIRST_REVIEW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)  # every 4 weeks, 09:00 in its time zone (UTC)
SECOND_REVIEW = datetime(2026, 4, 27, 9, 0, tzinfo=UTC)


def at(days: int, minutes: int = 0) -> datetime:
    return DAY0 + timedelta(days=days, minutes=minutes)


def join(harness: Harness, user: str, name: str, when: datetime) -> None:
    harness.clock.set(when)
    assert name in say(harness, f"join {name}", user)


def post(harness: Harness, user: str, when: datetime) -> None:
    harness.clock.set(when)
    assert harness.slack.event(first_posts_e2e.message_event(harness, user)).status == 200


def first_period(harness: Harness, name: str) -> None:
    """Days 0-3. Bruno, Chloe and David join on day 0. Bruno's first post (day 1, a day after joining)
    is answered by Alice 30 minutes later; with 4 contributions on days 1 and 2 he reaches the inner
    circle. Chloe's first post (day 3, three days after joining) is answered by Bruno 90 minutes later.
    David only reads."""
    join(harness, BRUNO, name, at(0))
    join(harness, CHLOE, name, at(0, 5))
    join(harness, DAVID, name, at(0, 10))
    post(harness, BRUNO, at(1))
    post(harness, ALICE, at(1, 30))
    post(harness, BRUNO, at(1, 60))
    post(harness, BRUNO, at(2))
    post(harness, BRUNO, at(2, 1))
    post(harness, CHLOE, at(3, 5))
    post(harness, BRUNO, at(3, 95))
    harness.drain()


def second_period(harness: Harness, name: str) -> None:
    """After the first review: Eve joins on day 30 and Fay on day 31; Fay's first post (day 33, two days
    after joining) is answered a day later by Eve's first post (day 34, four days after joining), which
    David's first post answers six days later (day 40, forty days after he joined); nobody answers his. On day 40 the moderators shorten the grace to 7 days: Bruno, quiet since day 3 (his
    last qualifying day was in the first days of April), goes back to the outer circle at once."""
    for user in (EVE, FAY):
        harness.emulator.add_user(user, user.lower())
    join(harness, EVE, name, at(30))
    join(harness, FAY, name, at(31))
    post(harness, FAY, at(33))
    post(harness, EVE, at(34))
    post(harness, DAVID, at(40))  # David's first post, forty days after joining, answers Eve's
    assert circles_e2e.circle_of(harness, BRUNO) == "inner"
    view = open_form(harness, f"settings {name}", ALICE)
    submit(harness, view, ALICE, demotion_grace_days="7")
    harness.drain()  # the new rule is applied after the answer
    assert circles_e2e.circle_of(harness, BRUNO) == "outer"
    harness.clock.set(at(50))
    recompute_all(harness.runtime.deps)  # nothing more
    assert [c[:2] for c in circles_e2e.changes(harness, BRUNO)] == [("outer", "inner"), ("inner", "outer")]
    harness.drain()


EXPECTED = {
    "en": {
        "first": [
            "*Onramp* (newcomers of the last 90 days; replies and quiet members since the last review)",
            "• Newcomers who reached the inner circle: 33.3% (1 of 3 newcomers of the last 90 days)",
            "• From joining to the first contribution: 2 days (median)",
            "• From a newcomer's first post to its first reply: 60 minutes (median)",
            "• Inner-circle members who went quiet (back to the outer circle): 0",
            "• Shape: *healthy onramp*. The way in works: keep answering first posts and thanking newcomers.",
        ],
        "second": [
            "• Newcomers who reached the inner circle: 20% (1 of 5 newcomers of the last 90 days)"
            " (last review: 33.3%)",
            "• From joining to the first contribution: 3 days (median) (last review: 2 days)",
            "• From a newcomer's first post to its first reply: 84 hours (median) (last review: 60 minutes)",
            "• Inner-circle members who went quiet (back to the outer circle): 1 (last review: 0)",
            "• Shape: *bottleneck between outer and inner*. Newcomers speak once, then stop: answer their"
            " first posts quickly and pair each with an inner-circle member.",
        ],
        "home": [
            "*Onramp* (newcomers of the last 90 days; replies and quiet members in the last 30 days)",
            "• Newcomers who reached the inner circle: 20% (1 of 5 newcomers of the last 90 days)",
            "• From a newcomer's first post to its first reply: 84 hours (median)",
            "• Inner-circle members who went quiet (back to the outer circle): 1",
        ],
    },
    "fr": {
        "first": [
            "*Accueil des nouveaux membres* (nouveaux membres des 90 derniers jours ; réponses et membres"
            " silencieux depuis la dernière revue)",
            "• Nouveaux membres entrés dans le cercle interne : 33,3 % (1 sur 3 nouveaux membres des 90"
            " derniers jours)",
            "• De l'arrivée à la première contribution : 2 jours (médiane)",
            "• Du premier message d'un nouveau membre à la première réponse : 60 minutes (médiane)",
            "• Membres du cercle interne devenus silencieux (revenus au cercle externe) : 0",
            "• Forme : *accueil sain*.",
        ],
        "second": [
            "• Nouveaux membres entrés dans le cercle interne : 20 % (1 sur 5 nouveaux membres des 90"
            " derniers jours) (dernière revue : 33,3 %)",
            "• De l'arrivée à la première contribution : 3 jours (médiane) (dernière revue : 2 jours)",
            "• Du premier message d'un nouveau membre à la première réponse : 84 heures (médiane)"
            " (dernière revue : 60 minutes)",
            "• Membres du cercle interne devenus silencieux (revenus au cercle externe) : 1 (dernière revue : 0)",
            "• Forme : *goulot entre cercle externe et cercle interne*.",
        ],
        "home": [
            "*Accueil des nouveaux membres* (nouveaux membres des 90 derniers jours ; réponses et membres"
            " silencieux sur les 30 derniers jours)",
            "• Nouveaux membres entrés dans le cercle interne : 20 % (1 sur 5 nouveaux membres des 90"
            " derniers jours)",
            "• Du premier message d'un nouveau membre à la première réponse : 84 heures (médiane)",
            "• Membres du cercle interne devenus silencieux (revenus au cercle externe) : 1",
        ],
    },
}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_onramp_figures_in_the_review_prompts_and_on_home(harness: Harness, lang: str) -> None:
    # Alice, the moderator, reads Slack in this language (the prompt and her Home speak it).
    harness.emulator.add_user(ALICE, "alice", locale="fr-FR" if lang == "fr" else "en-US")
    community_id = first_posts_e2e.make_community(harness, language=lang)
    name = "Urbanism" if lang == "en" else "Urbanisme"
    first_period(harness, name)

    harness.clock.set(FIRST_REVIEW)
    run(harness)
    [prompt] = prompts_to(harness, ALICE)
    text = shown(prompt)
    for line in EXPECTED[lang]["first"]:
        assert line in text, (line, text)
    assert "(last review" not in text and "(dernière revue" not in text  # no review before

    # The moderator continues; the next review is four weeks on.
    view = open_checklist(harness, ALICE, review_id_in(prompt))
    submit(harness, view, ALICE, **ALL_YES, decision="continue")
    second_period(harness, name)

    harness.clock.set(SECOND_REVIEW)
    run(harness)
    prompts = prompts_to(harness, ALICE)
    assert len(prompts) == 2
    text = shown(prompts[-1])
    for line in EXPECTED[lang]["second"]:
        assert line in text, (line, text)

    # The moderator's App Home: the same figures over the last 30 days (Bruno's and Chloe's first posts
    # are older: Fay's and Eve's, answered after 1 and 6 days, count), no comparison.
    open_home(harness, ALICE)
    home = shown(home_now(harness, ALICE))
    for line in EXPECTED[lang]["home"]:
        assert line in home, (line, home)
    # A member who moderates nothing sees no onramp.
    open_home(harness, CHLOE)
    assert EXPECTED[lang]["home"][0] not in shown(home_now(harness, CHLOE))

    with harness.db.session() as session:
        charts = onramp_service.chart_data_many(session, community_ids=[community_id], now=SECOND_REVIEW)
    today = SECOND_REVIEW.date()
    # Bruno is inner from Mar 4 to Apr 11; Eve and Fay join on Apr 1 and 2.
    weeks = [(1, 0, 3), *[(1, 1, 2)] * 4, (1, 1, 4), *[(1, 0, 5)] * 3]
    assert charts == {
        community_id: ChartData(
            name=name,
            weeks=tuple(
                CircleWeek(today - timedelta(days=7 * (8 - index) + 6), *counts)
                for index, counts in enumerate(weeks)
            ),
            # Week ending Mar 9: Bruno 5, Alice 1, Chloe 1; ending Apr 6: Fay, Eve; ending Apr 13: David.
            contributions=(0, 7, 0, 0, 0, 2, 1, 0, 0),
            usual_week=0.0,  # the median of the 7 whole weeks before this one since the creation
            funnel=(5, 5, 1),
        )
    }
    assert charts[community_id].weeks[0].week_start == date(2026, 2, 24)
    assert ChartData.from_json(charts[community_id].to_json()) == charts[community_id]


def test_the_reads_are_set_based_and_a_chart_keeps_two_years_at_most(harness: Harness) -> None:
    """As many statements for six communities as for one; a community older than two years is drawn
    over its last 104 weeks."""
    ids = [schedules_e2e.community(harness, f"Topic {n}", f"CT{n}", moderators=(ALICE,)) for n in range(6)]
    with harness.db.session() as session:
        for cid in ids:
            row = session.get(Community, cid)
            assert row is not None
            svc.join(session, community=row, user_id=BRUNO, now=harness.clock.now())
    harness.clock.advance(timedelta(days=800))
    now = harness.clock.now()

    def statements(community_ids: list[int]) -> int:
        seen: list[str] = []

        def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not threading.current_thread().name.startswith("cdp-outbox"):  # the worker polls apart
                seen.append(statement)

        event.listen(harness.db.engine, "before_cursor_execute", listener)
        try:
            with harness.db.session() as session:
                onramp_service.figures_many(session, community_ids=community_ids, now=now)
                onramp_service.chart_data_many(session, community_ids=community_ids, now=now)
        finally:
            event.remove(harness.db.engine, "before_cursor_execute", listener)
        return len(seen)

    assert statements(ids[:1]) == statements(ids)
    with harness.db.session() as session:
        charts = onramp_service.chart_data_many(session, community_ids=ids, now=now)
        figures = onramp_service.figures_many(session, community_ids=ids, now=now)
    today = now.astimezone(ZoneInfo("Europe/Paris")).date()
    for cid in ids:
        chart = charts[cid]
        assert len(chart.weeks) == len(chart.contributions) == 104
        assert chart.weeks[-1].week_start == today - timedelta(days=6)
        assert chart.weeks[0].week_start == today - timedelta(days=7 * 103 + 6)
        assert {(w.core, w.inner, w.outer) for w in chart.weeks} == {(1, 0, 1)}
        assert chart.funnel == (0, 0, 0)  # Bruno joined more than 90 days ago
        assert chart.usual_week is None  # never a contribution
        assert figures[cid].newcomers == 0 and figures[cid].conversion is None
        assert (figures[cid].core, figures[cid].outer) == (1, 1)
