"""Reading the community forms' state into a draft, with per-field errors (`response_action: errors`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.domain import cadence
from bot.domain.communities import (
    CADENCES,
    CIRCLE_RULE_SETTINGS,
    DOMAIN_MAX,
    OBJECTIVES,
    OBJECTIVES_OTHER_MAX,
    name_problem,
)
from bot.services.communities import CommunityDraft


class FormState:
    """Typed access to `view.state.values`, whatever the element type."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.values: dict[str, dict[str, Any]] = (view.get("state") or {}).get("values") or {}

    def _element(self, block_id: str) -> dict[str, Any]:
        actions = self.values.get(block_id) or {}
        return next(iter(actions.values()), {}) if actions else {}

    def text(self, block_id: str) -> str:
        return str(self._element(block_id).get("value") or "").strip()

    def option(self, block_id: str) -> str | None:
        selected = self._element(block_id).get("selected_option")
        return str(selected["value"]) if selected else None

    def options(self, block_id: str) -> list[str]:
        return [str(o["value"]) for o in self._element(block_id).get("selected_options") or []]

    def users(self, block_id: str) -> list[str]:
        return list(dict.fromkeys(self._element(block_id).get("selected_users") or []))

    def conversation(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_conversation")
        return str(value) if value else None

    def conversations(self, block_id: str) -> list[str]:
        return list(dict.fromkeys(self._element(block_id).get("selected_conversations") or []))

    def number(self, block_id: str) -> int | None:
        try:
            return int(str(self._element(block_id).get("value") or "").strip())
        except ValueError:
            return None

    def has(self, block_id: str) -> bool:
        return block_id in self.values


@dataclass
class ParsedForm:
    draft: CommunityDraft | None
    errors: dict[str, str]  # block_id -> i18n key
    channel_id: str | None = None
    new_channel: str | None = None
    channels: tuple[str, ...] = ()


def parse_community_form(view: dict[str, Any], *, settings: bool) -> ParsedForm:
    state = FormState(view)
    errors: dict[str, str] = {}
    name = state.text("name")
    problem = name_problem(name)
    if problem:
        errors["name"] = problem
    domain = state.text("domain")
    if len(domain) > DOMAIN_MAX:
        errors["domain"] = "communities.errors.domain_too_long"
    other = state.text("objectives_other")
    if len(other) > OBJECTIVES_OTHER_MAX:
        errors["objectives_other"] = "communities.errors.other_too_long"
    objectives = tuple(o for o in state.options("objectives") if o in OBJECTIVES)
    moderators = tuple(state.users("moderators"))
    if not moderators:
        errors["moderators"] = "communities.errors.no_moderator"
    timezone = state.text("timezone") or "UTC"
    if not cadence.is_valid_timezone(timezone):
        errors["timezone"] = "communities.errors.timezone_invalid"
    try:
        weeks = int(state.option("cadence") or 4)
    except ValueError:
        weeks = 0
    if weeks not in CADENCES:
        errors["cadence"] = "communities.errors.number_invalid"
    language = state.option("language") or "en"
    visibility = state.option("visibility") or "open"
    numbers: dict[str, int] = {}
    if settings:
        for block_id, (_, low, high) in CIRCLE_RULE_SETTINGS.items():
            value = state.number(block_id)
            if value is None or not low <= value <= high:
                errors[block_id] = "communities.errors.number_invalid"
            else:
                numbers[block_id] = value
        if len(numbers) == len(CIRCLE_RULE_SETTINGS) and (
            numbers["inner_min_days"] > numbers["inner_min_contributions"]
            or numbers["inner_min_days"] > numbers["circle_window_days"]
        ):
            errors["inner_min_days"] = "communities.errors.days_over_contributions"
    parsed = ParsedForm(draft=None, errors=errors)
    if settings:
        parsed.channels = tuple(state.conversations("channels"))
        if not parsed.channels:
            errors["channels"] = "communities.errors.no_channel"
    else:
        parsed.channel_id = state.conversation("channel")
        parsed.new_channel = state.text("new_channel") or None
        if parsed.channel_id and parsed.new_channel:
            errors["new_channel"] = "communities.errors.channel_both"
        elif not parsed.channel_id and not parsed.new_channel:
            errors["channel"] = "communities.errors.channel_needed"
    if errors:
        return parsed
    chosen_options = set(state.options("options"))
    parsed.draft = CommunityDraft(
        name=name,
        domain=domain,
        objectives=objectives,
        objectives_other=other,
        key_people=tuple(state.users("key_people")),
        moderators=moderators,
        visibility=visibility if visibility in ("open", "protected") else "open",
        language=language if language in ("en", "fr") else "en",
        timezone=timezone,
        cadence_weeks=weeks,
    )
    if settings:
        parsed.draft = replace(
            parsed.draft,
            circle_window_days=numbers["circle_window_days"],
            inner_min_contributions=numbers["inner_min_contributions"],
            inner_min_days=numbers["inner_min_days"],
            demotion_grace_days=numbers["demotion_grace_days"],
            promotion_dm="promotion_dm" in chosen_options,
            review_outcome_in_channel="review_outcome_in_channel" in chosen_options,
        )
    return parsed
