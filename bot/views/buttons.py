"""Block Kit for the buttons where people are (issue 10, item 6) and the named lurker alert (item 4):
Join / Request to join and Info under each directory entry, the help message's three buttons, the
key-person invitation's Join button, the alert's newcomers by name with their three buttons."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.i18n import format_list, t
from bot.views.common import Block, plain, section
from bot.views.messages import Rendered, renderer

# Shared with App Home (helper E1 renders them there): the value is str(community id).
JOIN_ACTION = "home_join"
INFO_ACTION = "home_info"
# The directory's next page: the value is the page number (1-based).
PAGE_ACTION = "directory_page"
# The help message's buttons: each runs the command it names, for whoever pressed it.
HELP_LIST_ACTION = "help_list"
HELP_ME_ACTION = "help_me"
HELP_CREATE_ACTION = "help_create"
HELP_ACTIONS = {HELP_LIST_ACTION: "list", HELP_ME_ACTION: "me", HELP_CREATE_ACTION: "create"}
# The named lurker alert: the value is JSON {"c": community id, "u": [user ids]} (see lurkers_value).
POST_WELCOME_ACTION = "lurkers_post_welcome"
INTRODUCE_ACTION = "lurkers_introduce"  # handled by the pairing helper (issue 10, item 3)

BUTTON_TEXT_MAX = 75  # Block Kit: a button's text is at most 75 characters
NAMED_MAX = 10  # newcomers named in an alert; the others are counted ("and 2 others")
USER_ID = re.compile(r"[A-Z0-9]{2,32}")


def button(action_id: str, label: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    if len(label) > BUTTON_TEXT_MAX:
        label = label[: BUTTON_TEXT_MAX - 1] + "…"
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value, "text": plain(label)}
    if style:
        element["style"] = style
    return element


def join_button(lang: str, *, community_id: int, protected: bool, label: str | None = None) -> dict[str, Any]:
    """Join (an open community) or Request to join (a protected one): the same action, the same use-case
    as `/cdp join`, which decides."""
    if label is None:
        label = t("buttons.directory.request" if protected else "buttons.directory.join", lang)
    return button(JOIN_ACTION, label, str(community_id), style=None if protected else "primary")


def info_button(lang: str, *, community_id: int) -> dict[str, Any]:
    return button(INFO_ACTION, t("buttons.directory.info", lang), str(community_id))


def entry_actions(lang: str, *, community_id: int, protected: bool, joinable: bool) -> Block:
    """The buttons under one directory entry: Join (not for a member, nor a dissolved community) and Info."""
    elements = [join_button(lang, community_id=community_id, protected=protected)] if joinable else []
    elements.append(info_button(lang, community_id=community_id))
    return {"type": "actions", "block_id": f"community_{community_id}", "elements": elements}


def next_page_actions(lang: str, *, page: int) -> Block:
    return {
        "type": "actions",
        "block_id": "directory_pages",
        "elements": [button(PAGE_ACTION, t("buttons.directory.next", lang), str(page))],
    }


def help_actions(lang: str) -> Block:
    """The three things people come to the help for, one press away."""
    return {
        "type": "actions",
        "block_id": "help",
        "elements": [
            button(HELP_LIST_ACTION, t("buttons.help.list", lang), "list", style="primary"),
            button(HELP_ME_ACTION, t("buttons.help.me", lang), "me"),
            button(HELP_CREATE_ACTION, t("buttons.help.create", lang), "create"),
        ],
    }


def key_person_actions(lang: str, *, name: str, community_id: int, protected: bool) -> Block:
    key = "buttons.key_person.request" if protected else "buttons.key_person.join"
    return {
        "type": "actions",
        "block_id": "key_person",
        "elements": [
            join_button(lang, community_id=community_id, protected=protected, label=t(key, lang, name=name))
        ],
    }


# ---- the named lurker alert ----------------------------------------------------------------------
def lurkers_value(community_id: int, user_ids: Sequence[str]) -> str:
    """The value of the alert's buttons: which community, which newcomers (at most NAMED_MAX)."""
    return json.dumps({"c": community_id, "u": list(user_ids)[:NAMED_MAX]}, separators=(",", ":"))


def read_lurkers_value(value: object) -> tuple[int, list[str]] | None:
    """(community id, user ids) from a `lurkers_value`; None for anything else (a forged or truncated
    value: the button then says so and changes nothing)."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    community_id, users = parsed.get("c"), parsed.get("u")
    if not isinstance(community_id, int) or isinstance(community_id, bool) or not 0 < community_id < 2**31:
        return None
    if not isinstance(users, list) or not users or len(users) > NAMED_MAX:
        return None
    if not all(isinstance(u, str) and USER_ID.fullmatch(u) for u in users):
        return None
    return community_id, list(dict.fromkeys(users))


def newcomers_text(user_ids: Sequence[str], total: int, lang: str) -> str:
    """ "<@A>, <@B> and 2 others": the named ones, then how many more."""
    names = [f"<@{u}>" for u in user_ids[:NAMED_MAX]]
    others = max(0, total - len(names))
    if others:
        names.append(t("buttons.lurkers.others", lang, count=others))
    return format_list(names, lang)


def lurker_blocks(
    lang: str, *, community_id: int, newcomers: Sequence[str], total: int, greeted_action: str
) -> list[Block]:
    """Who is waiting, by name, and what a moderator can do about it in one press (`greeted_action`:
    the existing "Mark as greeted" of bot.views.reviews, now about these newcomers)."""
    value = lurkers_value(community_id, newcomers)
    return [
        section(t("buttons.lurkers.named", lang, newcomers=newcomers_text(newcomers, total, lang))),
        {
            "type": "actions",
            "block_id": "alert",
            "elements": [
                button(POST_WELCOME_ACTION, t("buttons.lurkers.post_welcome", lang), value, style="primary"),
                button(INTRODUCE_ACTION, t("buttons.lurkers.introduce", lang), value),
                button(greeted_action, t("alerts.greet", lang), value),
            ],
        },
    ]


# ---- outbox renderers (bot.views.messages) ---------------------------------------------------------
@renderer("buttons.prebuilt")
def render_prebuilt(lang: str, *, text: str, blocks: list[Block] | None = None) -> Rendered:
    """An answer already written in the reader's language with its blocks (the directory, a community's
    info): what a command would have answered, sent through a button's response_url."""
    return text, blocks or None


@renderer("buttons.lurkers_welcome")
def render_lurkers_welcome(lang: str, *, name: str, moderator: str, newcomers: list[str]) -> Rendered:
    """The welcome a moderator posted in the channel with one press, in the community's language."""
    people = format_list([f"<@{u}>" for u in newcomers], lang)
    return t("buttons.lurkers.welcome", lang, moderator=f"<@{moderator}>", newcomers=people, name=name), None
