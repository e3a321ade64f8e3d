"""The circle rule (bot/domain/circles.py): tables for the edges, properties for the invariants."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.circles import (
    PROGRESS_BOTH,
    PROGRESS_CONTRIBUTIONS,
    PROGRESS_DAYS,
    REASON_DEMOTED,
    REASON_INNER,
    REASON_INNER_GRACE,
    REASON_NEWCOMER,
    REASON_OUTER,
    REASON_OUTER_QUIET,
    REASON_PROMOTED,
    RULE_BOUNDS,
    ActivityDay,
    Circle,
    CircleDecision,
    CircleRule,
    Progress,
    Reason,
    WindowSummary,
    decide,
    progress_reason,
    qualifies,
    summarise,
)
from bot.i18n import LANGUAGES, catalogue, t

TODAY = date(2025, 3, 31)
RULE = CircleRule()
ALL_REASONS = {
    REASON_INNER,
    REASON_PROMOTED,
    REASON_INNER_GRACE,
    REASON_OUTER,
    REASON_OUTER_QUIET,
    REASON_NEWCOMER,
    REASON_DEMOTED,
}
ALL_PROGRESS = {PROGRESS_BOTH, PROGRESS_CONTRIBUTIONS, PROGRESS_DAYS}
INNER, PROMOTED, GRACE, DEMOTED = REASON_INNER, REASON_PROMOTED, REASON_INNER_GRACE, REASON_DEMOTED
OUTER, QUIET = REASON_OUTER, REASON_OUTER_QUIET

Entry = tuple[int, int] | tuple[int, int, int]  # (days ago, contributions[, reactions])


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def activity(*entries: Entry) -> list[ActivityDay]:
    return [ActivityDay(ago(entry[0]), *entry[1:]) for entry in entries]


def last_qualified(days_ago: int) -> list[ActivityDay]:
    """Activity whose last qualifying day (default rule) is exactly `days_ago` days ago."""
    return activity((days_ago + 28, 2), (days_ago + 29, 2))


def run(
    entries: Iterable[ActivityDay],
    *,
    current: Circle = "outer",
    since_ago: int = 400,
    joined_ago: int = 400,
    rule: CircleRule = RULE,
) -> CircleDecision:
    return decide(
        entries, rule, today=TODAY, current=current, circle_since=ago(since_ago), joined_on=ago(joined_ago)
    )


def render(reason: Reason, lang: str) -> str:
    return t(reason.key, lang, **reason.as_dict())


# --- qualifying and the window summary ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "expected", "summary"),
    [
        pytest.param([], False, (0, 0, 0), id="no activity"),
        pytest.param([(0, 2), (1, 2)], True, (4, 2, 0), id="exactly at threshold"),
        pytest.param([(0, 2), (1, 1)], False, (3, 2, 0), id="one contribution short"),
        pytest.param([(0, 10)], False, (10, 1, 0), id="same day only: days requirement not met"),
        pytest.param([(0, 3), (29, 1)], True, (4, 2, 0), id="day 30 of the window is in"),
        pytest.param([(0, 3), (30, 1)], False, (3, 1, 0), id="day 31 is out"),
        pytest.param([(0, 1, 50), (1, 1, 50)], False, (2, 2, 100), id="reactions never count"),
        pytest.param(
            [(0, 4), (1, 0, 3)], False, (4, 1, 3), id="a reaction-only day is not a contribution day"
        ),
        pytest.param([(0, 2), (-1, 2)], False, (2, 1, 0), id="tomorrow is ignored"),
        pytest.param([(0, 2), (1, 2), (-400, 99, 9)], True, (4, 2, 0), id="far future ignored"),
        pytest.param(
            [(0, 1), (0, 1), (1, 1), (1, 1)], True, (4, 2, 0), id="duplicate day entries are summed"
        ),
        pytest.param([(0, 1), (0, 0, 2), (0, 0, 1)], False, (1, 1, 3), id="duplicate reactions summed"),
        pytest.param([(500, 40), (45, 4), (46, 4)], False, (0, 0, 0), id="ancient activity is harmless"),
    ],
)
def test_qualifies_and_summary(entries: list[Entry], expected: bool, summary: tuple[int, int, int]) -> None:
    days = activity(*entries)
    assert qualifies(days, RULE, TODAY) is expected
    assert summarise(days, RULE, TODAY) == WindowSummary(*summary, window_days=30)
    assert run(days).summary == summarise(days, RULE, TODAY)


def test_activity_may_be_a_one_shot_iterator() -> None:
    days = activity((0, 2), (1, 2))
    assert qualifies(iter(days), RULE, TODAY)
    assert run(iter(days)).circle == "inner"


# --- promotion and demotion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "current", "since_ago", "circle", "grace_left", "reason"),
    [
        pytest.param(activity((0, 2), (1, 2)), "outer", 400, "inner", None, PROMOTED, id="promote at once"),
        pytest.param(activity((0, 1)), "outer", 400, "outer", None, OUTER, id="outer stays outer"),
        pytest.param(activity((0, 2), (1, 2)), "inner", 400, "inner", None, INNER, id="inner qualifying"),
        pytest.param(last_qualified(1), "inner", 400, "inner", 44, GRACE, id="grace: 1 day after"),
        pytest.param(last_qualified(33), "inner", 400, "inner", 12, GRACE, id="grace: 33 days after"),
        pytest.param(last_qualified(44), "inner", 400, "inner", 1, GRACE, id="44 days after: inner"),
        pytest.param(last_qualified(45), "inner", 400, "outer", None, DEMOTED, id="45 days after: demoted"),
        pytest.param(last_qualified(46), "inner", 400, "outer", None, DEMOTED, id="46 days after: demoted"),
        pytest.param([], "inner", 10, "inner", 35, GRACE, id="never qualified: from circle_since"),
        pytest.param([], "inner", 44, "inner", 1, GRACE, id="circle_since 44 days ago"),
        pytest.param([], "inner", 45, "outer", None, DEMOTED, id="circle_since 45 days ago"),
        pytest.param([], "inner", -3, "inner", 45, GRACE, id="circle_since in the future"),
        pytest.param(last_qualified(100), "inner", 10, "inner", 35, GRACE, id="recent circle_since wins"),
        pytest.param(last_qualified(20), "inner", 40, "inner", 25, GRACE, id="later qualifying wins"),
        pytest.param(last_qualified(3), "outer", 400, "outer", None, QUIET, id="no promotion on the past"),
    ],
)
def test_promotion_and_demotion(
    entries: list[ActivityDay],
    current: Circle,
    since_ago: int,
    circle: Circle,
    grace_left: int | None,
    reason: str,
) -> None:
    decision = run(entries, current=current, since_ago=since_ago)
    assert (decision.circle, decision.grace_days_left, decision.reason.key) == (circle, grace_left, reason)
    assert decision.previous == current
    assert decision.changed is (circle != current)
    assert decision.promoted is (current == "outer" and circle == "inner")
    assert decision.demoted is (current == "inner" and circle == "outer")
    assert (decision.progress is None) is (circle == "inner")


def test_last_qualified_helper_is_exact() -> None:
    days = last_qualified(10)
    assert qualifies(days, RULE, ago(10))
    assert not qualifies(days, RULE, ago(9))


def test_grace_reason_carries_the_days_left() -> None:
    decision = run(last_qualified(33), current="inner")
    assert decision.reason.as_dict() == {
        "grace_days_left": 12,
        "min_contributions": 4,
        "min_days": 2,
        "window": 30,
    }
    assert "12 more days" in render(decision.reason, "en")
    assert "encore 12 jours" in render(decision.reason, "fr")


# --- newcomers and lurkers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("joined_ago", "entries", "newcomer", "lurking"),
    [
        pytest.param(0, [], True, False, id="joined today"),
        pytest.param(13, [], True, False, id="13 days: not lurking yet"),
        pytest.param(14, [], True, True, id="14 days: lurking"),
        pytest.param(29, [], True, True, id="29 days: still a newcomer"),
        pytest.param(30, [], False, True, id="30 days: no longer a newcomer"),
        pytest.param(200, [], False, True, id="long-time lurker"),
        pytest.param(10, [(3, 1)], False, False, id="contributed"),
        pytest.param(20, [(3, 0, 5)], True, True, id="reactions are not contributions"),
        pytest.param(40, [(50, 3)], False, True, id="contributions before joining do not count"),
        pytest.param(20, [(-2, 3)], True, True, id="future contributions do not count"),
        pytest.param(200, [(150, 1)], False, False, id="contributed long ago"),
        pytest.param(-1, [], True, False, id="joined_on in the future"),
    ],
)
def test_newcomer_and_lurking(joined_ago: int, entries: list[Entry], newcomer: bool, lurking: bool) -> None:
    decision = run(activity(*entries), joined_ago=joined_ago)
    assert (decision.newcomer, decision.lurking) == (newcomer, lurking)


@pytest.mark.parametrize(
    ("joined_ago", "entries", "reason"),
    [
        pytest.param(5, [], REASON_NEWCOMER, id="welcoming newcomer"),
        pytest.param(5, [(0, 1, 3)], REASON_OUTER, id="newcomer who posted"),
        pytest.param(60, [], REASON_OUTER_QUIET, id="quiet member"),
        pytest.param(60, [(45, 3)], REASON_OUTER_QUIET, id="quiet in the window"),
    ],
)
def test_outer_reasons(joined_ago: int, entries: list[Entry], reason: str) -> None:
    assert run(activity(*entries), joined_ago=joined_ago).reason.key == reason


def test_newcomer_reason_is_welcoming() -> None:
    decision = run([], joined_ago=3)
    assert render(decision.reason, "en").startswith("You joined recently and have not posted yet")
    assert "nouveau membre" in render(decision.reason, "fr")
    assert "cercle externe" in render(decision.reason, "fr")


# --- custom rules and validation ---------------------------------------------------------------

SMALL = CircleRule(
    window_days=7,
    inner_min_contributions=1,
    inner_min_days=1,
    demotion_grace_days=3,
    newcomer_days=5,
    lurking_days=2,
)


@pytest.mark.parametrize(
    ("entries", "current", "joined_ago", "circle", "grace_left", "flags"),
    [
        pytest.param([(6, 1)], "outer", 100, "inner", None, (False, False), id="day 7 in"),
        pytest.param([(7, 1)], "outer", 100, "outer", None, (False, False), id="day 8 out"),
        pytest.param([(8, 1)], "inner", 100, "inner", 1, (False, False), id="grace last day"),
        pytest.param([(9, 1)], "inner", 100, "outer", None, (False, False), id="grace over"),
        pytest.param([], "outer", 1, "outer", None, (True, False), id="lurking from day 2: not yet"),
        pytest.param([], "outer", 2, "outer", None, (True, True), id="lurking from day 2"),
        pytest.param([], "outer", 5, "outer", None, (False, True), id="newcomer for 5 days"),
    ],
)
def test_custom_rule(
    entries: list[Entry],
    current: Circle,
    joined_ago: int,
    circle: Circle,
    grace_left: int | None,
    flags: tuple[bool, bool],
) -> None:
    decision = run(activity(*entries), current=current, joined_ago=joined_ago, since_ago=100, rule=SMALL)
    assert (decision.circle, decision.grace_days_left) == (circle, grace_left)
    assert (decision.newcomer, decision.lurking) == flags
    assert decision.summary.window_days == 7


def test_history_days() -> None:
    assert RULE.history_days == 75
    assert SMALL.history_days == 10


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"window_days": 0}, "window_days must be a whole number from 7 to 365, not 0"),
        ({"window_days": 6}, "window_days must be a whole number from 7 to 365"),
        ({"window_days": 366}, "window_days must be"),
        ({"demotion_grace_days": 366}, "demotion_grace_days must be"),
        ({"inner_min_contributions": 1001}, "inner_min_contributions must be"),
        ({"inner_min_contributions": 0, "inner_min_days": 0}, "inner_min_contributions must be"),
        ({"inner_min_days": 0}, "inner_min_days must be"),
        ({"demotion_grace_days": 0}, "demotion_grace_days must be"),
        ({"newcomer_days": -1}, "newcomer_days must be"),
        ({"lurking_days": 0}, "lurking_days must be"),
        ({"window_days": 1.5}, "window_days must be a whole number"),
        ({"window_days": True}, "window_days must be a whole number"),
        (
            {"window_days": 7, "inner_min_days": 8, "inner_min_contributions": 9},
            "cannot be more than window_days",
        ),
        ({"inner_min_days": 5, "inner_min_contributions": 4}, "cannot be more than inner_min_contributions"),
    ],
)
def test_rule_validation(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircleRule(**settings)


def test_edge_rules_are_valid() -> None:
    CircleRule(**{name: bounds.low for name, bounds in RULE_BOUNDS.items()})
    CircleRule(**{name: bounds.high for name, bounds in RULE_BOUNDS.items()})
    CircleRule(window_days=7, inner_min_contributions=7, inner_min_days=7)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ((30, 4, 2, 45), (30, 4, 2, 45)),
        ((30, 4, 2, 0), (30, 4, 2, 1)),
        ((0, -1, 0, -5), (7, 1, 1, 1)),
        ((100_000, 5000, 900, 900), (365, 1000, 365, 365)),
        ((30, 4, 9, 45), (30, 4, 4, 45)),  # days over contributions
        ((7, 40, 20, 45), (7, 40, 7, 45)),  # days over the window
    ],
)
def test_within_bounds_is_the_nearest_valid_rule(
    stored: tuple[int, int, int, int], expected: tuple[int, int, int, int]
) -> None:
    window, contributions, days, grace = stored
    rule = CircleRule.within_bounds(
        window_days=window,
        inner_min_contributions=contributions,
        inner_min_days=days,
        demotion_grace_days=grace,
    )
    assert (
        rule.window_days,
        rule.inner_min_contributions,
        rule.inner_min_days,
        rule.demotion_grace_days,
    ) == (expected)


@pytest.mark.parametrize(("contributions", "reactions"), [(-1, 0), (0, -1)])
def test_negative_activity_is_rejected(contributions: int, reactions: int) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        ActivityDay(TODAY, contributions, reactions)


def test_unknown_current_circle_is_rejected() -> None:
    with pytest.raises(ValueError, match="current circle"):
        run([], current="core")  # type: ignore[arg-type]


# --- progress ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "progress", "key"),
    [
        pytest.param([], Progress(4, 2), PROGRESS_BOTH, id="nothing yet"),
        pytest.param([(0, 1)], Progress(3, 1), PROGRESS_BOTH, id="one contribution"),
        pytest.param([(0, 2), (1, 1)], Progress(1, 0), PROGRESS_CONTRIBUTIONS, id="one more contribution"),
        pytest.param([(0, 5)], Progress(1, 1), PROGRESS_DAYS, id="enough contributions, one day short"),
        pytest.param([(0, 4)], Progress(1, 1), PROGRESS_DAYS, id="at the count, one day short"),
    ],
)
def test_progress(entries: list[Entry], progress: Progress, key: str) -> None:
    decision = run(activity(*entries))
    assert decision.progress == progress
    reason = progress_reason(decision.progress)
    assert reason is not None
    assert reason.key == key


@pytest.mark.parametrize(
    ("progress", "key", "params"),
    [
        (None, None, {}),
        (Progress(0, 0), None, {}),
        (Progress(2, 0), PROGRESS_CONTRIBUTIONS, {"contributions": 2}),
        (Progress(2, 2), PROGRESS_DAYS, {"days": 2}),
        (Progress(0, 3), PROGRESS_DAYS, {"days": 3}),
        (Progress(3, 2), PROGRESS_BOTH, {"contributions": 3, "days": 2}),
    ],
)
def test_progress_reason(progress: Progress | None, key: str | None, params: dict[str, int]) -> None:
    reason = progress_reason(progress)
    assert (reason.key if reason else None) == key
    assert (reason.as_dict() if reason else {}) == params


def test_inner_members_have_no_progress() -> None:
    assert run(activity((0, 2), (1, 2))).progress is None


# --- words: plurals and both languages ------------------------------------------------------------


def test_as_dict_gives_the_parameters() -> None:
    reason = Reason.of("circles.reason.inner", days=2, label="x")
    assert reason.as_dict() == {"days": 2, "label": "x"}
    assert reason == Reason("circles.reason.inner", (("days", 2), ("label", "x")))
    assert hash(reason) == hash(Reason.of("circles.reason.inner", label="x", days=2))


SINGULAR = CircleRule(window_days=7, inner_min_contributions=1, inner_min_days=1, demotion_grace_days=1)


@pytest.mark.parametrize(
    ("decision_of", "english", "french"),
    [
        pytest.param(
            lambda: run(activity((0, 1)), current="inner", rule=SINGULAR),
            "you made 1 contribution on 1 day in the last 7 days.",
            "1 contribution sur 1 jour au cours des 7 derniers jours.",
            id="all singular",
        ),
        pytest.param(
            lambda: run(activity((0, 5), (1, 2), (2, 1)), current="inner"),
            "you made 8 contributions on 3 different days in the last 30 days.",
            "8 contributions sur 3 jours différents au cours des 30 derniers jours.",
            id="all plural",
        ),
        pytest.param(
            lambda: run(activity((0, 2)), joined_ago=60),
            "2 contributions on 1 day in the last 30 days; the inner circle starts at 4 contributions on 2 "
            "different days.",
            "2 contributions sur 1 jour au cours des 30 derniers jours ; le cercle interne commence à "
            "4 contributions sur 2 jours différents.",
            id="outer, mixed",
        ),
        pytest.param(
            lambda: run(last_qualified(44), current="inner"),
            "for one more day.",
            "encore 1 jour.",
            id="last grace day",
        ),
        pytest.param(
            lambda: run(last_qualified(45), current="inner"),
            "For 45 days you have not had 4 contributions on 2 different days within 30 days",
            "Depuis 45 jours, vous n'avez plus eu 4 contributions sur 2 jours différents en 30 jours",
            id="demoted",
        ),
    ],
)
def test_plurals_in_rendered_reasons(decision_of: Any, english: str, french: str) -> None:
    reason = decision_of().reason
    assert english in render(reason, "en")
    assert french in render(reason, "fr")


@pytest.mark.parametrize(
    ("progress", "english", "french"),
    [
        (Progress(1, 0), "one more contribution.", "encore 1 contribution."),
        (Progress(3, 0), "3 more contributions.", "encore 3 contributions."),
        (Progress(1, 1), "a contribution on another day.", "une contribution un autre jour."),
        (
            Progress(2, 2),
            "a contribution on each of 2 other days.",
            "une contribution sur chacun de 2 autres jours.",
        ),
        (Progress(3, 1), "3 more contributions, at least one of them on another day.", "dont au moins une"),
        (Progress(4, 2), "4 more contributions, on at least 2 other days.", "sur au moins 2 autres jours"),
    ],
)
def test_progress_messages(progress: Progress, english: str, french: str) -> None:
    reason = progress_reason(progress)
    assert reason is not None
    assert render(reason, "en").endswith(english)
    assert french in render(reason, "fr")


WRONG_PLURAL = {
    "en": re.compile(r"\b1 (more )?(contributions|days|different days)\b|\{|\||#"),
    "fr": re.compile(r"\b1 (contributions|jours)\b|\{|\||#"),
}


def assert_renders(reason: Reason) -> None:
    for lang in LANGUAGES:
        assert reason.key in catalogue(lang), (reason.key, lang)
        text = render(reason, lang)
        assert not WRONG_PLURAL[lang].search(text), (lang, text)


def test_every_reason_key_is_reachable_and_renders() -> None:
    """The scenarios above between them produce every reason; each renders in both languages."""
    decisions = [
        run(activity((0, 2), (1, 2))),
        run(activity((0, 2), (1, 2)), current="inner"),
        run(last_qualified(10), current="inner"),
        run(last_qualified(50), current="inner"),
        run(activity((0, 1)), joined_ago=60),
        run([], joined_ago=60),
        run([], joined_ago=2),
    ]
    assert {decision.reason.key for decision in decisions} == ALL_REASONS
    reasons = [decision.reason for decision in decisions]
    reasons += [r for p in (Progress(1, 0), Progress(1, 1), Progress(2, 1)) if (r := progress_reason(p))]
    assert {reason.key for reason in reasons} == ALL_REASONS | ALL_PROGRESS
    for reason in reasons:
        assert_renders(reason)


# --- properties --------------------------------------------------------------------------------


@st.composite
def rules(draw: st.DrawFn) -> CircleRule:
    window = draw(st.integers(7, 40))
    min_days = draw(st.integers(1, min(window, 6)))
    return CircleRule(
        window_days=window,
        inner_min_days=min_days,
        inner_min_contributions=draw(st.integers(min_days, 8)),
        demotion_grace_days=draw(st.integers(1, 60)),
        newcomer_days=draw(st.integers(1, 40)),
        lurking_days=draw(st.integers(1, 40)),
    )


activity_days = st.builds(
    ActivityDay,
    day=st.integers(-5, 120).map(ago),
    contributions=st.integers(0, 4),
    reactions=st.integers(0, 3),
)
histories = st.lists(activity_days, max_size=40)
circles = st.sampled_from(["inner", "outer"])
days_ago = st.integers(-3, 200)


def decide_with(
    entries: list[ActivityDay], rule: CircleRule, current: Circle, since_ago: int, joined_ago: int
) -> CircleDecision:
    return run(entries, current=current, since_ago=since_ago, joined_ago=joined_ago, rule=rule)


def naive(
    entries: list[ActivityDay], rule: CircleRule, current: Circle, since_ago: int
) -> tuple[Circle, int | None]:
    """The rule written the slow, obvious way: check every day of the grace period."""
    if qualifies(entries, rule, TODAY):
        return "inner", None
    if current == "outer":
        return "outer", None
    since = min(ago(since_ago), TODAY)
    qualifying = [ago(n) for n in range(rule.demotion_grace_days) if qualifies(entries, rule, ago(n))]
    reference = max([since, *qualifying])
    elapsed = (TODAY - reference).days
    if elapsed < rule.demotion_grace_days:
        return "inner", rule.demotion_grace_days - elapsed
    return "outer", None


@given(histories, rules(), circles, days_ago, days_ago)
def test_matches_the_naive_rule(
    entries: list[ActivityDay], rule: CircleRule, current: Circle, since_ago: int, joined_ago: int
) -> None:
    decision = decide_with(entries, rule, current, since_ago, joined_ago)
    assert (decision.circle, decision.grace_days_left) == naive(entries, rule, current, since_ago)


@given(histories, rules(), circles, days_ago, days_ago)
def test_who_qualifies_is_inner(
    entries: list[ActivityDay], rule: CircleRule, current: Circle, since_ago: int, joined_ago: int
) -> None:
    decision = decide_with(entries, rule, current, since_ago, joined_ago)
    if qualifies(entries, rule, TODAY):
        assert decision.circle == "inner"
        assert not decision.demoted
        assert decision.grace_days_left is None
        assert decision.promoted is (current == "outer")
    if decision.grace_days_left is not None:
        assert decision.circle == "inner"
        assert 1 <= decision.grace_days_left <= rule.demotion_grace_days


@given(histories, rules(), circles, days_ago, days_ago, activity_days)
def test_a_contribution_never_pushes_out(
    entries: list[ActivityDay],
    rule: CircleRule,
    current: Circle,
    since_ago: int,
    joined_ago: int,
    extra: ActivityDay,
) -> None:
    before = decide_with(entries, rule, current, since_ago, joined_ago)
    after = decide_with([*entries, extra], rule, current, since_ago, joined_ago)
    if before.circle == "inner":
        assert after.circle == "inner"
        if before.grace_days_left is not None and after.grace_days_left is not None:
            assert after.grace_days_left >= before.grace_days_left


@given(st.data(), histories, rules(), circles, days_ago, days_ago)
def test_order_does_not_matter(
    data: st.DataObject,
    entries: list[ActivityDay],
    rule: CircleRule,
    current: Circle,
    since_ago: int,
    joined_ago: int,
) -> None:
    shuffled = data.draw(st.permutations(entries))
    assert decide_with(shuffled, rule, current, since_ago, joined_ago) == decide_with(
        entries, rule, current, since_ago, joined_ago
    )


@given(histories, rules(), circles, days_ago, days_ago, st.lists(activity_days, max_size=5))
def test_ancient_activity_is_harmless(
    entries: list[ActivityDay],
    rule: CircleRule,
    current: Circle,
    since_ago: int,
    joined_ago: int,
    ancient: list[ActivityDay],
) -> None:
    oldest = max(rule.history_days, joined_ago + 1)
    moved = [
        ActivityDay(day.day - timedelta(days=oldest + 121), day.contributions, day.reactions)
        for day in ancient
    ]
    assert decide_with([*moved, *entries], rule, current, since_ago, joined_ago) == decide_with(
        entries, rule, current, since_ago, joined_ago
    )


@given(histories, rules(), days_ago)
def test_progress_is_enough(entries: list[ActivityDay], rule: CircleRule, joined_ago: int) -> None:
    """Making the contributions the progress asks for, on days free in the window, brings one in."""
    decision = decide_with(entries, rule, "outer", 400, joined_ago)
    if decision.progress is None:
        return
    progress = decision.progress
    assert progress.contributions_needed >= progress.days_needed >= 0
    busy = {entry.day for entry in entries if entry.contributions > 0}
    free = [ago(n) for n in range(rule.window_days) if ago(n) not in busy][: progress.days_needed]
    assert len(free) == progress.days_needed
    added = [ActivityDay(day, 1) for day in free]
    added.append(
        ActivityDay(free[0] if free else TODAY, progress.contributions_needed - progress.days_needed)
    )
    assert qualifies([*entries, *added], rule, TODAY)


@given(histories, rules(), circles, days_ago, days_ago)
def test_every_reason_renders_in_both_languages(
    entries: list[ActivityDay], rule: CircleRule, current: Circle, since_ago: int, joined_ago: int
) -> None:
    decision = decide_with(entries, rule, current, since_ago, joined_ago)
    assert decision.reason.key in ALL_REASONS
    assert_renders(decision.reason)
    progress = progress_reason(decision.progress)
    assert (progress is None) is (decision.circle == "inner")
    if progress is not None:
        assert progress.key in ALL_PROGRESS
        assert_renders(progress)
