"""Key people followed up (issue 11, item 7): who has joined, who not yet, and the moderators'
"Invite them again" button (in /cdp info, the App Home and the review prompt)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.i18n import format_list, t
from bot.views.common import Block, plain, section

REINVITE_ACTION = "key_people_reinvite"
SECTION_MAX = 3000  # characters of a section's text


def _mention(user_id: str) -> str:
    return f"<@{user_id}>"


def status_text(lang: str, people: Sequence[Any]) -> str:
    """`people`: services.key_people.KeyPerson, in the order they were named."""
    parts = [
        t("key_people.joined" if p.joined else "key_people.not_yet", lang, person=_mention(p.user_id))
        for p in people
    ]
    return t("key_people.title", lang, people=format_list(parts, lang))


def reinvite_button(lang: str, community_id: int) -> Block:
    return {
        "type": "actions",
        "block_id": f"key_people_{community_id}",
        "elements": [
            {
                "type": "button",
                "action_id": REINVITE_ACTION,
                "value": str(community_id),
                "text": plain(t("key_people.reinvite", lang)),
            }
        ],
    }


def blocks(lang: str, people: Sequence[Any], *, community_id: int, can_reinvite: bool) -> list[Block]:
    """The key people's line; with the button when the viewer may re-invite and someone is missing."""
    if not people:
        return []
    shown: list[Block] = [section(status_text(lang, people)[:SECTION_MAX])]  # Block Kit's limit
    if can_reinvite and any(not p.joined for p in people):
        shown.append(reinvite_button(lang, community_id))
    return shown


def missing_text(lang: str, missing: Sequence[str]) -> str:
    return t("key_people.review_missing", lang, people=format_list([_mention(u) for u in missing], lang))


def reinvited_text(lang: str, *, name: str, sent: int, missing: int) -> str:
    if not missing:
        return t("key_people.reinvited.none_missing", lang, name=name)
    if not sent:
        return t("key_people.reinvited.already", lang, name=name)
    return t("key_people.reinvited.sent", lang, name=name, n=sent)
