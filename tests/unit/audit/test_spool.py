"""The spool's file format, its torn-line rule, and replay without duplicates."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path

import pytest

from bot.stores.audit.record import AuditRecord
from bot.stores.audit.spool import Spool, decode_lines, encode_line


def record(n: int) -> AuditRecord:
    return AuditRecord(
        correlation_id=uuid.uuid4(), kind="diagnosed", actor="bob", surface="cli", details={"n": n}
    )


def test_one_json_line_per_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    first, second = record(1), record(2)
    spool.append(first)
    spool.append(second)
    lines = spool.path.read_text().splitlines()
    assert len(lines) == 2
    line = json.loads(lines[0])
    assert line["spool"] == 1 and line["record"]["id"] == str(first.id)
    assert spool.pending() == [first, second]
    assert oct(spool.path.stat().st_mode & 0o777) == "0o600"


def test_a_torn_last_line_is_skipped() -> None:
    data = encode_line(record(1)) + encode_line(record(2))[:-20]
    assert [r.details["n"] for r in decode_lines(data)] == [1]


async def test_replay_in_order_then_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    records = [record(n) for n in range(3)]
    for r in records:
        spool.append(r)
    inserted: list[AuditRecord] = []

    async def insert(r: AuditRecord) -> None:
        inserted.append(r)

    assert await spool.replay(insert) == 3
    assert inserted == records and spool.pending() == []
    assert await spool.replay(insert) == 0


async def test_a_failed_replay_keeps_every_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    for n in range(3):
        spool.append(record(n))
    failures = [ConnectionError("down")]

    async def flaky(r: AuditRecord) -> None:
        if r.details["n"] == 1 and failures:
            raise failures.pop()

    with pytest.raises(ConnectionError):
        await spool.replay(flaky)
    assert len(spool.pending()) == 3  # the store skips the ids it has on the next replay
    assert await spool.replay(flaky) == 3


def test_an_append_while_a_replay_waits_for_the_database_neither_blocks(tmp_path: Path) -> None:
    """``append`` locks the spool on the event loop's thread; a replay that held that lock
    while awaiting the database froze the process for good (seen under a burst in serve).
    Run on a thread of its own, so a regression fails here instead of hanging pytest."""
    spool = Spool(tmp_path / "spool.jsonl")
    first, second, third = record(1), record(2), record(3)
    spool.append(first)
    inserted: list[AuditRecord] = []

    async def scenario() -> int:
        database = asyncio.Event()

        async def slow_insert(r: AuditRecord) -> None:
            await database.wait()  # the pool is busy: the insert waits for a connection
            inserted.append(r)

        replay = asyncio.ensure_future(spool.replay(slow_insert))
        await asyncio.sleep(0.05)  # the replay has read the spool and waits on the database
        assert await spool.replay(slow_insert) == 0  # a second replay does not wait
        asyncio.get_running_loop().call_later(0.2, database.set)
        spool.append(second)  # another row spooled meanwhile, on the loop's thread
        return await replay

    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(asyncio.run(scenario())), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "append blocked behind the replay: the process would freeze"
    assert results == [1] and inserted == [first]
    assert spool.pending() == [second]  # the row appended meanwhile stays for the next replay
    spool.append(third)
    assert [r.details["n"] for r in spool.pending()] == [2, 3]
