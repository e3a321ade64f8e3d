"""Block Kit for communities: the "Initiate a CdP" form, settings, directory, info, messages."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bot.domain.communities import (
    CADENCES,
    CIRCLE_RULE_SETTINGS,
    DEFAULT_CADENCE,
    NAME_MAX,
    OBJECTIVES,
    OBJECTIVES_OTHER_MAX,
)
from bot.domain.first_posts import EMOJI_MAX
from bot.i18n import format_day, format_list, t
from bot.views import buttons
from bot.views import follow_ups as follow_up_views
from bot.views import lifecycle as lifecycle_view
from bot.views import products as product_views
from bot.views import stages as stage_views
from bot.views.common import Block, context_block, modal_title, plain, section
from bot.views.messages import Rendered, renderer
from bot.views.welcome import settings_blocks as welcome_settings_blocks

CREATE_CALLBACK = "community_create"
SETTINGS_CALLBACK = "community_settings"
DISSOLVE_CALLBACK = "community_dissolve"
JOIN_CALLBACK = "community_join"
APPROVE_ACTION = "join_request_approve"
DECLINE_ACTION = "join_request_decline"
# "did you mean X?" as sent before it used the shared Join (bot.views.buttons.JOIN_ACTION)
JOIN_SUGGESTION_ACTION = "community_join_suggested"
DIRECTORY_PAGE = 20  # entries a page: 2 blocks each, and a message holds at most 50 blocks

View = dict[str, Any]


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def channel_mention(channel_id: str) -> str:
    return f"<#{channel_id}>"


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> Block:
    element = {**element, "action_id": block_id}
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(initial: str, *, multiline: bool = False, max_length: int | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if max_length:
        element["max_length"] = max_length
    return element


def _number_input(initial: int, minimum: int, maximum: int) -> dict[str, Any]:
    return {
        "type": "number_input",
        "is_decimal_allowed": False,
        "initial_value": str(initial),
        "min_value": str(minimum),
        "max_value": str(maximum),
    }


def community_form(
    lang: str,
    *,
    callback_id: str,
    title_key: str,
    submit_key: str,
    values: dict[str, Any],
    settings: bool = False,
    private_metadata: str = "",
) -> View:
    """The "Initiate a CdP" template as a modal; the settings form adds channels and the circle rule."""
    objectives = [_option(t(f"communities.objective.{key}", lang), key) for key in OBJECTIVES]
    chosen = [o for o in objectives if o["value"] in values.get("objectives", [])]
    objectives_element: dict[str, Any] = {"type": "checkboxes", "options": objectives}
    if chosen:
        objectives_element["initial_options"] = chosen
    visibility = [_option(t(f"communities.visibility.{v}", lang), v) for v in ("open", "protected")]
    languages = [_option("Français", "fr"), _option("English", "en")]
    cadences = [_option(t("communities.form.cadence_option", lang, weeks=w), str(w)) for w in CADENCES]

    def pick(options: list[dict[str, Any]], value: object) -> dict[str, Any]:
        return next((o for o in options if o["value"] == str(value)), options[0])

    key_people: dict[str, Any] = {
        "type": "multi_users_select",
        "placeholder": plain(t("communities.form.pick_people", lang)),
    }
    if values.get("key_people"):
        key_people["initial_users"] = list(values["key_people"])
    moderators: dict[str, Any] = {
        "type": "multi_users_select",
        "initial_users": list(values.get("moderators", [])),
    }
    blocks: list[Block] = [
        section(t("communities.form.intro", lang)),
        _input(
            "name", t("communities.form.name", lang), _text_input(values.get("name", ""), max_length=NAME_MAX)
        ),
        _input(
            "domain",
            t("communities.form.domain", lang),
            _text_input(values.get("domain", ""), multiline=True, max_length=1000),
            hint=t("communities.form.domain_hint", lang),
        ),
        _input("objectives", t("communities.form.objectives", lang), objectives_element, optional=True),
        _input(
            "objectives_other",
            t("communities.form.objectives_other", lang),
            _text_input(values.get("objectives_other", ""), multiline=True, max_length=OBJECTIVES_OTHER_MAX),
            optional=True,
        ),
        _input(
            "key_people",
            t("communities.form.key_people", lang),
            key_people,
            optional=True,
            hint=t("communities.form.key_people_hint", lang),
        ),
        follow_up_views.sponsor_input(lang, values.get("sponsor")),  # issue 11 item 5
    ]
    if settings:
        channels: dict[str, Any] = {
            "type": "multi_conversations_select",
            "filter": {
                "include": ["public", "private"],
                "exclude_bot_users": True,
                "exclude_external_shared_channels": True,
            },
            "initial_conversations": list(values.get("channels", [])),
        }
        blocks.append(
            _input(
                "channels",
                t("communities.form.channels", lang),
                channels,
                hint=t("communities.form.channels_hint", lang),
            )
        )
    else:
        channel: dict[str, Any] = {
            "type": "conversations_select",
            "filter": {
                "include": ["public", "private"],
                "exclude_bot_users": True,
                "exclude_external_shared_channels": True,
            },
        }
        blocks += [
            _input(
                "channel",
                t("communities.form.channel", lang),
                channel,
                optional=True,
                hint=t("communities.form.channel_hint", lang),
            ),
            _input(
                "new_channel",
                t("communities.form.new_channel", lang),
                _text_input("", max_length=80),
                optional=True,
            ),
        ]
    blocks += [
        _input(
            "moderators",
            t("communities.form.moderators", lang),
            moderators,
            hint=t("communities.form.moderators_hint", lang),
        ),
        _input(
            "visibility",
            t("communities.form.visibility", lang),
            {
                "type": "radio_buttons",
                "options": visibility,
                "initial_option": pick(visibility, values.get("visibility", "open")),
            },
        ),
        _input(
            "language",
            t("communities.form.language", lang),
            {
                "type": "static_select",
                "options": languages,
                "initial_option": pick(languages, values.get("language", lang)),
            },
        ),
        _input(
            "timezone",
            t("communities.form.timezone", lang),
            _text_input(values.get("timezone", "UTC"), max_length=64),
            hint=t("communities.form.timezone_hint", lang),
        ),
        _input(
            "cadence",
            t("communities.form.cadence", lang),
            {
                "type": "static_select",
                "options": cadences,
                "initial_option": pick(cadences, values.get("cadence", DEFAULT_CADENCE)),
            },
        ),
    ]
    if settings:
        options = [
            _option(t("communities.form.promotion_dm", lang), "promotion_dm"),
            _option(t("communities.form.review_outcome_in_channel", lang), "review_outcome_in_channel"),
        ]
        on = [o for o in options if values.get(o["value"], True)]
        options_element: dict[str, Any] = {"type": "checkboxes", "options": options}
        if on:
            options_element["initial_options"] = on
        blocks += [
            section(t("communities.form.circle_rule_intro", lang)),
            *(
                _input(
                    block_id,
                    t(f"communities.form.{block_id}", lang),
                    _number_input(values.get(block_id, default), low, high),
                )
                for block_id, (default, low, high) in CIRCLE_RULE_SETTINGS.items()
            ),
            _input("options", t("communities.form.options", lang), options_element, optional=True),
            # Issue 10 (first posts): the reaction on a newcomer's first message; empty for none.
            _input(
                "first_post_emoji",
                t("first_posts.form.emoji", lang),
                _text_input(str(values.get("first_post_emoji", "wave")), max_length=EMOJI_MAX + 2),
                optional=True,
                hint=t("first_posts.form.emoji_hint", lang),
            ),
        ]
        blocks += welcome_settings_blocks(
            lang,
            enabled=values.get("welcome_enabled", True),
            text=values.get("welcome_text"),
            community_lang=values.get("welcome_language", lang),
        )
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": modal_title(t(title_key, lang)),
        "submit": plain(t(submit_key, lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": blocks,
    }


def create_form(lang: str, *, creator: str, timezone: str) -> View:
    return community_form(
        lang,
        callback_id=CREATE_CALLBACK,
        title_key="communities.form.title",
        submit_key="communities.form.submit",
        values={"moderators": [creator], "timezone": timezone, "language": lang},
    )


def settings_form(lang: str, *, values: dict[str, Any], community_id: int) -> View:
    form = community_form(
        lang,
        callback_id=SETTINGS_CALLBACK,
        title_key="communities.settings.title",
        submit_key="common.save",
        values=values,
        settings=True,
        private_metadata=json.dumps({"community_id": community_id}),
    )
    # Pairing's switch and threshold (issue 10, item 3): its own blocks, kept together.
    from bot.views.pairing import settings_blocks

    form["blocks"] += settings_blocks(lang, values)
    # The stage, set by hand (issue 11, item 9): right after the objectives it is chosen among.
    after = next(i for i, b in enumerate(form["blocks"]) if b.get("block_id") == "objectives_other") + 1
    form["blocks"][after:after] = stage_views.setting_blocks(
        lang, values.get("objectives") or [], values.get("stage")
    )
    return form


def info_modal(lang: str, title: str, text: str) -> View:
    return {
        "type": "modal",
        "title": modal_title(title),
        "close": plain(t("common.close", lang)),
        "blocks": [section(text)],
    }


def dissolve_form(lang: str, *, name: str, community_id: int) -> View:
    return {
        "type": "modal",
        "callback_id": DISSOLVE_CALLBACK,
        "private_metadata": json.dumps({"community_id": community_id}),
        "title": modal_title(t("communities.dissolve.title", lang)),
        "submit": plain(t("communities.dissolve.submit", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": [section(t("communities.dissolve.confirm", lang, name=name))],
    }


def join_form(lang: str, communities: Sequence[tuple[int, str, str]]) -> View:
    """A select of the communities the user can join: (id, name, visibility)."""
    options = [
        _option((name if visibility == "open" else f"{name} 🔒")[:75], str(community_id))
        for community_id, name, visibility in communities[:100]
    ]
    return {
        "type": "modal",
        "callback_id": JOIN_CALLBACK,
        "title": modal_title(t("communities.join.title", lang)),
        "submit": plain(t("communities.join.submit", lang)),
        "close": plain(t("common.cancel", lang)),
        "blocks": [
            _input(
                "community", t("communities.join.pick", lang), {"type": "static_select", "options": options}
            )
        ],
    }


def join_suggestion(lang: str, *, text: str, name: str, community_id: int) -> list[Block]:
    """ "Did you mean X?" under `/cdp join` or `/cdp info`, with a button that joins X (the shared Join
    action, bot.views.buttons.JOIN_ACTION; its answer replaces the question) and one that shows it."""
    label = t("communities.join.suggestion_button", lang, name=name)
    return [
        section(text),
        {
            "type": "actions",
            "block_id": "join_suggestion",
            "elements": [
                buttons.button(buttons.JOIN_ACTION, label, str(community_id), style="primary"),
                buttons.info_button(lang, community_id=community_id),
            ],
        },
    ]


def objectives_text(objectives: Sequence[str], other: str, lang: str) -> str:
    lines = [f"• {t(f'communities.objective.{key}', lang)}" for key in objectives if key in OBJECTIVES]
    if other:
        lines.append(f"• {other}")
    return "\n".join(lines) or t("communities.info.no_objectives", lang)


def people(user_ids: Sequence[str], lang: str) -> str:
    return format_list([mention(u) for u in user_ids], lang) or t("communities.info.nobody", lang)


def counts_text(counts: Counter[str], lang: str) -> str:
    return t(
        "communities.info.counts", lang, core=counts["core"], inner=counts["inner"], outer=counts["outer"]
    )


def welcome_message(
    lang: str, *, name: str, domain: str, objectives: Sequence[str], other: str, moderators: Sequence[str]
) -> tuple[str, list[Block]]:
    text = t("communities.welcome.title", lang, name=name)
    blocks = [
        section(text),
        section(t("communities.welcome.domain", lang, domain=domain)),
        section(t("communities.welcome.objectives", lang) + "\n" + objectives_text(objectives, other, lang)),
        section(t("communities.welcome.moderators", lang, moderators=people(moderators, lang))),
        section(t("communities.welcome.circles", lang)),
        context_block(t("communities.welcome.privacy", lang)),
    ]
    return text, blocks


def sentence(text: str) -> str:
    """A user's text as a sentence of ours: a full stop only when it does not end one already (no "?.")."""
    cleaned = text.strip()
    if not cleaned:
        return "—"
    return cleaned if cleaned[-1] in ".?!…" else cleaned + "."


