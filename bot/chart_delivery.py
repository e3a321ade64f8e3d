"""The outbox worker's side of the community charts (issue 11, item 1): draw, upload, show.

Only the worker draws and uploads, when it sends (never the scheduler's tick, never a request). A chart
is uploaded once per community, day and language (the `chart_files` table): every moderator's review
prompt, the outcome post and the App Home of that day show the same file. Within one process a lock per
chart keeps the worker's sender threads from uploading it twice; two instances may each upload once,
the first recorded wins (storage.repositories.charts.remember).

The upload goes to no channel (files_upload_v2 without `channel`): the file stays the app's own, and the
app shows it with an image block `{"type": "image", "slack_file": {"id": "F…"}}`, which Slack accepts
when the poster can see the file (https://docs.slack.dev/reference/block-kit/composition-objects/slack-file-object).
Slack finishes an upload asynchronously: a message posted right after it may be refused with
`invalid_blocks` (slackapi/python-slack-sdk#1658, slackapi/slack-github-action#413). Then, as when
drawing or uploading fails, the message goes out without the picture and with its alt text as a line
of text: the chart is never the reason a prompt is lost. Failures are logged.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import charts
from bot import outbox as base
from bot.logs import error_fields
from bot.services import onramp
from bot.services import outbox as service
from bot.views.messages import render
from storage.repositories import charts as repo
from storage.repositories.outbox import Delivery

log = logging.getLogger("cdp_bot.charts")

_locks: dict[tuple[str, int, date, str], threading.Lock] = {}
_locks_guard = threading.Lock()

# Charts are drawn in a process of their own, one at a time: matplotlib (with numpy) adds some 50 MB to
# the process that imports it, and drawing is CPU in Python that would hold the GIL against the app's
# request threads. The drawing process starts with the first chart (never at the app's start-up), is
# replaced after DRAWS_PER_PROCESS charts (its memory stays what one chart needs) or when it dies.
DRAW_TIMEOUT = 60.0  # seconds: a chart not drawn by then is shown in words
DRAWS_PER_PROCESS = 200
_pool: ProcessPoolExecutor | None = None
_pool_guard = threading.Lock()


def _leave_with_the_app() -> None:
    """In the drawing process, at its start: end it as soon as the app's process is gone. The pool's
    queue never reports a parent killed with SIGKILL (or by the OOM killer) to its worker, which then
    waits for charts for ever, holding its memory and the app's log file; multiprocessing gives each
    child a sentinel that becomes ready when its parent ends."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to follow
        return

    def wait_for_the_app() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)  # no clean-up to run: the process only ever draws

    threading.Thread(target=wait_for_the_app, name="leave-with-the-app", daemon=True).start()


def draw(data: Any, lang: str) -> bytes:
    """`charts.render(data, lang)`, in the drawing process."""
    global _pool
    with _pool_guard:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a process that has threads
                max_tasks_per_child=DRAWS_PER_PROCESS,
                initializer=_leave_with_the_app,
            )
        pool = _pool
    try:
        return pool.submit(charts.render, data, lang).result(timeout=DRAW_TIMEOUT)
    except BrokenProcessPool:
        with _pool_guard:  # the drawing process died (killed, out of memory): the next chart starts one
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _lock(key: tuple[str, int, date, str]) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 10_000:  # yesterday's charts: nobody waits on them any more
            _locks.clear()
        return _locks.setdefault(key, threading.Lock())


def charts_for(
    worker: base.OutboxWorker, *, team_id: str, community_ids: list[int], lang: str
) -> dict[int, dict[str, Any]]:
    """community id -> its chart as the views take it (`{"file_id", "alt"}`; file_id None: show the
    words). Uploaded ones of today come from the table; the others are read in one pass, drawn and
    uploaded. A community that no longer exists is left out."""
    now = worker.clock.now() if worker.clock is not None else service.transport_now()
    day = now.date()
    with worker.db.session() as session:
        known = repo.uploaded(session, team_id=team_id, community_ids=community_ids, day=day, lang=lang)
    shown = {cid: {"file_id": file_id, "alt": alt} for cid, (file_id, alt) in known.items()}
    missing = [cid for cid in community_ids if cid not in shown]
    if not missing:
        return shown
    try:
        with worker.db.session() as session:
            data = onramp.chart_data_many(session, community_ids=missing, now=now)
    except Exception as exc:
        log.error("chart: cannot read the history", extra={"fields": {"team": team_id, **error_fields(exc)}})
        return shown
    for cid in missing:
        if cid not in data:
            continue
        with _lock((team_id, cid, day, lang)):
            with worker.db.session() as session:  # another sender may have uploaded it meanwhile
                again = repo.uploaded(session, team_id=team_id, community_ids=[cid], day=day, lang=lang)
            if cid in again:
                file_id, alt = again[cid]
                shown[cid] = {"file_id": file_id, "alt": alt}
                continue
            shown[cid] = _draw_and_upload(
                worker, team_id=team_id, community_id=cid, data=data[cid], day=day, lang=lang
            )
    return shown


