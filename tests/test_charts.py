"""The community chart as a picture and in words (bot/charts.py): pure, no database, no Slack."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from bot import charts
from bot.domain.onramp import ChartData, CircleWeek


def community(weeks: int, *, name: str = "Urbanism") -> ChartData:
    start = date(2024, 1, 1)
    return ChartData(
        name=name,
        weeks=tuple(
            CircleWeek(start + timedelta(weeks=i), 2, 5 + i // 10, 20 + i // 3) for i in range(weeks)
        ),
        contributions=tuple((i * 7) % 13 for i in range(weeks)),
        usual_week=6.5 if weeks > 1 else None,
        funnel=(12, 7, 3),
    )


EMPTY = ChartData(name="Urbanism", weeks=(), contributions=(), usual_week=None, funnel=(0, 0, 0))


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


@pytest.mark.parametrize("weeks", [2, 52, 156])
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_chart_is_a_png_of_800_by_600_under_200_kb(weeks: int, lang: str) -> None:
    png = charts.render(community(weeks), lang)
    assert decoded(png).format == "PNG" and decoded(png).size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    assert len(png) <= charts.PNG_MAX_BYTES


def test_a_community_with_no_history_gets_an_explanatory_empty_chart_not_an_error() -> None:
    one_week = ChartData("New", (CircleWeek(date(2026, 3, 2), 1, 0, 0),), (0,), None, (0, 0, 0))
    assert charts.is_empty(EMPTY) and charts.is_empty(one_week) and not charts.is_empty(community(2))
    for data in (EMPTY, one_week):
        png = charts.render(data, "fr")
        assert decoded(png).size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    assert charts.alt_text(one_week, "en") == "Chart of New: no history yet; the chart fills in week by week."
    assert charts.alt_text(one_week, "fr") == (
        "Graphique de New : pas encore d'historique ; le graphique se remplit semaine après semaine."
    )


def test_the_alt_text_says_what_the_chart_shows_in_english() -> None:
    assert charts.alt_text(community(3), "en") == (
        "Chart of Urbanism. Members per circle over 3 weeks since January 1, 2024: now 2 in the core group,"
        " 5 in the inner circle and 20 in the outer circle (at the start: 2, 5 and 20)."
        " Contributions this week: 1; usual week: 6.5."
        " Newcomers of the last 90 days: 12 joined, 7 contributed once, 3 reached the inner circle."
    )


def test_the_alt_text_says_what_the_chart_shows_in_french() -> None:
    data = community(52)
    assert charts.alt_text(data, "fr") == (
        "Graphique de Urbanism. Membres par cercle sur 52 semaines depuis le 1 janvier 2024 : aujourd'hui"
        " 2 dans le groupe central, 10 dans le cercle interne et 37 dans le cercle externe (au début : 2, 5"
        " et 20). Contributions cette semaine : 6 ; semaine habituelle : 6,5."
        " Nouveaux membres des 90 derniers jours : 12 arrivés, 7 ont contribué une fois, 3 ont rejoint le"
        " cercle interne."
    )


def test_no_usual_week_yet_is_said_so() -> None:
    data = ChartData("Young", community(2).weeks, (0, 4), None, (1, 1, 0))
    assert "Contributions this week: 4; no usual week yet." in charts.alt_text(data, "en")


def test_the_same_data_draws_the_same_bytes() -> None:
    """No date nor version in the PNG: a chart drawn twice the same day is the same file."""
    assert charts.render(community(10), "en") == charts.render(community(10), "en")
