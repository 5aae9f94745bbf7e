"""A ``HostSession`` served from canned data, for runbook unit tests.

Commands are answered by a handler function (argv → ``CommandResult``, or an
exception to raise); Engine objects are built from API JSON with
``Model.model_validate``. Every call is recorded in ``log`` as ``start:NAME``
and ``end:NAME``, and each call yields to the event loop ``ticks`` times in
between, so a test can tell concurrent calls from sequential ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.framework.session import EXEC_TIMEOUT, CommandResult, Database, DockerEngine, ExecResult
from bot.inventory.config import parse_inventory
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
from bot.model.errors import CommandFailed, DockerObjectNotFound

Handler = Callable[[tuple[str, ...]], CommandResult | BaseException]
ExecHandler = Callable[[str, tuple[str, ...]], ExecResult | BaseException]


def completed(
    argv: Sequence[str], stdout: str = "", stderr: str = "", status: int = 0
) -> CommandResult:
    return CommandResult(
        argv=tuple(argv), exit_status=status, stdout=stdout, stderr=stderr, duration=0.01
    )


def no_commands(argv: tuple[str, ...]) -> CommandResult:
    raise AssertionError(f"unexpected command: {argv}")


SHARED_ENGINE = """
environments:
  prod:
    hosts: {web1: {address: 203.0.113.10}}
    stacks: {shop: {compose_project: shop}}
  staging:
    hosts: {web1: {address: 203.0.113.10}}
    stacks: {crm: {compose_project: crm}}
