"""``stackbot oncall`` and ``stackbot incidents`` from a terminal, on the real database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.oncall.models import Alert
from bot.oncall.store import IncidentStore
from bot.stores.audit.store import AuditStore

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]

INVENTORY = """\
environments:
  prod:
    hosts: {web1: {address: 192.0.2.10}}
    slack_channel: CPROD
    oncall:
      rotation: {users: [UALICE, UBOB], start: 2026-11-02, timezone: Europe/Berlin}
  dev:
    hosts: {web1: {address: 192.0.2.11}}
"""


def stackbot(inventory: Path, conninfo: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STACKBOT_DATABASE_URL": conninfo}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(inventory), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_who_is_on_call_and_the_open_incidents(tmp_path: Path, conninfo: str) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY + f"data_dir: {tmp_path / 'state'}\n")
    now = datetime.now(UTC)

    shown = stackbot(inventory, conninfo, "oncall")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("prod: U") and "dev" not in shown.stdout
    assert "next U" in shown.stdout and ("CET" in shown.stdout or "CEST" in shown.stdout)

    none = stackbot(inventory, conninfo, "incidents")
    assert none.returncode == 0 and none.stdout.strip() == "no open incidents"

    async with AuditStore(conninfo) as audit:
        store = IncidentStore(audit)
        await store.add_override(
            "prod", "UDAVE", starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1), created_by="UBOB", now=now,
        )  # fmt: skip
        alert = Alert(fingerprint="f1", title="Checkout is failing", source="generic")
        await store.open_or_repeat("prod", alert, channel="CPROD", oncall_user="UDAVE", now=now)

    shown = stackbot(inventory, conninfo, "oncall", "prod")
    assert shown.stdout.startswith("prod: UDAVE until") and "override by UBOB" in shown.stdout
    listed = stackbot(inventory, conninfo, "incidents", "prod")
    assert listed.returncode == 1  # something is open
    assert "Checkout is failing" in listed.stdout and "NOT acknowledged" in listed.stdout

    wrong = stackbot(inventory, conninfo, "incidents", "prdo")
    assert wrong.returncode == 2 and "unknown environment 'prdo'" in wrong.stderr
