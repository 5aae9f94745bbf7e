"""The parametrized outcome models are built once per result type: pydantic keeps them
only while something refers to them, and built them again (their schema) on every run."""

from __future__ import annotations

import gc
import weakref

from pydantic import BaseModel

from bot.model.outcome import HostOutcome, RunOutcome, host_outcome_of, run_outcome_of
from runbooks import load_runbook


class _Result(BaseModel):
    value: int


def test_built_once_and_kept() -> None:
    # nested models, parametrized in a function: pydantic lets go of them
    result = load_runbook("diagnose").result
    host_type = weakref.ref(host_outcome_of(result))
    run_type = weakref.ref(run_outcome_of(result))
    gc.collect()  # nothing here refers to them: pydantic's own cache would let them go
    assert host_type() is host_outcome_of(result) is HostOutcome[result]  # type: ignore[valid-type]
    assert run_type() is run_outcome_of(result) is RunOutcome[result]  # type: ignore[valid-type]


def test_they_validate_their_result_type() -> None:
    host = host_outcome_of(_Result)(host="h1", label="lab/h1", duration=0.1, result={"value": 3})
    assert isinstance(host.result, _Result) and host.result.value == 3
    run = run_outcome_of(_Result)(
        environment="lab",
        runbook="r",
        started_at="2026-12-06T00:00:00Z",
        duration=0.2,
        hosts=[host],
    )
    assert run.hosts[0].result == _Result(value=3)
