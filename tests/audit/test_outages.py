"""Outages: the database stops mid-series; kill -9 mid-action; the embedded default from nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.framework.executor import execute, plan_action
from bot.stores.audit.embedded import EmbeddedPostgres
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail
from tests.audit import support
from tests.audit.conftest import embedded_server, stop_by_pid
from tests.audit.support import ACTION, INVENTORY, FakeTransport, Params, no_findings

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    """A server of this test's own, to stop and start again."""
    with embedded_server() as started:
        yield started


async def diagnose(trail: AuditTrail, n: int) -> None:
    req = trail.request(actor="dave", surface="cli", environment="prod", action="diagnose")
    await req.record("requested")
    await req.record("diagnosed", {"counts": {"critical": n}, "codes": ["db.empty"]})


async def fix(trail: AuditTrail, lock_dir: Path) -> None:
    audit = trail.request(actor="dave", surface="cli", environment="prod", action=ACTION.name)
    await audit.record("requested", durable=True)
    params = Params(host="web1")
    transport = FakeTransport()
    plan = await plan_action(transport, INVENTORY, "prod", ACTION, params)
    await execute(
        transport,
        INVENTORY,
        "prod",
        ACTION,
        params,
        confirmed=plan,
        actor="dave",
        lock_dir=lock_dir,
        diagnose=no_findings,
        audit=audit,
    )


async def test_database_down_mid_series(own_server: EmbeddedPostgres, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    async with AuditStore(own_server.conninfo, timeout=2) as store:
        trail = AuditTrail(store, spool)
        await diagnose(trail, 1)
        await fix(trail, tmp_path)
        assert len(await store.rows()) == 2 + 4

        stop_by_pid(own_server)  # the database goes away
        support.APPLIED.clear()
        await diagnose(trail, 2)  # read-only: goes on, spooled
        with pytest.raises(AuditUnavailable, match="refused"):
            await fix(trail, tmp_path)  # destructive: refused, nothing applied
        with pytest.raises(AuditUnavailable):  # refused even past the first row
            await execute(
                FakeTransport(),
                INVENTORY,
                "prod",
                ACTION,
                Params(host="web1"),
                confirmed=None,
                actor="dave",
                lock_dir=tmp_path,
                audit=trail.request(actor="dave", surface="cli", environment="prod"),
            )
        await diagnose(trail, 3)
        assert support.APPLIED == []
        spooled = spool.pending()
        assert [r.kind for r in spooled] == [
            "requested",
            "diagnosed",
            "denied",
            "requested",
            "diagnosed",
        ]
        assert spooled[2].details["refused"] == "requested"

        own_server.start()  # back
        await diagnose(trail, 4)  # the next write replays the spool first
        rows = await store.rows()
        assert spool.pending() == []
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))  # no gaps
        assert len({r.id for r in rows}) == len(rows) == 6 + 5 + 2  # no duplicates
        assert {r.id for r in spooled} <= {r.id for r in rows}  # nothing lost
        assert [r.kind for r in rows[6:11]] == [r.kind for r in spooled]
        for record in spooled:  # a second replay of the same lines changes nothing
            assert await store.append(record) is None
        assert len(await store.rows()) == len(rows)
        report = await store.verify()
        assert report.intact and report.rows == len(rows)
        own_server.release()


def run_and_kill(conninfo: str, tmp_path: Path, marker: Path) -> None:
    """Start the driver, wait until it is inside apply, kill -9 it."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.audit.driver",
            conninfo,
            str(tmp_path / "s.jsonl"),
            str(marker),
        ],
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the driver never reached apply"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()


async def test_kill_9_mid_action_leaves_started_not_finished(
    server: EmbeddedPostgres, conninfo: str, tmp_path: Path
) -> None:
    marker = tmp_path / "applying"
    await asyncio.to_thread(run_and_kill, conninfo, tmp_path, marker)
    correlation = (tmp_path / "applying.id").read_text()
    async with AuditStore(conninfo, timeout=3) as store:  # stackbot again, after the kill
        rows = await store.story(correlation)
        kinds = [r.kind for r in rows]
        assert kinds == ["requested", "planned", "started"]
        assert "finished" not in kinds
        assert (await store.verify()).intact
        # its advisory lock died with it: the environment is free again
        from bot.stores.audit.lock import advisory_environment_lock

        async with advisory_environment_lock(store, "prod", holder="x", what="y", wait=5):
            pass
