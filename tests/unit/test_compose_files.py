"""What stackbot reads from compose files themselves (runbooks/_compose_files.py)."""

from __future__ import annotations

from runbooks._compose_files import compose_file_facts

BASE = """
services:
  api:
    image: shop
    env_file: [app.env]
    environment:
      LOG_LEVEL: info
      SECRET_KEY: ${SECRET_KEY:-dev}
      PASSED:
  worker:
    image: shop
    environment: ["QUEUE=jobs", "TOKEN=$TOKEN", "SHELL_ONLY"]
"""
OVERRIDE = """
services:
  api:
    environment:
      DEBUG: "1"
    env_file: [override.env]
"""


async def test_literal_environment_keys_and_env_files_merge_as_compose_does() -> None:
    files = {"/srv/shop/docker-compose.yml": BASE, "/srv/shop/over/override.yml": OVERRIDE}

    async def read(path: str, *, max_bytes: int) -> bytes:
        return files[path].encode()

    found = await compose_file_facts(read, list(files), "shop")
    # literal values only: interpolated (${SECRET_KEY:-dev}, $TOKEN) and passed-through
    # keys take what the env gives them; a later file's keys add to the earlier ones
    assert found.environment_keys == {
        "api": frozenset({"LOG_LEVEL", "DEBUG"}),
        "worker": frozenset({"QUEUE"}),
    }
    # a later file's env_file replaces an earlier one's, relative to its own folder
    assert found.env_files["api"] == ("/srv/shop/over/override.env",)
