"""The payload gate: every Slack request is checked against pydantic models of what our handlers read,
before Bolt's authorization, its self-event filter or any handler touches it, so that handlers can
keep reading `body[...]`.

A signed payload that does not fit is answered here and changes nothing: an event gets a 200 (a 500
would make Slack send it three more times), a block action a 200, a slash command an ephemeral "Slack
sent a request I could not read", a view submission a field error or a modal saying so. One WARNING
line names the kind and the field, never a value.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot.domain import checklist
from bot.domain.communities import CADENCES, NAME_MAX, OBJECTIVES, VISIBILITIES
from bot.i18n import LANGUAGES, t
from bot.logs import log_fields
from bot.people import user_language
from bot.runtime import Deps
from bot.views import communities as community_views
from bot.views import reviews as review_views
from bot.views.common import error_modal
from handlers.community_forms import FormState

log = logging.getLogger("cdp_bot.payloads")

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
}


# ---- what our own values must be -------------------------------------------------------------------
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
    },
}
# Modals that carry one of our ids in private_metadata, and its key.
METADATA_IDS = {
    community_views.SETTINGS_CALLBACK: "community_id",
    community_views.DISSOLVE_CALLBACK: "community_id",
    review_views.CHECKLIST_CALLBACK: "review_id",
}
# Buttons whose value is one of our ids.
ID_ACTIONS = {
    community_views.APPROVE_ACTION,
    community_views.DECLINE_ACTION,
    review_views.START_ACTION,
    review_views.SNOOZE_ACTION,
    review_views.GREETED_ACTION,
}


# ---- the check ------------------------------------------------------------------------------------
# Keys Bolt reads as soon as they are present, in any kind of request (to log an unhandled request,
# to skip the bot's own events): an object or a list there, never null or text.
BOLT_OBJECTS: dict[str, type] = {"view": dict, "event": dict, "actions": list, "response_urls": list}


@dataclass(frozen=True)
class Problem:
    kind: str  # slash_command, block_actions, view_submission, view_closed, event_callback, ...
    field: str  # where: "event.user", "view.private_metadata"; names of our models only, no values
    blocks: tuple[str, ...] = ()  # view_submission: the input blocks to mark


def kind_of(body: dict[str, Any]) -> str:
    if "command" in body:
        return "slash_command"
    kind = body.get("type")
    return kind if isinstance(kind, str) and kind in (*KINDS, "url_verification") else "other"


def check(body: Any) -> Problem | None:
    """None when the payload holds what our handlers read, in the shapes they read it; else the problem."""
    if not isinstance(body, dict):
        return Problem("other", "payload")
    kind = kind_of(body)
    for key, shape in BOLT_OBJECTS.items():
        if key in body and not isinstance(body[key], shape):
            return Problem(kind, key)
    model: type[Model] = SlashCommand if kind == "slash_command" else KINDS.get(kind, OtherRequest)
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        return _problem(kind, error)
    if isinstance(parsed, EventCallback):
        event_model = EVENTS.get(parsed.event.type)
        if event_model is not None:
            try:
                event_model.model_validate(body["event"])
            except ValidationError as error:
                return _problem(kind, error, prefix=("event",))
    elif isinstance(parsed, BlockActions):
        action = parsed.actions[0]
        if action.action_id in ID_ACTIONS and parse_id(action.value) is None:
            return Problem(kind, "actions[0].value")
        if parsed.view is None and parsed.response_url is None:  # a message's button: answered there
            return Problem(kind, "response_url")
    elif isinstance(parsed, ViewSubmission):
        return _view_problem(kind, parsed.view, body["view"])
    return None


def _view_problem(kind: str, view: View, raw: dict[str, Any]) -> Problem | None:
    key = METADATA_IDS.get(view.callback_id)
    if key is not None and metadata_id(raw, key) is None:
        return Problem(kind, "view.private_metadata")
    unknown = FormState(raw).unknown_choices(CHOICES.get(view.callback_id, {}))
    if unknown:
        return Problem(kind, "view.state.values", tuple(unknown))
    return None


def _problem(kind: str, error: ValidationError, prefix: tuple[Any, ...] = ()) -> Problem:
    locations = [(*prefix, *e["loc"]) for e in error.errors()]
    blocks: tuple[str, ...] = ()
    if kind == "view_submission":
        # Errors inside state.values belong on their input blocks, when every one is a block of the view.
        inside = [loc for loc in locations if loc[:3] == ("view", "state", "values") and len(loc) > 3]
        if inside and len(inside) == len(locations):
            blocks = tuple(sorted({str(loc[3]) for loc in inside}))
    return Problem(kind, _field_name(locations[0]), blocks)


def _field_name(location: tuple[Any, ...]) -> str:
    """A dotted path of our models' field names; it stops at a key Slack or a user chose (a block id,
    a union's member) so that no value reaches the log."""
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        elif isinstance(part, str) and part in FIELD_NAMES:
            name += f".{part}" if name else part
        else:
            break
    return name or "payload"