def _draw_and_upload(
    worker: base.OutboxWorker, *, team_id: str, community_id: int, data: Any, day: date, lang: str
) -> dict[str, Any]:
    alt = charts.alt_text(data, lang)
    fields = {"team": team_id, "community": community_id}
    try:
        png = draw(data, lang)
        worker._turn(team_id, "files.getUploadURLExternal")
        response = worker.client.files_upload_v2(
            content=png, filename=f"cdp-chart-{community_id}-{day.isoformat()}.png", title=data.name
        )
        file_id = _file_id(response)
        with worker.db.session() as session:
            file_id, alt = repo.remember(
                session,
                team_id=team_id,
                community_id=community_id,
                day=day,
                lang=lang,
                file_id=file_id,
                alt_text=alt,
                now=service.transport_now(),
            )
    except base.Later:
        raise  # the rate limiter says "not now": the whole message waits, the chart with it
    except Exception as exc:
        log.error(
            "chart: cannot draw or upload, shown in words", extra={"fields": {**fields, **error_fields(exc)}}
        )
        return {"file_id": None, "alt": alt}
    log.info("chart uploaded", extra={"fields": {**fields, "bytes": len(png)}})
    return {"file_id": file_id, "alt": alt}


def _file_id(response: Any) -> str:
    files = response.get("files") or []
    file = files[0] if files else response.get("file") or {}
    file_id = file.get("id") if isinstance(file, dict) else None
    if not file_id:
        raise ValueError("files_upload_v2 answered without a file id")
    return str(file_id)


def send_with_chart(worker: base.OutboxWorker, row: Delivery, lang: str) -> base.Outcome:
    """A message whose renderer takes the community's chart (payload `chart`: the community id): the
    chart is added to its arguments, then posted; refused for its image, posted again with the words."""
    payload = row.payload
    community_id = int(payload["chart"])
    chart = charts_for(worker, team_id=row.team_id, community_ids=[community_id], lang=lang).get(community_id)
    args = {**(payload.get("args") or {}), "chart": chart}
    text, blocks = render(payload["render"], lang, args)
    try:
        return worker.post(row, row.target, text, blocks)
    except SlackApiError as exc:
        if chart is None or not chart.get("file_id") or base.slack_error(exc) != "invalid_blocks":
            raise
        log.warning(
            "chart: Slack refused the image (not processed yet?), sent in words",
            extra={"fields": {"delivery": row.id, "community": community_id}},
        )
    text, blocks = render(payload["render"], lang, {**args, "chart": {**chart, "file_id": None}})
    return worker.post(row, row.target, text, blocks)


def home_with_charts(worker: base.OutboxWorker, row: Delivery, data: Any, lang: str, page: int) -> Any:
    """The Home's data with the chart of each community the reader moderates on the page shown (the
    others are not drawn: a moderator of many communities sees them a page at a time)."""
    from dataclasses import replace

    from bot.views.home import moderated_on_page

    if not data.moderated:
        return data
    placeholder = {"file_id": None, "alt": ""}  # one block, as a chart: the pages come out the same
    counted = replace(data, moderated=[replace(m, chart=placeholder) for m in data.moderated])
    on_page = moderated_on_page(counted, lang, page=page)
    found = charts_for(worker, team_id=row.team_id, community_ids=on_page, lang=lang) if on_page else {}
    return replace(
        data,
        moderated=[replace(m, chart=found.get(m.community_id) or placeholder) for m in data.moderated],
    )
