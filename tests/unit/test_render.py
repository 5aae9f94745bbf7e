from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

import bot.render
from bot.model.errors import HostUnreachable
from bot.model.host_reports import (
    DiskReport,
    DockerUsageRow,
    Filesystem,
    VolumeRow,
    VolumesReport,
    VolumeUser,
)
from bot.model.outcome import ErrorInfo, HostOutcome, RunOutcome
from bot.render import render_json, render_terminal
from bot.render.terminal import human_count, human_size

SECRET = "hunter2-planted"
STARTED = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
ANON = "3f4a" + "0" * 56 + "beef"


def disk_report() -> DiskReport:
    return DiskReport(
        docker_root="/data/docker",
        filesystems=[
            Filesystem(
                mount_point="/",
                device="/dev/nvme0n1p1",
                size_bytes=41_555_521_536,
                used_bytes=35_811_794_944,
                available_bytes=5_726_949_376,
                percent_used=86.2,
                inodes_total=2_580_480,
                inodes_used=2_270_822,
                inodes_percent=88.0,
                holds=("/", "/srv/backups"),
                level="warning",
            ),
            Filesystem(
                mount_point="/mnt/dav",
                device=f"https://backup:{SECRET}@dav.example.com/remote.php",
                size_bytes=107_374_182_400,
                used_bytes=102_542_909_440,
                available_bytes=4_831_272_960,
                percent_used=95.5,
                holds=("docker root",),
                level="critical",
            ),
        ],
        docker=[
            DockerUsageRow(
                kind="images",
                total=3,
                active=1,
                size_bytes=4_000_000_000,
                reclaimable_bytes=2_500_000_000,
                reclaimable_percent=62,
            ),
            DockerUsageRow(
                kind="build cache", total=0, active=0, size_bytes=0, reclaimable_bytes=0
            ),
        ],
        inodes_error=None,
    )


def volumes_report() -> VolumesReport:
    return VolumesReport(
        volumes=[
            VolumeRow(
                name="oldshop_pgdata",
                driver="local",
                created=datetime(2024, 3, 1, 8, 30, tzinfo=UTC),
                size_bytes=3_400_000_000,
                compose_project="oldshop",
                compose_volume="pgdata",
                labels={"backup.s3_secret": SECRET, "backup.target": f"s3://k:{SECRET}@bucket/x"},
                mounted_by=[],
                anonymous=False,
                in_use=False,
            ),
            VolumeRow(
                name="shop_pgdata",
                driver="local",
                created=datetime(2024, 5, 2, 7, 14, tzinfo=UTC),
                size_bytes=1_200_000_000,
                compose_project="[bold]shop",
                compose_volume="pgdata",
                mounted_by=[
                    VolumeUser(
                        container="shop-db-1",
                        state="running",
                        running=True,
                        destination="/var/lib/postgresql/data",
                    )
                ],
                anonymous=False,
                in_use=True,
            ),
            VolumeRow(
                name=ANON,
                driver="local",
                created=None,
                size_bytes=None,
                compose_project=None,
                compose_volume=None,
                mounted_by=[
                    VolumeUser(
                        container="shop-worker-1", state="exited", running=False, destination="/c"
                    )
                ],
                anonymous=True,
                in_use=True,
            ),
        ]
    )


def unreachable() -> HostOutcome[Any]:
    error = HostUnreachable("web2", "connection refused by 203.0.113.11:22")
    return HostOutcome(
        host="web2", label="prod/web2", duration=10.0, error=ErrorInfo.from_error(error)
    )


def disk_outcome() -> RunOutcome[DiskReport]:
    return RunOutcome[DiskReport](
        environment="prod",
        runbook="disk",
        started_at=STARTED,
        duration=1.234,
        hosts=[
            HostOutcome[DiskReport](
                host="web1",
                label="prod/web1 (deploy@203.0.113.10:22)",
                duration=0.8,
                result=disk_report(),
            ),
            unreachable(),
        ],
    )


def volumes_outcome() -> RunOutcome[VolumesReport]:
    return RunOutcome[VolumesReport](
        environment="prod",
        runbook="volumes",
        started_at=STARTED,
        duration=0.5,
        hosts=[
            HostOutcome[VolumesReport](
                host="web1", label="prod/web1", duration=0.4, result=volumes_report()
            )
        ],
    )


def terminal_text(outcome: RunOutcome[Any], **kwargs: Any) -> str:
    console = Console(record=True, width=120, color_system=None)
    render_terminal(outcome, console, **kwargs)
    return console.export_text()


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "—"),
        (0, "0 B"),
        (512, "512 B"),
        (1_234, "1.2 kB"),
        (1_200_000_000, "1.2 GB"),
        (41_555_521_536, "41.6 GB"),
        (107_374_182_400, "107 GB"),
        (3 * 10**15, "3.0 PB"),
    ],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_human_count() -> None:
    assert (human_count(2_580_480), human_count(999), human_count(None)) == ("2.6M", "999", "—")


# --- terminal -----------------------------------------------------------------------


def test_terminal_disk_has_a_header_tables_and_an_error_line() -> None:
    text = terminal_text(disk_outcome())

    lines = text.splitlines()
    assert lines[0] == "prod · disk · 1.23 s · 2 hosts (1 failed)"
    assert "prod/web1 (deploy@203.0.113.10:22)" in text
    root_line = next(line for line in lines if "/dev/nvme0n1p1" in line)
    for cell in ("41.6 GB", "35.8 GB", "5.7 GB", "86.2%", "2.6M", "88.0%", "/, /srv/backups"):
        assert cell in root_line
    dav_line = next(line for line in lines if "/mnt/dav" in line)
    assert "95.5%" in dav_line
    assert "—" in dav_line  # no inode figures
    assert "Images" in text
    assert "2.5 GB (62%)" in text
    assert "web2: host.unreachable: connection refused by 203.0.113.11:22" in lines


