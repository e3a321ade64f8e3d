"""The community's chart (issue 11, item 1): a PNG drawn from `ChartData`, and the same in words.

Three panels in one picture: members per circle week by week since the community began (stacked
area: core group, inner, outer), contributions per week against the community's usual week, and the
onramp funnel of the last 90 days (joined -> contributed once -> reached the inner circle).

Drawn with matplotlib's object API (`Figure` + the Agg canvas, never pyplot): no display, no global
state, so the outbox worker's sender threads may draw at the same time. matplotlib is imported when the
first chart is drawn, not when the app starts (start-up time and memory of `cdp-bot run`).
"""

from __future__ import annotations

import gc
import io
from typing import Any

from bot.domain.onramp import ChartData
from bot.i18n import format_day, format_number, normalise_language, t

WIDTH_PX, HEIGHT_PX, DPI = 800, 600, 100
PNG_MAX_BYTES = 200_000  # what the issue allows; a test holds the charts to it
# Above each panel on the right, in one row (the panel's title is on the left).
LEGEND: dict[str, Any] = {
    "loc": "lower right",
    "bbox_to_anchor": (1.0, 1.0),
    "ncols": 3,
    "fontsize": 7,
    "frameon": False,
}
COLOURS = {"core": "#1b4965", "inner": "#5fa8d3", "outer": "#cae9ff", "bars": "#62b6cb", "usual": "#d1495b"}


def is_empty(data: ChartData) -> bool:
    """No history to draw yet: fewer than two weeks (nothing to join into an area) and no contribution."""
    return len(data.weeks) < 2 and not any(data.contributions) and not any(data.funnel)


