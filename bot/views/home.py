"""App Home: the Home tab's view, from bot.services.home.HomeData, in the reader's language.

Slack takes at most 100 blocks in a Home view. The content is cut into units (a community, a directory
entry), each a few blocks, and the units into pages that fit with the fixed parts (the introduction,
"my data", the page buttons): a person in 200 communities sees the first page and "Show more".
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import format_day, format_list, t
from bot.services.home import DirectoryItem, HomeData, Moderated, MyCommunity
from bot.views import charts as chart_views
from bot.views import follow_ups as follow_up_views
from bot.views import key_people as key_people_views
from bot.views import lifecycle as lifecycle_view
from bot.views import onramp as onramp_views
from bot.views import products as product_views
from bot.views import reviews as review_views
from bot.views import stages as stage_views
from bot.views.common import Block, context_block, plain, section
from bot.views.communities import APPROVE_ACTION, DECLINE_ACTION, channel_mention, mention
from bot.views.pairing import toggle_button
from bot.views.standings import standing_lines

JOIN_ACTION = "home_join"  # value: the community id; handled by the "buttons where people are" module
INFO_ACTION = "home_info"  # value: the community id; idem
CREATE_ACTION = "home_create"
MORE_ACTION = "home_more"  # value: the page to show
FIRST_ACTION = "home_first"  # back to the first page
EXPORT_ACTION = "home_export"
FORGET_ACTION = "home_forget"
REVIEW_NOW_ACTION = "home_review_now"  # value: the community id (no review open yet)

HOME_BLOCKS_MAX = 100  # Slack's limit for a Home tab view
# The fixed parts of a page, at most: introduction and Create (2), pairing (2), my data (3), page
# buttons (2).
FIXED_BLOCKS = 9
FOLLOW_UPS, MINE, MODERATED, DIRECTORY = "follow_ups", "mine", "moderated", "directory"
REQUESTS_SHOWN = 3  # pending requests with buttons per community; the others are in the DMs


@dataclass(frozen=True)
class Unit:
    """Blocks that stay together on one page, in one part of the Home."""

    part: str
    blocks: list[Block]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "value": value, "text": plain(text)}
    if style:
        button["style"] = style
    return button


def _actions(block_id: str, *buttons: Block) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(buttons)}


def _header(text: str) -> Block:
    return {"type": "header", "text": plain(text[:150])}


# ---- the parts -------------------------------------------------------------------------------
def _mine(item: MyCommunity, lang: str) -> Unit:
    """What `/cdp me` says of one community: circle, why, what would move them in, channels."""
    lines = standing_lines(item.standing, lang, title_key="home.community")
    if item.channels:
        channels = format_list([channel_mention(c) for c in item.channels], lang)
        lines.append(t("home.channels", lang, channels=channels))
    if products := product_views.directory_line(item.products, lang):  # issue 11, item 8
        lines.append(products)
    return Unit(MINE, [section("\n".join(lines)[:3000])])


def _directory(item: DirectoryItem, lang: str) -> Unit:
    if item.protected:  # name and domain only: details stay inside a protected space
        text = t("home.directory.protected", lang, name=item.name, domain=item.domain or "—")
    else:
        text = t("home.directory.open", lang, name=item.name, domain=item.domain or "—", members=item.members)
        if stage := stage_views.short(item.objectives, item.stage, lang):  # issue 11, item 9
            text += "\n" + stage
        if products := product_views.directory_line(item.products, lang):  # issue 11, item 8
            text += "\n" + products
    blocks: list[Block] = [section(text[:3000])]
    info = _button(t("home.directory.info", lang), INFO_ACTION, str(item.community_id))
    if item.requested:
        blocks.append(context_block(t("home.directory.requested", lang)))
        blocks.append(_actions(f"dir:{item.community_id}", info))
    else:
        label = "home.directory.request" if item.protected else "home.directory.join"
        join = _button(t(label, lang), JOIN_ACTION, str(item.community_id), "primary")
        blocks.append(_actions(f"dir:{item.community_id}", join, info))
    return Unit(DIRECTORY, blocks)


def _alert_text(kind: str, figures: dict[str, int], lang: str) -> str:
    """The alert's reason as its DM said it, from the figures it was sent with."""
    key = f"momentum.{kind}.reason"
    if kind == "moderators_silent" and "days" not in figures:
        key = "momentum.moderators_silent.reason_never"
    try:
        return t(key, lang, **figures)
    except (KeyError, ValueError, IndexError):  # an alert recorded by an older version
        return t("home.mod.alert_unknown", lang)