def test_terminal_colours_percentages_by_level() -> None:
    console = Console(record=True, width=120, force_terminal=True, color_system="standard")
    render_terminal(disk_outcome(), console)

    html = console.export_html(inline_styles=True)
    assert "86.2%" in html
    # critical is bold red, warning yellow
    warning = html[: html.index("86.2%")].rsplit("<span", 1)[1]
    critical = html[: html.index("95.5%")].rsplit("<span", 1)[1]
    assert "#808000" in warning or "yellow" in warning
    assert "font-weight: bold" in critical
    assert "#800000" in critical or "red" in critical


def test_terminal_disk_notes_what_is_unknown() -> None:
    report = disk_report().model_copy(
        update={"inodes_error": "`df -P -i` exited with status 1", "unresolved_paths": ["/srv/x"]}
    )
    outcome = disk_outcome().model_copy(
        update={"hosts": [HostOutcome[DiskReport](host="a", label="a", duration=0, result=report)]}
    )

    text = terminal_text(outcome)

    assert "inodes unknown: `df -P -i` exited with status 1" in text
    assert "no filesystem reported for /srv/x" in text


def test_terminal_volumes() -> None:
    text = terminal_text(volumes_outcome())

    lines = text.splitlines()
    orphan = next(line for line in lines if "oldshop_pgdata" in line)
    assert "3.4 GB" in orphan
    assert "2024-03-01 08:30" in orphan
    assert "none" in orphan
    assert "unused" in orphan
    in_use = next(line for line in lines if "shop_pgdata" in line and "oldshop" not in line)
    assert "shop-db-1 (running)" in in_use
    assert "unused" not in in_use
    assert "[bold]shop" in in_use  # printed as text, not read as markup
    anon = next(line for line in lines if "3f4a00000000…" in line)
    assert "anonymous" in anon
    assert "shop-worker-1 (exited)" in anon
    assert ANON not in text
    assert "3 volumes, 1 unused (3.4 GB)" in text


def test_terminal_output_is_redacted() -> None:
    text = terminal_text(disk_outcome(), known_secrets=["/srv/backups"])

    assert SECRET not in text
    assert "/srv/backups" not in text
    assert "/, ***" in text


# --- JSON ---------------------------------------------------------------------------


def test_json_disk_parses_back_with_its_fields() -> None:
    data = json.loads(render_json(disk_outcome()))

    assert data["schema_version"] == 1
    assert (data["environment"], data["runbook"], data["duration"]) == ("prod", "disk", 1.234)
    assert data["started_at"].startswith("2024-05-02T09:00:00")
    web1, web2 = data["hosts"]
    assert web1["error"] is None
    report = DiskReport.model_validate(web1["result"])
    assert [fs.mount_point for fs in report.filesystems] == ["/", "/mnt/dav"]
    assert web1["result"]["filesystems"][0]["level"] == "warning"
    assert web1["result"]["filesystems"][0]["holds"] == ["/", "/srv/backups"]
    assert web1["result"]["docker"][0] == {
        "kind": "images",
        "total": 3,
        "active": 1,
        "size_bytes": 4_000_000_000,
        "reclaimable_bytes": 2_500_000_000,
        "reclaimable_percent": 62,
    }
    assert web2["result"] is None
    assert web2["error"]["code"] == "host.unreachable"


def test_json_volumes_parses_back_with_its_fields() -> None:
    data = json.loads(render_json(volumes_outcome()))

    rows = data["hosts"][0]["result"]["volumes"]
    assert [row["name"] for row in rows] == ["oldshop_pgdata", "shop_pgdata", ANON]
    assert rows[0]["in_use"] is False
    assert rows[0]["mounted_by"] == []
    assert rows[1]["mounted_by"][0] == {
        "container": "shop-db-1",
        "state": "running",
        "running": True,
        "destination": "/var/lib/postgresql/data",
    }
    assert rows[2]["anonymous"] is True
    assert rows[2]["size_bytes"] is None
    assert rows[0]["created"].startswith("2024-03-01T08:30:00")


def test_json_never_holds_a_planted_secret() -> None:
    for outcome in (disk_outcome(), volumes_outcome()):
        text = render_json(outcome)
        assert SECRET not in text

    labels = json.loads(render_json(volumes_outcome()))["hosts"][0]["result"]["volumes"][0]
    assert labels["labels"] == {"backup.s3_secret": "***", "backup.target": "s3://k:***@bucket/x"}


def test_json_masks_known_secrets() -> None:
    text = render_json(volumes_outcome(), known_secrets=["shop-db-1"])

    assert "shop-db-1" not in text
    assert "***" in text


def test_the_render_package_exports() -> None:
    assert sorted(bot.render.__all__) == ["render_json", "render_terminal"]


def test_terminal_disk_says_in_words_which_filesystems_are_full() -> None:
    lines = terminal_text(disk_outcome()).splitlines()
    assert "WARNING: / (/, /srv/backups) is 86.2% full, 88.0% of inodes used" in lines
    assert "CRITICAL: /mnt/dav (docker root) is 95.5% full, — of inodes used" in lines
