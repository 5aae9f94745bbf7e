"""``StartingTrail``: read-only rows never wait for the audit store to start, and are never
lost; durable rows wait for it; the rows reach the store in the order they were written."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import cast

import pytest

from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.record import AuditRecord
from bot.stores.audit.spool import Spool
from bot.stores.audit.starting import StartingTrail
from bot.stores.audit.store import AuditStore


class FakeStore:
    """Stands in for AuditStore: appends what it is given, in order."""

    def __init__(self) -> None:
        self.rows: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> AuditRecord:
        if any(r.id == record.id for r in self.rows):
            return record
        self.rows.append(record)
        return record


def _trail(
    tmp_path: Path, start: asyncio.Event, reason: str | None = None
) -> tuple[StartingTrail, FakeStore]:
    store = FakeStore()

    async def starting() -> str | None:
        await start.wait()
        return reason

    task = asyncio.get_running_loop().create_task(starting())
    trail = StartingTrail(cast(AuditStore, store), Spool(tmp_path / "spool.jsonl"), task)
    return trail, store


async def test_read_only_rows_do_not_wait_and_reach_the_store_in_order(tmp_path: Path) -> None:
    start = asyncio.Event()
    trail, store = _trail(tmp_path, start)
    request = trail.request(actor="alice", surface="cli", environment="prod", action="diagnose")
    await asyncio.wait_for(request.record("requested", {"hosts": ["web1"]}), 1)
    assert not trail.started and store.rows == []  # written while the store starts
    assert [r.kind for r in trail.spool.pending()] == ["requested"]  # on disk: never lost
    start.set()
    await trail.ready()
    await request.record("diagnosed", {"verdict": "ok"})
    assert [r.kind for r in store.rows] == ["requested", "diagnosed"]
    assert trail.spool.pending() == []
    assert trail.spooled_while_starting == 1


async def test_a_durable_row_waits_for_the_store(tmp_path: Path) -> None:
    start = asyncio.Event()
    trail, store = _trail(tmp_path, start)
    request = trail.request(actor="alice", surface="cli", environment="prod", action="fix")
    write = asyncio.create_task(request.record("requested", {}, durable=True))
    await asyncio.sleep(0.05)
    assert not write.done()  # no change to a host before its row is in the database
    start.set()
    await asyncio.wait_for(write, 1)
    assert [r.kind for r in store.rows] == ["requested"]
    assert trail.spool.pending() == []


async def test_settle_moves_what_was_spooled_into_the_store(tmp_path: Path) -> None:
    start = asyncio.Event()
    trail, store = _trail(tmp_path, start)
    request = trail.request(actor="alice", surface="cli", environment="prod", action="diagnose")
    await request.record("requested", {})
    start.set()
    await trail.settle()
    assert [r.kind for r in store.rows] == ["requested"]
    assert trail.spool.pending() == []


async def test_a_store_that_cannot_start_keeps_rows_spooled_and_refuses_durable_ones(
    tmp_path: Path,
) -> None:
    start = asyncio.Event()
    trail, store = _trail(tmp_path, start, reason="initdb failed")
    request = trail.request(actor="alice", surface="cli", environment="prod", action="fix")
    await request.record("requested", {"read_only": True})
    start.set()
    with pytest.raises(AuditUnavailable, match="initdb failed"):
        await request.record("confirmed", {}, durable=True)
    await trail.settle()
    assert store.rows == [] and trail.store is None
    kinds = [r.kind for r in trail.spool.pending()]
    assert kinds == ["requested", "denied"]  # kept for a later process; the refusal said why


async def test_rows_are_redacted_before_they_are_spooled(tmp_path: Path) -> None:
    trail, _ = _trail(tmp_path, asyncio.Event())
    secret = "postgresql://app:hunter2-secret@db/app"
    record = AuditRecord(
        correlation_id=uuid.uuid4(), kind="requested", actor="a", surface="cli",
        details={"url": secret},
    )  # fmt: skip
    await trail.write(record, durable=False)
    assert "hunter2-secret" not in (tmp_path / "spool.jsonl").read_text()
