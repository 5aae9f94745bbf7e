"""The reports: every read-only runbook but ``diagnose``, described for the front ends.

A report's ``Params`` model is its whole interface. Its required fields are
positional words after the environment, in order; the others are
``--option VALUE`` (a list field takes the option again for each value, a
``bool`` is a flag). The CLI builds its sub-commands from these specs and
Slack its usage and parsing, so adding a report runbook touches only the
runbook's module, its tests and its docs. Who may run a report follows from
its declared risk (``permission``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot.framework.runbook import Risk, Runbook, RunbookDefinitionError
from bot.inventory.access import Permission
from bot.model.errors import UsageError
from bot.operations.params import validated
from runbooks import load_runbooks

NOT_REPORTS = frozenset({"diagnose"})  # its own command: findings, fix buttons, progress
PERMISSION_OF_RISK = {
    Risk.READ_ONLY: Permission.VIEW,
    Risk.CHANGE: Permission.OPERATE,
    Risk.DESTRUCTIVE: Permission.OPERATE,
}


@dataclass(frozen=True)
class Option:
    """One field of a report's ``Params``, as a word or an option of a command line."""

    name: str
    kind: Literal["text", "int", "float", "flag", "list"]
    help: str
    positional: bool
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def metavar(self) -> str:
        return self.name.upper()

    def usage(self) -> str:
        if self.positional:
            return self.metavar
        if self.kind == "flag":
            return f"[{self.flag}]"
        return f"[{self.flag} {self.metavar}]"


@dataclass(frozen=True)
class ReportSpec:
    runbook: Runbook[Any, Any]
    options: tuple[Option, ...]

    @property
    def name(self) -> str:
        return self.runbook.name

    @property
    def title(self) -> str:
        return self.runbook.title

    @property
    def permission(self) -> Permission:
        return PERMISSION_OF_RISK[self.runbook.risk]

    @property
    def positionals(self) -> tuple[Option, ...]:
        return tuple(o for o in self.options if o.positional)

    def usage(self, prefix: str) -> str:
        """``PREFIX NAME ENV [WORD…] [--option VALUE]…`` (prefix: ``/stack`` or ``stackbot``)."""
        return " ".join([prefix, self.name, "ENV", *(o.usage() for o in self.options)])

    def validate(self, given: Mapping[str, Any]) -> BaseModel:
        """The runbook's ``Params`` from ``given`` (None values left out), or ``UsageError``."""
        params: BaseModel = validated(self.runbook.params, given)
        return params


def _option(name: str, field: FieldInfo) -> Option:
    annotation = field.annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else str
    origin = typing.get_origin(annotation)
    choices: tuple[str, ...] = ()
    kind: Literal["text", "int", "float", "flag", "list"] = "text"
    if origin in (tuple, list, set, frozenset):
        kind = "list"
    elif origin is Literal:
        choices = tuple(str(a) for a in typing.get_args(annotation))
    elif annotation is bool:
        kind = "flag"
    elif annotation is int:
        kind = "int"
    elif annotation is float:
        kind = "float"
    return Option(
        name=name,
        kind=kind,
        help=field.description or "",
        positional=field.is_required(),
        choices=choices,
    )


def spec_of(runbook: Runbook[Any, Any]) -> ReportSpec:
    fields = runbook.params.model_fields
    options = tuple(_option(name, field) for name, field in fields.items())
    bad = [o.name for o in options if o.positional and o.kind in ("flag", "list")]
    if bad:  # a required list or flag cannot be a word on the command line
        raise RunbookDefinitionError(
            f"runbook {runbook.name!r}: required field {bad[0]!r} must be a single value"
        )
    return ReportSpec(runbook=runbook, options=options)


@cache
def report_specs() -> dict[str, ReportSpec]:
    """Every report, by name (loaded once: a malformed runbook fails here, loudly)."""
    return {
        name: spec_of(runbook)
        for name, runbook in sorted(load_runbooks().items())
        if name not in NOT_REPORTS and runbook.risk is Risk.READ_ONLY
    }


def report_spec(name: str) -> ReportSpec:
    specs = report_specs()
    if name not in specs:
        raise UsageError(f"no report {name!r} (reports: {', '.join(specs)})")
    return specs[name]


__all__ = ["Option", "ReportSpec", "report_spec", "report_specs", "spec_of"]
