"""The payload gate: every Slack request is checked against the models of handlers/payloads.py,
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
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot.i18n import t
from bot.logs import log_fields
from bot.runtime import Deps
from bot.views.common import error_modal
from handlers.community_forms import FormState
from handlers.payloads import (
    CHOICES,
    EVENTS,
    ID_ACTIONS,
    ID_MAX,
    KINDS,
    METADATA_IDS,
    Action,
    AnyEvent,
    Authorization,
    Block,
    BlockActions,
    ChannelRef,
    Container,
    EnterpriseRef,
    EventCallback,
    MessageRef,
    Model,
    Option,
    OtherRequest,
    ReactionItem,
    RenamedChannel,
    ResponseUrl,
    SlashCommand,
    TeamRef,
    UserRef,
    View,
    ViewState,
    ViewSubmission,
    metadata_id,
    parse_id,
)

log = logging.getLogger("cdp_bot.payloads")

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
        lang = deps.people.language(_client_of(deps, client, body), user_id)
    return refusal(problem, body, lang)


def _client_of(deps: Deps, client: WebClient, body: dict[str, Any]) -> WebClient:
    """Several workspaces (OAuth): the gate runs before Bolt's authorize, so the request's client has
    no token yet; the person's language is asked with their workspace's (the one given otherwise)."""
    workspaces = deps.workspaces
    if workspaces is None or not workspaces.oauth:
        return client
    team = body.get("team")
    team_id = body.get("team_id") or (team.get("id") if isinstance(team, dict) else None)
    if not isinstance(team_id, str) or not team_id:
        return client
    from bot.workspaces import NotInstalled

    try:
        return workspaces.client_for(team_id, "request")
    except NotInstalled:
        return client


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