def _moderated(item: Moderated, lang: str) -> Unit:
    counts = {place: item.counts.get(place, 0) for place in ("core", "inner", "outer")}
    lines = [
        t("home.mod.title", lang, name=item.name),
        t("home.mod.counts", lang, **counts),
        t("home.mod.moves", lang, moved_in=item.moved_in, moved_out=item.moved_out),
    ]
    if item.lifecycle is not None:
        lines.append(lifecycle_view.info_line(item.lifecycle, lang))
    if item.waiting:
        people = format_list([mention(u) for u in item.waiting], lang)
        lines.append(t("home.mod.waiting", lang, count=len(item.waiting), people=people))
    else:
        lines.append(t("home.mod.no_waiting", lang))
    if item.alerts:
        lines.append(t("home.mod.alerts", lang))
        lines.extend(f"• {_alert_text(kind, figures, lang)}" for kind, figures in item.alerts)
    blocks: list[Block] = [section("\n".join(lines)[:3000]), *chart_views.image_blocks(item.chart, lang)]
    blocks.extend(section(text) for text in follow_up_views.moderated_lines(lang, item.follow_ups))
    for request_id, requester in item.requests[:REQUESTS_SHOWN]:
        blocks.append(section(t("home.mod.request", lang, user=mention(requester))))
        blocks.append(
            _actions(
                f"req:{request_id}",
                _button(t("communities.request.approve", lang), APPROVE_ACTION, str(request_id), "primary"),
                _button(t("communities.request.decline", lang), DECLINE_ACTION, str(request_id), "danger"),
            )
        )
    if len(item.requests) > REQUESTS_SHOWN:
        more = len(item.requests) - REQUESTS_SHOWN
        blocks.append(context_block(t("home.mod.more_requests", lang, count=more)))
    blocks.extend(review_views.first_post_blocks(lang, item.first_posts, title_key="home.mod.first_posts"))
    blocks.extend(onramp_views.blocks(lang, item.onramp, title_key="onramp.title.home"))  # issue 11 item 2
    # The key people (issue 11 item 7), with "Invite them again" while some have not joined.
    blocks.extend(
        key_people_views.blocks(lang, item.key_people, community_id=item.community_id, can_reinvite=True)
    )
    blocks.extend(_review(item, lang))
    return Unit(MODERATED, blocks)


def _review(item: Moderated, lang: str) -> list[Block]:
    cid, review = item.community_id, item.review
    start = t("home.mod.start", lang)
    if review is not None:
        if review.snoozed_until is not None:
            text = t("home.mod.review_snoozed", lang, day=format_day(review.snoozed_until.date(), lang))
        else:
            text = t("home.mod.review_due", lang, day=format_day(review.due_on, lang))
        buttons = [
            _button(start, review_views.START_ACTION, str(review.review_id), "primary"),
            _button(t("home.mod.snooze", lang), review_views.SNOOZE_ACTION, str(review.review_id)),
        ]
        return [section(text), _actions(f"review:{cid}", *buttons)]
    if item.next_review_on is None:
        return [context_block(t("home.mod.no_review", lang))]
    text = t("home.mod.next_review", lang, day=format_day(item.next_review_on, lang))
    return [section(text), _actions(f"review:{cid}", _button(start, REVIEW_NOW_ACTION, str(cid)))]


# ---- pages -----------------------------------------------------------------------------------
def units(data: HomeData, lang: str) -> list[Unit]:
    return [
        # The follow-ups the reader owns come first: what they promised to do (issue 11, item 5).
        *(Unit(FOLLOW_UPS, follow_up_views.mine_blocks(lang, line)) for line in data.follow_ups),
        *(_mine(item, lang) for item in data.mine),
        *(_moderated(item, lang) for item in data.moderated),
        *(_directory(item, lang) for item in data.directory),
    ]


