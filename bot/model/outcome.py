"""What running a runbook across an environment produced: one outcome per host.

These models are what every renderer (terminal, JSON, later Slack) receives;
the JSON output is ``RunOutcome.model_dump_json()`` of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.model.errors import StackbotError

R = TypeVar("R", bound=BaseModel)

SCHEMA_VERSION = 1


class ErrorInfo(BaseModel):
    """An error as it is shown: a stable code and a sentence, never a traceback."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str

    @classmethod
    def from_error(cls, error: StackbotError) -> ErrorInfo:
        return cls(code=error.code, message=error.message)


class HostOutcome(BaseModel, Generic[R]):
    """The result of one runbook on one host, or why there is none."""

    host: str
    label: str
    duration: float
    result: R | None = None
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class RunOutcome(BaseModel, Generic[R]):
    """A runbook run over every host of one environment."""

    schema_version: int = SCHEMA_VERSION
    environment: str
    runbook: str
    started_at: datetime
    duration: float
    hosts: list[HostOutcome[R]]

    @property
    def failed(self) -> list[HostOutcome[R]]:
        return [h for h in self.hosts if not h.ok]


# pydantic keeps a model parametrized in a function (``RunOutcome[HostDiagnosis]``) only
# as long as something refers to it, and builds it again (its schema: ~6 ms) when nothing
# does: these keep one per result type for the life of the process
_BUILT: dict[tuple[type[BaseModel], type[BaseModel]], Any] = {}


def _built(generic: type[BaseModel], result: type[BaseModel]) -> Any:
    key = (generic, result)
    if key not in _BUILT:
        _BUILT[key] = generic[result]  # type: ignore[index]
    return _BUILT[key]


def host_outcome_of(result: type[R]) -> type[HostOutcome[R]]:
    """``HostOutcome[result]``, built once."""
    built: type[HostOutcome[R]] = _built(HostOutcome, result)
    return built


def run_outcome_of(result: type[R]) -> type[RunOutcome[R]]:
    """``RunOutcome[result]``, built once."""
    built: type[RunOutcome[R]] = _built(RunOutcome, result)
    return built
