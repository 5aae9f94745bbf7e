"""Logs: the last lines of one service's containers, redacted, optionally recent or matching.

Finds the service's containers among those the environment owns (by compose
service name, or a container's own name), then reads their logs: stdout and
stderr in time order, at most ``tail`` lines each. ``since`` keeps the lines
newer than a duration ago; ``grep`` keeps those containing a text (any case),
looking through the last ``SCAN_LINES`` lines. Every line is redacted before
it leaves the host's runbook.

The Engine API call stackbot's transport offers reads a tail only, so with
``since`` the lines come from the host's own ``docker logs --since`` (an argv,
never a shell string); a host without the docker CLI gets the tail, and a note.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.framework.action import ReadOnlyHost
from bot.framework.runbook import Risk, Runbook
from bot.framework.session import HostSession
from bot.inventory.config.models import parse_duration
from bot.model.docker_objects import ContainerDetails
from bot.redaction.redact import redact_text
from runbooks._compose import docker_host
from runbooks._stacks import host_stacks

SCAN_LINES = 5000  # lines looked through for --grep, per container
LINE_CHARS = 2000  # a longer line is cut (a JSON blob, a minified page)
DOCKER_LOGS_TIMEOUT = 30.0
NOT_FOUND = 127  # the shell's "command not found"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="compose service (or container name) whose logs to show",
    )
    since: str | None = Field(
        None,
        pattern=r"^(?:[0-9]{1,3}d)?(?:[0-9]{1,4}h)?(?:[0-9]{1,6}m)?(?:[0-9]{1,8}s)?$",
        description="only lines newer than this: 90s, 10m, 2h, 1d",
    )
    grep: str | None = Field(
        None, min_length=1, max_length=200, description="only lines containing this (any case)"
    )
    tail: int = Field(200, ge=1, le=SCAN_LINES, description="at most this many lines per container")

    @field_validator("since")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value).total_seconds() <= 0:
            raise ValueError("since must be more than 0 s")
        return value

    @property
    def since_seconds(self) -> int | None:
        return None if self.since is None else int(parse_duration(self.since).total_seconds())


class ContainerLogs(BaseModel):
    container: str
    project: str | None
    service: str | None
    state: str
    lines: list[str] = Field(description="redacted, oldest first, each at most LINE_CHARS")
    scanned: int = Field(description="lines read before grep kept its matches")
    more: bool = Field(description="more lines matched than tail allows (the oldest left out)")


class LogsReport(BaseModel):
    service: str
    since: str | None = None
    grep: str | None = None
    containers: list[ContainerLogs]
    notes: list[str] = []

    def lines(self) -> list[str]:
        out: list[str] = []
        for logs in self.containers:
            shown = f"{len(logs.lines)} line{'s' if len(logs.lines) != 1 else ''}"
            if self.grep is not None:
                shown += f" matching of the last {logs.scanned}"
            if logs.more:
                shown += " (older ones left out)"
            out.append(f"== {logs.container} ({logs.state}) · {shown}")
            out.extend(logs.lines)
        return out


def matching(
    containers: list[ContainerDetails], service: str, owned: set[str]
) -> list[ContainerDetails]:
    """The owned containers of compose service ``service``, else the one named ``service``."""
    mine = [c for c in containers if c.id in owned]
    by_service = [c for c in mine if c.compose_service == service]
    return sorted(by_service or [c for c in mine if c.name == service], key=lambda c: c.name)


def select(text: str, params: Params) -> tuple[list[str], int, bool]:
    """(the lines to show, lines scanned, whether more matched than ``tail``)."""
    lines = [line[:LINE_CHARS] for line in text.splitlines() if line.strip()]
    scanned = len(lines)
    if params.grep is not None:
        needle = params.grep.casefold()
        lines = [line for line in lines if needle in line.casefold()]
    more = len(lines) > params.tail
    return [redact_text(line) for line in lines[-params.tail :]], scanned, more


def by_time(stdout: str, stderr: str) -> str:
    """``docker logs --timestamps`` writes the two streams apart: merged in time order
    (the fixed-width RFC 3339 stamps sort as text), the stamps then cut to seconds."""
    lines = [line for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    lines.sort(key=lambda line: line.split(" ", 1)[0])
    out = []
    for line in lines:
        stamp, _, rest = line.partition(" ")
        out.append(f"{stamp[:19]}Z {rest}" if len(stamp) >= 19 and stamp[4] == "-" else line)
    return "\n".join(out)


async def read_logs(
    session: HostSession, container: ContainerDetails, params: Params, notes: list[str]
) -> str:
    count = SCAN_LINES if params.grep is not None else params.tail
    seconds = params.since_seconds
    if seconds is None:
        return await session.docker.logs(container.id, tail=count)
    argv = [
        "env", f"DOCKER_HOST={docker_host(session.host.docker_socket)}",
        "docker", "logs", "--timestamps", "--since", f"{seconds}s", "--tail", str(count),
        container.id,
    ]  # fmt: skip
    result = await session.run(argv, timeout=DOCKER_LOGS_TIMEOUT, check=False)
    if result.exit_status == NOT_FOUND:
        note = "no docker CLI on this host: --since not applied, the last lines shown"
        if note not in notes:
            notes.append(note)
        return await session.docker.logs(container.id, tail=count)
    if not result.ok:
        notes.append(f"{container.name}: docker logs failed: {result.stderr.strip()[:200]}")
        return ""
    return by_time(result.stdout, result.stderr)


async def run(session: HostSession, params: Params) -> LogsReport:
    containers, stacks = await host_stacks(ReadOnlyHost(session))
    owned = {c.id for c in containers if stacks.owned(c)}
    notes: list[str] = []
    chosen = matching(containers, params.service, owned)
    texts = await asyncio.gather(*(read_logs(session, c, params, notes) for c in chosen))
    found = []
    for container, text in zip(chosen, texts, strict=True):
        lines, scanned, more = select(text, params)
        found.append(
            ContainerLogs(
                container=container.name,
                project=container.compose_project,
                service=container.compose_service,
                state=container.state.status,
                lines=lines,
                scanned=scanned,
                more=more,
            )
        )
    if not found:
        notes.append(f"no container of service {params.service} here")
    return LogsReport(
        service=params.service,
        since=params.since,
        grep=params.grep,
        containers=found,
        notes=notes,
    )


RUNBOOK = Runbook(
    name="logs",
    summary=__doc__ or "",
    params=Params,
    result=LogsReport,
    risk=Risk.READ_ONLY,
    run=run,
)
