from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import runbooks
from bot.framework.runbook import Risk, Runbook, RunbookDefinitionError
from bot.framework.session import CommandResult, HostSession
from bot.model.docker_objects import DiskUsage, EngineInfo
from bot.model.errors import CommandFailed, CommandTimeout, DockerUnavailable
from bot.model.host_reports import DiskReport, VolumesReport, level_of
from runbooks.disk import (
    DEFAULT_DOCKER_ROOT,
    RUNBOOK,
    Params,
    assign_paths,
    docker_usage_rows,
    failed_paths,
    parse_df,
    run,
)
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

LONG_DEVICE = "/dev/mapper/ubuntu--vg-docker--data--lv--with--a--very--long--name"

# df output for `/ /data/docker /srv/backups`: /srv/backups lives on /, the
# Docker root on an LVM volume whose name is too long for its column, so (as
# busybox and older coreutils do) it stands alone with the figures below it.
DF_SPACE = f"""\
Filesystem               1-blocks         Used    Available Capacity Mounted on
/dev/nvme0n1p1        41555521536  35811794944   5726949376      87% /
{LONG_DEVICE}
                     107374182400 102542909440   4831272960      96% /data/docker
/dev/nvme0n1p1        41555521536  35811794944   5726949376      87% /
"""
DF_INODES = f"""\
Filesystem             Inodes   IUsed   IFree IUse% Mounted on
/dev/nvme0n1p1        2580480 2270822  309658   89% /
{LONG_DEVICE}
                      6553600 1310720 5242880   20% /data/docker
/dev/nvme0n1p1        2580480 2270822  309658   89% /
"""

SYSTEM_DF = {
    "LayersSize": 4_000_000_000,
    "Images": [
        # used by a container: 1.5 GB of its own, 0.5 GB shared with others
        {"Id": "sha256:a", "Size": 2_000_000_000, "SharedSize": 500_000_000, "Containers": 1},
        {"Id": "sha256:b", "Size": 1_000_000_000, "SharedSize": 500_000_000, "Containers": 0},
        {"Id": "sha256:c", "Size": 1_000_000_000, "SharedSize": 0, "Containers": 0},
    ],
    "Containers": [
        {"Id": "c1", "SizeRw": 100_000_000, "State": "running"},
        {"Id": "c2", "SizeRw": 300_000_000, "State": "exited"},
        {"Id": "c3", "SizeRw": 0, "State": "paused"},
    ],
    "Volumes": [
        {"Name": "shop_pgdata", "UsageData": {"Size": 6_000_000_000, "RefCount": 1}},
        {"Name": "oldshop_pgdata", "UsageData": {"Size": 2_000_000_000, "RefCount": 0}},
        {"Name": "remote", "Driver": "nfs", "UsageData": {"Size": -1, "RefCount": 0}},
    ],
    "BuildCache": [
        {"ID": "b1", "Size": 700_000_000, "InUse": False},
        {"ID": "b2", "Size": 300_000_000, "InUse": True},
    ],
}


def df_handler(
    space: str = DF_SPACE, inodes: str | Exception = DF_INODES
) -> Callable[[tuple[str, ...]], CommandResult | BaseException]:
    def handle(argv: tuple[str, ...]) -> CommandResult | BaseException:
        if argv[:3] == ("df", "-P", "-B1"):
            return completed(argv, stdout=space)
        if argv[:3] == ("df", "-P", "-i"):
            return inodes if isinstance(inodes, Exception) else completed(argv, stdout=inodes)
        raise AssertionError(f"unexpected command {argv}")

    return handle


def session(
    handler: Callable[[tuple[str, ...]], CommandResult | BaseException] | None = None,
    *,
    root: str = "/data/docker",
    ticks: int = 0,
) -> FakeHostSession:
    docker = FakeDocker(
        log=CallLog(ticks=ticks),
        info_data=EngineInfo.model_validate({"Name": "web1", "DockerRootDir": root}),
        disk_usage_data=DiskUsage.model_validate(SYSTEM_DF),
    )
    return FakeHostSession(handler=handler or df_handler(), docker=docker)


async def run_disk(fake: HostSession, paths: tuple[str, ...] = ("/srv/backups",)) -> DiskReport:
    return await run(fake, Params(paths=paths))


