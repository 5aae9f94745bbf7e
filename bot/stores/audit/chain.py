"""Verify a chain of rows (pure): the first row changed, deleted or reordered, by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.stores.audit.record import GENESIS, AuditRow, row_hash


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    row_id: str
    problem: str

    def __str__(self) -> str:
        return f"row seq {self.seq} (id {self.row_id}): {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head: str
    broken: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_rows(rows: Iterable[AuditRow]) -> ChainReport:
    """Walk ``rows`` in ``seq`` order; stop at the first row that does not fit."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                missing = (
                    f"seq {expected_seq}"
                    if row.seq == expected_seq + 1
                    else f"seq {expected_seq} to {row.seq - 1}"
                )
                problem = f"the row(s) before it ({missing}) were deleted"
            else:
                problem = f"its seq repeats or goes back (expected {expected_seq})"
            return ChainReport(count - 1, prev_hash, ChainBreak(row.seq, str(row.id), problem))
        if row.row_hash != row_hash(row.prev_hash, row.content()):
            problem = "its content was changed (its hash no longer matches)"
            if row.prev_hash != prev_hash:
                problem = "it was changed or moved (neither its hash nor its link match)"
            return ChainReport(count - 1, prev_hash, ChainBreak(row.seq, str(row.id), problem))
        if row.prev_hash != prev_hash:
            problem = (
                "it does not follow the row before it: a row before it was deleted, "
                "changed or reordered"
            )
            return ChainReport(count - 1, prev_hash, ChainBreak(row.seq, str(row.id), problem))
        prev_hash = row.row_hash
        expected_seq += 1
    return ChainReport(count, prev_hash)
