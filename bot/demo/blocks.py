"""Block Kit, shown roughly as Slack shows it: as plain text lines (the transcript) and as HTML (the page).

mrkdwn handled: *bold*, _italic_, ~strike~, `code`, <@U…> mentions (names), <#C…|name> channels,
<https://…|label> links, <!here>-style specials. Everything from a payload is escaped (html.escape);
only http(s) and mailto links become anchors.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

JSON = dict[str, Any]

_TOKEN = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")


class Names:
    """How mentions read: user and channel ids to the names people know."""

    def __init__(self, users: Mapping[str, str], channels: Mapping[str, str]) -> None:
        self.users = dict(users)
        self.channels = dict(channels)

    def user(self, user_id: str) -> str:
        return self.users.get(user_id, user_id)

    def channel(self, channel_id: str, given: str = "") -> str:
        return given or self.channels.get(channel_id, channel_id)


def _token(inner: str, names: Names, *, as_html: bool) -> str:
    """One <…> of mrkdwn: a mention, a channel, a special, or a link."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        text = "@" + names.user(target[1:])
        kind = "mention"
    elif target.startswith("#"):
        text = "#" + names.channel(target[1:], label)
        kind = "mention"
    elif target.startswith("!"):
        text = "@" + (label or target[1:].split("^")[0])
        kind = "mention"
    else:
        text = label or target
        if not as_html:
            return text if not label or label == target else f"{label} ({target})"
        if target.startswith(("http://", "https://", "mailto:")):
            return f'<a href="{html.escape(target)}">{html.escape(text)}</a>'
        return html.escape(text)
    return f'<span class="{kind}">{html.escape(text)}</span>' if as_html else text


def mrkdwn_text(text: str, names: Names) -> str:
    """mrkdwn as plain text: mentions named, links kept, the emphasis marks left as typed."""
    return _TOKEN.sub(lambda m: _token(m.group(1), names, as_html=False), text)