def key_person_invitation(lang: str, *, name: str, domain: str, creator: str) -> str:
    return t(
        "communities.key_person.invite", lang, name=name, domain=sentence(domain), creator=mention(creator)
    )


def created_message(lang: str, *, name: str, channel_id: str, key_people: Sequence[str]) -> str:
    """What the creator reads once the community exists; key people only when some were named."""
    text = t("communities.created.done", lang, name=name, channel=channel_mention(channel_id))
    if key_people:
        text += " " + t("communities.created.key_people", lang, people=people(key_people, lang))
    return text


def channels_sentence(channel_ids: Sequence[str], lang: str) -> str:
    """ "Its channel: #a." / "Its channels: #a #b."; empty without channels."""
    if not channel_ids:
        return ""
    mentions = " ".join(channel_mention(c) for c in channel_ids)
    return t("communities.join.channels", lang, count=len(channel_ids), channels=mentions)


def join_request_message(lang: str, *, name: str, requester: str, request_id: int) -> tuple[str, list[Block]]:
    text = t("communities.request.ask", lang, user=mention(requester), name=name)
    blocks: list[Block] = [
        section(text),
        {
            "type": "actions",
            "block_id": "join_request",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "value": str(request_id),
                    "text": plain(t("communities.request.approve", lang)),
                },
                {
                    "type": "button",
                    "action_id": DECLINE_ACTION,
                    "style": "danger",
                    "value": str(request_id),
                    "text": plain(t("communities.request.decline", lang)),
                },
            ],
        },
    ]
    return text, blocks


