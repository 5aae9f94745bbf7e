"""The environment's action lock as a Postgres advisory lock: it holds across replicas.

``pg_try_advisory_lock(key)`` on a connection of its own, held for the action's
duration (the server releases it if the process dies). The connection's
``application_name`` names the holder, so a refusal can say who it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from bot.framework.envlock import EnvironmentBusy
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.store import AuditStore

POLL = 0.2


def env_lock_key(env: str) -> int:
    """A signed 64-bit key for ``env`` (same on every replica and every Python)."""
    digest = hashlib.sha256(f"stackbot.env:{env}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def advisory_environment_lock(
    store: AuditStore, env: str, *, holder: str, what: str, wait: float = 10.0
) -> AsyncIterator[None]:
    """Hold ``env``'s lock; after ``wait`` seconds ``EnvironmentBusy`` names the holder."""
    key = env_lock_key(env)
    name = f"stackbot lock {env}: {what} by {holder}"[:63]
    try:
        conn = await psycopg.AsyncConnection.connect(
            store.conninfo, autocommit=True, application_name=name, connect_timeout=5
        )
    except psycopg.Error as exc:
        raise AuditUnavailable(
            f"refused: {store.label} cannot hold the environment lock ({_first_line(exc)}); "
            "nothing was changed"
        ) from exc
    try:
        deadline = time.monotonic() + wait
        while not await _try_lock(conn, key):
            if time.monotonic() >= deadline:
                raise EnvironmentBusy(
                    f"environment {env!r} is busy: {await _holder(conn, key)}; "
                    "try again when it is done"
                )
            await asyncio.sleep(POLL)
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):  # gone with its connection, if lost
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        await conn.close()


async def _try_lock(conn: psycopg.AsyncConnection[Any], key: int) -> bool:
    try:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cur.fetchone()
    except psycopg.Error as exc:
        raise AuditUnavailable(
            f"refused: the environment lock cannot be taken ({_first_line(exc)}); "
            "nothing was changed"
        ) from exc
    return bool(row and row[0])


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def _holder(conn: psycopg.AsyncConnection[Any], key: int) -> str:
    try:
        cur = await conn.execute(
            "SELECT a.application_name, a.pid, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        )
        row = await cur.fetchone()
    except psycopg.Error:
        row = None
    if not row:
        return "another action holds its lock"
    name, pid, since = row
    what = str(name).removeprefix("stackbot lock ").partition(": ")[2] or "an action"
    return f"{what} (server pid {pid}) since {since:%Y-%m-%dT%H:%M:%S%z}"
