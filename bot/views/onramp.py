"""Block Kit for the onramp figures (issue 11, item 2): the review prompt's "Onramp" section and the
moderators' App Home, from bot.domain.onramp.OnrampFigures (or its JSON form, from the outbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.onramp import OnrampFigures
from bot.i18n import format_number, t
from bot.views.common import Block, section

SECTION_MAX = 3000  # a section's text, in characters (Block Kit)


def _figures(value: Any) -> OnrampFigures | None:
    """OnrampFigures, or its JSON (asdict) form restored."""
    if value is None or isinstance(value, OnrampFigures):
        return value
    if isinstance(value, Mapping):
        return OnrampFigures.from_json(value)
    return None


def percent(value: float, lang: str) -> str:
    return t("onramp.percent", lang, value=format_number(100 * value, lang))


def days_text(days: float, lang: str) -> str:
    """2 -> "2 days", 1 -> "1 day", 2.5 -> "2.5 days" (one decimal at most)."""
    rounded = round(days, 1)
    if rounded == int(rounded):
        return t("onramp.duration.days_whole", lang, n=int(rounded))
    return t("onramp.duration.days", lang, n=format_number(rounded, lang))


def minutes_text(minutes: float, lang: str) -> str:
    """Under two hours in minutes ("45 minutes"), else in hours ("3 hours", "2.5 hours")."""
    if minutes < 120:
        return t("onramp.duration.minutes", lang, n=round(minutes))
    hours = round(minutes / 60, 1)
    if hours == int(hours):
        return t("onramp.duration.hours_whole", lang, n=int(hours))
    return t("onramp.duration.hours", lang, n=format_number(hours, lang))


def _with_before(text: str, before: str | None, lang: str) -> str:
    return text if before is None else text + " " + t("onramp.before", lang, value=before)


def lines(figures: OnrampFigures, lang: str, before: OnrampFigures | None = None) -> list[str]:
    """One line per figure (each with the last review's value when there is one), then the shape and
    its advice."""
    said: list[str] = []
    conversion = figures.conversion
    if conversion is None:
        text = t("onramp.no_newcomers", lang)
    else:
        text = t(
            "onramp.conversion",
            lang,
            percent=percent(conversion, lang),
            reached=figures.reached_inner,
            newcomers=figures.newcomers,
        )
    was = before.conversion if before is not None else None
    said.append(_with_before(text, percent(was, lang) if was is not None else None, lang))
    days = figures.median_days_to_first_contribution
    text = (
        t("onramp.no_first_contribution", lang)
        if days is None
        else t("onramp.first_contribution", lang, duration=days_text(days, lang))
    )
    was = before.median_days_to_first_contribution if before is not None else None
    said.append(_with_before(text, days_text(was, lang) if was is not None else None, lang))
    minutes = figures.median_minutes_to_first_reply
    text = (
        t("onramp.no_first_reply", lang)
        if minutes is None
        else t("onramp.first_reply", lang, duration=minutes_text(minutes, lang))
    )
    was = before.median_minutes_to_first_reply if before is not None else None
    said.append(_with_before(text, minutes_text(was, lang) if was is not None else None, lang))
    text = t("onramp.demoted", lang, count=figures.demoted)
    said.append(_with_before(text, str(before.demoted) if before is not None else None, lang))
    shape = figures.shape
    said.append(
        t("onramp.shape_line", lang, shape=t(shape.label_key, lang), advice=t(shape.advice_key, lang))
    )
    return said


def blocks(
    lang: str, figures: Any, before: Any = None, *, title_key: str = "onramp.title.review"
) -> list[Block]:
    """The "Onramp" section: a title, the figures and the shape's advice; nothing without figures.
    `figures` and `before` are OnrampFigures or their JSON form (the review prompt through the outbox)."""
    now = _figures(figures)
    if now is None:
        return []
    text = "\n".join([t(title_key, lang), *(f"• {line}" for line in lines(now, lang, _figures(before)))])
    return [section(text[:SECTION_MAX])]