# --- df parsing -------------------------------------------------------------------


def test_parse_df_joins_a_wrapped_device_line() -> None:
    rows = parse_df(DF_SPACE)

    assert [row.mount_point for row in rows] == ["/", "/data/docker", "/"]
    assert rows[1].device == LONG_DEVICE
    assert (rows[1].total, rows[1].used, rows[1].free, rows[1].percent) == (
        107374182400,
        102542909440,
        4831272960,
        96,
    )


def test_parse_df_reads_dashes_and_mount_points_with_spaces() -> None:
    output = (
        "Filesystem     Inodes IUsed IFree IUse% Mounted on\n"
        "/dev/sdb1           0     0     0     - /mnt/btrfs data\n"
        "fuse.sshfs          -     -     -     - /mnt/remote\n"
    )

    rows = parse_df(output)

    assert [row.mount_point for row in rows] == ["/mnt/btrfs data", "/mnt/remote"]
    assert (rows[0].total, rows[0].percent) == (0, None)
    assert (rows[1].device, rows[1].total, rows[1].used) == ("fuse.sshfs", None, None)


def test_parse_df_of_nothing_is_empty() -> None:
    assert parse_df("") == []
    assert parse_df("Filesystem 1-blocks Used Available Capacity Mounted on\n") == []


def test_failed_paths_are_read_from_stderr() -> None:
    stderr = "df: /srv/missing: No such file or directory\ndf: '/srv/a b': Permission denied\n"

    assert failed_paths(stderr, ["/", "/srv/missing", "/srv/a b", "/srv"]) == {
        "/srv/missing",
        "/srv/a b",
    }


def test_assign_paths_falls_back_to_the_longest_mount_prefix() -> None:
    rows = parse_df(DF_SPACE)[:2]  # three paths asked, one row missing, no stderr to say why
    asked = [("/", "/"), ("/data/docker", "docker root"), ("/data/docker/volumes", "vols")]

    groups, unresolved = assign_paths(asked, rows)

    assert [(row.mount_point, labels) for row, labels in groups] == [
        ("/", ["/"]),
        ("/data/docker", ["docker root", "vols"]),
    ]
    assert unresolved == []


@pytest.mark.parametrize(
    ("percents", "level"),
    [((84.9, None), "ok"), ((85.0, 10.0), "warning"), ((10.0, 95.0), "critical"), ((), "ok")],
)
def test_level_thresholds(percents: tuple[float | None, ...], level: str) -> None:
    assert level_of(*percents) == level


# --- the runbook ------------------------------------------------------------------


async def test_disk_reports_each_filesystem_once_with_what_it_holds() -> None:
    report = await run_disk(session())

    assert report.docker_root == "/data/docker"
    assert [fs.mount_point for fs in report.filesystems] == ["/", "/data/docker"]
    root, docker = report.filesystems
    assert root.holds == ("/", "/srv/backups")
    assert docker.holds == ("docker root",)
    assert docker.device == LONG_DEVICE
    assert root.size_bytes == 41555521536
    assert root.percent_used == 86.2  # used / (used + available), not used / size
    assert (root.inodes_total, root.inodes_used, root.inodes_percent) == (2580480, 2270822, 88.0)
    assert root.level == "warning"
    assert docker.percent_used == 95.5
    assert docker.level == "critical"
    assert report.level == "critical"
    assert report.inodes_error is None
    assert report.unresolved_paths == []


async def test_docker_root_on_the_root_filesystem_is_one_row() -> None:
    single = (
        "Filesystem     1-blocks       Used  Available Capacity Mounted on\n"
        "/dev/vda   270553174016 24483618816 84460675072      23% /\n"
        "/dev/vda   270553174016 24483618816 84460675072      23% /\n"
    )
    fake = session(df_handler(space=single, inodes=""), root="/var/lib/docker")

    report = await run_disk(fake, paths=())

    assert len(report.filesystems) == 1
    assert report.filesystems[0].holds == ("/", "docker root")
    assert report.filesystems[0].level == "ok"
    assert report.inodes_error == "`df -P -i -- / /var/lib/docker` printed no figures"


