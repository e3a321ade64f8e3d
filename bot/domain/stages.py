"""The four typical objectives as a progression (issue 11, item 9): exchange information, develop
potential solutions, test practical applications, embed them through a change process. A community's
path is the objectives it chose, in the card's order; it stands at one of them (its stage) and each
review asks whether it moves on to the next. Pure: no Slack, no SQL.

Rules:
- the path: the chosen objectives among the card's four, in the card's order (other objectives,
  written freely, are not stages);
- a new community (and an existing one, at migration 0016e) starts at the first stage of its path;
  none of the four chosen: no stage (NULL) and no path shown;
- a review answered "yes" moves it to the next stage; at the last stage nothing is asked;
- when the objectives change so that the current stage is no longer chosen, it moves to the first
  chosen stage not yet passed (after the old stage in the card's order); when every chosen stage lies
  before the old one, all are passed: the last one. A stage still chosen stays. Objectives chosen
  where there was no stage: the first of the path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.communities import OBJECTIVES


class StepState(StrEnum):
    PASSED = "passed"
    CURRENT = "current"
    AHEAD = "ahead"


@dataclass(frozen=True)
class Step:
    """One stage of a path, as a reader sees it: passed, where the community is now, or ahead."""

    key: str
    state: StepState


def path(objectives: Iterable[str]) -> tuple[str, ...]:
    """The chosen objectives that are stages, in the card's order (unknown keys left out)."""
    chosen = set(objectives)
    return tuple(key for key in OBJECTIVES if key in chosen)


def initial(objectives: Iterable[str]) -> str | None:
    """Where a community with these objectives starts: the first stage of its path, else None."""
    stages = path(objectives)
    return stages[0] if stages else None


def current(objectives: Iterable[str], stage: str | None) -> str | None:
    """The stage a community stands at: its stored stage when it is on its path, else where the rule
    for changed objectives puts it (a stored stage is kept right by the services; this is the guard)."""
    return after_objectives_change(objectives, stage)


def next_stage(objectives: Iterable[str], stage: str | None) -> str | None:
    """The stage after the current one; None at the end of the path (or with no path)."""
    stages = path(objectives)
    now = current(stages, stage)
    if now is None:
        return None
    index = stages.index(now)
    return stages[index + 1] if index + 1 < len(stages) else None


def position(objectives: Iterable[str], stage: str | None) -> tuple[int, int] | None:
    """(1-based place of the current stage, length of the path); None with no path."""
    stages = path(objectives)
    now = current(stages, stage)
    return (stages.index(now) + 1, len(stages)) if now is not None else None


def steps(objectives: Iterable[str], stage: str | None) -> tuple[Step, ...]:
    """The path with each stage's state, for rendering; empty with no path."""
    stages = path(objectives)
    now = current(stages, stage)
    if now is None:
        return ()
    here = stages.index(now)
    return tuple(
        Step(key, StepState.PASSED if i < here else StepState.CURRENT if i == here else StepState.AHEAD)
        for i, key in enumerate(stages)
    )


def after_objectives_change(objectives: Iterable[str], stage: str | None) -> str | None:
    """The stage once the objectives are these (see the module's rules)."""
    stages = path(objectives)
    if not stages:
        return None
    if stage in stages:
        return stage
    if stage not in OBJECTIVES:  # no stage before (or one this version does not know): the start
        return stages[0]
    passed_up_to = OBJECTIVES.index(stage)
    ahead = [key for key in stages if OBJECTIVES.index(key) > passed_up_to]
    return ahead[0] if ahead else stages[-1]


def can_set(objectives: Iterable[str], stage: str | None) -> bool:
    """A stage moderators may choose by hand: one on the path."""
    return stage is not None and stage in path(objectives)
