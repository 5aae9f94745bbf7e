"""The accuracy corpus's fast subset on the lab: one scenario per family, through the
scorer of `scripts/bench accuracy` (the full run is that script, not a test)."""

from __future__ import annotations

import pytest

from bench.accuracy import corpus
from bench.accuracy.model import Scenario
from bench.accuracy.run import run_scenario
from bench.accuracy.score import describe
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

FAST: list[Scenario] = corpus.select(corpus.load(), fast=True)


@pytest.mark.parametrize("scenario", FAST, ids=[s.id for s in FAST])
def test_one_scenario_per_family(lab: Lab, scenario: Scenario) -> None:
    result = run_scenario(lab, scenario)
    assert result.error is None, result.error
    found = [describe(f) for f in result.findings]
    assert result.missed == (), f"missed {result.missed}; the diagnosis said {found}"
    assert result.false_criticals == (), f"false criticals; the diagnosis said {found}"
    assert result.forbidden_hits == (), f"forbidden codes; the diagnosis said {found}"
    if scenario.control:
        assert result.above_info == (), f"a healthy control; the diagnosis said {found}"
