"""A person's standing in one community, in words: shared by `/cdp me` and the App Home."""

from __future__ import annotations

from typing import Any

from bot.domain.circles import progress_reason
from bot.i18n import t


def standing_lines(standing: Any, lang: str, *, title_key: str) -> list[str]:
    """The title line (`title_key` with the community's name and the person's place: core group,
    circle, newcomer), why they are in their circle, what would move them in, and the lurking nudge.
    `standing` is a bot.services.circles.Standing."""
    decision = standing.decision
    place = t(f"circles.name.{decision.circle}", lang)
    if standing.membership.role == "core":
        place = f"{t('activity.me.core', lang)} · {place}"
    if decision.newcomer:
        place += f" · {t('activity.me.newcomer', lang)}"
    lines = [
        t(title_key, lang, name=standing.community.name, circle=place),
        t(decision.reason.key, lang, **decision.reason.as_dict()),
    ]
    advice = progress_reason(decision.progress)
    if advice is not None:
        lines.append(t(advice.key, lang, **advice.as_dict()))
    if decision.lurking:
        lines.append(t("activity.me.lurking", lang))
    return lines
