"""The shape of a fix: plan (read-only) → confirm → re-plan → apply → post-check.

An action module (``runbooks/fix_*.py``) holds a docstring, a pydantic
``Params`` model (extra keys forbidden; every action takes ``host``), and::

    async def plan(view: ReadOnlyHost, params: Params) -> Plan
    async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]
    def remaining(findings: list[Finding], params: Params) -> list[Finding]

and declares ``ACTION = Action(name=..., risk=Risk.CHANGE|DESTRUCTIVE, verifies=(codes...), ...)``
(the same declaration as a report's, ``bot.framework.runbook``).
``plan`` sees the host only through a read-only view, so planning cannot change
anything. The executor (``bot/framework/executor.py``), not the action, decides whether
``apply`` runs: it re-plans first and refuses when the world moved
(``PlanStale``); after ``apply`` it diagnoses again and reports whether the
findings the action was meant to clear are gone (``remaining``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import posixpath
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.framework.compose_cli import ComposeCLI, detect_compose
from bot.framework.runbook import Risk, RunbookDefinitionError, declaration_problems
from bot.framework.session import CommandResult, Database, HostSession
from bot.inventory.config.models import ResolvedHost
from bot.model.docker_objects import (
    ContainerDetails,
    ContainerSummary,
    DiskUsage,
    EngineInfo,
    EngineVersion,
    NetworkSummary,
    Volume,
)
from bot.model.errors import HostError
from bot.model.findings import Finding, Fix

P = TypeVar("P", bound=BaseModel)


class Step(BaseModel):
    """One thing ``apply`` will do, said exactly (an API call, a command, SQL)."""

    model_config = ConfigDict(frozen=True)

    description: str
    call: str = Field(description="the exact API call, argv or SQL, secrets redacted")


class Plan(BaseModel):
    """What an action would do now; no steps means nothing to do."""

    model_config = ConfigDict(frozen=True)

    action: str
    target: dict[str, str]
    destructive: bool
    steps: tuple[Step, ...] = ()
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()
    refusal: str | None = Field(None, description="why the action must not run at all")

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def fingerprint(self) -> str:
        """Equal for two plans that would do the same thing from the same state."""
        data = self.model_dump(mode="json", include={"target", "steps", "before", "refusal"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class Snapshot(BaseModel):
    """An archive of a volume a fix took before it touched the volume's data: what a front
    end needs to offer "restore this snapshot" with exact params (``restore_params``)."""

    model_config = ConfigDict(frozen=True)

    RESTORE: ClassVar[str] = "volume.unarchive"  # the action that puts it back

    volume: str
    directory: str = Field(description="the backup directory on the host")
    archive: str = Field(description="the archive's file name in directory")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(None, description="bytes")

    @property
    def path(self) -> str:
        return posixpath.join(self.directory, self.archive)

    def restore_params(self, host: str) -> dict[str, str]:
        """The params of ``RESTORE`` that put this archive back into its volume."""
        return {
            "host": host,
            "volume": self.volume,
            "archive": self.archive,
            "sha256": self.sha256,
            "backup_directory": self.directory,
        }

    def restore_fix(self, host: str) -> Fix:
        """The fix that puts this archive back (for a front end to offer or print)."""
        return Fix(
            action=self.RESTORE,
            params=dict(self.restore_params(host)),
            destructive=True,
            summary=f"put {self.volume} back as {self.archive} holds it",
        )


class StepOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    ok: bool
    detail: str = ""
    snapshot: Snapshot | None = Field(None, description="the archive this step took, if any")


class PostCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    checked: tuple[str, ...]  # finding codes looked for
    cleared: bool
    remaining: tuple[Finding, ...] = ()


class ActionResult(BaseModel):
    action: str
    environment: str
    host: str
    target: dict[str, str]
    changed: bool
    plan: Plan
    outcomes: list[StepOutcome] = []
    post_check: PostCheck | None = None
    duration: float = 0.0
    status: Literal["applied", "nothing to do", "refused", "failed", "planned"]
    message: str = ""

    @property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """The archives the fix took (before touching data), in the order taken; also
        when a later step failed: that is when one is wanted most."""
        return tuple(o.snapshot for o in self.outcomes if o.snapshot is not None)


class ReadOnlyDocker:
    """The Engine API reads of a host, and nothing that writes."""

    def __init__(self, session: HostSession) -> None:
        self._docker = session.docker

    async def version(self) -> EngineVersion:
        return await self._docker.version()

    async def info(self) -> EngineInfo:
        return await self._docker.info()

    async def containers(self, *, all: bool = True) -> list[ContainerSummary]:
        return await self._docker.containers(all=all)

    async def inspect_container(self, ref: str) -> ContainerDetails:
        return await self._docker.inspect_container(ref)

    async def volumes(self) -> list[Volume]:
        return await self._docker.volumes()

    async def networks(self) -> list[NetworkSummary]:
        return await self._docker.networks()

    async def disk_usage(self) -> DiskUsage:
        return await self._docker.disk_usage()

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        return await self._docker.logs(ref, tail=tail)


class ReadOnlyHost:
    """What ``plan`` may touch: reads of the Engine API, files, and read-only SQL."""

    def __init__(self, session: HostSession) -> None:
        self._session = session
        self.docker = ReadOnlyDocker(session)

    @property
    def host(self) -> ResolvedHost:
        return self._session.host

    async def read_file(self, path: str, *, max_bytes: int = 1_048_576) -> bytes:
        return await self._session.read_file(path, max_bytes=max_bytes)

    async def which(self, programs: Sequence[str]) -> list[str]:
        """Which of ``programs`` the host has on its PATH (``command -v``; changes nothing)."""
        found = []
        for program in programs:
            result = await self._session.run(
                ["sh", "-c", 'command -v "$1"', "sh", program], check=False
            )
            if result.ok and result.stdout.strip():
                found.append(program)
        return found

    async def file_type(self, path: str) -> tuple[str, int] | None:
        """What ``path`` is on the host, a symlink not followed: the type as ``stat`` names
        it ("regular file", "regular empty file", "symbolic link", "directory"…) and its
        size in bytes; None when there is nothing there (or it cannot be seen)."""
        result = await self._session.run(["stat", "-c", "%F|%s", "--", path], check=False)
        kind, _, size = result.stdout.strip().rpartition("|")
        if not result.ok or not kind or not size.isdigit():
            return None
        return kind, int(size)

    async def sha256(self, path: str, *, timeout: float = 1800.0) -> str | None:
        """The sha256 of a file on the host (``sha256sum``: reads it whole, changes
        nothing); None when it cannot be read."""
        result = await self._session.run(["sha256sum", "--", path], check=False, timeout=timeout)
        digest = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
        return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None

    async def compose(self) -> ComposeCLI | None:
        """The compose the host has (``bot.framework.compose_cli``: once per connection)."""
        return await detect_compose(self._session)

    async def compose_dry_run(self, argv: Sequence[str], *, timeout: float = 60) -> CommandResult:
        """Run a compose command that has ``--dry-run`` (v2 ≥ 2.20: changes nothing and
        says what it would do); anything else is refused here, before it runs."""
        if "--dry-run" not in argv or ("--" in argv and argv.index("--dry-run") > argv.index("--")):
            raise ValueError("compose_dry_run runs only commands with --dry-run")
        return await self._session.run(list(argv), check=False, timeout=timeout)

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        """A connection for reading (plans only ever SELECT)."""
        return self._session.database(
            address=address, port=port, user=user, password=password, dbname=dbname
        )


async def single_step(plan: Plan, call: Awaitable[None]) -> list[StepOutcome]:
    """``apply`` of a plan that is one Engine API call: its outcome, errors included."""
    (step,) = plan.steps
    try:
        await call
    except HostError as exc:
        return [StepOutcome(step=step.description, ok=False, detail=exc.detail)]
    return [StepOutcome(step=step.description, ok=True)]


def about_container(findings: list[Finding], codes: Sequence[str], container: str) -> list[Finding]:
    """The findings of ``codes`` whose subject is ``container`` (an action's ``remaining``)."""
    return [f for f in findings if f.code in codes and f.subject.container == container]


class HostParams(BaseModel):
    """Every action names the host it runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(description="inventory host name")


@dataclass(frozen=True)
class Action(Generic[P]):
    name: str
    summary: str
    params: type[P]
    risk: Risk  # CHANGE or DESTRUCTIVE: a fix changes something (destructive ones ask first)
    verifies: tuple[str, ...]
    plan: Callable[[ReadOnlyHost, P], Awaitable[Plan]]
    apply: Callable[[HostSession, P, Plan], Awaitable[list[StepOutcome]]]
    remaining: Callable[[list[Finding], P], list[Finding]]

    def __post_init__(self) -> None:
        problems = declaration_problems(self.name, self.summary, self.params)
        if isinstance(self.params, type) and not issubclass(self.params, HostParams):
            problems.append("params must extend bot.framework.action.HostParams")
        if self.risk is Risk.READ_ONLY:
            problems.append("a fix changes something: its risk is CHANGE or DESTRUCTIVE")
        for name in ("plan", "apply"):
            if not inspect.iscoroutinefunction(getattr(self, name)):
                problems.append(f"{name} is not an async function")
        if problems:
            raise RunbookDefinitionError(f"action {self.name!r}: " + "; ".join(problems))

    @property
    def destructive(self) -> bool:
        """Asks for confirmation (and the environment's approval) before it runs."""
        return self.risk is Risk.DESTRUCTIVE

    @property
    def title(self) -> str:
        return self.summary.strip().splitlines()[0]
