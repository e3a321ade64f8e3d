"""The `/cdp help` message."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from bot.i18n import t
from bot.views.buttons import help_actions
from bot.views.common import context_block, ephemeral, section


def help_message(subcommands: Iterable[str], lang: str) -> dict[str, Any]:
    """The same for everyone who reads a language: rendered once per language (about forty lookups and
    formats, a fifth of a `/cdp help` request's time), kept as JSON and read back for each request, so no
    caller can change the cached one (json.loads is ~5x cheaper than copy.deepcopy of the same blocks)."""
    message: dict[str, Any] = json.loads(_rendered(tuple(subcommands), lang))
    return message


@lru_cache(maxsize=16)
def _rendered(subcommands: tuple[str, ...], lang: str) -> str:
    lines = [
        t(
            "help.usage",
            lang,
            usage=t(f"subcommand.{name}.usage", lang),
            summary=t(f"subcommand.{name}.summary", lang),
        )
        for name in subcommands
    ]
    title = t("help.title", lang)
    text = "\n".join([title, *(f"• {line}" for line in lines)])
    blocks = [
        section(title),
        section("\n".join(f"• {line}" for line in lines)),
        help_actions(lang),  # the three most useful commands, one press away
        context_block(t("help.footer", lang)),
    ]
    return json.dumps(ephemeral(text, blocks))