async def test_disk_runs_df_as_argv_lists_with_a_timeout() -> None:
    fake = session()

    await run_disk(fake)

    assert sorted(fake.commands) == [
        ("df", "-P", "-B1", "--", "/", "/data/docker", "/srv/backups"),
        ("df", "-P", "-i", "--", "/", "/data/docker", "/srv/backups"),
    ]
    assert all(timeout is not None and timeout > 0 for timeout in fake.timeouts)


async def test_df_and_the_engine_api_run_concurrently() -> None:
    fake = session(ticks=3)

    await run_disk(fake)

    log = fake.log.entries
    space = "df -P -B1 -- / /data/docker /srv/backups"
    inodes = "df -P -i -- / /data/docker /srv/backups"
    # df needs the root dir from info(); system df overlaps info, the two dfs overlap.
    assert log.index("start:disk_usage") < log.index("end:info") < log.index(f"start:{space}")
    assert log.index(f"start:{inodes}") < log.index(f"end:{space}")
    assert fake.log.count("disk_usage") == 1
    assert fake.log.count("info") == 1


async def test_a_failed_df_inodes_keeps_the_space_figures() -> None:
    def handler(argv: tuple[str, ...]) -> CommandResult | BaseException:
        if "-i" in argv:
            return completed(argv, stderr="df: invalid option -- 'i'\n", status=1)
        return completed(argv, stdout=DF_SPACE)

    report = await run_disk(session(handler))

    root = report.filesystems[0]
    assert root.size_bytes == 41555521536
    assert root.percent_used == 86.2
    assert (root.inodes_total, root.inodes_used, root.inodes_percent) == (None, None, None)
    assert report.inodes_error is not None
    assert "status 1" in report.inodes_error
    assert "invalid option" in report.inodes_error


async def test_a_df_inodes_timeout_keeps_the_space_figures() -> None:
    timeout = CommandTimeout("web1", "df -P -i -- /", 20.0, "", "")

    report = await run_disk(session(df_handler(inodes=timeout)))

    assert report.filesystems[1].used_bytes == 102542909440
    assert report.filesystems[1].inodes_total is None
    assert report.inodes_error is not None
    assert "did not finish" in report.inodes_error


async def test_no_inode_figures_on_a_filesystem_without_inodes() -> None:
    space = (
        "Filesystem 1-blocks Used Available Capacity Mounted on\n"
        "/dev/sdb1 1000000 990000 10000 99% /\n"
        "/dev/sdb1 1000000 990000 10000 99% /\n"
        "/dev/sdb1 1000000 990000 10000 99% /\n"
    )
    inodes = "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/sdb1 0 0 0 - /\n"

    report = await run_disk(session(df_handler(space=space, inodes=inodes)))

    (fs,) = report.filesystems
    assert fs.inodes_total is None
    assert fs.inodes_percent is None
    assert fs.level == "critical"
    assert report.inodes_error is None


async def test_a_missing_extra_path_is_reported_unresolved() -> None:
    space = "\n".join(DF_SPACE.splitlines()[:4]) + "\n"  # df printed / and the root only

    def handler(argv: tuple[str, ...]) -> CommandResult | BaseException:
        stderr = "df: /srv/backups: No such file or directory\n"
        out = space if "-B1" in argv else DF_INODES
        return completed(argv, stdout=out, stderr=stderr, status=1)

    report = await run_disk(session(handler))

    assert report.unresolved_paths == ["/srv/backups"]
    assert [fs.holds for fs in report.filesystems] == [("/",), ("docker root",)]


async def test_a_failed_df_is_a_command_failure() -> None:
    def handler(argv: tuple[str, ...]) -> CommandResult | BaseException:
        return completed(argv, stderr="sh: df: not found\n", status=127)

    with pytest.raises(CommandFailed, match="not found"):
        await run_disk(session(handler))


async def test_docker_down_still_reports_the_filesystems() -> None:
    down = DockerUnavailable("web1", "the Docker daemon does not answer")
    docker = FakeDocker(log=CallLog(), info_data=down, disk_usage_data=down)
    single = "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda 100 50 50 50% /\n"
    fake = FakeHostSession(handler=df_handler(space=single * 2, inodes=""), docker=docker)

    report = await run(fake, Params())

    assert report.docker_root == DEFAULT_DOCKER_ROOT
    assert fake.commands[0][-1] == DEFAULT_DOCKER_ROOT
    assert report.docker == []
    assert report.docker_error is not None
    assert report.docker_error.startswith("docker.unreachable")
    assert report.filesystems[0].percent_used == 50.0


