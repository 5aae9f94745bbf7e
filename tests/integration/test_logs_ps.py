"""`stackbot ps` and `stackbot logs` against the lab's engine, over SSH (scenario S1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab
BACKEND = "indexo_backend_staging"


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def inventory(lab: Lab, tmp_path: Path, **lab_env: Any) -> str:
    environments = {"lab": {"hosts": {"h1": lab_host(lab, "h1")}, **lab_env}}
    return str(write_inventory(tmp_path / "inv.yaml", lab, environments))


def results(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    return host["result"]


def test_ps_shows_every_container_the_environment_owns(lab: Lab, tmp_path: Path) -> None:
    ensure_scenario(lab, "S1")
    engine = {c.name: c for c in lab.docker("h1").containers.list(all=True)}
    shown = results(stackbot("--config", inventory(lab, tmp_path), "ps", "lab", "--format", "json"))
    rows = {r["container"]: r for r in shown["containers"]}
    assert set(rows) == set(engine)
    backend = rows[BACKEND]
    assert (backend["project"], backend["service"]) == ("indexo-staging", "backend")
    assert backend["state"] == "running" and backend["health"] == "unhealthy"
    assert backend["uptime_seconds"] > 0 and backend["restarts"] == 0
    assert rows["indexo_db_staging"]["health"] == "healthy"

    # a project another environment declares on the same engine is not shown, only counted
    other = write_inventory(
        tmp_path / "shared.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}, "projects": ["nothing-*"]},
            "staging": {
                "hosts": {"h1": lab_host(lab, "h1")},
                "stacks": {"indexo": {"compose_project": "indexo-staging"}},
            },
        },
    )
    lab_view = results(stackbot("--config", str(other), "ps", "lab", "--format", "json"))
    assert not any(r["project"] == "indexo-staging" for r in lab_view["containers"])
    assert any("(of staging): not shown" in note for note in lab_view["notes"])
    table = stackbot("--config", str(other), "ps", "staging")
    assert table.returncode == 0 and BACKEND in table.stdout and "unhealthy" in table.stdout


def test_logs_of_a_service_tail_grep_and_since(lab: Lab, tmp_path: Path) -> None:
    ensure_scenario(lab, "S1")
    config = inventory(lab, tmp_path)
    engine_lines = [
        line
        for line in lab.docker("h1").containers.get(BACKEND).logs().decode().splitlines()
        if line.strip()
    ]
    assert engine_lines, "the backend logs something in S1"
    tail = results(
        stackbot("--config", config, "logs", "lab", "backend", "--tail", "3", "--format", "json")
    )
    (logs,) = tail["containers"]
    assert logs["container"] == BACKEND and logs["lines"] == engine_lines[-3:]

    word = engine_lines[-1].split()[0]
    grep = results(
        stackbot("--config", config, "logs", "lab", "backend", "--grep", word, "--format", "json")
    )
    assert grep["containers"][0]["lines"]
    assert all(word.lower() in line.lower() for line in grep["containers"][0]["lines"])

    since = stackbot("--config", config, "logs", "lab", "backend", "--since", "1d")
    assert since.returncode == 0, since.stderr
    assert f"== {BACKEND} (running)" in since.stdout
    # through the host's docker CLI: lines carry their time, to the second
    assert any(line[:4].isdigit() and line[19:21] == "Z " for line in since.stdout.splitlines())

    nothing = results(stackbot("--config", config, "logs", "lab", "nosuch", "--format", "json"))
    assert nothing["containers"] == [] and nothing["notes"] == [
        "no container of service nosuch here"
    ]
