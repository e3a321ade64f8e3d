"""Products' rules, pure: what a link and a title may be, and how `/cdp product add` text is read.

The parse is unambiguous because a link is the one word that contains `://`: the words before it (if
any) name the community, the words after it are the title. `/cdp product add https://x Guide` in a
community's channel, `/cdp product add Urbanism https://x Guide` anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

TITLE_MAX = 150
LINK_MAX = 500  # a Slack permalink is ~80 characters; three fit an entry of the directory
LATEST = 3  # shown per open community in the directory
LISTED = 20  # shown by `/cdp products` and `/cdp info`

BAD_LINK = "products.errors.bad_link"
NO_TITLE = "products.errors.no_title"
LONG_TITLE = "products.errors.title_too_long"


@dataclass(frozen=True)
class AddText:
    community: str  # the name typed, "" for the channel's community
    link: str
    title: str


def unwrap(word: str) -> str:
    """Slack may send a link as `<https://x>` or `<https://x|label>`: the link itself."""
    if word.startswith("<") and word.endswith(">"):
        return word[1:-1].split("|", 1)[0]
    return word


def parse_add(argument: str) -> AddText | None:
    """`[community words] <link> <title words>`; None when no word is a link (`://`)."""
    words = argument.split()
    for index, word in enumerate(words):
        if "://" in word:
            return AddText(" ".join(words[:index]), unwrap(word), " ".join(words[index + 1 :]))
    return None


def link_problem(link: str) -> str | None:
    """An http(s) address with a host (a Slack permalink is one), not too long; else the error key."""
    link = link.strip()
    if not link or len(link) > LINK_MAX or any(ch.isspace() for ch in link):
        return BAD_LINK
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return BAD_LINK
    return None


def title_problem(title: str) -> str | None:
    title = title.strip()
    if not title:
        return NO_TITLE
    if len(title) > TITLE_MAX:
        return LONG_TITLE
    return None


def permalink(domain: str, channel_id: str, ts: str) -> str:
    """A message's permalink as Slack builds it (`p` + the ts without its dot), from the payload alone:
    no API call between the shortcut and the modal, whose trigger expires in 3 s."""
    return f"https://{domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