# --- docker system df -------------------------------------------------------------


def test_docker_usage_is_computed_like_the_docker_cli() -> None:
    rows = {row.kind: row for row in docker_usage_rows(DiskUsage.model_validate(SYSTEM_DF))}

    images = rows["images"]
    assert (images.total, images.active, images.size_bytes) == (3, 1, 4_000_000_000)
    assert images.reclaimable_bytes == 2_500_000_000  # 4 GB minus image a's unique 1.5 GB
    assert images.reclaimable_percent == 62
    containers = rows["containers"]
    assert (containers.total, containers.active, containers.size_bytes) == (3, 2, 400_000_000)
    assert (containers.reclaimable_bytes, containers.reclaimable_percent) == (300_000_000, 75)
    volumes = rows["local volumes"]
    assert (volumes.total, volumes.active, volumes.size_bytes) == (3, 1, 8_000_000_000)
    assert (volumes.reclaimable_bytes, volumes.reclaimable_percent) == (2_000_000_000, 25)
    cache = rows["build cache"]
    assert (cache.total, cache.active, cache.size_bytes) == (2, 1, 1_000_000_000)
    assert (cache.reclaimable_bytes, cache.reclaimable_percent) == (700_000_000, None)


def test_empty_docker_usage_has_no_percentages() -> None:
    rows = docker_usage_rows(DiskUsage.model_validate({"LayersSize": 0, "Images": None}))

    assert [row.kind for row in rows] == ["images", "containers", "local volumes", "build cache"]
    assert all(row.total == 0 and row.reclaimable_percent is None for row in rows)


# --- params -----------------------------------------------------------------------


def test_params_forbid_unknown_keys_and_relative_paths() -> None:
    with pytest.raises(ValidationError):
        Params.model_validate({"path": ["/srv"]})
    with pytest.raises(ValidationError, match="absolute"):
        Params(paths=("srv",))
    with pytest.raises(ValidationError, match="absolute"):
        Params(paths=("-h",))


# --- registration -----------------------------------------------------------------


def test_the_loader_finds_disk_and_volumes() -> None:
    found = runbooks.load_runbooks()

    assert found["disk"] is RUNBOOK
    assert found["volumes"].result is VolumesReport
    assert {found["disk"].risk, found["volumes"].risk} == {Risk.READ_ONLY}
    assert found["disk"].title.startswith("Disk space:")


async def _fine(session: HostSession, params: Params) -> DiskReport:
    raise AssertionError("never run")


def _sync(session: HostSession, params: Params) -> DiskReport:
    raise AssertionError("never run")


class LooseParams(BaseModel):
    paths: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "disk check"}, "plain identifier"),
        ({"summary": "  "}, "summary"),
        ({"params": LooseParams}, "extra='forbid'"),
        ({"params": dict}, "params is not a pydantic model"),
        ({"result": str}, "result is not a pydantic model"),
        ({"run": _sync}, "not an async function"),
    ],
)
def test_a_malformed_runbook_is_rejected(changes: dict[str, Any], problem: str) -> None:
    fields: dict[str, Any] = {
        "name": "disk2",
        "summary": "Disk.",
        "params": Params,
        "result": DiskReport,
        "risk": Risk.READ_ONLY,
        "run": _fine,
    }
    Runbook(**fields)  # the baseline is fine

    with pytest.raises(RunbookDefinitionError, match=re.escape(problem)):
        Runbook(**(fields | changes))


def test_a_runbook_module_without_a_declaration_fails_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "zz_broken.py").write_text('"""Forgot its RUNBOOK."""\n')
    monkeypatch.setattr(runbooks, "__path__", [*runbooks.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "runbooks.zz_broken", raising=False)

    try:
        with pytest.raises(RunbookDefinitionError, match=r"runbooks\.zz_broken"):
            runbooks.load_runbooks()
    finally:
        sys.modules.pop("runbooks.zz_broken", None)
