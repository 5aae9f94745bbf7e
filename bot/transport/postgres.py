"""Postgres connections for runbooks, via psycopg 3; errors mapped to ``bot.model.errors``.

The caller provides the TCP endpoint to dial: for an SSH session that is the
local end of a forwarded channel to the database's address on the host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from bot.model.errors import DatabaseError, DatabaseMissing, DatabaseUnreachable

CONNECT_TIMEOUT = 10
INVALID_CATALOG_NAME = "3D000"


class PostgresDatabase:
    """Implements ``bot.framework.session.Database`` on one open psycopg connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], *, host_label: str, target: str) -> None:
        self._conn = conn
        self._host = host_label
        self._target = target

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(sql.encode(), params)
                return list(await cur.fetchall())
        except psycopg.Error as exc:
            raise DatabaseError(self._host, f"{self._target}: {_first_line(exc)}") from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(sql.encode(), params)
        except psycopg.Error as exc:
            raise DatabaseError(self._host, f"{self._target}: {_first_line(exc)}") from exc


@asynccontextmanager
async def open_database(
    *,
    dial_host: str,
    dial_port: int,
    user: str,
    password: str,
    dbname: str,
    host_label: str,
    target: str,
) -> AsyncIterator[PostgresDatabase]:
    """Connect (autocommit) and yield the connection; ``target`` names it in errors."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            host=dial_host,
            port=dial_port,
            user=user,
            password=password,
            dbname=dbname,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            application_name="stackbot",
        )
    except psycopg.OperationalError as exc:
        message = _first_line(exc)
        if exc.sqlstate == INVALID_CATALOG_NAME or "does not exist" in message:
            raise DatabaseMissing(
                host_label, f"{target}: database {dbname!r} does not exist"
            ) from exc
        raise DatabaseUnreachable(host_label, f"{target}: {message}") from exc
    try:
        yield PostgresDatabase(conn, host_label=host_label, target=target)
    finally:
        await conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
