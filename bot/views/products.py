"""Products' Block Kit: the save modal (from the message shortcut), the listing, the lines shown in
`/cdp info` and the directory. A product shows as a link with its title, who saved it and when."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.domain.products import TITLE_MAX
from bot.i18n import format_day, t
from bot.views.common import Block, context_block, escape_text, modal_title, plain, section

SAVE_SHORTCUT = "save_product"
SAVE_CALLBACK = "product_save"
SECTION_MAX = 3000  # Block Kit: characters in a section's text


_escape = escape_text


def _saver(user_id: str, lang: str) -> str:
    """Who saved it; "a former member" once they asked to be forgotten (their id is then empty)."""
    return f"<@{user_id}>" if user_id else t("activity.privacy.label.former_member", lang)


def link_text(product: Any) -> str:
    return f"<{product.link}|{_escape(product.title)}>"


def line(product: Any, lang: str) -> str:
    return t(
        "products.list.line",
        lang,
        product=link_text(product),
        user=_saver(product.saved_by, lang),
        day=format_day(product.saved_at.date(), lang),
    )


def sections(heading: str, products: Sequence[Any], lang: str) -> list[Block]:
    """The heading, then one line a product, in as many sections as Block Kit's 3000 characters a
    section need: a line is never cut (a cut link would show as broken markup)."""
    blocks: list[Block] = []
    text = heading
    for product in products:
        shown = line(product, lang)
        if text and len(text) + 1 + len(shown) > SECTION_MAX:
            blocks.append(section(text))
            text = ""
        text = f"{text}\n{shown}" if text else shown
    blocks.append(section(text))
    return blocks


def listing(name: str, products: Sequence[Any], lang: str) -> tuple[str, list[Block]]:
    if not products:
        text = t("products.list.empty", lang, name=name)
        return text, [section(text)]
    title = t("products.list.title", lang, name=name, count=len(products))
    return title, sections(title, products, lang)


def info_blocks(products: Sequence[Any], lang: str) -> list[Block]:
    """The products section of `/cdp info` (shown only where the details show)."""
    if not products:
        return [context_block(t("products.info.none", lang))]
    return sections(t("products.info.title", lang), products, lang)


def directory_line(products: Sequence[Any], lang: str) -> str:
    """The latest products of an open community in the directory, on one line; empty without any."""
    if not products:
        return ""
    shown = ", ".join(link_text(p) for p in products)
    return t("products.directory.latest", lang, products=shown)


def save_form(lang: str, *, community_id: int, name: str, link: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SAVE_CALLBACK,
        "private_metadata": json.dumps({"community_id": community_id}),
        "title": modal_title(t("products.form.title", lang)),
        "submit": plain(t("products.form.submit", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": [
            context_block(t("products.form.intro", lang, name=name)),
            {
                "type": "input",
                "block_id": "title",
                "label": plain(t("products.form.title_label", lang)),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "title",
                    "max_length": TITLE_MAX,
                },
            },
            {
                "type": "input",
                "block_id": "link",
                "label": plain(t("products.form.link_label", lang)),
                "element": {"type": "plain_text_input", "action_id": "link", "initial_value": link},
            },
        ],
    }
