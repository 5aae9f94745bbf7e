"""What a runbook may ask of a host: the seam between runbooks and transports.

Runbooks are written against these protocols only. ``bot.transport`` provides
an SSH implementation (one pooled connection per host, Docker and Postgres
through forwarded channels) and a local one (this machine's Docker socket);
tests may provide small fakes.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

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


def quote_argv(argv: Sequence[str]) -> str:
    """The one place an argv list becomes shell text (for a remote login shell)."""
    if not argv:
        raise ValueError("empty command")
    return shlex.join(argv)


EXEC_TIMEOUT = 60.0  # seconds a command in a container may run (exec_run)


class CommandResult(BaseModel):
    """The outcome of one command on a host (like asyncssh's SSHCompletedProcess)."""

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def command(self) -> str:
        return quote_argv(self.argv)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class ExecResult(BaseModel):
    """A command run inside a container through the Engine API (``docker exec``)."""

    model_config = ConfigDict(frozen=True)

    container: str
    argv: tuple[str, ...]
    exit_code: int | None
    output: str


class DockerEngine(Protocol):
    """The Docker Engine API of one host, asynchronous, typed."""

    async def version(self) -> EngineVersion: ...

    async def info(self) -> EngineInfo: ...

    async def containers(self, *, all: bool = True) -> list[ContainerSummary]: ...

    async def inspect_container(self, ref: str) -> ContainerDetails: ...

    async def volumes(self) -> list[Volume]: ...

    async def networks(self) -> list[NetworkSummary]: ...

    async def disk_usage(self) -> DiskUsage: ...

    async def logs(self, ref: str, *, tail: int = 50) -> str: ...

    async def exec_run(
        self, ref: str, argv: Sequence[str], *, timeout: float = EXEC_TIMEOUT
    ) -> ExecResult:
        """Run ``argv`` (no shell) in a running container; stdout and stderr together.

        ``CommandTimeout`` when it has not finished within ``timeout`` seconds (it may
        still be running in the container).
        """
        ...

    # --- writes: only actions' ``apply`` reaches these (plans get action.ReadOnlyHost)

    async def connect_network(
        self, network: str, container: str, *, aliases: Sequence[str] = ()
    ) -> None: ...

    async def restart_container(self, ref: str, *, timeout: int = 10) -> None: ...

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None: ...

    async def start_container(self, ref: str) -> None: ...

    async def rename_container(self, ref: str, name: str) -> None: ...

    async def remove_container(self, ref: str, *, force: bool = False) -> None: ...

    async def create_container(self, body: dict[str, Any], *, name: str) -> str:
        """``POST /containers/create`` with a raw body; returns the new container's id."""
        ...

    async def wait_container(self, ref: str, *, timeout: float) -> int: ...

    async def prune(self) -> dict[str, int]:
        """Stopped containers, dangling images and build cache (never volumes): bytes freed."""
        ...


class Database(Protocol):
    """One open Postgres connection reached through the host."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...


class HostSession(Protocol):
    """Everything a runbook can reach on one host."""

    @property
    def host(self) -> ResolvedHost: ...

    @property
    def docker(self) -> DockerEngine: ...

    @property
    def memo(self) -> dict[str, Any]:
        """Facts worth reading once per connection (which compose the host has):
        kept as long as the connection is, shared by every session of it."""
        ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run ``argv`` (never a shell string) and return its result.

        With ``check`` a non-zero exit raises ``CommandFailed``; past ``timeout``
        ``CommandTimeout`` is raised with the partial output.
        """
        ...

    async def read_file(self, path: str, *, max_bytes: int = 1_048_576) -> bytes: ...

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        """Connect to Postgres at ``address:port`` as seen from the host."""
        ...
