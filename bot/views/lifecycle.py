"""A community's lifecycle state as people read it: a short label (directory, App Home) and the state
with its reason in plain words (`/cdp info`)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from bot.domain.cadence import zone
from bot.domain.momentum import Message
from bot.i18n import format_day, t

# Literal keys (not built from the state), so the catalogue check sees each one used.
LABELS = {
    "forming": "lifecycle.label.forming",
    "active": "lifecycle.label.active",
    "stalling": "lifecycle.label.stalling",
    "dormant": "lifecycle.label.dormant",
}
NAMES = {
    "forming": "lifecycle.state.forming",
    "active": "lifecycle.state.active",
    "stalling": "lifecycle.state.stalling",
    "dormant": "lifecycle.state.dormant",
}


def label(state: str | None, lang: str) -> str:
    """ "🟢 active"; empty before the first daily pass (or for a state this version does not know)."""
    return t(LABELS[state], lang) if state in LABELS else ""


def info_line(community: Any, lang: str) -> str:
    """ "Lifecycle: *stalling* since 3 March 2026, because ..." for a Community row."""
    state = community.lifecycle_state
    if state not in NAMES or community.lifecycle_since is None:
        return t("lifecycle.info_unknown", lang)
    reason = Message.from_dict(community.lifecycle_reason) if community.lifecycle_reason else None
    because = t(reason.key, lang, **reason.params) if reason else ""
    local = community.lifecycle_since
    with suppress(ValueError):  # a broken timezone: the UTC day
        local = local.astimezone(zone(community.timezone))
    return t(
        "lifecycle.info",
        lang,
        state=t(NAMES[state], lang),
        day=format_day(local.date(), lang),
        reason=because,
    )
