"""One lock per environment for actions: a second action waits, then is refused with the holder.

A ``flock`` on ``<lock_dir>/<env>.lock`` holds across processes on this machine
(the CLI, the bot); the file names who holds it. (Several replicas on several
machines will share a Postgres advisory lock instead, with the audit trail.)
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.model.errors import StackbotError


class EnvironmentBusy(StackbotError):
    code = "action.environment_busy"
    exit_status = 5


def default_lock_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(state) / "stackbot" / "locks"


@asynccontextmanager
async def environment_lock(
    lock_dir: Path, env: str, *, holder: str, what: str, wait: float = 10.0
) -> AsyncIterator[None]:
    """Hold ``env``'s action lock; after ``wait`` seconds, ``EnvironmentBusy`` names the holder."""
    path, fd = _open_lock_file(lock_dir, env)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EnvironmentBusy(
                        f"environment {env!r} is busy: {_describe(path)}; try again when it is done"
                    ) from None
                await asyncio.sleep(0.1)
        record = {
            "holder": holder,
            "what": what,
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(lock_dir: Path, env: str) -> tuple[Path, int]:
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = lock_dir / f"{env}.lock"
    return path, os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _describe(path: Path) -> str:
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "another action holds its lock"
    return (
        f"{record.get('what', 'an action')} by {record.get('holder', '?')} "
        f"(pid {record.get('pid', '?')}) since {record.get('since', '?')}"
    )
