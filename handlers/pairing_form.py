"""The settings modal's pairing blocks, read (issue 10, item 3): kept apart from the community form's
own parsing so that each area's fields stay together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain import pairing as rules
from bot.views import pairing as views
from handlers.community_forms import FormState


@dataclass(frozen=True)
class PairingSettings:
    enabled: bool
    after_days: int


def parse(view: dict[str, Any]) -> tuple[PairingSettings | None, dict[str, str]]:
    """(settings, field errors as i18n keys). A form without pairing's blocks (opened before they
    existed) changes nothing: (None, {})."""
    state = FormState(view)
    if not state.has(views.AFTER_DAYS_BLOCK):
        return None, {}
    days = state.number(views.AFTER_DAYS_BLOCK)
    if days is None or not rules.valid_after_days(days):
        return None, {views.AFTER_DAYS_BLOCK: "pairing.errors.after_days"}
    return PairingSettings(enabled="on" in state.options(views.ENABLED_BLOCK), after_days=days), {}
