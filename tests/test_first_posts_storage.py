"""First posts (issue 10, item 2): the pure rules, and migration 0011 on an existing database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.domain.circles import CircleRule
from bot.domain.first_posts import emoji_name, may_be_first, progress_after_first
from storage.db import Database
from storage.migrate import alembic_config, upgrade


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("wave", "wave"),
        (":tada:", "tada"),
        ("  :+1:  ", "+1"),
        ("thumbsup::skin-tone-3", "thumbsup::skin-tone-3"),
        ("custom-emoji_2", "custom-emoji_2"),
        ("", ""),
        ("::", ""),
        ("Wave", None),
        ("not an emoji!", None),
        ("wave tada", None),
        ("x" * 65, None),
    ],
)
def test_emoji_names(typed: str, stored: str | None) -> None:
    assert emoji_name(typed) == stored


@pytest.mark.parametrize(
    ("role", "circle", "day", "others", "expected"),
    [
        ("member", "outer", 1, 0, True),
        ("core", "outer", 1, 0, False),  # founders and moderators are no newcomers
        ("member", "inner", 1, 0, False),
        ("member", "outer", 2, 0, False),  # a second message the same day in the same channel
        ("member", "outer", 1, 3, False),  # contributions elsewhere in the window
        (None, None, 0, 0, False),
    ],
)
def test_may_be_first(role: str | None, circle: str | None, day: int, others: int, expected: bool) -> None:
    assert (
        may_be_first(role=role, circle=circle, day_contributions=day, other_contributions=others) is expected
    )


def test_progress_after_a_first_post_is_the_circle_rule_s() -> None:
    rule = CircleRule.within_bounds(
        window_days=30, inner_min_contributions=4, inner_min_days=2, demotion_grace_days=45
    )
    progress = progress_after_first(rule)
    assert progress is not None and progress.as_dict() == {"contributions": 3, "days": 1}
    one = CircleRule.within_bounds(
        window_days=30, inner_min_contributions=1, inner_min_days=1, demotion_grace_days=45
    )
    assert progress_after_first(one) is None  # the first post alone brings them in


def test_migration_marks_earlier_contributors_and_keeps_the_binding_triggers(tmp_path: Path) -> None:
    """Whoever contributed before 0011 is no newcomer; the plain ADD COLUMNs leave the SQLite binding
    triggers of 0006 in place (a batch rebuild would drop them), up and down."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(db.engine, "0009")
        with db.engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO communities (id, team_id, name, slug, domain, objectives, objectives_other,"
                    " key_people, visibility, language, timezone, review_cadence_weeks, status, created_by,"
                    " created_at, circle_window_days, inner_min_contributions, inner_min_days,"
                    " demotion_grace_days, promotion_dm, review_outcome_in_channel) VALUES (1, 'T', 'U',"
                    " 'u', '', '[]', '', '[]', 'open', 'en', 'UTC', 4, 'active', 'UA', '2026-03-01', 30, 4,"
                    " 2, 45, 1, 1)"
                )
            )
            for user in ("UOLD", "UNEW", "UREACT"):
                c.execute(
                    text(
                        "INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since,"
                        " joined_at, joined_via) VALUES ('T', 1, :u, 'member', 'outer', '2026-03-01',"
                        " '2026-03-01', 'channel')"
                    ),
                    {"u": user},
                )
            c.execute(
                text(
                    "INSERT INTO activity_days (team_id, community_id, channel_id, user_id, day,"
                    " contributions, reactions) VALUES ('T', 1, 'C', 'UOLD', '2026-03-01', 2, 0),"
                    " ('T', 1, 'C', 'UREACT', '2026-03-01', 0, 3)"
                )
            )
        upgrade(db.engine, "0011")
        with db.engine.connect() as c:
            marked = dict(c.execute(text("SELECT user_id, first_contribution_at FROM memberships")).all())
            assert marked["UOLD"] is not None  # contributed: never thanked as a newcomer
            assert marked["UNEW"] is None and marked["UREACT"] is None  # only reacted: still a newcomer
            assert c.execute(text("SELECT first_post_emoji FROM communities")).scalar() == "wave"
            triggers = c.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar()
            assert triggers == 5
        command.downgrade(alembic_config(db.engine), "0009")
        with db.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar() == 5
            tables = c.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
            assert "first_posts" not in tables
    finally:
        db.dispose()