"""


def shared_engine_host(env: str) -> ResolvedHost:
    """``web1`` as ``env`` sees it: one engine shared by prod (stack shop) and staging (crm)."""
    inventory = parse_inventory(yaml.safe_load(SHARED_ENGINE), source="test", base_dir=Path("/etc"))
    return inventory.resolved_host(env, "web1")


def fake_host(name: str = "web1", env: str = "prod") -> ResolvedHost:
    return ResolvedHost(
        env=env,
        name=name,
        address="203.0.113.10",
        port=22,
        user="deploy",
        private_key=None,
        known_hosts=None,
        jump_host=None,
        docker_socket="/var/run/docker.sock",
        connect_timeout=10.0,
    )


@dataclass
class CallLog:
    ticks: int = 0
    entries: list[str] = field(default_factory=list)

    async def around(self, name: str) -> None:
        self.entries.append(f"start:{name}")
        for _ in range(self.ticks):
            await asyncio.sleep(0)
        self.entries.append(f"end:{name}")

    def count(self, name: str) -> int:
        return self.entries.count(f"start:{name}")


@dataclass
class FakeDocker:
    """Canned Engine API answers; a field left None (or an exception) fails the call."""

    log: CallLog
    info_data: EngineInfo | BaseException | None = None
    disk_usage_data: DiskUsage | BaseException | None = None
    container_list: list[ContainerSummary] | BaseException | None = None
    details: dict[str, ContainerDetails] = field(default_factory=dict)
    volume_list: list[Volume] = field(default_factory=list)
    network_list: list[NetworkSummary] = field(default_factory=list)
    log_text: dict[str, str] = field(default_factory=dict)
    exec_handler: ExecHandler | None = None
    writes: list[tuple[Any, ...]] = field(default_factory=list)

    async def _answer(self, name: str, canned: Any) -> Any:
        await self.log.around(name)
        if canned is None:
            raise AssertionError(f"no canned answer for docker.{name}()")
        if isinstance(canned, BaseException):
            raise canned
        return canned

    async def version(self) -> EngineVersion:
        await self.log.around("version")
        return EngineVersion.model_validate({"Version": "24.0.7", "ApiVersion": "1.43"})

    async def info(self) -> EngineInfo:
        info: EngineInfo = await self._answer("info", self.info_data)
        return info

    async def containers(self, *, all: bool = True) -> list[ContainerSummary]:
        assert all, "runbooks here ask for every container"
        found: list[ContainerSummary] = await self._answer("containers", self.container_list)
        return found

    async def inspect_container(self, ref: str) -> ContainerDetails:
        await self.log.around("inspect_container")
        if ref not in self.details:
            raise DockerObjectNotFound("web1", f"no such container: {ref}")
        return self.details[ref]

    async def volumes(self) -> list[Volume]:
        await self.log.around("volumes")
        return self.volume_list

    async def networks(self) -> list[NetworkSummary]:
        await self.log.around("networks")
        return self.network_list

    async def disk_usage(self) -> DiskUsage:
        usage: DiskUsage = await self._answer("disk_usage", self.disk_usage_data)
        return usage

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        await self.log.around("logs")
        return self.log_text.get(ref, "")

    async def exec_run(
        self, ref: str, argv: Sequence[str], *, timeout: float = EXEC_TIMEOUT
    ) -> ExecResult:
        await self.log.around("exec_run")
        if self.exec_handler is None:
            raise AssertionError(f"no canned answer for docker.exec_run({ref!r}, {argv!r})")
        answer = self.exec_handler(ref, tuple(argv))
        if isinstance(answer, BaseException):
            raise answer
        return answer

    # --- writes: recorded in ``writes`` (tests of actions assert on them)

    async def _record(self, *call: Any) -> None:
        await self.log.around(str(call[0]))
        self.writes.append(call)

    async def connect_network(
        self, network: str, container: str, *, aliases: Sequence[str] = ()
    ) -> None:
        await self._record("connect_network", network, container, tuple(aliases))

    async def restart_container(self, ref: str, *, timeout: int = 10) -> None:
        await self._record("restart_container", ref, timeout)

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None:
        await self._record("stop_container", ref, timeout)

    async def start_container(self, ref: str) -> None:
        await self._record("start_container", ref)

    async def rename_container(self, ref: str, name: str) -> None:
        await self._record("rename_container", ref, name)

    async def remove_container(self, ref: str, *, force: bool = False) -> None:
        await self._record("remove_container", ref, force)

    async def create_container(self, body: dict[str, Any], *, name: str) -> str:
        await self._record("create_container", name, body)
        return "f" * 64

    async def wait_container(self, ref: str, *, timeout: float) -> int:
        await self._record("wait_container", ref, timeout)
        return 0

    async def prune(self) -> dict[str, int]:
        await self._record("prune")
        return {"containers": 0, "images": 0, "build_cache": 0}


class FakeHostSession:
    """A ``bot.framework.session.HostSession`` from a command handler and a ``FakeDocker``."""

    def __init__(
        self,
        *,
        handler: Handler = no_commands,
        docker: FakeDocker | None = None,
        files: dict[str, bytes] | None = None,
        host: ResolvedHost | None = None,
    ) -> None:
        self._docker = docker if docker is not None else FakeDocker(log=CallLog())
        self.log = self._docker.log
        self._handler = handler
        self._files = files or {}
        self._host = host or fake_host()
        self.commands: list[tuple[str, ...]] = []
        self.timeouts: list[float | None] = []
        self._memo: dict[str, Any] = {}

    @property
    def host(self) -> ResolvedHost:
        return self._host

    @property
    def docker(self) -> DockerEngine:
        return self._docker

    @property
    def memo(self) -> dict[str, Any]:
        return self._memo

    async def run(
        self, argv: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        if isinstance(argv, str):
            raise TypeError("argv must be a list of arguments, never a shell string")
        key = tuple(argv)
        self.commands.append(key)
        self.timeouts.append(timeout)
        await self.log.around(" ".join(key))
        answer = self._handler(key)
        if isinstance(answer, BaseException):
            raise answer
        if check and not answer.ok:
            raise CommandFailed(self._host.name, answer)
        return answer

    async def read_file(self, path: str, *, max_bytes: int = 1_048_576) -> bytes:
        if path not in self._files:
            raise FileNotFoundError(path)
        return self._files[path][:max_bytes]

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        raise NotImplementedError("FakeHostSession has no database")
