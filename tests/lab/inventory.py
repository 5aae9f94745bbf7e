"""Inventory files (bot/inventory/config/models.py schema) that point stackbot at the lab."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config import H1, H2, LAB_USER, RUN_DIR, UNREACHABLE_ADDRESS, UNREACHABLE_PORT, HostSpec
from .sshd import keys_paths

CONNECT_TIMEOUT = 5.0


def host_entry(host: HostSpec, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": host.address,
        "docker_socket": str(host.docker_socket),
        "connect_timeout": CONNECT_TIMEOUT,
    }
    entry.update(overrides)
    return entry


# The environment of the base inventory that holds each lab host alone.
ENVIRONMENT_OF_HOST = {"h1": "lab", "h2": "small"}


def base_inventory() -> dict[str, Any]:
    """Environments lab (h1), small (h2), pair (h1+h2) and local (h1's socket, no SSH).
    stackbot's own state (the embedded audit Postgres, its spool, locks) lives in the lab's
    run directory, so stopping the lab removes it: nothing is left in /var/lib/stackbot."""
    keys = keys_paths()
    return {
        "version": 1,
        "data_dir": str(RUN_DIR / "state"),
        "defaults": {
            "user": LAB_USER,
            "private_key": str(keys.client_key),
            "known_hosts": str(keys.known_hosts),
        },
        "environments": {
            "lab": {
                "description": "lab host h1 (stacks are discovered)",
                "hosts": {"h1": host_entry(H1)},
            },
            "small": {
                "description": "lab host h2 (tiny tmpfs data root)",
                "hosts": {"h2": host_entry(H2)},
            },
            "pair": {
                "description": "both lab hosts",
                "hosts": {"h1": host_entry(H1), "h2": host_entry(H2)},
            },
            "local": {
                "description": "this machine, h1's Docker socket, no SSH",
                "hosts": {"local": {"address": "local", "docker_socket": str(H1.docker_socket)}},
            },
        },
    }


def negative_environments() -> dict[str, Any]:
    """Environments that must fail, each in its own way (one host each)."""
    keys = keys_paths()
    return {
        "wrong-key": {
            "description": "h1 with a client key it does not authorize",
            "hosts": {"h1": host_entry(H1, private_key=str(keys.wrong_client_key))},
        },
        "wrong-hostkey": {
            "description": "h1 with a known_hosts that vouches for another host key",
            "hosts": {"h1": host_entry(H1, known_hosts=str(keys.wrong_known_hosts))},
        },
        "no-docker": {
            "description": "h1 reachable over SSH, but no Docker socket at that path",
            "hosts": {"h1": host_entry(H1, docker_socket=str(H1.dir / "missing-docker.sock"))},
        },
        "unreachable": {
            "description": "an address nothing answers on",
            "hosts": {
                "ghost": host_entry(
                    H1, address=UNREACHABLE_ADDRESS, port=UNREACHABLE_PORT, connect_timeout=2.0
                )
            },
        },
    }


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge overrides into a copy of base (a None value deletes the key)."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_inventory(path: Path, data: Mapping[str, Any] | None = None, **overrides: Any) -> Path:
    """Write an inventory: `data` (default: base_inventory()) deep-merged with overrides.

    Examples: ``write_inventory(p, defaults={"private_key": str(wrong)})``,
    ``write_inventory(p, environments=negative_environments())`` (adds them),
    ``write_inventory(p, environments={"lab": {"hosts": {"h1": {"port": 2222}}}})``.
    """
    inv = merge(data if data is not None else base_inventory(), overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path
