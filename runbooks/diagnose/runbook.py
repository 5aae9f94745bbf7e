"""Diagnose: what is wrong with the stacks on each host, the evidence, and the fix.

Reads the host once (containers, networks, volumes, disk, env files, proxy
logs, the app's database through the app's own credentials) and runs every
check of the findings catalogue over what it read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.framework.runbook import Risk, Runbook
from bot.framework.session import HostSession
from bot.model.findings import Finding, Severity, make_finding, sort_findings
from runbooks.diagnose.checks import ALL_CHECKS
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.subject import subject


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str | None = Field(None, description="only findings about this stack (compose project)")
    deadline: float = Field(60.0, gt=0, le=3600, description="seconds for reading each host")


class HostDiagnosis(BaseModel):
    """The findings on one host, and what was looked at."""

    stacks: list[str]
    containers: int
    findings: list[Finding]
    unfinished: list[str] = []
    notes: list[str] = []  # facts that could not be read, so were not judged


def notes(facts: HostFacts, projects: set[str] | None = None) -> list[str]:
    """What the diagnosis could not read, and so did not judge (never a finding);
    only about ``projects`` when given."""
    found = [
        f"compose project {s.project}: could not list the services its compose files define "
        f"({s.error}); containers of services removed from them are not judged"
        for s in facts.compose_services
        if s.services is None and s.error and (projects is None or s.project in projects)
    ]
    return found + elsewhere_notes(facts)


def elsewhere_notes(facts: HostFacts) -> list[str]:
    """One line per other owner of projects on this (shared) engine: never judged here."""
    owners: dict[str | None, list[str]] = {}
    for other in facts.stacks.elsewhere:
        owners.setdefault(other.owner, []).append(other.project)
    lines = []
    for owner, names in sorted(owners.items(), key=lambda item: item[0] or "~"):
        count = f"{len(names)} other project{'s' if len(names) > 1 else ''} here"
        whose = (
            f"belong{'s' if len(names) == 1 else ''} to {owner}"
            if owner
            else (
                "belong to no environment (declare them in the inventory to diagnose them)"
                if len(names) > 1
                else "belongs to no environment (declare it in the inventory to diagnose it)"
            )
        )
        lines.append(f"{count} ({', '.join(names)}) {whose}: not judged here")
    if facts.stacks.unlabelled_elsewhere:
        lines.append(
            f"{facts.stacks.unlabelled_elsewhere} container(s) without a compose project here "
            "are not this environment's (the engine is shared): not judged here"
        )
    return lines


def judge(facts: HostFacts, stack: str | None = None) -> HostDiagnosis:
    findings = [finding for check in ALL_CHECKS for finding in check(facts)]
    drifted = {f.subject.container for f in findings if f.code == "env.drift"}
    findings = [  # an env file never applied is env.drift's, with its recreate button
        f
        for f in findings
        if f.code != "compose.config_stale" or f.subject.container not in drifted
    ]
    projects: set[str] | None = None
    if stack is not None:
        projects = {s.project for s in facts.stacks.stacks if stack in (s.name, s.project)}
        findings = [f for f in findings if f.subject.project in projects | {None}]
    if facts.unfinished:
        findings.append(
            make_finding(
                "diagnose.incomplete",
                Severity.WARNING,
                f"{len(facts.unfinished)} checks did not finish before the deadline",
                subject(facts),
                unfinished=list(facts.unfinished),
            )
        )
    return HostDiagnosis(
        stacks=[s.name for s in facts.stacks.stacks if s.found],
        containers=len(facts.containers),
        findings=sort_findings(findings),
        unfinished=list(facts.unfinished),
        notes=notes(facts, projects),
    )


async def run(session: HostSession, params: Params) -> HostDiagnosis:
    facts = await gather_facts(session, deadline=params.deadline)
    return judge(facts, params.stack)


RUNBOOK = Runbook(
    name="diagnose",
    summary=__doc__ or "",
    params=Params,
    result=HostDiagnosis,
    risk=Risk.READ_ONLY,
    run=run,
)
