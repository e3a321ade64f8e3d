"""The CLI: `cdp-bot run | migrate | recompute | demo`."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.logs import configure
from bot.settings import Settings, SettingsError, load_settings


def _fail(lines: Sequence[str]) -> int:
    print("cdp-bot cannot start:", file=sys.stderr)
    for line in lines:
        print(f"  - {line}", file=sys.stderr)
    print("Set these as environment variables or in a .env file in the working directory.", file=sys.stderr)
    return 2


def run(settings: Settings) -> int:
    from bot.server import Runtime, StartupError, serve_http, serve_socket_mode

    missing = settings.missing_for_run()
    if missing:
        return _fail(missing)
    configure(settings.log_level_number)
    try:
        runtime = Runtime.start(settings)
    except StartupError as exc:
        return _fail([str(exc)])
    # What start-up built (modules, the Bolt app, the engine, the templates) lives as long as the process:
    # moved out of the collector's sight, a full collection no longer walks it, and its pauses, during
    # which no request is answered, went from ~85 ms to 5-8 ms (bench/bench_commands.py).
    gc.collect()
    gc.freeze()
    try:
        if settings.socket_mode:
            serve_socket_mode(runtime)
        else:
            serve_http(runtime)
    except StartupError as exc:  # Socket Mode refused after the start-up check
        return _fail([str(exc)])
    finally:
        runtime.close()
    return 0


def migrate(settings: Settings) -> int:
    from bot.server import database_problem
    from storage.db import Database
    from storage.migrate import current_revision, upgrade

    configure(settings.log_level_number)
    db = Database(settings.database_url, durability=settings.commit_durability)
    try:
        upgrade(db.engine)
        print(f"database at revision {current_revision(db.engine)}")
    except Exception as exc:
        return _fail([database_problem(settings.database_url, exc)])
    finally:
        db.dispose()
    return 0


def recompute(settings: Settings) -> int:
    from bot.clock import SystemClock
    from bot.runtime import Deps
    from bot.scheduler import recompute_all
    from bot.server import database_problem
    from storage.db import Database
    from storage.migrate import upgrade

    configure(settings.log_level_number)
    db = Database(settings.database_url, durability=settings.commit_durability)
    try:
        upgrade(db.engine)
    except Exception as exc:  # unreachable, wrong credentials, a file that cannot be opened
        db.dispose()
        return _fail([database_problem(settings.database_url, exc)])
    try:
        changed = recompute_all(Deps(settings=settings, db=db, clock=SystemClock()))
    except SQLAlchemyError as exc:  # the database went away during the pass; a bug still shows its traceback
        return _fail([database_problem(settings.database_url, exc)])
    finally:
        db.dispose()
    print(f"circles recomputed: {changed} change(s)")
    return 0


def demo(settings: Settings, out: Path, lang: str) -> int:
    """The real app against the bundled Slack emulator: no token, nothing sent to Slack. SQLite in a
    temporary folder unless DATABASE_URL is given (then it should be an empty database)."""
    from bot.demo.run import UsedDatabase, run_demo
    from bot.server import StartupError, database_problem

    given = "database_url" in settings.model_fields_set
    try:
        run_demo(out, lang=lang, database_url=settings.database_url if given else None)
    except (StartupError, UsedDatabase) as exc:
        return _fail([str(exc)])
    except SQLAlchemyError as exc:  # the given database cannot be reached or read
        return _fail([database_problem(settings.database_url, exc)])
    return 0


COMMANDS = {"run": run, "migrate": migrate, "recompute": recompute}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cdp-bot", description="A Slack app for Communities of Practice (communautés de pratique)."
    )
    parser.add_argument("--version", action="version", version=f"cdp-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run", help="apply migrations, then serve Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)"
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("recompute", help="run the daily circle pass now (demotion after the grace period)")
    demo_parser = sub.add_parser(
        "demo",
        help="see it work before creating a Slack app: six months of three communities, played against "
        "the bundled Slack emulator; prints a transcript, writes charts and an HTML page",
    )
    demo_parser.add_argument(
        "--out", type=Path, default=Path("cdp-bot-demo"), help="folder to write into (default ./cdp-bot-demo)"
    )
    demo_parser.add_argument(
        "--lang", choices=("en", "fr"), default="en", help="language of the transcript and page (default en)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(exc.problems)
    if args.command == "demo":
        return demo(settings, args.out, args.lang)
    return COMMANDS[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
