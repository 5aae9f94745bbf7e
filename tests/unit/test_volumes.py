from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.model.docker_objects import ContainerSummary, DiskUsage
from bot.model.host_reports import VolumesReport
from runbooks.volumes import Params, run
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession

ANON = "3f4a" + "0" * 56 + "beef"
COMPOSE_ANON = "9c1d" + "1" * 56 + "cafe"


def volume(name: str, size: int, refs: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "Name": name,
        "Driver": "local",
        "Mountpoint": f"/var/lib/docker/volumes/{name}/_data",
        "CreatedAt": "2024-05-02T09:14:03+02:00",
        "Labels": labels,
        "Scope": "local",
        "UsageData": {"Size": size, "RefCount": refs},
    }


def compose(project: str, name: str) -> dict[str, str]:
    return {
        "com.docker.compose.project": project,
        "com.docker.compose.volume": name,
        "com.docker.compose.version": "2.24.5",
    }


SYSTEM_DF = {
    "LayersSize": 0,
    "Volumes": [
        volume("shop_pgdata", 1_200_000_000, 1, compose("shop", "pgdata")),
        # left behind when the project was renamed: nothing mounts it
        volume("oldshop_pgdata", 3_400_000_000, 0, compose("oldshop", "pgdata")),
        volume(ANON, 52_000, 1, None),
        # compose anonymous volumes carry the project but no volume label
        volume(COMPOSE_ANON, 4096, 0, {"com.docker.compose.project": "shop"}),
        volume("scratch", -1, 0, None),
    ],
}


def container(name: str, state: str, project: str | None, mounts: list[dict[str, Any]]) -> Any:
    labels = {"com.docker.compose.project": project} if project else {}
    return {
        "Id": name.encode().hex().ljust(64, "0"),
        "Names": [f"/{name}"],
        "Image": "postgres:16",
        "State": state,
        "Status": "Up 3 days" if state == "running" else "Exited (0) 2 hours ago",
        "Created": 1714633443,
        "Labels": labels,
        "Mounts": mounts,
    }


def volume_mount(name: str, destination: str) -> dict[str, Any]:
    return {
        "Type": "volume",
        "Name": name,
        "Source": f"/var/lib/docker/volumes/{name}/_data",
        "Destination": destination,
        "Driver": "local",
        "RW": True,
    }


CONTAINERS = [
    container(
        "shop-db-1",
        "running",
        "shop",
        [volume_mount("shop_pgdata", "/var/lib/postgresql/data")],
    ),
    container(
        "shop-worker-1",
        "exited",
        "shop",
        [
            volume_mount(ANON, "/cache"),
            {"Type": "bind", "Source": "/srv/shop/conf", "Destination": "/conf", "RW": False},
        ],
    ),
    container("adhoc", "running", None, [volume_mount(ANON, "/tmp/cache")]),
]


def session() -> FakeHostSession:
    docker = FakeDocker(
        log=CallLog(ticks=2),
        disk_usage_data=DiskUsage.model_validate(SYSTEM_DF),
        container_list=[ContainerSummary.model_validate(c) for c in CONTAINERS],
    )
    return FakeHostSession(docker=docker)


async def test_each_volume_has_its_mounts_size_and_labels() -> None:
    report = await run(session(), Params())

    rows = {row.name: row for row in report.volumes}
    assert set(rows) == {"shop_pgdata", "oldshop_pgdata", ANON, COMPOSE_ANON, "scratch"}
    pgdata = rows["shop_pgdata"]
    assert (pgdata.compose_project, pgdata.compose_volume) == ("shop", "pgdata")
    assert pgdata.size_bytes == 1_200_000_000
    assert pgdata.created == datetime(2024, 5, 2, 7, 14, 3, tzinfo=UTC)
    assert [(u.container, u.state, u.running) for u in pgdata.mounted_by] == [
        ("shop-db-1", "running", True)
    ]
    assert pgdata.mounted_by[0].destination == "/var/lib/postgresql/data"
    assert pgdata.in_use
    assert not pgdata.anonymous
    assert rows["scratch"].size_bytes is None


async def test_an_orphaned_volume_is_not_in_use() -> None:
    report = await run(session(), Params())

    orphan = next(row for row in report.volumes if row.name == "oldshop_pgdata")
    assert orphan.mounted_by == []
    assert not orphan.in_use
    assert orphan.size_bytes == 3_400_000_000


async def test_anonymous_volumes_are_marked_with_every_user() -> None:
    report = await run(session(), Params())

    rows = {row.name: row for row in report.volumes}
    anon = rows[ANON]
    assert anon.anonymous
    assert anon.in_use
    # running containers first
    assert [(u.container, u.running) for u in anon.mounted_by] == [
        ("adhoc", True),
        ("shop-worker-1", False),
    ]
    assert rows[COMPOSE_ANON].anonymous
    assert not rows["scratch"].anonymous


async def test_volumes_are_sorted_by_project_then_name() -> None:
    report = await run(session(), Params())

    assert [(row.compose_project, row.name) for row in report.volumes] == [
        ("oldshop", "oldshop_pgdata"),
        ("shop", COMPOSE_ANON),
        ("shop", "shop_pgdata"),
        (None, ANON),
        (None, "scratch"),
    ]


async def test_one_system_df_and_one_container_list_only() -> None:
    fake = session()

    await run(fake, Params())

    assert fake.log.count("disk_usage") == 1
    assert fake.log.count("containers") == 1
    assert fake.log.count("inspect_container") == 0
    assert fake.log.count("volumes") == 0
    assert fake.commands == []
    entries = fake.log.entries  # the two calls overlap
    assert entries.index("start:containers") < entries.index("end:disk_usage")


async def test_project_filter_keeps_its_volumes_and_those_its_containers_mount() -> None:
    report = await run(session(), Params(project="shop"))

    assert report.project == "shop"
    assert [row.name for row in report.volumes] == [COMPOSE_ANON, "shop_pgdata", ANON]


async def test_an_unknown_project_has_no_volumes() -> None:
    report = await run(session(), Params(project="nope"))

    assert report == VolumesReport(project="nope", volumes=[])


def test_params_forbid_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Params.model_validate({"projects": "shop"})