def paginate(all_units: list[Unit], budget: int = HOME_BLOCKS_MAX - FIXED_BLOCKS) -> list[list[Unit]]:
    """Units in pages of at most `budget` blocks, counting the title each part gets on a page where it
    starts or continues. Always at least one (maybe empty) page."""
    pages: list[list[Unit]] = [[]]
    used = 0
    for unit in all_units:
        cost = len(unit.blocks) + (0 if pages[-1] and pages[-1][-1].part == unit.part else 1)
        if used + cost > budget and pages[-1]:
            pages.append([])
            used, cost = 0, len(unit.blocks) + 1
        pages[-1].append(unit)
        used += cost
    return pages


def _intro(data: HomeData, lang: str) -> list[Block]:
    """The empty state: what the app is, and a way to start."""
    key = "home.empty.nothing" if not data.any_community else "home.empty.none_mine"
    return [
        section(t("home.empty.intro", lang) + "\n\n" + t(key, lang)),
        _actions("create", _button(t("home.empty.create", lang), CREATE_ACTION, "create", "primary")),
    ]


def _my_data(lang: str) -> list[Block]:
    return [
        _header(t("home.data.title", lang)),
        section(t("home.data.text", lang)),
        _actions(
            "my_data",
            _button(t("home.data.export", lang), EXPORT_ACTION, "export"),
            _button(t("home.data.forget", lang), FORGET_ACTION, "forget", "danger"),
        ),
    ]


def _pairing(on: bool, lang: str) -> list[Block]:
    """The person's pairing switch (bot.services.pairing): introductions between newcomers and the inner
    circle, with the button that flips it."""
    text = t("pairing.toggle.status_on" if on else "pairing.toggle.status_off", lang)
    return [
        section(text),
        {"type": "actions", "block_id": "pairing", "elements": [toggle_button(lang, on=on)]},
    ]


def _navigation(page: int, pages: int, lang: str) -> list[Block]:
    if pages <= 1:
        return []
    buttons = []
    if page + 1 < pages:
        buttons.append(_button(t("home.more", lang), MORE_ACTION, str(page + 1), "primary"))
    if page > 0:
        buttons.append(_button(t("home.first", lang), FIRST_ACTION, "0"))
    return [context_block(t("home.page", lang, page=page + 1, pages=pages)), _actions("pages", *buttons)]


PART_TITLES = {
    FOLLOW_UPS: "follow_ups.home.mine_title",
    MINE: "home.mine_title",
    MODERATED: "home.moderated_title",
    DIRECTORY: "home.directory_title",
}


def moderated_on_page(data: HomeData, lang: str, *, page: int = 0) -> list[int]:
    """The communities whose moderators' part falls on page `page` (clamped as `home_view` does)."""
    all_units = units(data, lang)
    pages = paginate(all_units)
    page = max(0, min(page, len(pages) - 1))
    shown = {id(unit) for unit in pages[page]}
    moderated = [unit for unit in all_units if unit.part == MODERATED]
    return [
        item.community_id for item, unit in zip(data.moderated, moderated, strict=True) if id(unit) in shown
    ]


def home_view(data: HomeData, lang: str, *, page: int = 0) -> dict[str, object]:
    """The Home tab, page `page` (clamped: a page that no longer exists shows the last one)."""
    pages = paginate(units(data, lang))
    page = max(0, min(page, len(pages) - 1))
    blocks: list[Block] = []
    if not data.mine and page == 0:
        blocks.extend(_intro(data, lang))
    previous = None
    for unit in pages[page]:
        if unit.part != previous:
            blocks.append(_header(t(PART_TITLES[unit.part], lang)))
            previous = unit.part
        blocks.extend(unit.blocks)
    blocks.extend(_pairing(data.pairing_on, lang))
    blocks.extend(_my_data(lang))
    blocks.extend(_navigation(page, len(pages), lang))
    return {"type": "home", "callback_id": "home", "blocks": blocks}
