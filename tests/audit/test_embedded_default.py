"""The embedded default: no database URL, a clean data directory, no other configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.stores.audit.embedded import EmbeddedPostgres
from tests.audit.conftest import scratch_dir, stop_by_pid

pytestmark = pytest.mark.postgres


def test_embedded_default_from_a_clean_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No database URL, an empty data dir: diagnose is recorded; the server stops after."""
    monkeypatch.delenv("STACKBOT_DATABASE_URL", raising=False)
    root = scratch_dir()
    try:
        inventory = tmp_path / "stackbot.yaml"
        inventory.write_text(
            f"data_dir: {root / 'data'}\n"
            "environments:\n  dev:\n    hosts:\n"
            "      h1: {address: 192.0.2.1, known_hosts: missing_known_hosts}\n"
        )
        assert main(["--config", str(inventory), "diagnose", "dev"]) == 1  # the host is refused
        assert main(["--config", str(inventory), "audit", "verify"]) == 0
        assert main(["--config", str(inventory), "audit", "export", "--format", "jsonl"]) == 0
        out = capsys.readouterr().out
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [r["kind"] for r in rows] == ["requested", "diagnosed"]
        assert rows[1]["details"]["codes"] == ["host.key_mismatch"]
        assert "intact: 2 rows" in out
        server = EmbeddedPostgres(root / "data")
        assert server.pid() is None  # the last user stopped it
        assert (root / "data" / "postgres" / "PG_VERSION").exists()
    finally:
        stop_by_pid(EmbeddedPostgres(root / "data"))
        shutil.rmtree(root, ignore_errors=True)
