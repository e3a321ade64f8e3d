"""`cdp-bot demo`: play the organisation, print the transcript, write the page and the charts."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from bot.demo import report
from bot.demo.cast import COMMUNITIES, PEOPLE
from bot.demo.play import DAYS, START, Play
from bot.demo.stage import Stage
from bot.i18n import format_day, t
from storage.db import Database
from storage.models import Community


class UsedDatabase(Exception):
    """DATABASE_URL names a database that already holds communities: the demo would mix into them."""


def _communities_in(database_url: str) -> int:
    db = Database(database_url)
    try:
        if not inspect(db.engine).has_table(Community.__tablename__):
            return 0
        with db.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Community)).scalar() or 0)
    finally:
        db.dispose()


def run_demo(
    out: Path,
    *,
    lang: str = "en",
    database_url: str | None = None,
    days: int = DAYS,
    echo: Callable[[str], None] = print,
) -> int:
    """Play `days` days against the emulator (SQLite in a temporary folder unless `database_url`),
    print what everyone saw, write it into `out`. Returns the number of entries recorded."""
    began = time.monotonic()
    if database_url is not None:
        # A DATABASE_URL left in the environment or a .env file may be a real one: never play into it.
        found = _communities_in(database_url)
        if found:
            shown = make_url(database_url).render_as_string(hide_password=True)
            raise UsedDatabase(
                f"DATABASE_URL: the demo needs an empty database, and {shown} holds {found} "
                "communities (unset DATABASE_URL to play in a temporary SQLite file)"
            )
    end = (START + timedelta(days=days - 1)).date()
    echo(
        t(
            "demo.started",
            lang,
            days=days,
            start=format_day(START.date(), lang),
            end=format_day(end, lang),
            people=len(PEOPLE),
            communities=len(COMMUNITIES),
        )
    )
    with tempfile.TemporaryDirectory(prefix="cdp-bot-demo-") as folder:
        stage = Stage(database_url or f"sqlite:///{Path(folder) / 'demo.db'}", START, default_language=lang)
        try:
            play = Play(stage, days=days)
            play.progress = lambda day: echo(t("demo.progress", lang, day=day))
            play.run()
        finally:
            stage.close()
    entries = sorted(stage.recorder.entries, key=lambda entry: entry.at)  # stable: same-time order kept
    names = report.names_of({c.channel_id: c.channel_name for c in COMMUNITIES})
    for line in report.transcript(entries, names, lang):
        echo(line)
    figures = report.Figures(
        start=START.date(), end=end, days=days, seconds=time.monotonic() - began, events=play.events
    )
    transcript_path, page_path = report.write(out, entries, stage.recorder.files, figures, lang)
    echo("")
    echo(
        t(
            "demo.done",
            lang,
            seconds=f"{figures.seconds:.1f}",
            commands=sum(1 for e in entries if e.kind == "typed" and e.typed.startswith("/cdp")),
            events=play.events,
            messages=sum(1 for e in entries if e.kind in report.MESSAGE_KINDS),
            views=sum(1 for e in entries if e.kind in report.VIEW_KINDS),
            charts=len(stage.recorder.files),
        )
    )
    echo(
        t(
            "demo.written",
            lang,
            transcript=transcript_path.name,
            page=page_path.name,
            charts=len(stage.recorder.files),
            folder=str(out),
        )
    )
    echo(t("demo.open_page", lang, page=str(page_path)))
    sys.stdout.flush()
    return len(entries)
