"""What a stack's compose files say, read from the host (never run): shared by the
diagnosis (runbooks/diagnose/gather.py) and the fixes that need a service's own
``env_file:`` entries (runbooks/fix_container_recreate.py)."""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.model.errors import HostError

COMPOSE_FILE_MAX = 512 * 1024
ReadFile = Callable[..., Awaitable[bytes]]  # HostSession.read_file / ReadOnlyHost.read_file


def _safe_load(raw: bytes) -> Any:
    """``yaml.safe_load`` with libyaml's loader where PyYAML has it: the same safe
    documents, parsed ~10x faster (the pure-Python loader took ~9 ms of the event loop
    for a 1 KB compose file)."""
    if getattr(yaml, "__with_libyaml__", False):
        return yaml.load(raw, Loader=yaml.CSafeLoader)
    return yaml.safe_load(raw)


@dataclass(frozen=True)
class ComposeFileFacts:
    named_volumes: tuple[str, ...]
    env_files: dict[str, tuple[str, ...]]  # service → its `env_file:` entries, absolute
    optional_env_files: frozenset[str]  # entries marked `required: false`
    networks: dict[str, str]  # engine name → compose key, of the networks compose manages
    # service → the keys its `environment:` sets to a literal value (these win over any
    # env_file); a key passed through (`KEY`) or interpolated (`KEY: ${KEY:-x}`) is not one
    environment_keys: dict[str, frozenset[str]] = field(default_factory=dict)


async def compose_file_facts(
    read: ReadFile, files: Sequence[str], project: str
) -> ComposeFileFacts:
    """From the compose files themselves: the top-level volume keys with an explicit
    ``name:`` (so the name does not follow the project's, even when the two coincide),
    each service's ``env_file:`` entries, absolute (relative to the file's folder;
    a later file's entry for a service replaces an earlier one's, as compose merges),
    and the networks compose creates or expects to find with its labels (not
    ``external``): ``<project>_<key>`` or the key's ``name:``, with ``default`` when
    a service names no network and no ``network_mode``."""
    named: set[str] = set()
    per_service: dict[str, tuple[str, ...]] = {}
    optional: set[str] = set()
    declared: dict[str, dict[str, Any]] = {}
    uses_default: dict[str, bool] = {}
    environment: dict[str, frozenset[str]] = {}
    for path in files:
        try:
            data = _safe_load(await read(path, max_bytes=COMPOSE_FILE_MAX))
        except (HostError, OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        volumes = data.get("volumes")
        if isinstance(volumes, dict):
            named |= {str(k) for k, v in volumes.items() if isinstance(v, dict) and v.get("name")}
        networks = data.get("networks")
        for key, spec in networks.items() if isinstance(networks, dict) else ():
            declared.setdefault(str(key), {}).update(spec if isinstance(spec, dict) else {})
        services = data.get("services")
        base_dir = posixpath.dirname(path)
        for name, spec in services.items() if isinstance(services, dict) else ():
            if not isinstance(spec, dict):
                continue
            nets = spec.get("networks")
            if "network_mode" in spec:
                uses_default[str(name)] = False
            elif isinstance(nets, list | dict) and nets:
                uses_default[str(name)] = "default" in nets
            else:
                uses_default.setdefault(str(name), True)
            own_keys = _environment_keys(spec.get("environment"))
            if own_keys is not None:  # a later file's entries add to an earlier one's
                environment[str(name)] = environment.get(str(name), frozenset()) | own_keys
            entries = spec.get("env_file")
            if entries is None:
                continue
            listed = entries if isinstance(entries, list) else [entries]
            kept: list[str] = []
            for entry in listed:
                raw = entry.get("path") if isinstance(entry, dict) else entry
                if not isinstance(raw, str) or not raw or "$" in raw:
                    continue  # interpolated: not guessed
                absolute = posixpath.normpath(posixpath.join(base_dir, raw))
                kept.append(absolute)
                if isinstance(entry, dict) and str(entry.get("required", True)).lower() in (
                    "false",
                    "no",
                    "0",
                ):
                    optional.add(absolute)
            per_service[str(name)] = tuple(kept)
    if any(uses_default.values()):
        declared.setdefault("default", {})
    expected: dict[str, str] = {}
    for key, spec in declared.items():
        external = spec.get("external")
        if external is True or isinstance(external, dict) or str(external).lower() == "true":
            continue
        name = spec.get("name")
        engine_name = name if isinstance(name, str) and "$" not in name else f"{project}_{key}"
        expected[engine_name] = key
    return ComposeFileFacts(
        tuple(sorted(named)), per_service, frozenset(optional), expected, environment
    )


def _environment_keys(raw: object) -> frozenset[str] | None:
    """The keys a service's ``environment:`` (a mapping or a ``KEY=value`` list) sets to a
    literal value (no ``$``: nothing from an env file flows into it); None when it has none."""
    if isinstance(raw, dict):
        pairs = [(str(k), None if v is None else str(v)) for k, v in raw.items()]
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            key, sep, value = str(item).partition("=")
            pairs.append((key, value if sep else None))
    else:
        return None
    return frozenset(key for key, value in pairs if value is not None and "$" not in value)
