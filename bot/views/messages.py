"""Renderers of outbox messages: a name and JSON arguments in, (text, blocks) out, in a language.

The outbox stores what to say, not the words: a message is rendered when it is sent, so a DM is written
in its recipient's language (asked of Slack by the worker, never on the request path). View modules
register their renderers with `@renderer(name)`; arguments are JSON values (dates as ISO strings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.i18n import t
from bot.views.common import Block

Rendered = tuple[str, list[Block] | None]
Renderer = Callable[..., Rendered]

RENDERERS: dict[str, Renderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    def register(function: Renderer) -> Renderer:
        if name in RENDERERS and RENDERERS[name] is not function:
            raise ValueError(f"renderer {name!r} is registered twice")
        RENDERERS[name] = function
        return function

    return register


def render(name: str, lang: str, args: dict[str, Any]) -> Rendered:
    """`name`'s text and blocks in `lang`; KeyError for a name nobody registered (a bug)."""
    # The view modules register on import; importing them here keeps the worker independent of who
    # imported what first.
    from bot.views import buttons, charts, communities, follow_ups, pairing, review_together, reviews  # noqa: F401

    return RENDERERS[name](lang, **args)


@renderer("text")
def text(lang: str, *, key_name: str, params: dict[str, Any]) -> Rendered:
    """One sentence of the catalogues."""
    return t(key_name, lang, **params), None


@renderer("plain")
def plain_text(lang: str, *, text: str) -> Rendered:
    """Words already written in the reader's language (an answer to the person who acted)."""
    return text, None
