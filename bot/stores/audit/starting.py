"""``StartingTrail``: an audit trail whose store is still starting (``open_trail(overlap=True)``).

A terminal command should not wait for the audit database (the embedded
server takes a few hundred milliseconds to start) before it reads its hosts.
Until the store is up:

- a read-only row (``durable=False``) is redacted and appended to the spool,
  fsync'd, and the write returns: on disk, never lost;
- a durable row (anything before a change) waits for the store, then is
  written or refused exactly as ``AuditTrail.write`` does.

Once it is up, every write replays the spool first (``AuditTrail.write``), so
rows reach the database in the order they were written; ``settle`` (when the
trail closes) waits for the start and replays what is left. When the store
cannot start, the trail behaves as one opened without a database: read-only
rows stay spooled for a later process, durable ones are refused. Writes are
serialised, so a replay and a spool append never race for the spool's lock.
"""

from __future__ import annotations

import asyncio
import contextlib

from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.record import AuditRecord, redact_record
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail


class StartingTrail(AuditTrail):
    def __init__(self, store: AuditStore, spool: Spool, starting: asyncio.Task[str | None]) -> None:
        super().__init__(store, spool)
        self._starting = starting
        self._writing = asyncio.Lock()
        self.spooled_while_starting = 0
        """How many rows went to the spool because the store was not up yet."""

    @property
    def started(self) -> bool:
        return self._starting.done()

    async def ready(self) -> None:
        """Wait for the store's start; without a database afterwards, ``store`` is None."""
        reason = await asyncio.shield(self._starting)
        if reason is not None:
            self.store = None
            self.unavailable = reason

    async def write(self, record: AuditRecord, *, durable: bool) -> AuditRecord:
        async with self._writing:
            if not durable and not self._starting.done():
                record = redact_record(record)
                self.spool.append(record)
                self.spooled_while_starting += 1
                return record
            await self.ready()
            return await super().write(record, durable=durable)

    async def settle(self) -> None:
        """The store started (or failed to); what was spooled meanwhile is in it if it is up."""
        async with self._writing:
            await self.ready()
            with contextlib.suppress(AuditUnavailable):  # else replayed by a later process
                await self.replay()
