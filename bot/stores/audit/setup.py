"""``open_trail``: the audit trail a stackbot process writes to.

The database URL is ``$STACKBOT_DATABASE_URL``, else the inventory's
``database_url``; with neither, the embedded Postgres in the data directory
(the inventory's ``data_dir``, else ``$XDG_DATA_HOME/stackbot`` or
``~/.local/share/stackbot``; ``/var/lib/stackbot`` for root). The spool lives
in the data directory either way. Opening never fails: with no database the
trail spools, and anything that must be durable is refused.

``overlap=True`` (the CLI): the store starts in the background (the embedded
server's start, the pool) while the caller goes on, e.g. connects to its hosts.
A read-only row written before the store is up is appended to the spool at
once (fsync'd: never lost, never waited for) and replayed into the database,
in order, by the next write once it is up, and at the latest when the trail
closes; a durable row waits for the store, as always (see ``StartingTrail``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from bot.inventory.config.models import Inventory
from bot.redaction.redact import redact_url
from bot.stores.audit.embedded import EmbeddedPostgres
from bot.stores.audit.errors import AuditUnavailable, EmbeddedPostgresFailed
from bot.stores.audit.spool import Spool
from bot.stores.audit.starting import StartingTrail
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail

SPOOL_NAME = "audit-spool.jsonl"
ROOT_DATA_DIR = Path("/var/lib/stackbot")


def data_dir(inventory: Inventory, environ: Mapping[str, str]) -> Path:
    if inventory.data_dir is not None:
        return inventory.data_dir
    if os.geteuid() == 0:
        return ROOT_DATA_DIR
    base = environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "stackbot"


def database_url(inventory: Inventory, environ: Mapping[str, str]) -> str | None:
    url = environ.get("STACKBOT_DATABASE_URL")
    if url:
        return url
    return inventory.database_url.get_secret_value() if inventory.database_url else None


@asynccontextmanager
async def open_trail(
    inventory: Inventory, environ: Mapping[str, str] = os.environ, *, overlap: bool = False
) -> AsyncIterator[AuditTrail]:
    """The trail for this process; closes the pool (and lets go of the embedded server).
    ``overlap``: do not wait for the store to start (see the module docstring)."""
    directory = data_dir(inventory, environ)
    if directory == ROOT_DATA_DIR and not directory.exists():
        directory.mkdir(parents=True, mode=0o711)
    spool = Spool(directory / SPOOL_NAME)
    url = database_url(inventory, environ)
    if overlap:
        async with _starting_trail(directory, url, spool) as starting:
            yield starting
        return
    embedded = None
    if url is None:
        embedded = EmbeddedPostgres(directory)
        try:
            await asyncio.to_thread(embedded.start)
        except EmbeddedPostgresFailed as exc:
            yield AuditTrail(None, spool, unavailable=exc.message)
            return
        url, label = embedded.conninfo, f"the embedded audit database in {embedded.pgdata}"
    else:
        label = f"the audit database {redact_url(url)}"
    store = AuditStore(url, label=label)
    try:
        await store.open()
        trail = AuditTrail(store, spool)
        with contextlib.suppress(AuditUnavailable):  # else replayed later, when it is back
            await trail.replay()
        yield trail
    finally:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.release)


@asynccontextmanager
async def _starting_trail(
    directory: Path, url: str | None, spool: Spool
) -> AsyncIterator[StartingTrail]:
    embedded = EmbeddedPostgres(directory) if url is None else None
    if embedded is not None:
        url, label = embedded.conninfo, f"the embedded audit database in {embedded.pgdata}"
    else:
        label = f"the audit database {redact_url(url or '')}"
    store = AuditStore(url or "", label=label)
    failed = None
    if embedded is not None:
        try:  # before any spooled row creates the data directory with the spool's mode
            embedded.prepare_dirs()
        except EmbeddedPostgresFailed as exc:
            failed = exc.message

    async def start() -> str | None:
        """None once the store is open; else why there is no audit database."""
        if failed is not None:
            return failed
        if embedded is not None:
            try:
                await asyncio.to_thread(embedded.start)
            except EmbeddedPostgresFailed as exc:
                return exc.message
        await store.open()
        return None

    trail = StartingTrail(store, spool, asyncio.create_task(start(), name="stackbot-audit-start"))
    try:
        yield trail
    finally:
        try:
            await trail.settle()
        finally:
            await store.close()
            if embedded is not None:
                await asyncio.to_thread(embedded.release)
