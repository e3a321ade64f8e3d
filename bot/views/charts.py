"""The community's chart in Block Kit (issue 11, item 1): an image block that shows the uploaded PNG,
or, when it could not be drawn or uploaded, what it shows in words.

A chart travels as JSON (`{"file_id": "F…" | None, "alt": "…"}`): the outbox worker draws and uploads it
when it sends (bot/chart_delivery.py) and hands it to the renderers below and to the App Home.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import t
from bot.views.common import Block, section
from bot.views.messages import Rendered, renderer

ALT_TEXT_MAX = 2000  # Block Kit: an image block's alt_text


def image_blocks(chart: dict[str, Any] | None, lang: str) -> list[Block]:
    """One block: the image (its alt text says the same in words), else the words alone. None: none."""
    if chart is None:
        return []
    alt = str(chart.get("alt") or "")
    if chart.get("file_id"):
        return [
            {"type": "image", "slack_file": {"id": str(chart["file_id"])}, "alt_text": alt[:ALT_TEXT_MAX]}
        ]
    return [section(t("charts.alt.fallback", lang, alt=alt)[:3000])]


@renderer("charts.text")
def text_with_chart(
    lang: str, *, key_name: str, params: dict[str, Any], chart: dict[str, Any] | None = None
) -> Rendered:
    """A sentence of the catalogues followed by the community's chart (the review outcome post)."""
    said = t(key_name, lang, **params)
    if chart is None:
        return said, None
    return said, [section(said[:3000]), *image_blocks(chart, lang)]
