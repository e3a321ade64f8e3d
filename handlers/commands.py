"""The `/cdp` router: parse the text, run the subcommand, answer ephemerally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.domain.commands import HELP, all_words, canonical, closest, parse
from bot.i18n import t
from bot.runtime import Deps
from bot.services import communities as community_service
from bot.views.common import ephemeral
from bot.views.help import help_message
from handlers import registry
from handlers.context import deps_of, lang_of

COMMAND = "/cdp"  # as in manifest.yml


@dataclass(frozen=True)
class CommandRequest:
    """Everything a subcommand needs, parsed once by the router."""

    ack: Ack
    respond: Respond
    client: WebClient
    context: BoltContext
    body: dict[str, Any]
    argument: str
    lang: str

    @property
    def deps(self) -> Deps:
        return deps_of(self.context)

    @property
    def user_id(self) -> str:
        return str(self.body["user_id"])

    @property
    def team_id(self) -> str:
        return str(self.body.get("team_id") or self.context.team_id or "")

    def community(self, session: Any, query: str | None = None) -> Any:
        """The community meant: by the text typed (the argument unless `query` is given), else the
        channel the command was typed in, else the user's only community. CommunityProblem if none."""
        return community_service.require(
            session,
            team_id=self.team_id,
            query=self.argument if query is None else query,
            channel_id=self.body.get("channel_id"),
            user_id=self.user_id,
        )

    def reply(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Answer in the ack itself: ephemeral, visible only to the person who typed the command."""
        self.ack(**ephemeral(text, blocks))


Subcommand = Callable[[CommandRequest], None]

# Order is the order of `/cdp help`. Modules add their subcommands at import time via `subcommand()`.
SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str) -> Callable[[Subcommand], Subcommand]:
    def decorate(function: Subcommand) -> Subcommand:
        SUBCOMMANDS[name] = function
        return function

    return decorate


@subcommand(HELP)
def help_subcommand(request: CommandRequest) -> None:
    request.ack(**help_message(SUBCOMMANDS, request.lang))


def cdp_command_callback(
    ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    parsed = parse(body.get("text"))
    lang = lang_of(context)
    request = CommandRequest(ack, respond, client, context, body, parsed.argument, lang)
    name = canonical(parsed.name)  # French aliases too: `/cdp rejoindre X` is `/cdp join X`
    handler = SUBCOMMANDS.get(name) if name is not None else None
    if handler is None:
        unknown_subcommand(request, parsed.name)
        return
    handler(request)


def unknown_subcommand(request: CommandRequest, given: str) -> None:
    suggestion = closest(given, [word for word in all_words() if canonical(word) in SUBCOMMANDS])
    lang = request.lang
    if suggestion is None:
        error = t("errors.unknown_subcommand_no_suggestion", lang, given=given)
    else:
        error = t("errors.unknown_subcommand", lang, given=given, suggestion=suggestion)
    help_payload = help_message(SUBCOMMANDS, lang)
    request.ack(**ephemeral(error + "\n\n" + help_payload["text"]))


def register(app: App) -> None:
    registry.command(app, COMMAND, cdp_command_callback)
