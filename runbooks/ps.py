"""Ps: every container the environment owns: project, service, state, health, uptime, ports.

One row per container on each host, stopped ones included, with its restarts. Only what the
environment owns is shown: its compose projects (declared, matched by its
``projects:`` patterns, or discovered when no other environment shares the
engine) and its unlabelled containers. Projects of other environments on a
shared engine are counted in a note, never listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.framework.action import ReadOnlyHost
from bot.framework.runbook import Risk, Runbook
from bot.framework.session import HostSession
from bot.inventory.discovery import HostStacks
from bot.model.docker_objects import ContainerDetails
from bot.model.units import human_duration
from runbooks._stacks import host_stacks

NONE = "—"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(
        None,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="only the containers of this compose project",
    )


class ContainerRow(BaseModel):
    """One container, as ``docker ps -a`` would show it, and its health and restarts."""

    project: str | None
    service: str | None
    container: str
    image: str
    state: str = Field(description="running, exited, restarting, paused, created, dead")
    exit_code: int | None = Field(None, description="when it is not running")
    health: str | None = Field(None, description="healthy, unhealthy, starting; None: no check")
    started_at: datetime | None
    uptime_seconds: float | None = Field(None, description="running for this long")
    restarts: int
    ports: list[str] = Field(description="HOST_PORT->PORT/PROTO when published, else PORT/PROTO")


class PsReport(BaseModel):
    project: str | None = None
    containers: list[ContainerRow]
    notes: list[str] = []

    def columns(self) -> tuple[str, ...]:
        return ("Project", "Service", "Container", "State", "Health", "Up", "Restarts", "Ports")

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (
                row.project or NONE,
                row.service or NONE,
                row.container,
                row.state + (f" ({row.exit_code})" if row.exit_code is not None else ""),
                row.health or NONE,
                human_duration(row.uptime_seconds) if row.uptime_seconds is not None else NONE,
                str(row.restarts),
                ", ".join(row.ports) or NONE,
            )
            for row in self.containers
        ]


def ports(container: ContainerDetails) -> list[str]:
    """Published ports (``[HOST_IP:]HOST_PORT->PORT/PROTO``), then exposed-only ones."""
    bindings: dict[str, Any] = container.host_config.get("PortBindings") or {}
    shown: list[str] = []
    for port, published in sorted(bindings.items()):
        for binding in published or []:
            address = binding.get("HostIp") or ""
            prefix = f"{address}:" if address not in ("", "0.0.0.0", "::") else ""  # noqa: S104
            shown.append(f"{prefix}{binding.get('HostPort') or '?'}->{port}")
    exposed = sorted(set(container.config.exposed_ports) - set(bindings))
    return shown + exposed


def container_row(container: ContainerDetails, now: datetime) -> ContainerRow:
    state = container.state
    running = state.running or state.status == "running"
    started = state.started_at if running else None
    return ContainerRow(
        project=container.compose_project,
        service=container.compose_service,
        container=container.name,
        image=container.config.image,
        state=state.status or ("running" if running else "unknown"),
        exit_code=None if running or state.status == "created" else state.exit_code,
        health=state.health.status if state.health and state.health.status else None,
        started_at=state.started_at,
        uptime_seconds=max(0.0, (now - started).total_seconds()) if started else None,
        restarts=container.restart_count,
        ports=ports(container),
    )


def elsewhere_note(stacks: HostStacks) -> list[str]:
    others = sum(p.containers for p in stacks.elsewhere) + stacks.unlabelled_elsewhere
    if not others:
        return []
    owners = sorted({p.owner or "no environment" for p in stacks.elsewhere})
    whose = f" (of {', '.join(owners)})" if owners else ""
    return [f"{others} other container{'s' if others != 1 else ''} here{whose}: not shown"]


def ps_report(
    containers: Iterable[ContainerDetails], stacks: HostStacks, now: datetime, params: Params
) -> PsReport:
    """The owned containers (of ``params.project`` when given), by project, service, name."""
    rows = [
        container_row(c, now)
        for c in containers
        if stacks.owned(c) and (params.project is None or c.compose_project == params.project)
    ]
    rows.sort(key=lambda r: (r.project is None, r.project or "", r.service or "", r.container))
    return PsReport(project=params.project, containers=rows, notes=elsewhere_note(stacks))


async def run(session: HostSession, params: Params) -> PsReport:
    containers, stacks = await host_stacks(ReadOnlyHost(session))
    return ps_report(containers, stacks, datetime.now(UTC), params)


RUNBOOK = Runbook(
    name="ps",
    summary=__doc__ or "",
    params=Params,
    result=PsReport,
    risk=Risk.READ_ONLY,
    run=run,
)
