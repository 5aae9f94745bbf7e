"""Scoring one diagnosis against a scenario's expectations, and a corpus run in total.

Pure functions over ``bot.model.findings.Finding`` (see ``bench.accuracy.model`` for the rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.accuracy.model import ALWAYS_TOLERATED, Expect, Required
from bot.model.findings import Finding, Severity

RECALL_TARGET = 0.95


def names(finding: Finding, subject: str) -> bool:
    """Whether ``finding``'s subject names ``subject`` (a substring of one of its fields)."""
    return any(
        isinstance(value, str) and subject in value
        for value in finding.subject.model_dump(exclude_none=True).values()
    )


def describe(finding: Finding) -> str:
    """``code (severity) on container=…, project=…`` for the tables."""
    where = ", ".join(
        f"{key}={value}"
        for key, value in finding.subject.model_dump(exclude_none=True).items()
        if key not in ("environment", "host")
    )
    return f"{finding.code} ({finding.severity}){' on ' + where if where else ''}"


@dataclass(frozen=True)
class ScenarioScore:
    """One scenario's outcome. ``skipped``/``error`` say why it was not scored."""

    id: str
    family: str
    control: bool
    required: tuple[tuple[Required, bool], ...] = ()
    false_findings: tuple[Finding, ...] = ()
    forbidden_hits: tuple[Finding, ...] = ()
    above_info: tuple[Finding, ...] = ()  # controls only: any warning or critical
    findings: tuple[Finding, ...] = ()
    duration: float | None = None  # seconds the diagnosis took (new connection included)
    build_seconds: float | None = None
    build_attempts: int = 1
    skipped: str | None = None
    error: str | None = None

    @property
    def found(self) -> int:
        return sum(1 for _, hit in self.required if hit)

    @property
    def missed(self) -> tuple[Required, ...]:
        return tuple(r for r, hit in self.required if not hit)

    @property
    def false_criticals(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.false_findings if f.severity == Severity.CRITICAL)

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skipped"
        if self.error is not None:
            return "error"
        if self.false_criticals:
            return "FALSE CRITICAL"
        if self.control and self.above_info:
            return "NOISY CONTROL"
        if self.missed:
            return "missed"
        if self.forbidden_hits:
            return "forbidden"
        return "pass"


def score(
    expect: Expect,
    findings: Sequence[Finding],
    *,
    id: str = "",
    family: str = "",
    control: bool = False,
    duration: float | None = None,
    build_seconds: float | None = None,
    build_attempts: int = 1,
) -> ScenarioScore:
    """Compare one diagnosis's findings with ``expect``."""
    required = tuple(
        (r, any(f.code == r.code and names(f, r.subject) for f in findings))
        for r in expect.required
    )
    tolerated = set(expect.tolerated) | set(ALWAYS_TOLERATED)
    forbidden = set(expect.forbidden)
    false: list[Finding] = []
    hits: list[Finding] = []
    for finding in findings:
        if finding.code in forbidden:
            hits.append(finding)
            false.append(finding)
            continue
        wanted = any(finding.code == r.code and names(finding, r.subject) for r in expect.required)
        if not wanted and finding.code not in tolerated:
            false.append(finding)
    return ScenarioScore(
        id=id,
        family=family,
        control=control,
        required=required,
        false_findings=tuple(false),
        forbidden_hits=tuple(hits),
        above_info=tuple(f for f in findings if f.severity != Severity.INFO) if control else (),
        findings=tuple(findings),
        duration=duration,
        build_seconds=build_seconds,
        build_attempts=build_attempts,
    )


@dataclass(frozen=True)
class Totals:
    """The corpus in total: what ``scripts/bench accuracy`` judges its exit status on."""

    scenarios: int
    scored: int
    skipped: int
    errors: int
    required: int
    found: int
    false_findings: int
    false_criticals: int
    noisy_controls: tuple[str, ...]
    median_duration: float | None
    failures: tuple[str, ...] = field(default=())

    @property
    def recall(self) -> float:
        return self.found / self.required if self.required else 1.0

    @property
    def ok(self) -> bool:
        return not self.failures


def totals(scores: Iterable[ScenarioScore]) -> Totals:
    """Recall over the scored scenarios (a build or diagnosis error counts its required
    findings as missed; a skipped scenario counts apart, never as passed)."""
    scores = list(scores)
    counted = [s for s in scores if s.skipped is None]
    required = sum(len(s.required) for s in counted)
    found = sum(s.found for s in counted)
    false_criticals = sum(len(s.false_criticals) for s in counted)
    noisy = tuple(s.id for s in counted if s.control and s.above_info)
    durations = sorted(s.duration for s in counted if s.duration is not None)
    median = durations[len(durations) // 2] if durations else None
    recall = found / required if required else 1.0
    failures: list[str] = []
    if recall < RECALL_TARGET:
        failures.append(f"recall {recall:.1%} is below {RECALL_TARGET:.0%}")
    if false_criticals:
        failures.append(f"{false_criticals} false critical finding(s)")
    if noisy:
        failures.append(f"healthy control(s) with a finding above info: {', '.join(noisy)}")
    errors = [s.id for s in counted if s.error is not None]
    if errors:
        failures.append(f"scenario(s) that could not be built or diagnosed: {', '.join(errors)}")
    return Totals(
        scenarios=len(scores),
        scored=len(counted) - len(errors),
        skipped=len(scores) - len(counted),
        errors=len(errors),
        required=required,
        found=found,
        false_findings=sum(len(s.false_findings) for s in counted),
        false_criticals=false_criticals,
        noisy_controls=noisy,
        median_duration=median,
        failures=tuple(failures),
    )
