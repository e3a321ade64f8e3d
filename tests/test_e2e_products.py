"""End to end: products (issue 11, item 8). Members save what their community produced, by
`/cdp product add` or by the message shortcut "Save as a product of this CdP"; the products show in
`/cdp products`, `/cdp info` and (the latest three, open communities only) in `/cdp list`. Only the
title and the link are kept, never a message's text. Bad input is refused, in the user's language."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import initial_values
from storage.models import Product
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, community_draft
from tests.test_e2e_home import open_home

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
OPEN, SECRET, OTHER, GENERAL = "CURB", "CSECRET", "COTHER", "CGENERAL"
DOC = "https://docs.example.org/guide"
SECRET_TEXT = "the confidential text of the message"


def make(harness: Harness, name: str, channel: str, *, visibility: str = "open") -> int:
    """A community whose members are ALICE (moderator) and BRUNO (French); CHLOE and DAVID are not."""
    harness.emulator.add_channel(channel, name.lower(), members=[ALICE, BRUNO, CHLOE, DAVID])
    with harness.db.session() as s:
        community = svc.create(
            s,
            team_id=harness.emulator.team_id,
            creator=ALICE,
            draft=community_draft(
                name,
                domain="safe streets",
                objectives=("develop_solutions",),
                moderators=(ALICE, BRUNO),
                visibility=visibility,
                timezone="Europe/Paris",
            ),
            channel=ChannelChoice(channel, name.lower(), visibility == "protected"),
            now=NOW - timedelta(days=30),
        )
        s.flush()
        community_id = int(community.id)
    harness.clock.set(NOW)
    return community_id


def shown(payload: dict[str, Any]) -> str:
    """What the user reads: the text and every section's text."""
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text") or ""))
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def command(harness: Harness, text: str, user: str, channel: str = GENERAL) -> str:
    result = harness.slack.command(text, user, channel=channel)
    assert result.status == 200
    return shown(result.json())


def products(harness: Harness) -> list[Product]:
    with harness.db.session() as s:
        return list(s.scalars(select(Product).order_by(Product.id)))


def shortcut(harness: Harness, user: str, channel: str, ts: str = "1767225600.000100") -> str | None:
    """Run the message shortcut on a message; None when a modal opened, else the ephemeral answer."""
    message = harness.emulator.add_message(channel, ALICE, ts, text=SECRET_TEXT)
    views_before, answers_before = len(harness.emulator.opened_views()), len(harness.emulator.responses)
    result = harness.slack.message_shortcut(user, "save_product", channel, message)
    assert result.status == 200
    harness.drain()
    if len(harness.emulator.opened_views()) == views_before + 1:
        return None
    assert len(harness.emulator.responses) == answers_before + 1, "no modal and no answer"
    return shown(harness.emulator.responses[-1][1])


def submit(harness: Harness, user: str, **values: str) -> Any:
    """Submit the last modal with its initial values, overridden by `values`."""
    view = harness.emulator.last_view()
    result = harness.slack.view_submission(view, user, {**initial_values(view), **values})
    assert result.status == 200
    return result.json()


