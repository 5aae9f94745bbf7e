"""Gathering a host's facts: one list, one inspect per container, and a deadline that holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from bot.docker_objects import ContainerSummary, DiskUsage, EngineInfo
from bot.errors import DatabaseUnreachable
from bot.session import CommandResult, Database, ExecResult
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import NOW, lab_stack
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

DF = (
    "Filesystem 1-blocks Used Available Capacity Mounted on\n"
    "/dev/vda 1000000 500000 500000 50% /\n"
    "/dev/vda 1000000 500000 500000 50% /\n"
)
DFI = (
    "Filesystem Inodes IUsed IFree IUse% Mounted on\n"
    "/dev/vda 1000 10 990 1% /\n"
    "/dev/vda 1000 10 990 1% /\n"
)


class SlowLogsDocker(FakeDocker):
    """Answers everything at once, except the proxy's logs, which never come."""

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        await asyncio.sleep(3600)
        return ""


class Session(FakeHostSession):
    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        @asynccontextmanager
        async def refused() -> AsyncIterator[Database]:
            raise DatabaseUnreachable("web1", f"postgres at {address}:{port}: connection refused")
            yield  # pragma: no cover

        return refused()


def session(docker_type: type[FakeDocker] = FakeDocker) -> tuple[Session, FakeDocker]:
    containers = lab_stack()
    docker = docker_type(
        log=CallLog(),
        info_data=EngineInfo.model_validate({"DockerRootDir": "/var/lib/docker"}),
        disk_usage_data=DiskUsage.model_validate({"Volumes": []}),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={c.id: c for c in containers},
        exec_handler=lambda ref, argv: ExecResult(
            container=ref, argv=argv, exit_code=0, output="172.18.0.3  db\n"
        ),
    )

    def df(argv: tuple[str, ...]) -> CommandResult:
        return completed(argv, DFI if "-i" in argv else DF)

    files = {"/proc/uptime": b"400000.0 1.0\n", "/srv/shop/.env": b"DATABASE_URL=x\n"}
    return Session(handler=df, docker=docker, files=files), docker


async def test_one_list_and_one_inspect_per_container() -> None:
    fake, docker = session()
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert docker.log.count("containers") == 1
    assert docker.log.count("inspect_container") == len(facts.containers) == 3
    assert docker.log.count("disk_usage") == 1
    assert facts.unfinished == ()
    assert [d.status for d in facts.databases] == ["unreachable"]
    assert facts.filesystems and facts.uptime_seconds == 400000.0


async def test_a_step_past_the_deadline_is_named_and_the_rest_is_kept() -> None:
    fake, _ = session(SlowLogsDocker)
    started = asyncio.get_running_loop().time()
    facts = await gather_facts(fake, deadline=0.5, now=NOW)
    assert asyncio.get_running_loop().time() - started < 5
    assert facts.unfinished == ("logs of shop-nginx-1",)
    assert facts.databases and facts.filesystems  # the other steps finished
    diagnosis = judge(facts)
    (incomplete,) = [f for f in diagnosis.findings if f.code == "diagnose.incomplete"]
    assert incomplete.evidence["unfinished"] == ["logs of shop-nginx-1"]
    assert diagnosis.unfinished == ["logs of shop-nginx-1"]
