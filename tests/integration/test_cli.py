"""The `stackbot` command against the lab: check-config, volumes, disk, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Path:
    return write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}},
            "small": {"hosts": {"h2": lab_host(lab, "h2")}},
            "pair": {"hosts": {"h1": lab_host(lab, "h1"), "h2": lab_host(lab, "h2")}},
        },
    )


def bad_inventory(lab: Lab, tmp_path: Path, **host: Any) -> Path:
    return write_inventory(
        tmp_path / "bad.yaml", lab, {"lab": {"hosts": {"h1": lab_host(lab, "h1", **host)}}}
    )


def test_check_config_connect_every_host_ok(inventory: Path) -> None:
    proc = stackbot("--config", str(inventory), "check-config", "--connect")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("OK", "FAILED"))]
    assert len(lines) == 4  # lab/h1, small/h2, pair/h1, pair/h2
    for line in lines:
        assert line.startswith("OK")
        assert "host key ok · authentication ok · docker ok, Docker 20.10" in line


@pytest.mark.parametrize(
    ("host", "cause"),
    [
        ({"known_hosts": "WRONG_KNOWN_HOSTS"}, "host key CHANGED"),
        ({"private_key": "WRONG_KEY"}, "authentication refused"),
        (
            {"address": "127.0.0.1", "port": "SILENT_PORT", "connect_timeout": 2},
            "no answer within 2 s",
        ),
    ],
)
def test_check_config_connect_failures_name_host_and_cause(
    lab: Lab, tmp_path: Path, host: dict[str, Any], cause: str, silent_port: int
) -> None:
    replace: dict[str, Any] = {
        "WRONG_KNOWN_HOSTS": str(lab.wrong_known_hosts),
        "WRONG_KEY": str(lab.wrong_client_key),
        "SILENT_PORT": silent_port,
    }
    host = {k: replace.get(str(v), v) for k, v in host.items()}
    proc = stackbot(
        "--config", str(bad_inventory(lab, tmp_path, **host)), "check-config", "--connect"
    )
    assert proc.returncode == 4
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "lab/h1" in failed[0] and cause in failed[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_stopped_sshd_gives_one_failed_line_and_the_other_host_is_ok(
    lab: Lab, inventory: Path
) -> None:
    lab.stop_sshd("h2")
    try:
        proc = stackbot("--config", str(inventory), "check-config", "--connect", "--env", "pair")
    finally:
        lab.start_sshd("h2")
    assert proc.returncode == 4
    lines = proc.stdout.splitlines()
    assert any(line.startswith("OK") and "pair/h1" in line for line in lines)
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 1 and "pair/h2" in failed[0] and "connection refused" in failed[0]


def test_volumes_json_in_s1_lists_orphaned_and_new_volume(lab: Lab, inventory: Path) -> None:
    ensure_scenario(lab, "S1")
    proc = stackbot("--config", str(inventory), "volumes", "lab", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["environment"] == "lab" and data["runbook"] == "volumes"
    (host,) = data["hosts"]
    volumes = {v["name"]: v for v in host["result"]["volumes"]}
    old, new = volumes["multivendor_postgres_data"], volumes["indexo-staging_postgres_data"]
    assert old["mounted_by"] == [] and old["size_bytes"] > new["size_bytes"] > 0
    assert [m["container"] for m in new["mounted_by"]] == ["indexo_db_staging"]
    assert new["mounted_by"][0]["running"] is True


def test_disk_in_s6_shows_the_full_docker_root(lab: Lab, inventory: Path) -> None:
    ensure_scenario(lab, "S6")
    proc = stackbot("--config", str(inventory), "disk", "small", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # a critical filesystem: exit 1, as diagnose
    (host,) = json.loads(proc.stdout)["hosts"]
    docker_fs = [fs for fs in host["result"]["filesystems"] if "docker root" in fs["holds"]]
    assert docker_fs and docker_fs[0]["percent_used"] >= 95 and docker_fs[0]["level"] == "critical"
    table = stackbot("--config", str(inventory), "disk", "small")
    assert table.returncode == 1 and "critical" in table.stdout.lower()
    healthy = stackbot("--config", str(inventory), "disk", "lab")  # h1: nothing critical
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr


def test_volumes_then_disk_in_one_process_use_one_ssh_connection(lab: Lab, inventory: Path) -> None:
    """Both runbooks through one Transport: the sshd log shows exactly one login."""
    import asyncio

    from bot.framework.engine import run_runbook
    from bot.inventory.config import load_inventory
    from bot.transport import Transport
    from runbooks import load_runbooks

    runbooks = load_runbooks()
    inv = load_inventory(inventory)

    async def both() -> int:
        async with Transport(inv.ssh) as transport:
            for name in ("volumes", "disk"):
                rb = runbooks[name]
                outcome = await run_runbook(transport, inv, "lab", rb, rb.params())
                assert not outcome.failed, outcome.failed
            return transport.ssh.logins

    before = lab.login_count("h1")
    assert asyncio.run(both()) == 1
    assert lab.login_count("h1") - before == 1


def test_bad_input_is_one_clear_line(
    lab: Lab, inventory: Path, tmp_path: Path, silent_port: int
) -> None:
    unknown = stackbot("--config", str(inventory), "disk", "prodd")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "stackbot: error: unknown environment 'prodd' (known: lab, pair, small)"
    )

    broken = tmp_path / "broken.yaml"
    broken.write_text(inventory.read_text().replace("address:", "adress:", 1))
    malformed = stackbot("--config", str(broken), "volumes", "lab")
    assert malformed.returncode == 3
    assert "environments.lab.hosts.h1.adress: unknown key" in malformed.stderr
    assert len(malformed.stderr.strip().splitlines()) == 1

    missing = stackbot("--config", str(tmp_path / "nope.yaml"), "disk", "lab")
    assert missing.returncode == 3 and "no inventory at" in missing.stderr

    unreachable = stackbot(
        "--config",
        str(bad_inventory(lab, tmp_path, address="127.0.0.1", port=silent_port, connect_timeout=2)),
        "disk",
        "lab",
    )
    assert unreachable.returncode == 4
    assert "lab/h1" in unreachable.stdout + unreachable.stderr
    assert "no answer within 2 s" in unreachable.stdout + unreachable.stderr

    nodocker = stackbot(
        "--config",
        str(bad_inventory(lab, tmp_path, docker_socket="/run/nothing.sock")),
        "volumes",
        "lab",
    )
    assert nodocker.returncode == 4
    assert "docker.unreachable" in nodocker.stdout + nodocker.stderr
    assert "/run/nothing.sock" in nodocker.stdout + nodocker.stderr

    for proc in (unknown, malformed, missing, unreachable, nodocker):
        assert "Traceback" not in proc.stdout + proc.stderr


def test_debug_shows_the_traceback(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="unknown environment"):
        main(["--config", str(inventory), "--debug", "disk", "nope"])
