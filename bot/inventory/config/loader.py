"""Find the inventory file, read it and validate it, with errors that name the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.inventory.config.models import Inventory
from bot.model.errors import ConfigInvalid, ConfigNotFound

ENV_VAR = "STACKBOT_CONFIG"
DEFAULT_PATH = Path("/etc/stackbot/stackbot.yaml")
_PATH_KEYS = frozenset({"private_key", "known_hosts", "data_dir"})


def find_config(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """``--config`` first, then ``$STACKBOT_CONFIG``, then the default path."""
    if explicit:
        path, origin = Path(explicit), "--config"
    elif environ.get(ENV_VAR):
        path, origin = Path(environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, origin = DEFAULT_PATH, "the default path"
    if not path.is_file():
        raise ConfigNotFound(
            f"no inventory at {path} (from {origin}); pass --config PATH or set ${ENV_VAR}"
        )
    return path


def load_inventory(path: Path) -> Inventory:
    """Read and validate the file; relative key paths are taken from its folder."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigNotFound(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigInvalid(str(path), [f"{problem}{where}"]) from exc
    return parse_inventory(raw, source=str(path), base_dir=path.parent)


def parse_inventory(raw: object, *, source: str, base_dir: Path) -> Inventory:
    if not isinstance(raw, dict):
        raise ConfigInvalid(source, ["the top level must be a mapping with 'environments'"])
    try:
        return Inventory.model_validate(_resolve_paths(raw, base_dir))
    except ValidationError as exc:
        raise ConfigInvalid(source, describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: ``environments.prod.hosts.web1.port: <message>``."""
    lines = []
    for err in exc.errors(include_url=False):
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif err["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{key}: {message}")
    return lines


def _resolve_paths(node: Any, base_dir: Path) -> Any:
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if key in _PATH_KEYS and isinstance(value, str):
                path = Path(value).expanduser()
                out[key] = str(path if path.is_absolute() else base_dir / path)
            else:
                out[key] = _resolve_paths(value, base_dir)
        return out
    if isinstance(node, list):
        return [_resolve_paths(item, base_dir) for item in node]
    return node
