"""The request path (issue 8, section 1): an answer waits on the database only, whatever Slack does.

Slack gives an answer 3 seconds. Every Slack call the answer does not need (invites, DMs, channel posts,
updates of earlier messages) goes through the outbox and arrives a moment later, once per recipient;
the calls the answer does need (users.info for the language, views.open) fail fast. These tests drive
the real app over HTTP against the emulator told to be slow, to rate-limit, or to forget response_urls,
and time the answers as Slack would; the last one kills a real `cdp-bot run` between the commit and
the send.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import worker_client
from bot.outbox import OutboxWorker
from bot.people import People
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.settings import Settings
from bot.testing.slack_emulator import HttpResult, SignedSender, SlackEmulator
from storage.db import Database
from storage.models import Community, JoinRequest, OutboxMessage, Review
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, SIGNING_SECRET, Harness, community_draft
from tests.test_cli import CDP_BOT, clean_env, free_port
from tests.test_e2e_communities import (
    active_members,
    create_community,
    dms,
    initial_values,
    join_request_buttons,
    open_form,
    request_copy,
    say,
    shown,
    submit,
)
from tests.test_e2e_reviews import ALL_YES

JSON = dict[str, Any]
# Slack shows its timeout error when an answer takes longer than 3 s; the issue asks for 2.5 s at most
# under load, which leaves room for the network between Slack and the app.
SLACK_LIMIT = 2.5
# These tests bound wall-clock time (Slack's 3 s, or "answered before Slack was called") on a machine that
# four test workers share, where a load spike once pushed an answer past its bound. A test whose
# wall-clock assertion fails is run once more (pytest-rerunfailures); an answer that really waits for
# Slack fails both times. Only those assertions are rerun: their messages start with WALL_CLOCK.
WALL_CLOCK = "wall-clock bound"
wall_clock = pytest.mark.flaky(reruns=1, only_rerun=[WALL_CLOCK])
HELP_EN = "*cdp-bot* helps you start, run and keep alive communities of practice (CdP). Commands:"
HELP_FR = "*cdp-bot* vous aide à lancer, animer et faire vivre des communautés de pratique (CdP). Commandes :"


# ---- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def request_timeout() -> float:
    """These tests are about a slow Slack: the app waits for a call as long as it would in production."""
    return float(Settings.model_fields["slack_request_timeout"].default)


def timed(send: Callable[[], HttpResult]) -> tuple[float, HttpResult]:
    """Seconds until the HTTP answer came back, and the answer."""
    started = time.perf_counter()
    result = send()
    return time.perf_counter() - started, result


def answer_text(result: HttpResult) -> str:
    assert result.status == 200, result.text
    payload = result.json()
    assert payload is not None, "no answer"
    return shown(payload)


def all_at_once(sends: list[Callable[[], HttpResult]]) -> list[tuple[float, HttpResult]]:
    """Send every request at the same instant (one thread each), as many people clicking together."""
    start = threading.Barrier(len(sends))

    def go(send: Callable[[], HttpResult]) -> tuple[float, HttpResult]:
        start.wait()
        return timed(send)

    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        return list(pool.map(go, sends))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def landed(emulator: SlackEmulator, method: str) -> list[JSON]:
    """Calls of `method` Slack acted on: every call but those it refused with a 429. A second copy of a
    message, or a second invite (answered already_in_channel), counts: that is what "once" rules out."""
    with emulator.lock:
        return [
            call.params
            for call in emulator.calls
            if call.method == method
            and call.response is not None
            and call.response.get("error") != "ratelimited"
        ]


def refused(emulator: SlackEmulator, method: str) -> list[JSON]:
    with emulator.lock:
        return [
            call.params
            for call in emulator.calls
            if call.method == method
            and call.response is not None
            and call.response.get("error") == "ratelimited"
        ]


def call_times(emulator: SlackEmulator, method: str, target: str) -> list[tuple[float, bool]]:
    """(when Slack received it, whether it landed) for every call of `method` to `target`."""
    with emulator.lock:
        return [
            (call.at, bool(call.response and call.response.get("error") != "ratelimited"))
            for call in emulator.calls
            if call.method == method and call.params.get("channel") == target
        ]


def invites(emulator: SlackEmulator) -> Counter[tuple[str, str]]:
    """(channel, user) -> how many invites Slack acted on."""
    return Counter(
        (str(p["channel"]), user)
        for p in landed(emulator, "conversations.invite")
        for user in str(p["users"]).split(",")
    )


def posts(emulator: SlackEmulator) -> Counter[str]:
    """Target (channel, or user for a DM) -> how many messages Slack acted on."""
    return Counter(str(p["channel"]) for p in landed(emulator, "chat.postMessage"))


def make_community(
    db: Database,
    emulator: SlackEmulator,
    *,
    name: str,
    channel: str,
    moderators: tuple[str, ...],
    now: datetime,
    visibility: str = "open",
) -> int:
    """A community as `/cdp create` leaves it, made directly: the tests here are about what comes after."""
    emulator.add_channel(
        channel,
        name.lower().replace(" ", "-"),
        members=list(moderators),
        is_private=visibility == "protected",
        bot_is_member=True,
    )
    draft = community_draft(
        name, domain="Safer streets", moderators=moderators, visibility=visibility, timezone="Europe/Paris"
    )
    with db.session() as session:
        community = svc.create(
            session,
            team_id=emulator.team_id,
            creator=moderators[0],
            draft=draft,
            channel=ChannelChoice(channel, name.lower(), visibility == "protected"),
            now=now,
        )
        return community.id


def open_checklist_on_demand(sender: SignedSender, emulator: SlackEmulator, user: str, name: str) -> JSON:
    """`/cdp review <name>`: the checklist opens (views.open); the modal as Slack stores it."""
    result = sender.command(f"review {name}", user)
    assert result.status == 200 and result.text == "", result.text
    view = emulator.last_view()
    assert view["callback_id"] == "review_checklist"
    return view


def checklist_values(decision: str = "continue") -> JSON:
    return {**ALL_YES, "decision": decision}


def new_people(emulator: SlackEmulator, count: int, prefix: str = "UNEW") -> list[str]:
    """People who never used the app: their language is not known yet (French and English alike)."""
    people = [f"{prefix}{n:03d}" for n in range(count)]
    for n, user in enumerate(people):
        emulator.add_user(user, f"new{n}", locale="fr-FR" if n % 2 else "en-US")
    return people


def reviews(db: Database) -> list[Review]:
    with db.session() as session:
        return list(session.scalars(select(Review).order_by(Review.id)))


# ---- 1. users.info rate-limited: the answer does not wait -----------------------------------------
@wall_clock
def test_a_rate_limited_users_info_never_delays_help(harness: Harness) -> None:
    harness.slack.answer_only = True
    harness.emulator.add_user("UNEWFR", "nouvelle", locale="fr-FR")
    # Slack refuses users.info for the next 5 seconds, however often it is asked.
    harness.emulator.rate_limit("users.info", retry_after=5, times=1000)
    limited_at = time.monotonic()
    seconds, result = timed(lambda: harness.slack.command("help", "UNEWFR"))
    assert seconds < 1.0, f"{WALL_CLOCK}: /cdp help took {seconds:.2f} s"
    assert answer_text(result).startswith(HELP_EN)  # the default language: Slack did not say
    # Asked again during the Retry-After: answered at once, and Slack is not asked again meanwhile.
    seconds, result = timed(lambda: harness.slack.command("help", "UNEWFR"))
    assert seconds < 1.0, f"{WALL_CLOCK}: /cdp help took {seconds:.2f} s"
    assert answer_text(result).startswith(HELP_EN)
    assert len(harness.emulator.calls_to("users.info")) == 1
    # After the Retry-After, Slack answers again: the person's own language. The pause counts from Slack's
    # 429, which came within the first answer's second (asserted above): wait that second out too.
    time.sleep(max(0.0, limited_at + 6.0 - time.monotonic()))
    harness.emulator.faults.pop("users.info")
    time.sleep(0.2)
    seconds, result = timed(lambda: harness.slack.command("help", "UNEWFR"))
    assert seconds < 1.0, f"{WALL_CLOCK}: /cdp help took {seconds:.2f} s"
    assert answer_text(result).startswith(HELP_FR)


# ---- 2. sixty people rate-limited at once: nobody waits, and neither does anyone else ------------
@wall_clock
def test_sixty_rate_limited_newcomers_do_not_hold_up_anyone(harness: Harness) -> None:
    harness.slack.answer_only = True
    people = new_people(harness.emulator, 60)
    harness.emulator.rate_limit("users.info", retry_after=20, times=1000)
    unrelated: list[tuple[float, HttpResult]] = []

    def meanwhile() -> None:
        deadline = time.monotonic() + 10
        while not harness.emulator.calls_to("users.info") and time.monotonic() < deadline:
            time.sleep(0.005)
        unrelated.append(timed(lambda: harness.slack.command("help", ALICE)))

    other = threading.Thread(target=meanwhile)
    other.start()
    answers = all_at_once([lambda user=user: harness.slack.command("help", user) for user in people])
    other.join()
    times = [seconds for seconds, _ in answers]
    assert all(answer_text(result).startswith(HELP_EN) for _, result in answers)
    assert max(times) < SLACK_LIMIT, f"{WALL_CLOCK}: slowest of 60: {max(times):.2f} s"
    [(seconds, result)] = unrelated
    assert seconds < 1.0, f"{WALL_CLOCK}: an unrelated /cdp help took {seconds:.2f} s"
    assert answer_text(result).startswith(HELP_EN)
    print(
        f"\n60 rate-limited /cdp help: p50 {percentile(times, 0.5):.3f} s, max {max(times):.3f} s; unrelated {seconds:.3f} s"
    )


# ---- 3. chat.postMessage rate-limited: the checklist closes at once, its posts come later, once ----
@wall_clock
def test_a_rate_limited_post_does_not_hold_the_checklist_submission(harness: Harness) -> None:
    make_community(
        harness.db,
        harness.emulator,
        name="Urbanism",
        channel="CURB",
        moderators=(ALICE, BRUNO),
        now=harness.clock.now(),
    )
    view = open_checklist_on_demand(harness.slack, harness.emulator, ALICE, "Urbanism")
    harness.emulator.rate_limit("chat.postMessage", retry_after=8, times=2)
    harness.slack.answer_only = True
    seconds, result = timed(lambda: harness.slack.view_submission(view, ALICE, checklist_values()))
    assert result.status == 200 and result.text == ""  # the modal closes
    assert seconds < 1.0, f"{WALL_CLOCK}: the submission took {seconds:.2f} s"
    [review] = reviews(harness.db)
    assert review.completed_by == ALICE and review.decision == "continue"  # saved
    harness.drain(include_later=True, timeout=30)
    # Refused once each, then delivered after the Retry-After, once each.
    for target in ("CURB", ALICE):
        attempts = call_times(harness.emulator, "chat.postMessage", target)
        assert [ok for _, ok in attempts] == [False, True], attempts
        assert attempts[1][0] - attempts[0][0] >= 7.9
    assert (
        "Checklist review of Urbanism: Continue as we are." in harness.emulator.messages_to("CURB")[0]["text"]
    )
    assert dms(harness, ALICE)[0].startswith("Review of *Urbanism* stored")
    assert dms(harness, BRUNO) == []


# ---- 4. /cdp join answers before its invites and the moderators' DMs are sent ---------------------
@wall_clock
def test_join_answers_before_its_invites_and_the_moderators_dms(harness: Harness) -> None:
    now = harness.clock.now()
    make_community(
        harness.db, harness.emulator, name="Safe streets", channel="CSTREETS", moderators=(ALICE,), now=now
    )
    make_community(
        harness.db,
        harness.emulator,
        name="Trust circle",
        channel="CTRUST",
        moderators=(ALICE, DAVID),
        now=now,
        visibility="protected",
    )
    for user in (CHLOE, BRUNO):  # their language is known: the answers need no Slack call at all
        say(harness, "help", user)
    harness.emulator.reset_calls()
    harness.slack.answer_only = True
    # Slack now takes a second to answer anything: a Slack call made before the answer would show.
    harness.emulator.latency = 1.0
    seconds, result = timed(lambda: harness.slack.command("join Safe streets", CHLOE))
    assert "Welcome to *Safe streets*!" in answer_text(result)
    assert harness.emulator.calls == []  # no invite yet when the answer is in
    assert seconds < 1.0, f"{WALL_CLOCK}: /cdp join took {seconds:.2f} s"
    seconds, result = timed(lambda: harness.slack.command("join Trust circle", BRUNO))
    assert "*Trust circle* est une communauté protégée" in answer_text(result)
    assert harness.emulator.calls_to("chat.postMessage") == []  # no moderator told yet
    assert seconds < 1.0, f"{WALL_CLOCK}: /cdp join took {seconds:.2f} s"
    harness.drain(timeout=30)
    assert invites(harness.emulator) == {("CSTREETS", CHLOE): 1}
    assert posts(harness.emulator) == {ALICE: 1, DAVID: 1, CHLOE: 1}  # Chloe's: her welcome, after the answer
    assert "<@UBRUNO> asks to join *Trust circle* (protected). Approve?" in dms(harness, ALICE)[0]
    assert "<@UBRUNO> demande à rejoindre *Trust circle*" in dms(harness, DAVID)[0]


# ---- 5. the "Done when" load: slow Slack, 429s, twenty people at once ----------------------------
@wall_clock
def test_twenty_people_at_once_against_a_slow_rate_limiting_slack(harness: Harness) -> None:
    emulator, now = harness.emulator, harness.clock.now()
    make_community(
        harness.db, emulator, name="Safe streets", channel="CSTREETS", moderators=(ALICE,), now=now
    )
    make_community(
        harness.db,
        emulator,
        name="Trust circle",
        channel="CTRUST",
        moderators=(ALICE, DAVID),
        now=now,
        visibility="protected",
    )
    # Five moderators each have their community's checklist open (opened while Slack was still quick).
    moderators = new_people(emulator, 5, prefix="UMOD")
    forms = {}
    for n, moderator in enumerate(moderators):
        make_community(
            harness.db, emulator, name=f"Review {n}", channel=f"CREV{n}", moderators=(moderator,), now=now
        )
        forms[moderator] = open_checklist_on_demand(harness.slack, emulator, moderator, f"Review {n}")
    newcomers = new_people(emulator, 15)
    joining_protected = newcomers[:5]
    joining_open = moderators + newcomers[5:]
    emulator.reset_calls()
    # Now Slack answers every call after 0.8 s, and refuses a few posts and invites for 20 s.
    emulator.latency = 0.8
    emulator.rate_limit("chat.postMessage", retry_after=20, times=3)
    emulator.rate_limit("conversations.invite", retry_after=20, times=3)
    harness.slack.answer_only = True
    # (what, the words its answer must hold, the request)
    sends: list[tuple[str, tuple[str, ...], Callable[[], HttpResult]]] = []
    for user in moderators + newcomers:
        french = harness.emulator.users[user]["locale"].startswith("fr")
        sends.append(
            ("help", (HELP_FR if french else HELP_EN,), lambda u=user: harness.slack.command("help", u))
        )
        if user in joining_protected:
            words = ("est une communauté protégée",) if french else ("is a protected community",)
            sends.append(("join", words, lambda u=user: harness.slack.command("join Trust circle", u)))
        else:
            words = ("Bienvenue dans *Safe streets*",) if french else ("Welcome to *Safe streets*!",)
            sends.append(("join", words, lambda u=user: harness.slack.command("join Safe streets", u)))
    for moderator, view in forms.items():
        sends.append(
            (
                "checklist",
                (),
                lambda m=moderator, v=view: harness.slack.view_submission(v, m, checklist_values()),
            )
        )
    answers = all_at_once([send for _, _, send in sends])

    times = [seconds for seconds, _ in answers]
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    print(
        f"\n{len(times)} answers with Slack at 0.8 s a call: p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(times):.3f} s"
    )
    for kind in ("help", "join", "checklist"):
        mine = [seconds for (k, _, _), (seconds, _) in zip(sends, answers, strict=True) if k == kind]
        print(f"  {kind}: {' '.join(f'{x:.2f}' for x in sorted(mine))}")
    slowest = f"slowest answer {max(times):.2f} s (p50 {p50:.2f}, p99 {p99:.2f})"
    assert max(times) < SLACK_LIMIT, f"{WALL_CLOCK}: {slowest}"
    in_english = {
        HELP_FR: HELP_EN,
        "est une communauté protégée": "is a protected community",
        "Bienvenue dans *Safe streets*": "Welcome to *Safe streets*!",
    }
    for (kind, words, _), (_, result) in zip(sends, answers, strict=True):
        if kind == "checklist":
            assert result.status == 200 and result.text == ""  # the modal closes
            continue
        text = answer_text(result)
        if not all(w in text for w in words) and all(in_english.get(w, "\0") in text for w in words):
            # A French speaker answered in English: the request path waits for Slack's users.info at most
            # SLACK_REQUEST_TIMEOUT (1.5 s), then answers in the default language, by design. On a loaded
            # machine the emulator, at 0.8 s a call, can take longer (seen once in CI).
            raise AssertionError(f"{WALL_CLOCK}: users.info came too late for the language: {text}")
        assert all(w in text for w in words), text
    assert all(r.completed_at is not None for r in reviews(harness.db))
    with harness.db.session() as session:
        assert len(session.scalars(select(JoinRequest)).all()) == 5

    # Later, everything owed arrives, once per recipient, the refused ones after their Retry-After.
    harness.drain(include_later=True, timeout=180)
    assert (
        len(refused(emulator, "chat.postMessage")) == 3
        and len(refused(emulator, "conversations.invite")) == 3
    )
    assert invites(emulator) == {("CSTREETS", user): 1 for user in joining_open}
    expected = Counter({ALICE: 5, DAVID: 5})  # a join request for each moderator of the protected one
    for n, moderator in enumerate(moderators):
        expected[f"CREV{n}"] += 1  # the review's outcome in its channel
        expected[moderator] += 1  # and a word to the moderator who did it
    for user in joining_open:
        expected[user] += 1  # the newcomer's welcome (tests/test_e2e_welcome.py)
    assert posts(emulator) == expected
    with harness.db.session() as session:
        assert {row.status for row in session.scalars(select(OutboxMessage))} == {"sent"}


@wall_clock
@pytest.mark.parametrize("channel", ["existing", "new"])
def test_creating_a_community_against_a_slow_slack_answers_in_time(harness: Harness, channel: str) -> None:
    """The form's answer needs Slack (who the people picked are, the channel): every round trip costs
    0.8 s, so the calls go together where they can (one after another, this took 3.3 s: past Slack's 3 s)."""
    harness.emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE], bot_is_member=False)
    view = open_form(harness, "create", ALICE)
    harness.emulator.latency = 0.8
    harness.slack.answer_only = True
    where = {"channel": "CSTREETS"} if channel == "existing" else {"channel": None, "new_channel": "streets"}
    values = {
        **initial_values(view),
        "name": "Safe streets",
        "domain": "Streets",
        "moderators": [ALICE, DAVID],
        "key_people": [BRUNO, CHLOE],
    }
    seconds, result = timed(lambda: harness.slack.view_submission(view, ALICE, {**values, **where}))
    assert result.status == 200 and result.text == ""  # created, the modal closes
    print(f"\ncreate ({channel} channel) with Slack at 0.8 s a call: {seconds:.3f} s")
    assert seconds < SLACK_LIMIT, f"{WALL_CLOCK}: the form took {seconds:.2f} s"
    harness.drain(timeout=30)
    bound = (
        "CSTREETS"
        if channel == "existing"
        else next(c for c, info in harness.emulator.channels.items() if info["name"] == "streets")
    )
    assert harness.emulator.bot_user_id in harness.emulator.channels[bound]["members"]
    assert invites(harness.emulator) == {(bound, ALICE): 1, (bound, DAVID): 1}
    assert posts(harness.emulator) == {bound: 1, BRUNO: 1, CHLOE: 1, ALICE: 1}  # welcome, key people, creator