def _field_names(models: Iterable[type[BaseModel]]) -> frozenset[str]:
    return frozenset(name for model in models for name in model.model_fields)


FIELD_NAMES = _field_names(
    [
        SlashCommand,
        *KINDS.values(),
        *EVENTS.values(),
        OtherRequest,
        AnyEvent,
        Authorization,
        EnterpriseRef,
        UserRef,
        TeamRef,
        ChannelRef,
        Action,
        Option,
        Container,
        MessageRef,
        View,
        ViewState,
        Block,
        ResponseUrl,
        ReactionItem,
        RenamedChannel,
    ]
)


# ---- the answer -----------------------------------------------------------------------------------
def refusal(problem: Problem, body: Any, lang: str) -> BoltResponse:
    """What Slack gets back for a payload we could not read: never a 5xx, never a retry."""
    if problem.kind == "slash_command":
        text = t("errors.unreadable", lang)
        return _json({"response_type": "ephemeral", "text": text})
    if problem.kind == "view_submission":
        inputs = _input_blocks(body)
        if problem.blocks and set(problem.blocks) <= inputs:
            message = t("errors.unreadable_field", lang)
            return _json({"response_action": "errors", "errors": dict.fromkeys(problem.blocks, message)})
        view = error_modal(lang, t("errors.unreadable", lang))
        return _json({"response_action": "update", "view": view})
    return BoltResponse(status=200, body="")  # events, block actions, closed views: nothing to say


def _json(content: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200, body=json.dumps(content), headers={"content-type": "application/json;charset=utf-8"}
    )


def _input_blocks(body: Any) -> set[str]:
    view = body.get("view") if isinstance(body, dict) else None
    blocks = view.get("blocks") if isinstance(view, dict) else None
    return {
        block["block_id"]
        for block in (blocks if isinstance(blocks, list) else [])
        if isinstance(block, dict) and block.get("type") == "input" and isinstance(block.get("block_id"), str)
    }


def _user_id(body: Any) -> str | None:
    """The person waiting for the answer, when the payload names one we can ask Slack about."""
    if not isinstance(body, dict):
        return None
    user = body.get("user_id") if "command" in body else body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else user
    return user_id if isinstance(user_id, str) and re.fullmatch(rf"[A-Z0-9]{{1,{ID_MAX}}}", user_id) else None


def answer(deps: Deps, client: WebClient, problem: Problem, body: Any) -> BoltResponse:
    """Log the problem once (kind and field, no values) and build the refusal in the user's language."""
    fields: dict[str, Any] = {"kind": problem.kind, "field": problem.field}
    event = body.get("event") if isinstance(body, dict) else None
    event_type = event.get("type") if isinstance(event, dict) else None
    if problem.kind == "event_callback" and isinstance(event_type, str) and event_type in EVENTS:
        fields["event"] = event_type  # only the types we listen to: a name of ours, not a value
    log_fields(log, "unreadable Slack payload", logging.WARNING, **fields)
    lang: str = deps.settings.default_language
    user_id = _user_id(body)
    if user_id is not None and problem.kind in ("slash_command", "view_submission"):
        lang = user_language(deps, client, user_id)
    return refusal(problem, body, lang)


class PayloadGate(Middleware):
    """The global Bolt middleware, registered before Bolt's authorization (which reads the payload).
    A Middleware subclass, not a function: Bolt builds a function middleware's arguments from the
    payload (`event`, `action`...), which is exactly what fails on a broken one."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        problem = check(req.body)
        if problem is None:
            return next()
        return answer(self.deps, req.context.client, problem, req.body)


def unreadable_by_bolt(deps: Deps, client: WebClient, body: bytes, content_type: str) -> BoltResponse:
    """A signed body so broken that Bolt cannot even build its request from it (a user id that is a
    number, say): parsed here as Bolt would, and answered as the gate would."""
    text = body.decode("utf-8", errors="replace")
    try:
        if content_type.startswith("application/json"):
            parsed: Any = json.loads(text)
        else:
            fields = dict(parse_qsl(text, keep_blank_values=True))
            parsed = json.loads(fields["payload"]) if "payload" in fields else fields
    except (ValueError, RecursionError):
        parsed = None
    problem = check(parsed)
    if problem is None:  # our models are looser than Bolt somewhere: still a clear refusal
        kind = kind_of(parsed) if isinstance(parsed, dict) else "other"
        problem = Problem(kind, "payload")
    return answer(deps, client, problem, parsed)
