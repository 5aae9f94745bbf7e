"""The inventory: lookup order, validation errors that name the key, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.inventory.config import DEFAULT_PATH, find_config, load_inventory, parse_inventory
from bot.model.errors import ConfigInvalid, ConfigNotFound

GOOD = """
defaults:
  user: deploy
  private_key: keys/id_ed25519
  known_hosts: /etc/stackbot/known_hosts
environments:
  prod:
    hosts:
      web1: {address: 203.0.113.10}
      web2: {address: 203.0.113.11, port: 2222, user: ops}
    stacks:
      shop:
        host: web1
        compose_project: shop
        services: {app: backend, database: db}
        migrate_command: [python, manage.py, migrate]
        required_env: [DATABASE_URL]
  dev:
    hosts:
      laptop: {address: local}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stackbot.yaml"
    path.write_text(text)
    return path


def test_valid_inventory_applies_defaults_and_relative_key_paths(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    web1 = inv.resolved_host("prod", "web1")
    assert (web1.user, web1.port) == ("deploy", 22)
    assert web1.private_key == tmp_path / "keys/id_ed25519"
    web2 = inv.resolved_host("prod", "web2")
    assert (web2.user, web2.port) == ("ops", 2222)
    assert web2.label == "prod/web2 (ops@203.0.113.11:2222)"
    assert inv.resolved_host("dev", "laptop").is_local
    stack = inv.environments["prod"].stacks["shop"]
    assert stack.migrate_command == ("python", "manage.py", "migrate")
    assert stack.database.from_env == "DATABASE_URL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("port: 2222", "port: 99999"), "environments.prod.hosts.web2.port"),
        (
            GOOD.replace("address: 203.0.113.10", "adress: 203.0.113.10"),
            "environments.prod.hosts.web1.adress: unknown key",
        ),
        (GOOD.replace("host: web1", "host: web9"), "stacks.shop.host: 'web9' is not a host"),
        (
            GOOD.replace("migrate_command: [python", "migrate_command: [[python]"),
            "environments.prod.stacks.shop.migrate_command.0",
        ),
        ("environments: {}\n", "environments:"),
        ("version: 2\nenvironments: {a: {hosts: {h: {address: x}}}}\n", "version:"),
    ],
)
def test_invalid_inventory_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_inventory(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="line 4, column 4"):
        load_inventory(write(tmp_path, "environments:\n  prod:\n    hosts: {a: b\n  x: ]\n"))


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigInvalid, match="top level must be a mapping"):
        parse_inventory(["a"], source="x.yaml", base_dir=Path())


def test_lookup_order(tmp_path: Path) -> None:
    explicit = write(tmp_path, GOOD)
    other = tmp_path / "other.yaml"
    other.write_text(GOOD)
    assert find_config(str(explicit), {"STACKBOT_CONFIG": str(other)}) == explicit
    assert find_config(None, {"STACKBOT_CONFIG": str(other)}) == other
    with pytest.raises(ConfigNotFound, match=r"\$STACKBOT_CONFIG"):
        find_config(None, {"STACKBOT_CONFIG": str(tmp_path / "missing.yaml")})
    if not DEFAULT_PATH.exists():
        with pytest.raises(ConfigNotFound, match=str(DEFAULT_PATH)):
            find_config(None, {})