def directory_message(entries: Sequence[Any], lang: str, page: int = 1) -> tuple[str, list[Block]]:
    """`entries` are services.communities.DirectoryEntry, shown DIRECTORY_PAGE at a time (`page`, 1-based,
    clamped), each with its Join / Request to join and Info buttons: two blocks an entry keeps a page
    within Block Kit's 50 blocks a message."""
    if not entries:
        text = t("communities.directory.empty", lang)
        return text, [section(text)]
    pages = (len(entries) + DIRECTORY_PAGE - 1) // DIRECTORY_PAGE
    page = min(max(page, 1), pages)
    title = t("communities.directory.title", lang, count=len(entries))
    blocks: list[Block] = [section(title)]
    for entry in entries[(page - 1) * DIRECTORY_PAGE : page * DIRECTORY_PAGE]:
        community = entry.community
        heading = f"*{community.name}*"
        if community.status == "dissolved":
            heading += " " + t("communities.directory.dissolved", lang)
        elif community.visibility == "protected":
            heading += " " + t("communities.directory.protected", lang)
        if community.status == "active" and (
            state_label := lifecycle_view.label(community.lifecycle_state, lang)
        ):
            heading += " · " + state_label  # the lifecycle state (issue 11, item 3)
        lines = [heading, community.domain or "—"]
        if entry.shows_details:
            lines.append(counts_text(entry.counts, lang))
            lines.append(
                t("communities.directory.moderators", lang, moderators=people(entry.moderators, lang))
            )
            if community.channels:
                lines.append(" ".join(channel_mention(c.channel_id) for c in community.channels))
            if stage := stage_views.short(community.objectives or [], community.stage, lang):
                lines.append(stage)  # issue 11, item 9
            if entry.products:  # only open communities have them here (issue 11, item 8)
                lines.append(product_views.directory_line(entry.products, lang))
        blocks.append(section("\n".join(lines)[:3000]))
        blocks.append(
            buttons.entry_actions(
                lang,
                community_id=community.id,
                protected=community.visibility == "protected",
                joinable=community.status == "active" and not entry.is_member,
            )
        )
    if pages > 1:
        if page < pages:
            blocks.append(
                context_block(t("buttons.directory.page", lang, page=page, pages=pages, next=page + 1))
            )
            blocks.append(buttons.next_page_actions(lang, page=page + 1))
        else:
            blocks.append(context_block(t("buttons.directory.last_page", lang, page=page, pages=pages)))
    blocks.append(context_block(t("communities.directory.footer", lang)))
    return title, blocks


