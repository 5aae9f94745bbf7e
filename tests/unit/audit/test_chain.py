"""Canonical JSON, the row hash, and chain verification on rows in memory."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from bot.stores.audit.chain import verify_rows
from bot.stores.audit.record import (
    GENESIS,
    AuditRecord,
    AuditRow,
    canonical_json,
    chain_row,
    redact_record,
    row_hash,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def chain(count: int) -> list[AuditRow]:
    rows: list[AuditRow] = []
    corr = uuid.uuid4()
    for n in range(count):
        record = AuditRecord(
            correlation_id=corr,
            kind="diagnosed",
            actor="alice",
            surface="cli",
            at=AT,
            details={"n": n},
        )
        prev = rows[-1].row_hash if rows else GENESIS
        rows.append(chain_row(record, seq=n + 1, recorded_at=AT, prev_hash=prev))
    return rows


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", None, 0.5]}) == '{"a":["é",null,0.5],"b":1}'


def test_row_hash_is_sha256_of_prev_hash_and_canonical_json() -> None:
    (row,) = chain(1)
    expected = hashlib.sha256((GENESIS + canonical_json(row.content())).encode()).hexdigest()
    assert row.row_hash == expected == row_hash(GENESIS, row.content())
    content = row.content()
    assert "row_hash" not in content and "prev_hash" not in content
    assert content["seq"] == 1 and content["at"] == "2026-01-02T03:04:05.123456Z"


def test_an_intact_chain_verifies() -> None:
    rows = chain(5)
    report = verify_rows(rows)
    assert report.intact and report.rows == 5 and report.head == rows[-1].row_hash


def test_a_changed_row_is_named() -> None:
    rows = chain(5)
    rows[2] = rows[2].model_copy(update={"actor": "mallory"})
    broken = verify_rows(rows).broken
    assert broken is not None and broken.seq == 3 and broken.row_id == str(rows[2].id)
    assert "changed" in broken.problem


def test_a_deleted_row_is_named() -> None:
    rows = chain(5)
    del rows[1]
    broken = verify_rows(rows).broken
    assert broken is not None and broken.seq == 3 and "seq 2" in broken.problem


def test_a_deleted_first_row_is_named() -> None:
    broken = verify_rows(chain(3)[1:]).broken
    assert broken is not None and broken.seq == 2 and "seq 1" in broken.problem


def test_swapped_rows_are_named() -> None:
    rows = chain(5)
    a = rows[1].model_copy(update={"seq": 3})
    b = rows[2].model_copy(update={"seq": 2})
    rows[1], rows[2] = b, a
    broken = verify_rows(rows).broken
    assert broken is not None and broken.seq == 2 and broken.row_id == str(b.id)


def test_a_rehashed_row_is_caught_by_the_next_link() -> None:
    rows = chain(4)
    forged = rows[1].model_copy(update={"actor": "mallory"})
    rows[1] = forged.model_copy(update={"row_hash": row_hash(forged.prev_hash, forged.content())})
    broken = verify_rows(rows).broken
    assert broken is not None and broken.seq == 3 and "does not follow" in broken.problem


def test_records_are_redacted_before_hashing() -> None:
    secret = "hunter2-very-secret"
    record = AuditRecord(
        correlation_id=uuid.uuid4(),
        kind="planned",
        actor="alice",
        surface="cli",
        target={"url": f"postgres://app:{secret}@db/app"},
        details={
            "params": {"password": secret, "host": "web1"},
            "log": f"token={secret} ok",
            "nul": "a\x00b",
        },
    )
    clean = redact_record(record)
    assert secret not in clean.model_dump_json()
    assert clean.details["params"] == {"password": "***", "host": "web1"}
    assert clean.details["nul"] == "a\ufffdb"