def render(data: ChartData, lang: str) -> bytes:
    """The chart as a PNG of WIDTH_PX x HEIGHT_PX, labelled in `lang`. A community with no history gets
    a picture that says so (still a PNG), never an error."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    if is_empty(data):
        _draw_empty(figure, data, lang)
    else:
        _draw(figure, data, lang)
    out = io.BytesIO()
    # No metadata (matplotlib's version, a date): the same data draws the same bytes.
    # A light compression: flat colours compress well anyway, and the heavy levels cost more time than
    # the bytes are worth (a 3-year chart stays far under PNG_MAX_BYTES).
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 2})
    # A figure is a web of reference cycles: left to the collector's own pace, charts drawn one after
    # the other pile up (measured: +35 MB of RSS over 40 charts). Collected now, the process stays where
    # the first chart left it. The app draws in a process of its own (bot.chart_delivery), whose heap
    # is small: this full collection is cheap there and never stalls the app's threads.
    figure.clear()
    del figure
    gc.collect()
    return out.getvalue()


def _draw_empty(figure: Any, data: ChartData, lang: str) -> None:
    figure.suptitle(t("charts.title", lang, name=data.name), fontsize=13)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, t("charts.empty", lang), ha="center", va="center", fontsize=13, color="#555")


def _draw(figure: Any, data: ChartData, lang: str) -> None:
    from matplotlib.ticker import MaxNLocator

    figure.suptitle(t("charts.title", lang, name=data.name), fontsize=13)
    circles, bars, funnel = figure.subplots(3, 1, gridspec_kw={"height_ratios": [3, 2, 1.4], "hspace": 0.6})
    x = list(range(len(data.weeks)))
    ticks = _ticks(len(x))
    labels = [_month(data.weeks[i].week_start, lang) for i in ticks]

    if data.weeks:
        circles.stackplot(
            x,
            [w.core for w in data.weeks],
            [w.inner for w in data.weeks],
            [w.outer for w in data.weeks],
            labels=[t("charts.core", lang), t("charts.inner", lang), t("charts.outer", lang)],
            colors=[COLOURS["core"], COLOURS["inner"], COLOURS["outer"]],
        )
        circles.set_xlim(0, max(1, len(x) - 1))
        # Inside, top left (the title above is long): on a light frame over the areas.
        circles.legend(loc="upper left", ncols=3, fontsize=7, framealpha=0.85)
    circles.set_title(t("charts.circles_title", lang), fontsize=10, loc="left")
    # The same weeks as the contributions below, which label them: no labels here (text is what costs).
    circles.set_xticks(ticks)
    circles.tick_params(axis="x", labelbottom=False)
    circles.tick_params(axis="y", labelsize=8)
    circles.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))

    weeks = len(data.contributions)
    # One bar per week; fill_between in steps draws them as one shape (a 3-year community: 156 bars).
    edges = [i - 0.5 for i in range(weeks + 1)]
    heights = [*data.contributions, data.contributions[-1]] if weeks else []
    if weeks:
        bars.fill_between(
            edges, heights, step="post", color=COLOURS["bars"], label=t("charts.contributions", lang)
        )
    if data.usual_week is not None:
        usual = t("charts.usual", lang, usual=format_number(data.usual_week, lang))
        bars.axhline(data.usual_week, color=COLOURS["usual"], linewidth=1.5, linestyle="--", label=usual)
    bars.set_xlim(-0.5, max(0.5, weeks - 0.5))
    bars.set_title(t("charts.contributions_title", lang), fontsize=10, loc="left")
    if weeks or data.usual_week is not None:
        bars.legend(**LEGEND)
    bars.set_xticks(ticks, labels, fontsize=7)
    bars.tick_params(axis="y", labelsize=8)
    bars.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))

    names = [t("charts.joined", lang), t("charts.contributed", lang), t("charts.reached_inner", lang)]
    counts = list(data.funnel)
    funnel.barh([2, 1, 0], counts, color=[COLOURS["outer"], COLOURS["bars"], COLOURS["inner"]])
    funnel.set_yticks([2, 1, 0], names, fontsize=8)
    funnel.set_xlim(0, max(1, *counts) * 1.15)
    for y, count in zip([2, 1, 0], counts, strict=True):
        funnel.text(count, y, f" {count}", va="center", fontsize=8)
    funnel.set_title(t("charts.funnel_title", lang), fontsize=10, loc="left")
    funnel.xaxis.set_visible(False)  # each bar says its count
    figure.subplots_adjust(left=0.24, right=0.96, top=0.9, bottom=0.05)


def _month(day: Any, lang: str) -> str:
    """A tick's label: the month and year ("Jan 2024", « janv. 2024 »)."""
    from babel.dates import format_date

    return str(format_date(day, format="MMM y", locale=normalise_language(lang)))


def _ticks(weeks: int, most: int = 6) -> list[int]:
    """At most `most` evenly spaced week indexes to label, the last week always among them."""
    if weeks <= 0:
        return []
    step = max(1, -(-weeks // most))
    ticks = list(range(0, weeks, step))
    if ticks[-1] != weeks - 1 and weeks - 1 - ticks[-1] >= step / 2:
        ticks.append(weeks - 1)
    return ticks


def alt_text(data: ChartData, lang: str) -> str:
    """What the chart shows, in words (for screen readers, and the text shown when it cannot be)."""
    if is_empty(data):
        return t("charts.alt.empty", lang, name=data.name)
    parts = []
    if data.weeks:
        first, last = data.weeks[0], data.weeks[-1]
        parts.append(
            t(
                "charts.alt.circles",
                lang,
                name=data.name,
                weeks=len(data.weeks),
                start=format_day(first.week_start, lang),
                core=last.core,
                inner=last.inner,
                outer=last.outer,
                core_start=first.core,
                inner_start=first.inner,
                outer_start=first.outer,
            )
        )
    this_week = data.contributions[-1] if data.contributions else 0
    if data.usual_week is None:
        parts.append(t("charts.alt.contributions_no_usual", lang, this_week=this_week))
    else:
        usual = format_number(data.usual_week, lang)
        parts.append(t("charts.alt.contributions", lang, this_week=this_week, usual=usual))
    joined, contributed, inner = data.funnel
    parts.append(t("charts.alt.funnel", lang, joined=joined, contributed=contributed, inner=inner))
    return " ".join(parts)