def _format_html(segment: str) -> str:
    out = html.escape(segment, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    return _STRIKE.sub(r"<s>\1</s>", out)


def mrkdwn_html(text: str, names: Names) -> str:
    """mrkdwn as HTML: tokens converted one by one, the text between them escaped, then formatted."""
    parts: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        parts.append(_format_html(text[last : match.start()]))
        parts.append(_token(match.group(1), names, as_html=True))
        last = match.end()
    parts.append(_format_html(text[last:]))
    return "".join(parts).replace("\n", "<br>")


def _text_of(obj: Any) -> tuple[str, bool]:
    """(text, is_mrkdwn) of a text object or a plain string."""
    if isinstance(obj, str):
        return obj, True
    if isinstance(obj, Mapping):
        return str(obj.get("text") or ""), obj.get("type") == "mrkdwn"
    return "", False


def _element_label(element: Mapping[str, Any]) -> str:
    kind = str(element.get("type") or "")
    text, _ = _text_of(element.get("text") or element.get("placeholder"))
    if kind == "button":
        return text
    initial = element.get("initial_option") or {}
    chosen, _ = _text_of(initial.get("text")) if isinstance(initial, Mapping) else ("", False)
    return (chosen or text or _EMPTY_PICKER.get(kind, "…")) + " ▾"


# What Slack shows in an empty picker that has no placeholder: a hint of what it picks, not its type.
_EMPTY_PICKER = {
    "conversations_select": "#…",
    "channels_select": "#…",
    "multi_conversations_select": "#…",
    "multi_channels_select": "#…",
    "users_select": "@…",
    "multi_users_select": "@…",
}


# ---- plain text -------------------------------------------------------------------------------------
def text_lines(payload: Mapping[str, Any], names: Names) -> list[str]:
    """A message or a view as the lines a reader sees (the `text` alone when there are no blocks)."""
    lines: list[str] = []
    title, _ = _text_of(payload.get("title"))
    if title:
        lines.append(f"[ {title} ]")
    blocks = payload.get("blocks") or []
    if not blocks:
        text = mrkdwn_text(str(payload.get("text") or ""), names)
        return lines + text.splitlines()
    for block in blocks:
        if isinstance(block, Mapping):
            lines.extend(_block_lines(block, names))
    return [line for line in lines if line.strip()]


def _block_lines(block: Mapping[str, Any], names: Names) -> list[str]:
    kind = block.get("type")
    if kind == "divider":
        return ["─" * 24]
    if kind == "header":
        return [_text_of(block.get("text"))[0].upper()]
    if kind == "image":
        return [f"[image: {block.get('alt_text') or ''}]"]
    if kind == "input":
        label = _text_of(block.get("label"))[0]
        element = block.get("element") or {}
        initial = element.get("initial_value") or ""
        if not initial and isinstance(element.get("initial_option"), Mapping):
            initial = _element_label(element)
        return [f"{label}: [{initial or '…'}]"]
    lines: list[str] = []
    text = mrkdwn_text(_text_of(block.get("text"))[0], names)
    if text:
        lines.extend(text.splitlines())
    for field in block.get("fields") or []:
        lines.extend(mrkdwn_text(_text_of(field)[0], names).splitlines())
    elements = block.get("elements") or []
    if kind == "context":
        parts = [mrkdwn_text(_text_of(e)[0], names) for e in elements if isinstance(e, Mapping)]
        lines.append(" · ".join(p for p in parts if p))
    elif kind == "actions":
        lines.append("  ".join(f"[{_element_label(e)}]" for e in elements if isinstance(e, Mapping)))
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and accessory.get("type") != "image":
        lines.append(f"[{_element_label(accessory)}]")
    return lines


# ---- HTML --------------------------------------------------------------------------------------------
ImageSource = Callable[[Mapping[str, Any]], str | None]


def blocks_html(payload: Mapping[str, Any], names: Names, image_src: ImageSource) -> str:
    """A message's or a view's blocks as HTML (its `text` when it has none)."""
    blocks = payload.get("blocks") or []
    if not blocks:
        return f'<div class="section"><div>{mrkdwn_html(str(payload.get("text") or ""), names)}</div></div>'
    return "\n".join(_block_html(block, names, image_src) for block in blocks if isinstance(block, Mapping))


def _rich(obj: Any, names: Names) -> str:
    text, is_mrkdwn = _text_of(obj)
    return mrkdwn_html(text, names) if is_mrkdwn else html.escape(text).replace("\n", "<br>")


def _element_html(element: Mapping[str, Any], names: Names) -> str:
    kind = str(element.get("type") or "")
    if kind == "button":
        style = element.get("style")
        css = f"button {style}" if style in ("primary", "danger") else "button"
        return f'<span class="{css}">{html.escape(_text_of(element.get("text"))[0])}</span>'
    if kind == "image":
        return f'<span class="alt">{html.escape(str(element.get("alt_text") or ""))}</span>'
    if kind in ("mrkdwn", "plain_text"):
        return _rich(element, names)
    return f'<span class="select">{html.escape(_element_label(element))}</span>'


def _input_html(block: Mapping[str, Any], names: Names) -> str:
    label = html.escape(_text_of(block.get("label"))[0])
    element = block.get("element") or {}
    kind = str(element.get("type") or "")
    hint = block.get("hint")
    if kind in ("checkboxes", "radio_buttons"):
        chosen = {
            str(o.get("value"))
            for o in [*(element.get("initial_options") or []), element.get("initial_option") or {}]
            if isinstance(o, Mapping)
        }
        mark = "☑" if kind == "checkboxes" else "◉"
        blank = "☐" if kind == "checkboxes" else "○"
        options = "".join(
            f"<li>{mark if str(o.get('value')) in chosen else blank} {_rich(o.get('text'), names)}</li>"
            for o in element.get("options") or []
            if isinstance(o, Mapping)
        )
        field = f'<ul class="choices">{options}</ul>'
    elif kind in ("plain_text_input", "number_input") and element.get("multiline"):
        field = f'<div class="field tall">{html.escape(str(element.get("initial_value") or ""))}</div>'
    elif kind in ("plain_text_input", "number_input"):
        value = element.get("initial_value") or _text_of(element.get("placeholder"))[0]
        css = "field" if element.get("initial_value") else "field placeholder"
        field = f'<div class="{css}">{html.escape(str(value or ""))}</div>'
    else:
        field = f'<div class="field">{html.escape(_element_label(element))}</div>'
    hint_html = f'<div class="hint">{_rich(hint, names)}</div>' if hint else ""
    return f'<div class="input"><label>{label}</label>{field}{hint_html}</div>'


def _block_html(block: Mapping[str, Any], names: Names, image_src: ImageSource) -> str:
    kind = block.get("type")
    if kind == "divider":
        return "<hr>"
    if kind == "header":
        return f"<h4>{html.escape(_text_of(block.get('text'))[0])}</h4>"
    if kind == "image":
        alt = html.escape(str(block.get("alt_text") or ""))
        src = image_src(block)
        if src is None:
            return f'<div class="alt">[{alt}]</div>'
        return f'<figure><img src="{html.escape(src)}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'
    if kind == "input":
        return _input_html(block, names)
    if kind == "context":
        parts = [_element_html(e, names) for e in block.get("elements") or [] if isinstance(e, Mapping)]
        return f'<div class="context">{" · ".join(parts)}</div>'
    if kind == "actions":
        parts = [_element_html(e, names) for e in block.get("elements") or [] if isinstance(e, Mapping)]
        return f'<div class="actions">{"".join(parts)}</div>'
    if kind == "rich_text":
        return f'<div class="section"><div>{html.escape(str(block.get("text") or ""))}</div></div>'
    inner = _rich(block.get("text"), names) if block.get("text") else ""
    fields = "".join(f'<div class="field-cell">{_rich(f, names)}</div>' for f in block.get("fields") or [])
    fields_html = f'<div class="fields">{fields}</div>' if fields else ""
    accessory = block.get("accessory")
    accessory_html = ""
    if isinstance(accessory, Mapping):
        accessory_html = f'<div class="accessory">{_element_html(accessory, names)}</div>'
    return f'<div class="section"><div>{inner}{fields_html}</div>{accessory_html}</div>'
