"""The welcome rule (bot/domain/welcome.py): who is welcomed when they become a member. Pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.welcome import TEXT_MAX, Before, text_problem, welcome_due

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("role", "before", "enabled", "active", "due"),
    [
        ("member", None, True, True, True),  # a first join
        ("core", None, True, True, False),  # a moderator is never a newcomer
        ("member", None, False, True, False),  # switched off
        ("member", None, True, False, False),  # dissolved
        ("member", Before(left_at=NOW - 29 * DAY, joined_via="channel"), True, True, False),
        (
            "member",
            Before(left_at=NOW - 30 * DAY + timedelta(seconds=1), joined_via="command"),
            True,
            True,
            False,
        ),
        (
            "member",
            Before(left_at=NOW - 30 * DAY, joined_via="command"),
            True,
            True,
            True,
        ),  # 30 days: welcome
        ("member", Before(left_at=NOW - 31 * DAY, joined_via="channel"), True, True, True),
        ("member", Before(left_at=NOW - 400 * DAY, joined_via="creation"), True, True, False),  # a founder
        ("member", Before(left_at=None, joined_via="command"), True, True, True),  # never left (read as new)
    ],
)
def test_welcome_due(role: str, before: Before | None, enabled: bool, active: bool, due: bool) -> None:
    assert welcome_due(role=role, before=before, at=NOW, enabled=enabled, active=active) is due


def test_text_length_is_checked_in_characters() -> None:
    assert text_problem("é" * TEXT_MAX) is None
    assert text_problem("é" * (TEXT_MAX + 1)) == "welcome.errors.text_too_long"
    assert text_problem("") is None
