"""An environment's diagnosis: every host's findings in one versioned report.

This is the JSON contract of ``stackbot diagnose ENV --format json``
(``schema_version`` 1, documented in docs/DIAGNOSE.md). A host that could not
be read contributes a finding of its own (``host.unreachable``,
``host.key_mismatch``, ``docker.unreachable``, ``diagnose.incomplete``) so
the report is whole even when part of the environment is not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from bot.model.findings import Finding, Severity, Subject, make_finding, sort_findings
from bot.model.outcome import ErrorInfo, HostOutcome, RunOutcome

SCHEMA_VERSION = 1
Verdict = Literal["critical", "warning", "healthy"]

_HOST_ERROR_CODES = {
    "host.key_mismatch": "host.key_mismatch",
    "docker.unreachable": "docker.unreachable",
    "diagnose.deadline": "diagnose.incomplete",
}


class HostStatus(BaseModel):
    host: str
    label: str
    reached: bool
    duration: float
    stacks: list[str] = []
    containers: int = 0
    error: ErrorInfo | None = None
    notes: list[str] = []  # what could not be read on the host, so was not judged


class DiagnosisReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    environment: str
    started_at: datetime
    duration: float
    verdict: Verdict
    counts: dict[str, int]
    hosts: list[HostStatus]
    findings: list[Finding]

    @property
    def critical(self) -> bool:
        return self.verdict == "critical"


def host_error_finding(environment: str, outcome: HostOutcome[Any]) -> Finding:
    assert outcome.error is not None
    code = _HOST_ERROR_CODES.get(outcome.error.code, "host.unreachable")
    what = {
        "host.unreachable": "cannot be reached over SSH",
        "host.key_mismatch": "presented a host key known_hosts does not vouch for",
        "docker.unreachable": "is reachable but its Docker daemon does not answer",
        "diagnose.incomplete": "did not answer in time",
    }[code]
    return make_finding(
        code,
        Severity.CRITICAL,
        f"{outcome.label} {what}",
        Subject(environment=environment, host=outcome.host),
        error=outcome.error.code,
        message=outcome.error.message,
    )


def build_report(outcome: RunOutcome[Any]) -> DiagnosisReport:
    findings: list[Finding] = []
    hosts: list[HostStatus] = []
    for host in outcome.hosts:
        status = HostStatus(
            host=host.host,
            label=host.label,
            reached=host.ok,
            duration=round(host.duration, 3),
            error=host.error,
        )
        if host.error is not None:
            findings.append(host_error_finding(outcome.environment, host))
        elif host.result is not None:
            findings.extend(host.result.findings)
            status.stacks, status.containers = host.result.stacks, host.result.containers
            status.notes = list(getattr(host.result, "notes", []))
        hosts.append(status)
    counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
    verdict: Verdict = (
        "critical" if counts["critical"] else "warning" if counts["warning"] else "healthy"
    )
    return DiagnosisReport(
        environment=outcome.environment,
        started_at=outcome.started_at,
        duration=round(outcome.duration, 3),
        verdict=verdict,
        counts=counts,
        hosts=hosts,
        findings=sort_findings(findings),
    )
