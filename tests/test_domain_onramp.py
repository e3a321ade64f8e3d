"""The onramp figures (issue 11, item 2): the shape's thresholds, each side of its boundary; the figures
from a cohort; the comparison with the last review; the JSON round trip through the outbox."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.onramp import (
    Newcomer,
    OnrampFigures,
    Shape,
    Trend,
    classify,
    compare,
    figures_of,
    trend,
)
from bot.i18n import LANGUAGES, t
from bot.views import onramp as views


@pytest.mark.parametrize(
    ("circles", "newcomers", "contributed", "reached", "shape"),
    [
        # bottleneck: 3 or more contributed, fewer than a quarter of them reached the inner circle
        ((1, 2, 10), 5, 4, 0, Shape.BOTTLENECK),
        ((1, 2, 10), 5, 4, 1, Shape.HEALTHY),  # a quarter exactly: no bottleneck
        ((1, 2, 10), 5, 2, 0, Shape.HEALTHY),  # only 2 contributed: too few to say
        # reader-heavy: outer >= 85% and conversion < 10% (or no newcomer)
        ((1, 2, 17), 0, 0, 0, Shape.READER_HEAVY),  # 17 of 20 = 85%
        ((1, 3, 16), 0, 0, 0, Shape.HEALTHY),  # 80%
        ((1, 2, 17), 10, 2, 1, Shape.HEALTHY),  # conversion 10%: not low enough
        ((1, 2, 17), 11, 2, 1, Shape.READER_HEAVY),  # 9%
        # core-heavy: core + inner >= 60% with at most one newcomer
        ((2, 4, 4), 1, 1, 1, Shape.CORE_HEAVY),
        ((2, 4, 4), 2, 1, 1, Shape.HEALTHY),  # two newcomers
        ((2, 3, 5), 0, 0, 0, Shape.HEALTHY),  # 50%
        ((0, 0, 0), 0, 0, 0, Shape.HEALTHY),  # nobody yet
    ],
)
def test_the_shape_on_each_side_of_its_thresholds(
    circles: tuple[int, int, int], newcomers: int, contributed: int, reached: int, shape: Shape
) -> None:
    core, inner, outer = circles
    found = classify(
        core=core,
        inner=inner,
        outer=outer,
        newcomers=newcomers,
        contributed=contributed,
        reached_inner=reached,
    )
    assert found == shape


def test_figures_of_a_cohort() -> None:
    joins = [Newcomer(1.0, True), Newcomer(3.0, False), Newcomer(None, False), Newcomer(2.5, True)]
    figures = figures_of(joins=joins, reply_minutes=[30.0, 90.0], demoted=2, core=1, inner=3, outer=6)
    assert figures == OnrampFigures(4, 3, 2, 2.5, 60.0, 2, 1, 3, 6)
    assert figures.conversion == 0.5
    assert figures.shape == Shape.HEALTHY
    empty = figures_of(joins=[], reply_minutes=[], demoted=0, core=1, inner=0, outer=0)
    assert empty.conversion is None and empty.median_days_to_first_contribution is None


def test_against_the_last_review() -> None:
    before = OnrampFigures(10, 4, 1, 3.0, None, 0)
    now = OnrampFigures(4, 2, 1, 3.0, 45.0, 1)
    assert compare(now, before) == {
        "conversion": Trend.UP,
        "days_to_first_contribution": Trend.SAME,
        "minutes_to_first_reply": None,
        "demoted": Trend.UP,
    }
    assert trend(1.0, 2.0) == Trend.DOWN


counts = st.integers(min_value=0, max_value=500)


@settings(deadline=None)  # the first example loads the catalogues and Babel
@given(
    counts,
    counts,
    counts,
    counts,
    counts,
    counts,
    st.none() | st.floats(0, 1000),
    st.none() | st.floats(0, 1e5),
)
def test_json_round_trip_and_every_shape_is_said_in_both_languages(
    core: int,
    inner: int,
    outer: int,
    newcomers: int,
    contributed: int,
    reached: int,
    days: float | None,
    minutes: float | None,
) -> None:
    figures = OnrampFigures(newcomers, contributed, reached, days, minutes, inner, core, inner, outer)
    assert OnrampFigures.from_json(figures.to_json()) == figures
    for lang in LANGUAGES:
        [block] = views.blocks(lang, figures.to_json(), figures)
        assert len(block["text"]["text"]) <= 3000
        assert t(figures.shape.advice_key, lang) in block["text"]["text"]


def test_every_shape_has_a_name_and_advice_in_both_languages() -> None:
    for shape in Shape:
        for lang in LANGUAGES:
            assert t(shape.label_key, lang) != shape.label_key
            assert t(shape.advice_key, lang).endswith(".")


@pytest.mark.parametrize(
    ("minutes", "en", "fr"),
    [
        (0.4, "less than a minute", "moins d'une minute"),
        (45, "45 minutes", "45 minutes"),
        (180, "3 hours", "3 heures"),
        (150, "2.5 hours", "2,5 heures"),
    ],
)
def test_durations(minutes: float, en: str, fr: str) -> None:
    assert views.minutes_text(minutes, "en") == en
    assert views.minutes_text(minutes, "fr") == fr
    assert views.days_text(1, "en") == "1 day" and views.days_text(2.5, "fr") == "2,5 jours"
