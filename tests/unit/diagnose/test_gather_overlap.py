"""What the diagnosis's reads overlap: the inspections never wait for ``/system/df``,
and compose's reads run the plugin's own program when the search found it."""

from __future__ import annotations

import asyncio

from bot.framework.compose_cli import PLUGIN_DIRS
from bot.framework.session import CommandResult
from bot.model.docker_objects import ContainerDetails, ContainerSummary, DiskUsage
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import NOW
from tests.unit.diagnose.test_gather import CONFIG_V2, session
from tests.unit.fakes import FakeDocker, completed

PROGRAM = "/home/deploy/.docker/cli-plugins/docker-compose"


class DfAfterInspect(FakeDocker):
    """``/system/df`` answers only once a container has been inspected."""

    inspected: asyncio.Event | None = None

    async def inspect_container(self, ref: str) -> ContainerDetails:
        if self.inspected is None:
            self.inspected = asyncio.Event()
        self.inspected.set()
        return await super().inspect_container(ref)

    async def disk_usage(self) -> DiskUsage:
        if self.inspected is None:
            self.inspected = asyncio.Event()
        await self.inspected.wait()
        return await super().disk_usage()


async def test_the_inspections_do_not_wait_for_the_disk_usage() -> None:
    fake, docker = session(DfAfterInspect)
    facts = await gather_facts(fake, deadline=5, now=NOW)  # would miss its deadline
    assert len(facts.containers) == docker.log.count("inspect_container") == 3
    assert docker.log.count("disk_usage") == 1 and facts.filesystems


def searched(argv: tuple[str, ...]) -> CommandResult:
    """A host where the search finds the plugin's program (and no `docker` is asked)."""
    if argv[:2] == ("sh", "-c") and argv[5:] == PLUGIN_DIRS:
        return completed(argv, f"{PROGRAM}\n\n2.40.3\n")  # no identity: stat printed none
    assert argv[3:5] != ("docker", "compose"), argv
    return completed(argv, "backend\nnginx\n")


async def test_compose_reads_run_the_program_the_search_found() -> None:
    fake, _ = session(compose=searched)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    program = (*CONFIG_V2[:3], PROGRAM, *CONFIG_V2[5:])
    assert program in fake.commands  # `config --services`, the same arguments
    (dry,) = [argv for argv in fake.commands if "--dry-run" in argv]
    assert dry == (
        *program[:-2], "up", "-d", "--dry-run", "--no-build", "--pull", "never", "--no-start",
    )  # fmt: skip
    assert [a for a in fake.commands if a[-2:] == ("version", "--short")] == []
    (shop,) = facts.compose_services
    assert (shop.services, shop.error, shop.stale_by) == (
        ("backend", "nginx"),
        None,
        "compose's dry run of `up`",
    )
    (orphan,) = [f for f in judge(facts).findings if f.code == "compose.orphan_container"]
    assert orphan.subject.container == "shop-db-1"


class ListAfterSearch(FakeDocker):
    """The container list answers only once compose's plugin search has started."""

    searching: asyncio.Event | None = None

    async def containers(self, *, all: bool = True) -> list[ContainerSummary]:
        assert self.searching is not None
        await asyncio.wait_for(self.searching.wait(), timeout=5)
        return await super().containers(all=all)


async def test_the_plugin_search_starts_with_the_first_docker_reads() -> None:
    searching = asyncio.Event()

    def search(argv: tuple[str, ...]) -> CommandResult:
        if argv[5:] == PLUGIN_DIRS:
            searching.set()
        return searched(argv)

    fake, docker = session(ListAfterSearch, compose=search)
    assert isinstance(docker, ListAfterSearch)
    docker.searching = searching
    facts = await gather_facts(fake, deadline=10, now=NOW)  # would miss its deadline
    searches = [argv for argv in fake.commands if argv[5:] == PLUGIN_DIRS]
    assert len(searches) == 1 and facts.compose_services[0].services == ("backend", "nginx")