# ---- saving ------------------------------------------------------------------------------------
def test_add_by_command_in_the_channel_and_by_name(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    answer = command(harness, f"product add <{DOC}> Street design guide", ALICE, channel=OPEN)
    assert "Saved in the products of *Urbanism*" in answer
    assert f"<{DOC}|Street design guide>" in answer
    # Anywhere, naming the community first; in French, with French words.
    answer = command(harness, "produit ajouter Urbanism https://example.org/carte Carte des pistes", BRUNO)
    assert "Enregistré dans les productions de *Urbanism*" in answer
    saved = products(harness)
    assert [(p.title, p.link, p.saved_by) for p in saved] == [
        ("Street design guide", DOC, ALICE),
        ("Carte des pistes", "https://example.org/carte", BRUNO),
    ]
    assert all(p.saved_at == NOW for p in saved)


def test_add_by_message_shortcut_keeps_the_link_never_the_text(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    assert shortcut(harness, BRUNO, OPEN) is None
    view = harness.emulator.last_view()
    assert "production" in json.dumps(view)  # opened in French for Bruno
    link = f"https://{harness.emulator.team_domain}.slack.com/archives/{OPEN}/p1767225600000100"
    assert submit(harness, BRUNO, title="Compte rendu de l'atelier") is None  # closes: saved
    [product] = products(harness)
    assert (product.title, product.link, product.saved_by) == ("Compte rendu de l'atelier", link, BRUNO)
    with harness.db.session() as s:
        stored = json.dumps([list(row) for row in s.execute(select(Product.__table__)).all()], default=str)
    assert SECRET_TEXT not in stored


# ---- listing -----------------------------------------------------------------------------------
def test_listed_in_products_info_and_the_directory_open_only(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    make(harness, "Secret", SECRET, visibility="protected")
    for number in range(1, 5):
        harness.clock.set(NOW + timedelta(minutes=number))
        command(harness, f"product add https://example.org/{number} Report {number}", ALICE, channel=OPEN)
    command(harness, "product add https://example.org/hidden Hidden plan", ALICE, channel=SECRET)

    listing = command(harness, "products Urbanism", CHLOE)
    assert "What *Urbanism* produced" in listing
    assert listing.index("Report 4") < listing.index("Report 1")  # newest first
    assert "<@UALICE>" in listing
    assert "Les productions de *Urbanism*" in command(harness, "produits Urbanism", DAVID)

    info = command(harness, "info Urbanism", CHLOE)
    assert "Products:" in info and "<https://example.org/4|Report 4>" in info
    assert "Productions :" in command(harness, "info Urbanism", DAVID)

    directory = command(harness, "list", CHLOE)
    assert "Latest products:" in directory
    assert "Report 4" in directory and "Report 2" in directory and "Report 1" not in directory
    assert "Hidden plan" not in directory  # protected: nothing, even for members
    assert "Hidden plan" not in command(harness, "list", ALICE)
    assert "Dernières productions" in command(harness, "liste", DAVID)

    # A protected community's products: its members only.
    assert "Hidden plan" in command(harness, "products Secret", ALICE)
    refused = command(harness, "products Secret", CHLOE)
    assert "Hidden plan" not in refused and "only its members see its products" in refused
    assert "Hidden plan" not in command(harness, "info Secret", CHLOE)


def test_no_products_yet_is_said(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    assert "has no saved products yet" in command(harness, "products", ALICE, channel=OPEN)
    assert "n'a encore aucune production" in command(harness, "produits Urbanism", BRUNO)
    assert "No products saved yet." in command(harness, "info Urbanism", ALICE)


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_input_by_command_changes_nothing(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    assert "starts with http:// or https://" in command(
        harness, "product add ftp://x.org/a Plan", ALICE, OPEN
    )
    assert "commence par http:// ou https://" in command(
        harness, "produit ajouter javascript://x T", BRUNO, OPEN
    )
    assert "`/cdp product add https://… title`" in command(harness, "product add Urbanism Plan", ALICE)
    assert "`/cdp produit ajouter https://… titre`" in command(harness, "produit", BRUNO)
    assert "Give the product a title." in command(harness, f"product add {DOC}", ALICE, OPEN)
    long_title = "x" * 151
    assert "150 characters at most" in command(harness, f"product add {DOC} {long_title}", ALICE, OPEN)
    assert "150 caractères au plus" in command(harness, f"produit ajouter {DOC} {long_title}", BRUNO, OPEN)
    assert "Only members of *Urbanism*" in command(harness, f"product add {DOC} Mine", CHLOE, OPEN)
    assert "Seuls les membres de *Urbanism*" in command(harness, f"produit ajouter Urbanism {DOC} A", DAVID)
    assert products(harness) == []


def test_dissolved_community_refuses(harness: Harness) -> None:
    community_id = make(harness, "Urbanism", OPEN)
    with harness.db.session() as s:
        community = svc.require_by_id(s, team_id=harness.emulator.team_id, community_id=community_id)
        svc.dissolve(s, community=community, actor=ALICE, is_admin=False, now=NOW)
    assert "dissolved" in command(harness, f"product add {DOC} Late", ALICE, OPEN).lower()
    answer = shortcut(harness, BRUNO, OPEN)
    assert answer is not None and "dissoute" in answer.lower()
    assert products(harness) == []


def test_shortcut_refusals_and_field_errors(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    make(harness, "Secret", SECRET, visibility="protected")
    harness.emulator.add_channel(OTHER, "random", members=[ALICE, BRUNO, CHLOE, DAVID])
    # A channel of no community.
    answer = shortcut(harness, ALICE, OTHER)
    assert answer is not None and "not in a community's channel" in answer
    answer = shortcut(harness, BRUNO, OTHER, ts="1767225600.000200")
    assert answer is not None and "n'est pas dans le canal d'une communauté" in answer
    # Not a member of the channel's community.
    answer = shortcut(harness, CHLOE, OPEN)
    assert answer is not None and "Only members of *Urbanism*" in answer
    # In the modal: a link that is not http(s), an empty or too long title are field errors.
    assert shortcut(harness, ALICE, OPEN, ts="1767225600.000300") is None
    errors = submit(harness, ALICE, title="Plan", link="mailto:someone@example.org")
    assert errors["response_action"] == "errors"
    assert "starts with http:// or https://" in errors["errors"]["link"]
    errors = submit(harness, ALICE, title="   ", link=DOC)
    assert "Give the product a title." in errors["errors"]["title"]
    errors = submit(harness, ALICE, title="y" * 151, link=DOC)
    assert "150 characters at most" in errors["errors"]["title"]
    # The modal saves to the community it was opened for, never another: leaving meanwhile refuses.
    with harness.db.session() as s:
        community = svc.require(s, team_id=harness.emulator.team_id, query="Urbanism")
        svc.leave(s, community=community, user_id=ALICE, now=NOW)
    errors = submit(harness, ALICE, title="Plan", link=DOC)
    assert "Only members of *Urbanism*" in errors["errors"]["title"]
    assert products(harness) == []


# ---- privacy -----------------------------------------------------------------------------------
def test_export_lists_and_forget_anonymises_what_they_saved(harness: Harness) -> None:
    from bot.services import privacy

    make(harness, "Urbanism", OPEN)
    command(harness, f"product add {DOC} Street design guide", BRUNO, OPEN)
    with harness.db.session() as s:
        data = privacy.export(s, team_id=harness.emulator.team_id, user_id=BRUNO, lang="fr", now=NOW)
    assert data["products_saved"] == [
        {"community": "Urbanism", "title": "Street design guide", "link": DOC, "saved_at": NOW.isoformat()}
    ]
    with harness.db.session() as s:
        privacy.forget(s, team_id=harness.emulator.team_id, user_id=BRUNO, now=NOW)
    listing = command(harness, "products Urbanism", ALICE)
    assert "Street design guide" in listing  # the community's product stays
    assert BRUNO not in listing and "a former member" in listing


def test_long_links_are_refused_and_a_long_listing_stays_whole(harness: Harness) -> None:
    make(harness, "Urbanism", OPEN)
    too_long = "https://example.org/" + "a" * 481  # 501 characters
    assert "starts with http:// or https://" in command(harness, f"product add {too_long} Big", ALICE, OPEN)
    for number in range(25):
        harness.clock.set(NOW + timedelta(minutes=number))
        link = f"https://example.org/{number:02d}/" + "b" * 470
        command(harness, f"product add {link} {'Report ' + str(number) + ' ' + 't' * 130}", ALICE, OPEN)
    result = harness.slack.command("products Urbanism", CHLOE, channel=GENERAL).json()
    sections = [b["text"]["text"] for b in result["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    lines = [line for text in sections for line in text.splitlines() if line.startswith("•")]
    assert len(lines) == 20  # the newest twenty, none cut
    assert all(line.count("<https://") == 1 and "|Report " in line for line in lines)


def test_the_app_home_lists_the_latest_products(harness: Harness) -> None:
    """My communities show their latest products, protected ones included (I am a member); the
    directory shows an open community's to outsiders, never a protected one's."""
    make(harness, "Urbanism", OPEN)
    make(harness, "Secret", SECRET, visibility="protected")
    for number in range(1, 5):
        harness.clock.set(NOW + timedelta(minutes=number))
        command(harness, f"product add https://example.org/{number} Report {number}", ALICE, channel=OPEN)
    command(harness, "product add https://example.org/hidden Hidden plan", ALICE, channel=SECRET)

    member = str(open_home(harness, ALICE))
    assert "<https://example.org/4|Report 4>" in member and "Report 1" not in member  # the latest three
    assert "Hidden plan" in member  # her own protected community

    outsider = str(open_home(harness, CHLOE))  # in neither: the directory
    assert "Latest products:" in outsider and "Report 4" in outsider
    assert "Hidden plan" not in outsider
    assert "Dernières productions" in str(open_home(harness, DAVID))
