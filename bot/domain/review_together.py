"""A checklist review done together (issue 11, item 4): several moderators' answers become one outcome.

Each moderator may save their answers (and the decision they propose) for the others; one of them then
decides, or a deadline closes the review from what was saved. Per item the outcome keeps how the
moderators agreed ("2 yes", "split: 1 yes, 1 partly"); the community's answer to an item is the one
most moderators gave, a tie going to the more cautious one (no, then partly), so that a doubt is never
hidden as "went well". Pure: no database, no Slack.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.domain.checklist import ITEMS, NOTE_MAX, Answer, ChecklistResult, Decision, ItemAnswer

ANSWERS_WINDOW = timedelta(days=3)
"""After the first saved answers, how long the co-moderators have to add theirs before the review is
closed from what was saved (a module constant: a community setting would cost a migration and a form
field for a value nobody asked to change yet)."""

# Most cautious first: a tie between answers (or decisions) goes to the first of these.
_CAUTION: tuple[Answer, ...] = (Answer.NO, Answer.PARTLY, Answer.YES)
COMBINED_NOTE_MAX = 2 * NOTE_MAX
"""The notes of one item, joined, as stored in the review's answers (the "last time" line reads it)."""


@dataclass(frozen=True)
class Contribution:
    """One moderator's answers to the review, and the decision they propose (None: none yet)."""

    user_id: str
    answers: tuple[ItemAnswer, ...]
    decision: Decision | None

    @staticmethod
    def from_json(user_id: str, answers: Iterable[Mapping[str, Any]], decision: str | None) -> Contribution:
        """A saved row back (answers as stored: dicts of item, answer, note); unknown values dropped."""
        kept = tuple(
            ItemAnswer(str(a["item"]), Answer(str(a["answer"])), str(a.get("note") or ""))
            for a in answers
            if a.get("item") in ITEMS and a.get("answer") in {x.value for x in Answer}
        )
        chosen = Decision(decision) if decision in {d.value for d in Decision} else None
        return Contribution(user_id, kept, chosen)


def answers_json(answers: Iterable[ItemAnswer]) -> list[dict[str, str]]:
    return [{"item": a.item, "answer": a.answer.value, "note": a.note} for a in answers]


@dataclass(frozen=True)
class ItemAgreement:
    item: str
    answer: Answer  # the community's answer: the most given, a tie to the more cautious
    yes: int
    partly: int
    no: int
    notes: tuple[str, ...]  # the moderators' notes, in the order they answered, without repeats

    @property
    def agreed(self) -> bool:
        """Every moderator who answered gave the same answer."""
        return sum(1 for n in (self.yes, self.partly, self.no) if n) <= 1

    def count(self, answer: Answer) -> int:
        return {Answer.YES: self.yes, Answer.PARTLY: self.partly, Answer.NO: self.no}[answer]


@dataclass(frozen=True)
class Outcome:
    """What the moderators agreed on together: per item, the decision, and who took part."""

    items: tuple[ItemAgreement, ...]
    decision: Decision
    participants: tuple[str, ...]

    @property
    def went_well(self) -> tuple[ItemAgreement, ...]:
        return tuple(i for i in self.items if i.answer == Answer.YES)

    @property
    def adjusted(self) -> tuple[ItemAgreement, ...]:
        return tuple(i for i in self.items if i.answer != Answer.YES)

    def as_result(self) -> ChecklistResult:
        """The review's stored answers: the community's answer per item, the notes joined."""
        return ChecklistResult(
            tuple(ItemAnswer(i.item, i.answer, _joined(i.notes)) for i in self.items), self.decision
        )


def _joined(notes: Sequence[str]) -> str:
    text = " / ".join(notes)
    return text if len(text) <= COMBINED_NOTE_MAX else text[: COMBINED_NOTE_MAX - 1] + "…"


def deadline_decision(proposals: Iterable[Decision | None]) -> Decision:
    """The decision the most moderators proposed; a tie (or no proposal) goes to "adjust", the cautious
    one: it keeps the community going and asks the moderators to look again at what they doubted."""
    counts = Counter(p for p in proposals if p is not None).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return Decision.ADJUST
    return counts[0][0]


def combine(contributions: Sequence[Contribution], decision: Decision | None = None) -> Outcome:
    """The outcome of everyone's answers; `decision`: the decider's (None: the deadline's rule).
    `contributions` in the order they were given (the participants are named in that order)."""
    items = []
    for item in ITEMS:
        given = [a for c in contributions for a in c.answers if a.item == item]
        counts = Counter(a.answer for a in given)
        top = max(counts.values(), default=0)
        answer = next((a for a in _CAUTION if counts[a] == top and top), Answer.PARTLY)
        notes = tuple(dict.fromkeys(a.note for a in given if a.note))
        items.append(
            ItemAgreement(item, answer, counts[Answer.YES], counts[Answer.PARTLY], counts[Answer.NO], notes)
        )
    chosen = decision if decision is not None else deadline_decision(c.decision for c in contributions)
    participants = tuple(dict.fromkeys(c.user_id for c in contributions))
    return Outcome(tuple(items), chosen, participants)


@dataclass(frozen=True)
class PulseTally:
    """The inner circle's anonymous answers to "Is this community useful to you?"."""

    yes: int
    partly: int
    no: int
    asked: int

    @property
    def answered(self) -> int:
        return self.yes + self.partly + self.no
