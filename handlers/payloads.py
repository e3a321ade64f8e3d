"""Pydantic models of the Slack payloads our handlers read: what each kind holds, in which shapes, and
what our own values in them (ids, option values, private_metadata) may be. handlers/gate.py checks
every request against them before Bolt or a handler reads it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.domain import checklist
from bot.domain.communities import CADENCES, NAME_MAX, OBJECTIVES, VISIBILITIES
from bot.i18n import LANGUAGES
from bot.views import communities as community_views
from bot.views import follow_ups as follow_up_views
from bot.views import home as home_views
from bot.views import review_together as together_views
from bot.views import reviews as review_views

# ---- the pieces Slack payloads are made of ----------------------------------------------------------
ID_MAX = 32  # the columns that store Slack ids are String(32) (storage/models.py SLACK_ID, TEAM_ID)
DB_ID_MAX = 2_147_483_647  # our own ids (communities, reviews, requests) are PostgreSQL integers

SlackId = Annotated[str, StringConstraints(pattern=rf"^[A-Z0-9]{{1,{ID_MAX}}}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]  # processed_events: String(64)
TriggerId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[\x21-\x7e]{1,2000}$")]
# Text that may reach the database: PostgreSQL refuses NUL in text, in a row or in a query parameter.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
Name = Annotated[str, StringConstraints(max_length=255, pattern=NO_NUL)]
# A Slack timestamp, "1772442000.000100"
Ts = Annotated[str, StringConstraints(max_length=32, pattern=NO_NUL)]
OptionValue = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]


class Model(BaseModel):
    # Strict: 7 is not "7". Fields we do not read are ignored, whatever they hold.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class EnterpriseRef(Model):
    id: Name | None = None


class Authorization(Model):
    team_id: SlackId | None = None
    user_id: SlackId | None = None
    enterprise_id: Name | None = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class ResponseUrl(Model):
    response_url: Url


class BoltEnvelope(Model):
    """What Bolt itself reads in every request to build its context, before any of our code runs."""

    enterprise: Name | EnterpriseRef | None = None
    authorizations: list[Authorization] | None = None
    is_ext_shared_channel: bool | None = None
    response_urls: list[ResponseUrl] | None = None


class UserRef(Model):
    id: SlackId
    team_id: SlackId | None = None


class TeamRef(Model):
    id: SlackId


class ChannelRef(Model):
    id: SlackId | None = None  # Slack always names it; the emulator sends null when a test does not
    name: Name | None = None


# ---- slash commands -------------------------------------------------------------------------------
class SlashCommand(Model):
    command: Annotated[str, StringConstraints(pattern=r"^/[\x21-\x7e]{1,63}$")]
    text: Text = ""
    user_id: SlackId
    team_id: SlackId
    channel_id: SlackId
    trigger_id: TriggerId  # the modals (create, join, settings...) open with it
    response_url: Url
    enterprise_id: Name | None = None


# ---- interactivity ----------------------------------------------------------------------------------
class Option(Model):
    value: OptionValue


class Action(Model):
    action_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    block_id: Name | None = None
    value: OptionValue | None = None
    selected_option: Option | None = None


class Container(Model):
    type: Name
    message_ts: Ts | None = None
    channel_id: SlackId | None = None
    view_id: Name | None = None
    is_ephemeral: bool | None = None


class MessageRef(Model):
    ts: Ts  # with the channel, what chat.update needs to replace a decided message


class ElementState(Model):
    """One input's value in `view.state.values`, whatever its type (only the keys Slack uses)."""

    type: Name
    value: Text | None = None
    selected_option: Option | None = None
    selected_options: list[Option] | None = None
    selected_user: SlackId | None = None
    selected_users: list[SlackId] | None = None
    selected_conversation: SlackId | None = None
    selected_conversations: list[SlackId] | None = None
    selected_channel: SlackId | None = None
    selected_channels: list[SlackId] | None = None
    selected_date: Name | None = None
    selected_time: Name | None = None


class ViewState(Model):
    values: dict[Name, dict[Name, ElementState]]


