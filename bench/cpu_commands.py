"""CPU time per request of `/cdp join`, `/cdp me`, `/cdp help` and a no-op slash command.

Wall-clock p99 on a shared machine is noisy; the CPU a server process spends per request is not, and
at 20 concurrent requests it is what the GIL queues. Same set-up as bench/bench_commands.py (same
seeding, the same two servers in their own processes); each kind is sent `--requests` times, one at a
time, and the server's process CPU (user + system, every thread: Bolt, the handlers, the outbox worker
sending what a join owes Slack) is read from /proc before and after, once the server is idle again
(after a join batch, once Slack has received every channel invite the outbox owed it, so that they are
counted in join's CPU and not in the next kind's). The outbox sends invites at Slack's pace (Tier 3: a
burst of 50, then 50 a minute): keep requests x rounds within the burst (the default, 45 x 1), or the
join figure also counts the server's idle CPU while it waits for the rate limit. Run it a few times.

    .venv/bin/python bench/cpu_commands.py [--database sqlite|postgresql] [--size 10000]
        [--requests 45] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_commands import (  # noqa: E402
    ME_USERS,
    SECRET,
    Load,
    add_other_communities,
    me_user,
    seed,
    start_servers,
)
from bench.databases import analyzed, fresh_database  # noqa: E402
from bot.testing.slack_emulator import SignedSender, SlackEmulator  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def settled_cpu(pid: int, quiet: float = 0.3) -> float:
    """The process's CPU once it has stopped using any (the outbox sent what it owed) for `quiet` s."""
    last = cpu_seconds(pid)
    while True:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 1 / TICKS:
            return now
        last = now


def wait_for_invites(emulator: SlackEmulator, count: int, timeout: float = 600.0) -> None:
    """Until Slack has received `count` channel invites in all (Tier 3: 50 at once, then 50 a minute)."""
    deadline = time.monotonic() + timeout
    while len(emulator.successful_calls_to("conversations.invite")) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the outbox did not send {count} invites in {timeout} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--durability", choices=["full", "fast"], default="full")
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--communities", type=int, default=500)
    parser.add_argument("--requests", type=int, default=45)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    processes: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        SlackEmulator() as emulator,
        fresh_database(args.database, Path(folder), "cpu") as url,
    ):
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CGENERAL", "general", members=["UMOD"])
        try:
            db = Database(url)
            upgrade(db.engine)
            seed(db, emulator, args.size)
            add_other_communities(db, args.communities)
            analyzed(db)
            db.dispose()
            noop_url, app_url = start_servers(emulator, url, args.durability, processes)
            noop = Load(SignedSender(noop_url, SECRET, emulator))
            ours = Load(SignedSender(app_url, SECRET, emulator))
            measure(emulator, noop, ours, processes[0].pid, processes[1].pid, args)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)


def measure(
    emulator: SlackEmulator, noop: Load, ours: Load, noop_pid: int, app_pid: int, args: argparse.Namespace
) -> None:
    n, join = args.requests, f"join Bench {args.size}"
    for _ in range(20):  # warm both: connections, imports, caches
        ours.command("help", "UMOD")
        noop.command("help", "UMOD")
    for k in range(ME_USERS):  # untimed: our app learns their language, as bench_commands' warm-up does
        ours.command("help", me_user(args.size, k))
    totals: dict[str, list[float]] = {"noop": [], "help": [], "join": [], "me": []}
    fresh = iter(range(10**9))
    joined = 0
    for _ in range(args.rounds):
        joiners = [f"UJ{next(fresh):06d}" for _ in range(n)]
        for user in joiners:
            emulator.add_user(user)
            ours.command("help", user)  # untimed: our app learns their language, as in bench_commands
        me = [me_user(args.size, k % ME_USERS) for k in range(n)]
        plans: dict[str, tuple[int, list[Callable[[], float]]]] = {
            "noop": (noop_pid, [lambda u=u: noop.command(join, u) for u in joiners]),
            "help": (app_pid, [lambda u=u: ours.command("help", u) for u in me]),
            "me": (app_pid, [lambda u=u: ours.command("me", u) for u in me]),
            "join": (app_pid, [lambda u=u: ours.command(join, u) for u in joiners]),
        }
        for kind, (pid, calls) in plans.items():
            before = settled_cpu(pid)
            for call in calls:
                call()
            if kind == "join":  # and the invites it owes Slack, which the outbox sends at Slack's pace
                wait_for_invites(emulator, joined + len(calls))
                joined += len(calls)
            totals[kind].append((settled_cpu(pid) - before) / len(calls))
    print(f"database: {args.database}, community of {args.size}, {n} requests per kind and round")
    for kind, values in totals.items():
        shown = " ".join(f"{v * 1000:6.2f}" for v in values)
        print(f"{kind:5s} CPU ms/request: {min(values) * 1000:6.2f} (rounds: {shown})")


if __name__ == "__main__":
    main()
