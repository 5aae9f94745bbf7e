"""Findings: what a diagnosis says, in the catalogue's stable codes (docs/FINDINGS.md).

A finding's ``code`` is a public contract (JSON output, Slack, audit trail,
tests): codes are added, never renamed. Evidence holds facts read from the
host, already redacted; fixes name an action and its exact parameters.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

EvidenceValue = str | int | float | bool | None | list[str]


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


class Subject(BaseModel):
    """What a finding is about; unset fields are left out of the JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str | None = None
    host: str | None = None
    project: str | None = None
    service: str | None = None
    container: str | None = None
    network: str | None = None
    volume: str | None = None
    database: str | None = None
    path: str | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class Fix(BaseModel):
    """An action that would resolve the finding, with its exact parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    params: dict[str, str | int | bool | list[str]] = Field(default_factory=dict)
    destructive: bool = False
    summary: str = ""


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    severity: Severity
    title: str
    subject: Subject
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    fixes: tuple[Fix, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """A short id stable for the same problem on the same subject (for `fix --finding`)."""
        key = json.dumps(
            [self.code, self.subject.model_dump(exclude_none=True)], sort_keys=True
        ).encode()
        return hashlib.sha256(key).hexdigest()[:8]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by code and subject, so reports are stable."""
    return sorted(
        findings,
        key=lambda f: (f.severity.rank, f.code, json.dumps(f.subject.model_dump(), default=str)),
    )


def make_finding(
    code: str,
    severity: Severity,
    title: str,
    subject: Subject,
    *,
    fixes: tuple[Fix, ...] = (),
    **evidence: Any,
) -> Finding:
    """Shorthand used by the checks: evidence as keyword arguments."""
    return Finding(
        code=code, severity=severity, title=title, subject=subject, evidence=evidence, fixes=fixes
    )