def info_message(view: Any, lang: str) -> tuple[str, list[Block]]:
    """`view` is a services.communities.CommunityView."""
    community = view.community
    title = f"*{community.name}*"
    if community.status == "dissolved":
        title += " " + t("communities.directory.dissolved", lang)
    blocks: list[Block] = [
        section(title),
        section(t("communities.welcome.domain", lang, domain=community.domain or "—")),
    ]
    if not view.shows_details:
        blocks.append(context_block(t("communities.info.protected", lang)))
        return f"{community.name}: {community.domain}", blocks
    next_review = format_day(community.next_review_on, lang) if community.next_review_on else "—"
    blocks += [
        section(
            t("communities.welcome.objectives", lang)
            + "\n"
            + objectives_text(community.objectives, community.objectives_other, lang)
        ),
        section(t("communities.info.core_group", lang, moderators=people(view.moderators, lang))),
        section(counts_text(view.counts, lang)),
        section(
            t(
                "communities.info.details",
                lang,
                channels=" ".join(channel_mention(c.channel_id) for c in view.channels) or "—",
                visibility=t(f"communities.visibility.{community.visibility}", lang),
                cadence=community.review_cadence_weeks,
                next_review=next_review,
                timezone=community.timezone,
            )
        ),
        *follow_up_views.sponsor_info(lang, community.sponsor_id),  # issue 11 item 5
        *product_views.info_blocks(view.products, lang),
    ]
    path = stage_views.info_line(community.objectives or [], community.stage, lang)
    if path is not None:  # issue 11, item 9: the objectives as a path, and where it stands
        blocks.insert(3, section(path))
    if community.status == "active":  # issue 11, item 3: the lifecycle state and why
        blocks.insert(-1, section(lifecycle_view.info_line(community, lang)))
    return f"{community.name}: {community.domain}", blocks


