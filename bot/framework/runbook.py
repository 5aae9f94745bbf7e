"""The shape every runbook has, checked when the runbooks are loaded.

A runbook module holds a docstring (its user-facing summary), a pydantic
``Params`` model that forbids unknown keys, an ``async def run(session, params)``
returning a pydantic result model, and one declaration at the bottom::

    RUNBOOK = Runbook(name="disk", params=Params, result=DiskReport,
                      risk=Risk.READ_ONLY, run=run, summary=__doc__)

Runbooks talk to a host only through ``bot.framework.session.HostSession``: they know
nothing of SSH, Slack or the terminal.

Reports (``Runbook``) and fixes (``bot.framework.action.Action``) are declared the same
way: a name, the module docstring as summary, a ``Params`` model and a ``Risk``. The risk
decides who may run it (``bot.operations``: read-only is the viewer's, a change or a
destructive fix the operator's) and whether it asks first (destructive). One naming
scheme ties a declaration to its module (``module_for``): the report ``disk`` lives in
``runbooks/disk.py``, the fix ``network.connect`` in ``runbooks/fix_network_connect.py``;
loading fails on a module whose name says otherwise.
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


def module_for(name: str, risk: Risk) -> str:
    """The module (under ``runbooks``) a declaration of ``name`` and ``risk`` lives in:
    a report's name as it is, a fix's ``noun.verb`` as ``fix_noun_verb``."""
    plain = name.replace(".", "_")
    return plain if risk is Risk.READ_ONLY else f"fix_{plain}"


def declaration_problems(name: str, summary: str, params: object) -> list[str]:
    """What is wrong with the parts every declaration has (reports and fixes alike)."""
    problems = []
    if not name or not name.replace("_", "").replace(".", "").isalnum():
        problems.append(f"name {name!r} is not a plain identifier")
    if not (summary or "").strip():
        problems.append("summary (the module docstring) is empty")
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        problems.append("params is not a pydantic model")
    elif params.model_config.get("extra") != "forbid":
        problems.append("params must forbid unknown keys (extra='forbid')")
    return problems


@dataclass(frozen=True)
class Runbook(Generic[P, R]):
    name: str
    summary: str
    params: type[P]
    result: type[R]
    risk: Risk
    run: Callable[[HostSession, P], Awaitable[R]]

    def __post_init__(self) -> None:
        problems = declaration_problems(self.name, self.summary, self.params)
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