class Block(Model):
    type: Name
    block_id: Name | None = None
    element: dict[str, Any] | None = None


class View(Model):
    id: Name | None = None
    type: Name  # Bolt reads it to tell a workflow step from a modal
    callback_id: Name
    private_metadata: Annotated[str, StringConstraints(max_length=3000)] = ""
    state: ViewState | None = None
    blocks: list[Block] = []
    team_id: SlackId | None = None
    app_installed_team_id: SlackId | None = None


class BlockActions(BoltEnvelope):
    type: Literal["block_actions"]
    user: UserRef
    team: TeamRef
    actions: Annotated[list[Action], Field(min_length=1)]
    trigger_id: TriggerId
    container: Container | None = None
    channel: ChannelRef | None = None
    message: MessageRef | None = None
    view: View | None = None
    response_url: Url | None = None


class ViewSubmission(BoltEnvelope):
    type: Literal["view_submission"]
    user: UserRef
    team: TeamRef
    view: View
    trigger_id: TriggerId | None = None


class ViewClosed(BoltEnvelope):
    type: Literal["view_closed"]
    user: UserRef
    team: TeamRef
    view: View


class MessageAction(BoltEnvelope):
    """A message shortcut (Save as a product): who and in which workspace, which every handler reads
    (handlers.context.interaction); the rest is read defensively by the handler."""

    type: Literal["message_action"]
    user: UserRef
    team: TeamRef
    channel: ChannelRef | None = None


# ---- Events API ---------------------------------------------------------------------------------
class Event(Model):
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    event_ts: Ts | None = None


class AnyEvent(Event):
    """Any event, as far as Bolt reads it; the types we listen to have their own model (EVENTS)."""

    # Bolt looks for the user, team and channel of any event: text or an object, nothing else.
    user: str | dict[str, Any] | None = None
    team: str | dict[str, Any] | None = None
    channel: str | dict[str, Any] | None = None
    enterprise: str | dict[str, Any] | None = None


class MessageEvent(Event):
    channel: SlackId
    user: SlackId | None = None  # message_changed, message_deleted... have none
    team: SlackId | None = None
    ts: Ts | None = None
    subtype: Name | None = None
    bot_id: Name | None = None
    thread_ts: Ts | None = None


class ReactionItem(Model):
    type: Name | None = None
    channel: SlackId | None = None  # a reaction to a file has no channel: ignored, not an error
    ts: Ts | None = None


class ReactionEvent(Event):
    user: SlackId
    item: ReactionItem
    item_user: SlackId | None = None


class MembershipEvent(Event):
    user: SlackId
    channel: SlackId
    team: SlackId | None = None


class ChannelEvent(Event):
    channel: SlackId
    user: SlackId | None = None


class RenamedChannel(Model):
    id: SlackId
    name: Annotated[str, StringConstraints(max_length=NAME_MAX, pattern=NO_NUL)]


class RenameEvent(Event):
    channel: RenamedChannel
    user: SlackId | None = None


class HomeOpenedEvent(Event):
    """app_home_opened: the Home tab (or the Messages tab) of the app was opened."""

    user: SlackId
    channel: SlackId | None = None
    tab: Name | None = None


EVENTS: dict[str, type[Event]] = {
    "message": MessageEvent,
    "reaction_added": ReactionEvent,
    "member_joined_channel": MembershipEvent,
    "member_left_channel": MembershipEvent,
    **{
        f"{prefix}_{change}": ChannelEvent
        for prefix in ("channel", "group")
        for change in ("archive", "unarchive")
    },
    "channel_rename": RenameEvent,
    "group_rename": RenameEvent,
    "app_home_opened": HomeOpenedEvent,
}


class EventCallback(BoltEnvelope):
    type: Literal["event_callback"]
    team_id: SlackId
    event_id: EventId
    event: AnyEvent
    event_time: int | None = None


class OtherRequest(BoltEnvelope):
    """A kind no handler listens to (url_verification, app_rate_limited...): only what Bolt reads."""

    type: Name
    user: str | dict[str, Any] | None = None
    team: str | dict[str, Any] | None = None
    channel: str | dict[str, Any] | None = None
    event: AnyEvent | None = None