@pytest.mark.parametrize("method", ["conversations.info", "conversations.join"])
def test_a_busy_slack_is_not_blamed_on_the_channel(harness: Harness, method: str) -> None:
    """Slack rate-limiting the channel check is Slack's trouble, not the channel's: say so, create nothing."""
    harness.emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE], bot_is_member=False)
    view = open_form(harness, "create", BRUNO)
    harness.emulator.rate_limit(method, retry_after=30)
    answer = submit(harness, view, BRUNO, name="Rues sûres", domain="Rues", channel="CSTREETS")
    assert answer == {
        "response_action": "errors",
        "errors": {
            "channel": "Slack est très sollicité et n'a pas pu vérifier ce canal : veuillez envoyer à nouveau dans un instant."
        },
    }
    with harness.db.session() as session:
        assert session.scalars(select(Community)).all() == []


# ---- 6. kill -9 between the commit and the send --------------------------------------------------
LEASE_SECONDS = 10  # OUTBOX_LEASE_SECONDS for both processes: a dead process's claims come back this soon


class CdpBotProcess:
    """A real `cdp-bot run` (HTTP mode) against the emulator and a database, as an operator starts it."""

    def __init__(self, emulator: SlackEmulator, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = clean_env(
            SLACK_BOT_TOKEN=emulator.token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=database_url,
            PORT=str(self.port),
            HOST="127.0.0.1",
            OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        self.log = (workdir / f"cdp-bot-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [CDP_BOT, "run"], cwd=workdir, env=env, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert self.process.poll() is None, "cdp-bot run stopped: " + self.output()
            assert time.monotonic() < deadline, "cdp-bot run did not serve /healthz"
            time.sleep(0.1)
        self.slack = SignedSender(self.url, SIGNING_SECRET, emulator)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, nothing finished."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def processes() -> Iterator[list[CdpBotProcess]]:
    started: list[CdpBotProcess] = []
    yield started
    for process in started:
        process.stop()


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_between_the_commit_and_the_send_delivers_everything_once(
    emulator: SlackEmulator, database_url: str, tmp_path: Path, processes: list[CdpBotProcess]
) -> None:
    db = Database(database_url)
    try:
        now = datetime.now(UTC)  # the process runs on the real clock
        make_community(db, emulator, name="Safe streets", channel="CSTREETS", moderators=(ALICE,), now=now)
        make_community(
            db,
            emulator,
            name="Trust circle",
            channel="CTRUST",
            moderators=(ALICE, DAVID),
            now=now,
            visibility="protected",
        )
        make_community(db, emulator, name="Urbanism", channel="CURB", moderators=(BRUNO,), now=now)
        first = CdpBotProcess(emulator, database_url, tmp_path)
        processes.append(first)
        view = open_checklist_on_demand(first.slack, emulator, BRUNO, "Urbanism")
        for user in (ALICE, BRUNO, CHLOE, DAVID):  # languages known: the worker will not need to ask
            assert first.slack.command("help", user).status == 200
        # Slack refuses every post and invite for now (Retry-After 2 s, again and again).
        emulator.rate_limit("chat.postMessage", retry_after=2, times=100_000)
        emulator.rate_limit("conversations.invite", retry_after=2, times=100_000)
        assert "Welcome to *Safe streets*!" in answer_text(first.slack.command("join Safe streets", CHLOE))
        assert "Bienvenue" in answer_text(first.slack.command("join Safe streets", DAVID))
        assert "protected community" in answer_text(first.slack.command("join Trust circle", CHLOE))
        result = first.slack.view_submission(view, BRUNO, checklist_values())
        assert result.status == 200 and result.text == ""
        # Committed: two invites, two welcomes, two join requests, the review's outcome and its word to Bruno.
        assert len(outbox_rows(db)) == 8
        wait_for(lambda: all(row.attempts >= 1 for row in outbox_rows(db)), 30, "every delivery tried once")
        # Slack becomes slow as well: the next tries are on their way (claimed) when the process dies.
        emulator.latency = 3.0
        wait_for(
            lambda: any(
                row.claimed_until and row.claimed_until > datetime.now(UTC) for row in outbox_rows(db)
            ),
            30,
            "a delivery claimed by the worker",
        )
        # Its log up to the kill: a chart worker it was spawning may print its own EOFError after it.
        before_the_kill = first.output()
        first.kill()
        time.sleep(emulator.latency + 0.5)  # the calls in flight when it died reach Slack, refused
        rows = outbox_rows(db)
        assert {row.status for row in rows} == {"pending"}
        leased = [row for row in rows if row.claimed_until and row.claimed_until > datetime.now(UTC)]
        assert leased, "no delivery was claimed by the dead process"
        assert landed(emulator, "chat.postMessage") == landed(emulator, "conversations.invite") == []

        # Slack is fine again; a new process starts on the same database.
        emulator.faults.clear()
        emulator.latency = 0.0
        second = CdpBotProcess(emulator, database_url, tmp_path)
        processes.append(second)
        wait_for(
            lambda: all(row.status != "pending" for row in outbox_rows(db)),
            LEASE_SECONDS + 30,
            "the second process to send everything",
        )
        assert {row.status for row in outbox_rows(db)} == {"sent"}
        assert invites(emulator) == {("CSTREETS", CHLOE): 1, ("CSTREETS", DAVID): 1}
        assert posts(emulator) == {ALICE: 1, DAVID: 2, CHLOE: 1, "CURB": 1, BRUNO: 1}  # with 2 welcomes
        assert "Checklist review of Urbanism: Continue as we are." in emulator.messages_to("CURB")[0]["text"]
        to_david = [m["text"] for m in emulator.messages_to(DAVID)]  # his welcome, the request: any order
        assert any("Bienvenue dans la communauté de pratique Safe streets" in text for text in to_david)
        assert any("<@UCHLOE> demande à rejoindre *Trust circle*" in text for text in to_david)
        assert "Traceback" not in before_the_kill + second.output()
    finally:
        db.dispose()


# ---- 7. buttons pressed hours later -------------------------------------------------------------
def test_a_join_request_decided_hours_later_updates_every_copy_and_answers_by_dm(harness: Harness) -> None:
    make_community(
        harness.db,
        harness.emulator,
        name="Trust circle",
        channel="CTRUST",
        moderators=(ALICE, DAVID),
        now=harness.clock.now(),
        visibility="protected",
    )
    say(harness, "join Trust circle", CHLOE)
    buttons = join_request_buttons(harness, ALICE)
    [(alice_dm, alice_copy)] = harness.emulator.delivered(ALICE)
    [(david_dm, david_copy)] = harness.emulator.delivered(DAVID)
    harness.emulator.expire_response_urls()  # the afternoon after: every response_url is dead
    result = harness.slack.block_action(
        ALICE,
        "join_request_approve",
        value=buttons["join_request_approve"],
        channel=alice_dm,
        message=alice_copy,
    )
    assert result.status == 200
    assert (CHLOE, "member") in active_members_of(harness, "Trust circle").items()
    # Every moderator's copy says who decided and has no buttons left: updated with chat.update.
    assert "✅ <@UALICE> approved <@UCHLOE>'s request to join *Trust circle*." in request_copy(harness, ALICE)
    assert "✅ <@UALICE> a approuvé la demande de <@UCHLOE>" in request_copy(harness, DAVID)
    updated = {(p["channel"], p["ts"]) for p in harness.emulator.successful_calls_to("chat.update")}
    assert updated == {(alice_dm, alice_copy["ts"]), (david_dm, david_copy["ts"])}
    assert "Your request to join *Trust circle* was approved." in dms(harness, CHLOE)[-1]
    assert harness.emulator.responses == []
    # David still had the old copy open and presses too, while the app cannot send for over half an
    # hour (down, or a backlog): by then his press's response_url is gone too, so he is told in a DM.
    worker = harness.runtime.deps.outbox
    assert worker is not None
    worker.stop()
    harness.slack.answer_only = True
    result = harness.slack.block_action(
        DAVID,
        "join_request_approve",
        value=buttons["join_request_approve"],
        channel=david_dm,
        message=david_copy,
    )
    assert result.status == 200
    harness.emulator.expire_response_urls()
    harness.runtime.deps.outbox = OutboxWorker(
        harness.db,
        worker_client(harness.runtime.deps.settings),
        harness.runtime.deps.people,
        default_language="en",
    ).start()
    harness.drain()
    assert "Cette demande a déjà été approuvée par <@UALICE>." in dms(harness, DAVID)[-1]
    assert harness.emulator.responses == []  # nothing landed on an expired response_url
    assert len(dms(harness, CHLOE)) == 2  # her welcome (tests/test_e2e_welcome.py) and the answer
    assert active_members_of(harness, "Trust circle") == {ALICE: "core", DAVID: "core", CHLOE: "member"}


def active_members_of(harness: Harness, name: str) -> dict[str, str]:
    with harness.db.session() as session:
        community = session.scalars(select(Community).where(Community.name == name)).one()
    return active_members(harness, community.id)


# ---- 8. users.info failing for people picked in a form -------------------------------------------
@wall_clock
@pytest.mark.parametrize("failure", ["ratelimited", "internal_error", "slow"])
def test_people_slack_cannot_check_are_not_called_bots(harness: Harness, failure: str) -> None:
    harness.emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE])
    view = open_form(harness, "create", ALICE)

    if failure == "ratelimited":
        harness.emulator.rate_limit("users.info", retry_after=30, times=10)
    elif failure == "internal_error":
        harness.emulator.fail("users.info", "internal_error", times=10)
    else:
        harness.emulator.latency = 2.0  # longer than the request path waits for Slack
    seconds, result = timed(
        lambda: harness.slack.view_submission(
            view,
            ALICE,
            {
                **initial_values(view),
                "name": "Safe streets",
                "domain": "Streets",
                "channel": "CSTREETS",
                "moderators": [ALICE, DAVID],
            },
        )
    )
    assert seconds < SLACK_LIMIT, f"{WALL_CLOCK}: the submission took {seconds:.2f} s"
    answer = result.json()
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {
        "moderators": "Slack did not answer in time to check the people you picked. Please submit again."
    }
    with harness.db.session() as session:
        assert session.scalars(select(Community)).all() == []  # nothing created


def test_settings_with_people_slack_cannot_check_say_so(harness: Harness) -> None:
    community = create_community(harness, BRUNO, "Mobilité douce")
    view = open_form(harness, "settings Mobilité douce", BRUNO)
    harness.emulator.fail("users.info", "service_unavailable", times=10)
    answer = submit(harness, view, BRUNO, moderators=[BRUNO, CHLOE])
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {
        "moderators": "Slack n'a pas répondu à temps pour vérifier les personnes choisies. Veuillez envoyer à nouveau."
    }
    assert active_members(harness, community.id) == {BRUNO: "core"}


def test_a_form_answers_in_the_language_it_was_opened_in_without_asking_slack(harness: Harness) -> None:
    """A submission comes long after its modal opened (the cached language has expired, or it lands on
    another instance): the modal says which language it speaks, so Slack is not asked again."""
    create_community(harness, BRUNO, "Mobilité douce")
    view = open_form(harness, "settings Mobilité douce", BRUNO)
    harness.runtime.deps.people = People(harness.runtime.deps.settings.default_language)  # nothing cached
    harness.emulator.reset_calls()
    harness.emulator.fail("users.info", "service_unavailable", times=10)
    answer = submit(harness, view, BRUNO, name="")
    assert answer == {"response_action": "errors", "errors": {"name": "Donnez un nom à la communauté."}}
    assert harness.emulator.calls_to("users.info") == []
    # Submitted by someone else (a replay), the modal's language is not theirs: they are asked about.
    answer = submit(harness, view, CHLOE, name="")
    assert harness.emulator.calls_to("users.info")


# ---- 9. admin rights are asked again after a short while ----------------------------------------
def test_a_demoted_admin_loses_their_rights_after_the_expiry(harness: Harness) -> None:
    people = harness.runtime.deps.people
    assert people.rights_ttl <= 300  # a few minutes, never the process's lifetime
    harness.emulator.add_user("UADMIN", "ada", locale="en-US", is_admin=True)
    community = create_community(harness, ALICE, "Safe streets")
    assert "<@UCHLOE> has joined the core group of *Safe streets*." in say(
        harness, "moderators add <@UCHLOE|chloe> Safe streets", "UADMIN"
    )
    people.rights_ttl = 0.5  # the expiry, shortened so the test need not wait five minutes
    harness.emulator.users["UADMIN"]["is_admin"] = False  # demoted in Slack
    time.sleep(0.6)
    assert "Only the moderators of *Safe streets* (or a workspace admin) can do this." in say(
        harness, "moderators add <@UDAVID|david> Safe streets", "UADMIN"
    )
    assert active_members(harness, community.id) == {ALICE: "core", CHLOE: "core"}
