"""Benchmark: drawing a community's chart (bot/charts.py) against a floor measured in the same run.

The floor is matplotlib saving an empty Figure of the same size to PNG (what any chart costs at least).
Three communities: empty (no history: the explanatory chart), one year and three years of weeks. Rounds
interleave the kinds so the machine's noise hits every kind alike. Prints, per kind, p50/p95 in ms,
the PNG's size and the ratio of its p50 to the floor's; and the process's RSS before matplotlib is
imported, after the first chart, and at the end (the goals: <= 300 ms, <= 200 KB, <= 150 MB).
Then a 3-year chart through the app's drawing process (bot.chart_delivery.draw), in an interpreter that
imported the app, with the RSS of the app's process and of the drawing process apart.
No pass/fail: these shared machines are noisy; compare ratios between commits.

    .venv/bin/python bench/bench_charts.py [--rounds 20] [--lang fr]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import charts  # noqa: E402
from bot.domain.onramp import ChartData, CircleWeek  # noqa: E402


def rss_mb(pid: int | str = "self") -> float:
    """The resident set size now of a process (Linux: /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def community(weeks: int) -> ChartData:
    """A community that grows: a core group of 3, the circles filling in, a busy week now and then."""
    start = date(2023, 1, 2)
    return ChartData(
        name="Urbanisme durable",
        weeks=tuple(CircleWeek(start + timedelta(weeks=i), 3, 4 + i // 8, 15 + i // 2) for i in range(weeks)),
        contributions=tuple(5 + (i * 7) % 17 + (20 if i % 13 == 0 else 0) for i in range(weeks)),
        usual_week=11.0 if weeks > 1 else None,
        funnel=(24, 13, 5) if weeks else (0, 0, 0),
    )


def floor() -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(charts.WIDTH_PX / charts.DPI, charts.HEIGHT_PX / charts.DPI), dpi=charts.DPI)
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(
        out, format="png", dpi=charts.DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 2}
    )
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lang", default="fr")
    args = parser.parse_args()

    rss_start = rss_mb()
    started = time.perf_counter()
    first = charts.render(community(52), args.lang)  # imports matplotlib, loads the font
    first_ms = (time.perf_counter() - started) * 1000
    rss_first = rss_mb()

    kinds: dict[str, Callable[[], bytes]] = {
        "floor (empty Figure)": floor,
        "empty community": lambda: charts.render(community(0), args.lang),
        "1 year (52 weeks)": lambda: charts.render(community(52), args.lang),
        "3 years (156 weeks)": lambda: charts.render(community(156), args.lang),
    }
    times: dict[str, list[float]] = {name: [] for name in kinds}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, draw in kinds.items():
            started = time.perf_counter()
            png = draw()
            times[name].append((time.perf_counter() - started) * 1000)
            sizes[name] = len(png)

    base = statistics.median(times["floor (empty Figure)"])
    print(f"charts, {args.rounds} rounds, {charts.WIDTH_PX}x{charts.HEIGHT_PX} px, lang={args.lang}")
    print(f"first chart (imports matplotlib): {first_ms:.0f} ms, {len(first)} bytes")
    print(f"{'drawn in this process':<24}{'p50 ms':>9}{'p95 ms':>9}{'PNG KB':>9}{'x floor':>9}")
    for name, measured in times.items():
        ordered = sorted(measured)
        p50 = statistics.median(ordered)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"{name:<24}{p50:>9.1f}{p95:>9.1f}{sizes[name] / 1000:>9.1f}{p50 / base:>9.2f}")
    print(
        f"RSS of this process: {rss_start:.0f} MB before matplotlib,"
        f" {rss_first:.0f} MB after the first chart, {rss_mb():.0f} MB at the end"
    )
    app_process(args.rounds, args.lang)


def app_process(rounds: int, lang: str) -> None:
    """The app's way: charts drawn by the outbox worker through bot.chart_delivery.draw, in a drawing
    process of their own. Run in a fresh interpreter that imports the app (as `cdp-bot run` has), so
    the RSS of the app's process and of the drawing process are measured apart."""
    import subprocess

    code = f"""
import sys, time, statistics
sys.path.insert(0, {str(ROOT)!r})
sys.path.insert(0, {str(ROOT / "bench")!r})
from bench_charts import community, rss_mb
import bot.server, bot.outbox, bot.reminders
from bot import chart_delivery
before = rss_mb()
data = community(156)
chart_delivery.draw(data, {lang!r})
times = []
for _ in range({rounds}):
    started = time.perf_counter()
    chart_delivery.draw(data, {lang!r})
    times.append((time.perf_counter() - started) * 1000)
child = next(iter(chart_delivery._pool._processes))
print(f"through the drawing process (3 years): p50 {{statistics.median(times):.1f}} ms;"
      f" RSS of the app's process {{before:.0f}} MB before, {{rss_mb():.0f}} MB after;"
      f" of the drawing process {{rss_mb(child):.0f}} MB")
"""
    subprocess.run([sys.executable, "-c", code], check=True)


if __name__ == "__main__":
    main()