KINDS: dict[str, type[Model]] = {
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "view_closed": ViewClosed,
    "event_callback": EventCallback,
    "message_action": MessageAction,
}


# ---- what our own values must be -------------------------------------------------------------------
def pressed_action(body: dict[str, Any]) -> dict[str, Any]:
    """The pressed element of a block_actions payload ({} when there is none to read)."""
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    return action if isinstance(action, dict) else {}


def pressed_message(body: dict[str, Any]) -> tuple[str, str] | None:
    """The channel and ts of the message whose button was pressed (to update it with chat.update,
    which works for as long as the message exists, unlike a response_url)."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return (str(channel), str(ts)) if channel and ts else None


def pressed_value(body: dict[str, Any]) -> str:
    """The value the pressed button carries ("" when it carries none)."""
    value = pressed_action(body).get("value")
    return value if isinstance(value, str) else ""


def parse_id(value: object) -> int | None:
    """One of our ids (a community, review or join request) given as text: "42" -> 42; None otherwise
    (not ASCII digits, zero, or beyond PostgreSQL's integer)."""
    if not isinstance(value, str) or not re.fullmatch(r"[1-9][0-9]{0,9}", value):
        return None
    number = int(value)
    return number if number <= DB_ID_MAX else None


def _no_constants(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def metadata_id(view: Any, key: str) -> int | None:
    """The id `key` in a modal's private_metadata, read strictly: a JSON object (no NaN, no Infinity)
    whose `key` is an integer in 1..2147483647. None for anything else."""
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        metadata = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None
    value = metadata.get(key) if isinstance(metadata, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= DB_ID_MAX:
        return None
    return value


def _one_of(values: Iterable[object]) -> Callable[[str], bool]:
    allowed = frozenset(str(value) for value in values)
    return allowed.__contains__


def _is_id(value: str) -> bool:
    return parse_id(value) is not None


_COMMUNITY_CHOICES = {
    "objectives": _one_of(OBJECTIVES),
    "visibility": _one_of(VISIBILITIES),
    "language": _one_of(LANGUAGES),
    "cadence": _one_of(CADENCES),
}
# The values the app ever offers in each form's choices, whatever a view says (FormState checks both).
CHOICES: dict[str, dict[str, Callable[[str], bool]]] = {
    community_views.CREATE_CALLBACK: _COMMUNITY_CHOICES,
    community_views.SETTINGS_CALLBACK: {
        **_COMMUNITY_CHOICES,
        "options": _one_of(("promotion_dm", "review_outcome_in_channel")),
    },
    community_views.JOIN_CALLBACK: {"community": _is_id},
    review_views.CHECKLIST_CALLBACK: {
        **{f"item_{item}": _one_of(answer.value for answer in checklist.Answer) for item in checklist.ITEMS},
        checklist.DECISION_FIELD: _one_of(decision.value for decision in checklist.Decision),
        together_views.MODE_FIELD: _one_of((together_views.MODE_DECIDE, together_views.MODE_SAVE)),
    },
}
# Modals that carry one of our ids in private_metadata, and its key.
METADATA_IDS = {
    community_views.SETTINGS_CALLBACK: "community_id",
    community_views.DISSOLVE_CALLBACK: "community_id",
    review_views.CHECKLIST_CALLBACK: "review_id",
    follow_up_views.CREATE_CALLBACK: "review_id",
}
# Buttons whose value is one of our ids.
ID_ACTIONS = {
    community_views.APPROVE_ACTION,
    community_views.DECLINE_ACTION,
    review_views.START_ACTION,
    review_views.SNOOZE_ACTION,
    # not review_views.GREETED_ACTION: a named alert's button carries JSON (bot.views.buttons.lurkers_value)
    home_views.REVIEW_NOW_ACTION,
    follow_up_views.DONE_ACTION,
    follow_up_views.SPONSOR_ACTION,
    together_views.PULSE_ASK_ACTION,
    *together_views.PULSE_VOTE_ACTIONS.values(),
}
