"""The drawing process of the charts (bot/chart_delivery.py) lives and dies with the app's process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

# The app's side, as the outbox worker does it: draw a chart (which starts the drawing process), say
# which process drew it, draw again in the same one, then wait to be killed.
APP = """
import sys, time
from bot import chart_delivery
from bot.domain.onramp import ChartData

chart = ChartData(name="Urbanism", weeks=(), contributions=(), usual_week=None, funnel=(0, 0, 0))
assert chart_delivery.draw(chart, "fr").startswith(b"\\x89PNG")
(drawer,) = chart_delivery._pool._processes
assert chart_delivery.draw(chart, "en").startswith(b"\\x89PNG")
print(drawer, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, ended but not yet reaped by whoever adopted it, has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_drawing_process_ends_when_the_app_is_killed(tmp_path: Path) -> None:
    app = subprocess.Popen(
        [sys.executable, "-c", APP],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "app.log").open("w"),
        text=True,
    )
    try:
        assert app.stdout is not None
        line = app.stdout.readline()  # after both charts: the drawing process served the app meanwhile
        assert line.strip().isdigit(), (tmp_path / "app.log").read_text()
        drawer = int(line)
        assert alive(drawer)
        app.send_signal(signal.SIGKILL)  # kill -9 (or the OOM killer): nothing of the app runs any more
        app.wait(timeout=30)
        deadline = time.monotonic() + 30
        while alive(drawer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(drawer), "the drawing process outlived the app"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
