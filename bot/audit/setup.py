"""``open_trail``: the audit trail a stackbot process writes to.

The database URL is ``$STACKBOT_DATABASE_URL``, else the inventory's
``database_url``; with neither, the embedded Postgres in the data directory
(the inventory's ``data_dir``, else ``$XDG_DATA_HOME/stackbot`` or
``~/.local/share/stackbot``; ``/var/lib/stackbot`` for root). The spool lives
in the data directory either way. Opening never fails: with no database the
trail spools, and anything that must be durable is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from bot.audit.embedded import EmbeddedPostgres
from bot.audit.errors import AuditUnavailable, EmbeddedPostgresFailed
from bot.audit.spool import Spool
from bot.audit.store import AuditStore
from bot.audit.trail import AuditTrail
from bot.config.models import Inventory
from bot.redact import redact_url

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
    inventory: Inventory, environ: Mapping[str, str] = os.environ
) -> AsyncIterator[AuditTrail]:
    """The trail for this process; closes the pool (and lets go of the embedded server)."""
    directory = data_dir(inventory, environ)
    if directory == ROOT_DATA_DIR and not directory.exists():
        directory.mkdir(parents=True, mode=0o711)
    spool = Spool(directory / SPOOL_NAME)
    url = database_url(inventory, environ)
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