# ---- outbox renderers (bot.views.messages) ---------------------------------------------------------
@renderer("communities.welcome")
def render_welcome(
    lang: str, *, name: str, domain: str, objectives: list[str], other: str, moderators: list[str]
) -> Rendered:
    return welcome_message(
        lang, name=name, domain=domain, objectives=objectives, other=other, moderators=moderators
    )


@renderer("communities.key_person")
def render_key_person(
    lang: str,
    *,
    name: str,
    domain: str,
    creator: str,
    community_id: int | None = None,
    protected: bool = False,
) -> Rendered:
    """The invitation, with a Join (or Request to join) button; written before the button existed, none."""
    text = key_person_invitation(lang, name=name, domain=domain, creator=creator)
    if community_id is None:
        return text, None
    actions = buttons.key_person_actions(lang, name=name, community_id=community_id, protected=protected)
    return text, [section(text), actions]


@renderer("communities.join_request")
def render_join_request(lang: str, *, name: str, requester: str, request_id: int) -> Rendered:
    return join_request_message(lang, name=name, requester=requester, request_id=request_id)


@renderer("communities.request_answer")
def render_request_answer(lang: str, *, approved: bool, name: str, channels: list[str]) -> Rendered:
    """What the requester hears once a moderator decided."""
    if not approved:
        return t("communities.request.declined_requester", lang, name=name), None
    listed = channels_sentence(channels, lang)
    return t("communities.request.approved_requester", lang, name=name, channels=listed).strip(), None


@renderer("communities.created")
def render_created(lang: str, *, name: str, channel_id: str, key_people: list[str]) -> Rendered:
    return created_message(lang, name=name, channel_id=channel_id, key_people=key_people), None
