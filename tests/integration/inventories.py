"""Inventory files for the lab tests, written from the lab's real keys and addresses."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.lab.compose_tools import flavor
from tests.lab.config import LAB_USER
from tests.lab.lab import Lab


def lab_host(lab: Lab, name: str, **overrides: Any) -> dict[str, Any]:
    host = lab.hosts[name]
    entry: dict[str, Any] = {"address": host.address, "docker_socket": str(host.docker_socket)}
    entry.update(overrides)
    return entry


def write_inventory(path: Path, lab: Lab, environments: dict[str, Any], **top: Any) -> Path:
    data: dict[str, Any] = {
        "defaults": {
            "user": LAB_USER,
            "private_key": str(lab.client_key),
            "known_hosts": str(lab.known_hosts),
        },
        "ssh": {"idle_close": 60},
        "environments": environments,
        # stackbot's own state (audit database, spool, locks) stays in the tests' folder
        "data_dir": str(state_dir()),
    }
    data.update(top)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


STATE_ROOT: list[Path] = []  # set by the session fixture in conftest.py


def state_dir() -> Path:
    """A fresh data_dir for stackbot under the session's state root.

    The root is traversable by others (0711) because the embedded audit
    Postgres runs as ``nobody`` when stackbot runs as root; pytest's tmp_path
    is not.
    """
    if not STATE_ROOT:
        raise RuntimeError("the state_root fixture is not active")
    path = Path(tempfile.mkdtemp(prefix="state-", dir=STATE_ROOT[0]))
    path.chmod(0o711)
    return path


def ensure_scenario(lab: Lab, name: str) -> None:
    """Build scenario ``name`` unless it is the state the lab was last put in (with the
    same compose)."""
    last = lab.last_scenario
    if last is None or last.name != name or last.compose != flavor():
        lab.scenario(name)
