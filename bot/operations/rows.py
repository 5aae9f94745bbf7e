"""Read-only requests' audit rows, at most N written at once; the rest wait in order.

The audit database takes one row at a time (each insert holds the chain's
lock), but every row waiting for that lock holds one of the audit pool's four
connections meanwhile. A flood of read-only requests (two hundred ``/stack
diagnose`` in a minute, each ``requested`` and ``diagnosed``) would hold all
four: the stored plans behind a report's buttons and on call's writes then
wait for a connection until the pool gives up (5 s), and the rows themselves
go to the local spool. So those rows queue here instead, ``ROWS_AT_ONCE`` at
a time, and the other connections stay free. The rows before a change to a
host never queue (they must be in the database now, or the change is
refused), and nothing queues while the database refuses rows (the spool holds
some): each row then finds out for itself, as without the queue.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.stores.audit.record import Kind
from bot.stores.audit.trail import AuditRequest

ROWS_AT_ONCE = 2  # one inserting under the chain's lock, one ready behind it


class RowQueue:
    """Writes read-only requests' rows, at most ``at_once`` at a time, first come first."""

    def __init__(self, at_once: int = ROWS_AT_ONCE) -> None:
        if at_once < 1:
            raise ValueError("at_once must be at least 1")
        self.at_once = at_once
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(self, audit: AuditRequest | None, kind: Kind, details: dict[str, Any]) -> None:
        if audit is None:
            return
        if _refusing(audit):
            await audit.record(kind, details)
            return
        loop = asyncio.get_running_loop()
        if self._slots is None or loop is not self._loop:  # a semaphore serves one loop
            self._slots, self._loop = asyncio.Semaphore(self.at_once), loop
        async with self._slots:
            await audit.record(kind, details)


def _refusing(audit: AuditRequest) -> bool:
    """No database, or rows spooled that it has not taken back yet."""
    trail = audit.trail
    if trail.store is None:
        return True
    try:
        return trail.spool.path.stat().st_size > 0
    except FileNotFoundError:
        return False


__all__ = ["ROWS_AT_ONCE", "RowQueue"]
