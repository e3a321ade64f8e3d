"""Six months of the demo organisation, played on a fast clock through the real app.

Each simulated day: the scripted commands people type, the messages they post (Events API callbacks
signed like Slack's, at the clock's time: the app decides the day from them), then the jobs the
scheduler runs (circles, lifecycle, momentum, reviews, pairing), called once a day instead of hourly.
Moderators answer their review prompts through the real modal.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import introductions, reminders
from bot.demo.cast import BY_ID, COMMUNITIES, COMMUNITY, GENERAL, PEOPLE, Community, Person
from bot.demo.stage import Stage
from bot.lifecycle_job import lifecycle_pass
from bot.scheduler import recompute_all
from bot.testing.slack_emulator import initial_values

JSON = dict[str, Any]

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
# 24 weeks and a day: the last day is every community's review day (8 and 12 weeks), so the charts its
# prompts drew are the ones the moderators' App Home shows that evening (one chart a community and day).
DAYS = 169
COMMANDS_AT = timedelta(hours=12)  # 13:00 in Paris, 07:00 in Montreal
POSTS_AT = timedelta(hours=14)
JOBS_AT = timedelta(hours=15)  # working hours in Paris, London and Montreal alike
ANSWERS_AT = timedelta(hours=16)


@dataclass
class Script:
    """What people type, day by day: (day, user, /cdp text)."""

    commands: list[tuple[int, str, str]] = field(default_factory=list)

    def at(self, day: int, user: str, text: str) -> None:
        self.commands.append((day, user, text))

    def on(self, day: int) -> list[tuple[str, str]]:
        return [(user, text) for d, user, text in self.commands if d == day]


def _word(person: Person, english: str, french: str) -> str:
    return french if person.lang == "fr" else english


def script() -> Script:
    """The commands of the demo: browsing, joining, asking where one stands, a few mistakes."""
    s = Script()
    for person in PEOPLE:
        community = COMMUNITY[person.community]
        if person.user_id in community.moderators or person.joins_by != "command":
            continue
        if person.joins_on > 10:
            s.at(person.joins_on, person.user_id, _word(person, "list", "liste"))
        s.at(person.joins_on, person.user_id, f"{_word(person, 'join', 'rejoindre')} {community.name}")
        if person.lurks_for:
            s.at(person.joins_on + 7, person.user_id, _word(person, "me", "moi"))
            s.at(person.joins_on + person.lurks_for + 10, person.user_id, _word(person, "me", "moi"))
    # Mistakes get a clear answer and change nothing.
    s.at(22, "UNOAH", "jion Rues partagées")
    s.at(40, "ULEA", "rejoindre Jardins partagés")
    s.at(150, "UJULES", "aide")
    # Moderators look at their community.
    s.at(30, "UCAMILLE", "cercles Rues partagées")
    s.at(30, "UGRACE", "circles Open Data Guild")
    s.at(95, "UEMILY", "info Adaptation au climat")
    s.at(120, "UOLIVER", "info Open Data Guild")
    s.at(175, "UMATHIEU", "infos Adaptation au climat")
    s.at(178, "USARAH", "list")
    return s


class Play:
    def __init__(self, stage: Stage, *, seed: int = 2026, days: int = DAYS) -> None:
        self.stage = stage
        self.days = days
        self.random = random.Random(seed)
        self.script = script()
        self.joined: set[str] = set()
        self.reviewed: set[str] = set()  # review ids already answered or left unanswered on purpose
        self.seen_entries = 0
        self.events = 0  # messages posted
        self.progress: Callable[[str], None] = lambda _: None

    # ---- the workspace -------------------------------------------------------------------------
    def set_up(self) -> None:
        emulator = self.stage.emulator
        for person in PEOPLE:
            handle = person.name.split()[0].lower()
            user = emulator.add_user(person.user_id, handle, locale=person.locale, tz=person.tz)
            user["real_name"] = user["profile"]["real_name"] = person.name
            user["profile"]["display_name"] = person.name.split()[0]
        general_id, general_name = GENERAL
        emulator.add_channel(general_id, general_name, members=[p.user_id for p in PEOPLE])
        for community in COMMUNITIES:
            emulator.add_channel(community.channel_id, community.channel_name, members=community.moderators)

    # ---- a day -------------------------------------------------------------------------------------
    def run(self) -> None:
        self.set_up()
        for day in range(self.days):
            midnight = START + timedelta(days=day)
            self.stage.set(midnight + COMMANDS_AT)
            if day == 0:
                for community in COMMUNITIES:
                    self.create(community)
            self.joins(day)
            for user, text in self.script.on(day):
                self.type(user, text)
            self.stage.set(midnight + POSTS_AT)
            if midnight.weekday() < 5:
                self.posts(day)
            self.stage.set(midnight + JOBS_AT)
            self.jobs()
            self.stage.set(midnight + ANSWERS_AT)
            self.answer_reviews(day)
            if day % 30 == 0:
                self.progress(f"{midnight:%Y-%m-%d}")
        self.stage.set(START + timedelta(days=self.days - 1, hours=17))
        for community in COMMUNITIES:
            for moderator in community.moderators:
                self.open_home(moderator)
        self.open_home("UNOAH")
        self.stage.settle(include_later=True)

    def type(self, user: str, text: str) -> JSON | None:
        return self.stage.command(user, text, GENERAL[0])

    def create(self, community: Community) -> None:
        """The creator fills in "Initiate a CdP" (the method card's template) in its modal."""
        creator = BY_ID[community.creator]
        view = self.type(creator.user_id, _word(creator, "create", "creer"))
        assert view is not None, "the create command opened no modal"
        values = {
            **initial_values(view),
            "name": community.name,
            "domain": community.domain,
            "objectives": list(community.objectives),
            "channel": community.channel_id,
            "moderators": list(community.moderators),
            "language": community.language,
            "timezone": community.timezone,
            "cadence": str(community.cadence_weeks),
        }
        answer = self.stage.submit(
            creator.user_id,
            view,
            values,
            _word(creator, "submits the form: ", "envoie le formulaire : ") + community.name,
        )
        if answer is not None:
            raise RuntimeError(f"creating {community.name} was refused: {answer}")
        self.joined.update(community.moderators)

    def joins(self, day: int) -> None:
        """Newcomers who join through the Slack channel (the others type /cdp join in the script)."""
        for person in PEOPLE:
            if person.joins_on != day or person.user_id in self.joined:
                continue
            self.joined.add(person.user_id)
            if person.joins_by != "channel":
                continue
            community = COMMUNITY[person.community]
            self.stage.recorder.note(
                self.stage.now(),
                person.user_id,
                "typed",
                typed=_word(person, "joins", "rejoint") + f" #{community.channel_name}",
            )
            self.stage.emulator.channels[community.channel_id]["members"].add(person.user_id)
            event = {
                "type": "member_joined_channel",
                "user": person.user_id,
                "channel": community.channel_id,
                "team": self.stage.emulator.team_id,
            }
            self.stage.event(event, actor=person.user_id)

    def _rate(self, person: Person, day: int) -> float:
        community = COMMUNITY[person.community]
        if day < person.joins_on + person.lurks_for or person.user_id not in self.joined:
            return 0.0
        moderator = person.user_id in community.moderators
        if moderator and community.quiet_core_from is not None and day >= community.quiet_core_from:
            return 0.0
        if community.stalls_from is not None and day >= community.stalls_from:
            return min(person.rate, 0.03)
        return person.rate

    def posts(self, day: int) -> None:
        for person in PEOPLE:
            if self.random.random() >= self._rate(person, day):
                continue
            community = COMMUNITY[person.community]
            for _ in range(1 + (self.random.random() < 0.1)):
                ts = f"{self.stage.now().timestamp():.6f}"
                event = {
                    "type": "message",
                    "channel": community.channel_id,
                    "channel_type": "channel",
                    "user": person.user_id,
                    "text": "(a message: its text is never stored)",
                    "ts": ts,
                }
                self.stage.emulator.add_message(community.channel_id, person.user_id, ts)
                self.stage.event(event)
                self.events += 1
                self.stage.advance(timedelta(minutes=1))
        self.stage.settle()

    def jobs(self) -> None:
        """The scheduler's jobs, once a simulated day."""
        deps, client = self.stage.runtime.deps, self.stage.runtime.deps.jobs_client
        recompute_all(deps)
        lifecycle_pass(deps)
        reminders.momentum_pass(deps, client)
        reminders.tick(deps, client)
        introductions.find_lurkers(deps, client)
        introductions.pairing_pass(deps, client)
        self.stage.settle()

    # ---- reviews -----------------------------------------------------------------------------------
    def answer_reviews(self, day: int) -> None:
        """A moderator answers each new review prompt (the Open Data Guild's, once its core group has
        gone quiet, stays unanswered: the prompt is escalated)."""
        entries = self.stage.recorder.entries
        new, self.seen_entries = entries[self.seen_entries :], len(entries)
        for entry in new:
            person = BY_ID.get(entry.target)
            if entry.kind != "dm" or person is None:
                continue
            community = COMMUNITY[person.community]
            greeted = _button(entry.payload, "alert_greeted")
            if greeted is not None and community.quiet_core_from is None and community.stalls_from is None:
                # The thriving community's first moderator welcomes the newcomers the alert names.
                if person.user_id == community.moderators[0]:
                    block_id, value = greeted
                    self.stage.press(
                        person.user_id,
                        "alert_greeted",
                        value,
                        _word(person, "presses “Mark as greeted”", "clique sur « Marquer comme accueillis »"),
                        block_id=block_id,
                        channel=f"D{person.user_id[1:]}",
                    )
                continue
            review = _button(entry.payload, "review_start")
            if review is None or review[1] in self.reviewed:
                continue
            self.reviewed.add(review[1])
            if community.quiet_core_from is not None and day >= community.quiet_core_from:
                continue
            self.review(person, community, review[1], day)
        self.seen_entries = len(self.stage.recorder.entries)

    def review(self, person: Person, community: Community, review_id: str, day: int) -> None:
        self.stage.press(
            person.user_id,
            "review_start",
            review_id,
            _word(person, "presses “Start review”", "clique sur « Commencer la revue »"),
            block_id="review",
            channel=f"D{person.user_id[1:]}",
        )
        view = self.stage.emulator.last_view()
        if view.get("callback_id") != "review_checklist":
            return
        values = initial_values(view)
        for block in view.get("blocks") or []:
            action = (block.get("element") or {}).get("action_id", "")
            if action.startswith("item_"):
                values[action] = "yes"
        stalled = community.stalls_from is not None and day >= community.stalls_from
        if stalled:
            values["item_enough_people"] = "partly"
            values["note_enough_people"] = _word(
                person, "Summer holidays: few people around", "Vacances : peu de monde"
            )
            values["item_moderator_time"] = "no"
        values["decision"] = "continue"
        answer = self.stage.submit(
            person.user_id,
            view,
            values,
            _word(person, "submits the checklist: continue", "envoie la check-list : continuer"),
        )
        if answer is not None:
            raise RuntimeError(f"the checklist was refused: {answer}")

    def open_home(self, user: str) -> None:
        self.stage.recorder.note(self.stage.now(), user, "typed", typed="opens the app's Home tab")
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"}
        self.stage.event({**event, "event_ts": f"{self.stage.now().timestamp():.6f}"}, actor=user)


def _button(payload: JSON, action_id: str) -> tuple[str, str] | None:
    """(block_id, value) of the button `action_id` in a message, if it has one."""
    for block in payload.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id") or ""), str(element.get("value") or "")
    return None
