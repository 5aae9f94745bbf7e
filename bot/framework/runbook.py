"""The shape every runbook has, checked when the runbooks are loaded.

A runbook module holds a docstring (its user-facing summary), a pydantic
``Params`` model that forbids unknown keys, an ``async def run(session, params)``
returning a pydantic result model, and one declaration at the bottom::

    RUNBOOK = Runbook(name="disk", params=Params, result=DiskReport,
                      risk=Risk.READ_ONLY, run=run, summary=__doc__)

Runbooks talk to a host only through ``bot.framework.session.HostSession``: they know
nothing of SSH, Slack or the terminal.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel

from bot.framework.session import HostSession

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class Risk(StrEnum):
    READ_ONLY = "read_only"
    CHANGE = "change"
    DESTRUCTIVE = "destructive"


class RunbookDefinitionError(TypeError):
    """A runbook module does not have the required shape (raised at load time)."""


@dataclass(frozen=True)
class Runbook(Generic[P, R]):
    name: str
    summary: str
    params: type[P]
    result: type[R]
    risk: Risk
    run: Callable[[HostSession, P], Awaitable[R]]

    def __post_init__(self) -> None:
        problems = []
        if not self.name or not self.name.replace("_", "").replace(".", "").isalnum():
            problems.append(f"name {self.name!r} is not a plain identifier")
        if not (self.summary or "").strip():
            problems.append("summary (the module docstring) is empty")
        if not (isinstance(self.params, type) and issubclass(self.params, BaseModel)):
            problems.append("params is not a pydantic model")
        elif self.params.model_config.get("extra") != "forbid":
            problems.append("params must forbid unknown keys (extra='forbid')")
        if not (isinstance(self.result, type) and issubclass(self.result, BaseModel)):
            problems.append("result is not a pydantic model")
        if not inspect.iscoroutinefunction(self.run):
            problems.append("run is not an async function")
        if problems:
            raise RunbookDefinitionError(f"runbook {self.name!r}: " + "; ".join(problems))

    @property
    def title(self) -> str:
        """The first line of the summary."""
        return self.summary.strip().splitlines()[0]
