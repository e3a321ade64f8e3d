"""The objectives as a path (bot/domain/stages.py): table-driven."""

from __future__ import annotations

import pytest

from bot.domain import stages
from bot.domain.stages import Step, StepState

EX, DEV, TEST, CHANGE = "exchange_information", "develop_solutions", "test_applications", "change_process"


@pytest.mark.parametrize(
    ("objectives", "expected"),
    [
        ((), ()),
        ((TEST, EX), (EX, TEST)),  # the card's order, whatever the form's
        ((CHANGE, DEV, EX, TEST), (EX, DEV, TEST, CHANGE)),
        (("something_else", DEV), (DEV,)),  # unknown keys are no stage
    ],
)
def test_the_path_is_the_chosen_objectives_in_the_cards_order(
    objectives: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert stages.path(objectives) == expected
    assert stages.initial(objectives) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("objectives", "stage", "expected"),
    [
        ((EX, TEST), EX, TEST),
        ((EX, TEST), TEST, None),  # the end of the path: nothing to ask
        ((DEV,), DEV, None),
        ((), None, None),
        ((EX, DEV, TEST), None, DEV),  # no stage stored yet: it stands at the start
    ],
)
def test_next_stage(objectives: tuple[str, ...], stage: str | None, expected: str | None) -> None:
    assert stages.next_stage(objectives, stage) == expected


@pytest.mark.parametrize(
    ("objectives", "stage", "expected"),
    [
        ((EX, TEST), TEST, TEST),  # still chosen: stays
        ((EX, TEST, CHANGE), DEV, TEST),  # removed: the first chosen one not yet passed
        ((EX, DEV), TEST, DEV),  # every chosen one is before it: all passed, the last
        ((), DEV, None),  # none of the four: no stage
        ((DEV, TEST), None, DEV),  # chosen where there was no stage: the start
        ((DEV, TEST), "unknown", DEV),
    ],
)
def test_a_change_of_objectives_keeps_the_stage_on_the_path(
    objectives: tuple[str, ...], stage: str | None, expected: str | None
) -> None:
    assert stages.after_objectives_change(objectives, stage) == expected


def test_steps_and_position() -> None:
    assert stages.steps((EX, DEV, TEST), DEV) == (
        Step(EX, StepState.PASSED),
        Step(DEV, StepState.CURRENT),
        Step(TEST, StepState.AHEAD),
    )
    assert stages.position((EX, DEV, TEST), DEV) == (2, 3)
    assert stages.steps((), None) == () and stages.position((), None) is None
    assert stages.can_set((EX, TEST), TEST) and not stages.can_set((EX, TEST), DEV)
    assert not stages.can_set((EX, TEST), None)
