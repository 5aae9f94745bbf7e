"""The daily sample of equivalent slow tests (tests/conftest.py ``sample``)."""

from __future__ import annotations

import math

from tests.conftest import sample

NAMES = [f"tests/lab/test_lab.py::test_scenario_{n}" for n in ("healthy", "s1", "s2", "s3", "s4")]


def test_a_day_keeps_exactly_keep_and_every_test_runs_within_ceil_n_over_keep_days() -> None:
    for keep in (1, 2, 3):
        days = math.ceil(len(NAMES) / keep)
        for first in (0, 739_000, 739_001):
            seen: set[str] = set()
            for day in range(first, first + days):
                kept = sample(NAMES, keep, day)
                assert len(kept) == keep and kept <= set(NAMES)
                seen |= kept
            assert seen == set(NAMES), (keep, first)


def test_the_same_day_keeps_the_same_and_the_next_day_moves_on() -> None:
    assert sample(NAMES, 2, 10) == sample(list(reversed(NAMES)), 2, 10)
    assert sample(NAMES, 2, 10) != sample(NAMES, 2, 11)
    assert sample(NAMES, 9, 10) == set(NAMES)
