"""Reading the community forms' state into a draft, with per-field errors (`response_action: errors`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from bot.domain.first_posts import emoji_name
from bot.services.communities import CommunityDraft
from bot.views import stages as stage_views


class FormState:
    """Typed access to `view.state.values`, whatever the element type. Reading never raises: a value
    of the wrong shape reads as absent (the payload gate in handlers/gate.py has already refused
    such a submission with a field error; this is the second line of defence)."""

    def __init__(self, view: dict[str, Any]) -> None:
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        self.values: dict[str, Any] = values if isinstance(values, dict) else {}
        blocks = view.get("blocks")
        self.blocks: list[Any] = blocks if isinstance(blocks, list) else []

    def _element(self, block_id: str) -> dict[str, Any]:
        actions = self.values.get(block_id)
        element = next(iter(actions.values()), None) if isinstance(actions, dict) and actions else None
        return element if isinstance(element, dict) else {}

    def text(self, block_id: str) -> str:
        value = self._element(block_id).get("value")
        return value.strip() if isinstance(value, str) else ""

    def option(self, block_id: str) -> str | None:
        return _option_value(self._element(block_id).get("selected_option"))

    def options(self, block_id: str) -> list[str]:
        selected = self._element(block_id).get("selected_options")
        values = (_option_value(o) for o in selected) if isinstance(selected, list) else ()
        return [v for v in values if v is not None]

    def user(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_user")
        return value if isinstance(value, str) and value else None

    def date(self, block_id: str) -> str | None:
        """A datepicker's choice as Slack sends it (YYYY-MM-DD), unchecked."""
        value = self._element(block_id).get("selected_date")
        return value if isinstance(value, str) and value else None

    def users(self, block_id: str) -> list[str]:
        return _strings(self._element(block_id).get("selected_users"))

    def conversation(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_conversation")
        return value if isinstance(value, str) and value else None

    def conversations(self, block_id: str) -> list[str]:
        return _strings(self._element(block_id).get("selected_conversations"))

    def number(self, block_id: str) -> int | None:
        try:
            return int(str(self._element(block_id).get("value") or "").strip())
        except ValueError:
            return None

    def has(self, block_id: str) -> bool:
        return block_id in self.values

    def offered(self, block_id: str) -> set[str] | None:
        """The option values the view's input `block_id` offers; None when it offers no options."""
        for block in self.blocks:
            if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id") == block_id:
                element = block.get("element")
                if not isinstance(element, dict) or not ("options" in element or "option_groups" in element):
                    return None
                options = _list(element.get("options"))
                for group in _list(element.get("option_groups")):
                    options += _list(group.get("options")) if isinstance(group, dict) else []
                return {value for value in map(_option_value, options) if value is not None}
        return None

    def unknown_choices(self, allowed: Mapping[str, Callable[[str], bool]]) -> list[str]:
        """Blocks whose chosen option(s) the app did not offer: not among the view's options, or not a
        value the app ever offers in that block (`allowed`, by block id). Sorted block ids."""
        unknown = []
        for block_id in self.values:
            element = self._element(block_id)
            if "selected_option" in element:
                single = element["selected_option"]
                chosen = [] if single is None else [single]
            elif "selected_options" in element:
                many = element["selected_options"]
                chosen = many if isinstance(many, list) else [many]
            else:
                continue
            offered = self.offered(block_id) or set()
            rule = allowed.get(block_id, _anything)
            values = [_option_value(option) for option in chosen]
            if any(value is None or value not in offered or not rule(value) for value in values):
                unknown.append(block_id)
        return sorted(unknown)


def _anything(_: str) -> bool:
    return True


def _option_value(option: Any) -> str | None:
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _strings(values: Any) -> list[str]:
    return list(dict.fromkeys(v for v in _list(values) if isinstance(v, str) and v))


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
    first_post_emoji: str | None = None
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
        # Issue 10 (first posts): the reaction's emoji; a form opened before it existed leaves it as is.
        first_post_emoji = (
            emoji_name(state.text("first_post_emoji")) if state.has("first_post_emoji") else None
        )
        if state.has("first_post_emoji") and first_post_emoji is None:
            errors["first_post_emoji"] = "first_posts.errors.emoji_invalid"
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
            first_post_emoji=first_post_emoji,
            stage=state.option(stage_views.SETTING),  # issue 11, item 9: set by hand
        )
    return parsed
