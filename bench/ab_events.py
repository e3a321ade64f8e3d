"""Benchmark: counted message events, this working tree against another revision, interleaved.

`bench_events.py` prints ratios to floors measured in the same run, but on a shared machine its absolute
rates drift (by 2x within a day, 2026-11-30), so a change worth 5-10% cannot be told from the drift by
comparing two of its runs. This runs both versions side by side instead: `cdp-bot run` from the working
tree ("after") and from a temporary git worktree of `--base` ("before"), beside the no-op Bolt app and
the committing no-op of bench_events.py, on one database, and sends each server the same kind of batch
in turn, in alternating order, round after round. It prints each server's median time per event and
its ratio to the no-op of the same round (median over the rounds). No pass/fail: compare.

    .venv/bin/python bench/ab_events.py [--base HEAD] [--database postgresql|sqlite] [--senders 1]
        [--rounds 12] [--batch 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_events import (  # noqa: E402
    POSTERS,
    Pool,
    Server,
    create_committing_table,
    event_body,
    free_port,
    outbox_settled,
    seed,
    start_floor,
    start_ours,
    wait_healthy,
)
from bench.databases import fresh_database  # noqa: E402
from bench.timing import client_gc_held  # noqa: E402


@contextmanager
def worktree_of(revision: str) -> Iterator[Path]:
    """A detached git worktree of `revision`, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", "-q", str(path), revision], check=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "remove", "--force", str(path)], check=False)


def measure(args: argparse.Namespace, base: Path) -> dict[str, list[float]]:
    """Microseconds per event of each server, per round."""
    from bot.testing.slack_emulator import SlackEmulator

    with (
        tempfile.TemporaryDirectory() as folder,
        SlackEmulator() as emulator,
        fresh_database(args.database, Path(folder), "ab") as url,
    ):
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CBOUND", "bound", members=["UMOD"])
        seed(url)  # the working tree's migrations: --base must share its schema
        create_committing_table(url)
        codes: dict[str, Path | None] = {"before": base, "after": ROOT, "noop": None, "committing": None}
        ports = {name: free_port() for name in codes}
        processes = {
            name: (
                start_floor(
                    ports[name], emulator.api_url, emulator.token, url if name == "committing" else None
                )
                if code is None
                else start_ours(ports[name], url, emulator.api_url, emulator.token, code=code)
            )
            for name, code in codes.items()
        }
        try:
            for name, process in processes.items():
                wait_healthy(ports[name], process)
            servers = {name: Server(ports[name], processes[name].pid) for name in codes}
            pool = Pool(list(ports.values()), args.senders)
            try:
                for name, server in servers.items():  # the posters become members; caches warm
                    warm = [
                        (event_body(f"EvW{name}{i}", "CBOUND", f"U{i % POSTERS:04d}"), False)
                        for i in range(300)
                    ]
                    pool.elapsed(server, warm)
                outbox_settled(url)  # the posters' first posts, sent before the rounds (bench_events.py)
                per_event: dict[str, list[float]] = {name: [] for name in codes}
                for round_ in range(args.rounds):
                    names = list(codes) if round_ % 2 == 0 else list(reversed(codes))
                    for name in names:
                        bodies = [
                            (event_body(f"Ev{name}R{round_}I{i}", "CBOUND", f"U{i % POSTERS:04d}"), False)
                            for i in range(args.batch)
                        ]
                        with client_gc_held():
                            seconds, _cpu = pool.elapsed(servers[name], bodies)
                        per_event[name].append(seconds / args.batch * 1e6)
            finally:
                pool.close()
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                process.wait(timeout=30)
    return per_event


def report(args: argparse.Namespace, per_event: dict[str, list[float]]) -> None:
    noop = per_event["noop"]
    print(
        f"database: {args.database}; before = {args.base}, after = the working tree; "
        f"{args.senders} sender(s), {args.rounds} rounds of {args.batch} events each (alternating order)"
    )
    for name, times in per_event.items():
        ratios = [floor / mine for floor, mine in zip(noop, times, strict=True)]
        print(
            f"{name:11s} median {statistics.median(times):7.0f} us/event   ratio to no-op "
            f"{statistics.median(ratios):.3f}   (rounds: {' '.join(f'{t:.0f}' for t in times)})"
        )
    change = statistics.median(per_event["after"]) / statistics.median(per_event["before"]) - 1
    print(f"after vs before: {change * 100:+.1f}% time per event (negative: faster)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="HEAD", help="the revision to compare the working tree with")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=300)
    args = parser.parse_args()
    with worktree_of(args.base) as base:
        per_event = measure(args, base)
    report(args, per_event)


if __name__ == "__main__":
    main()
