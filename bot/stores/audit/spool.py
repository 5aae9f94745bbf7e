"""The local spool: audit rows the database did not take, one JSON line each, fsync'd.

Format (one line per row, UTF-8)::

    {"spool": 1, "record": {<AuditRecord as JSON>}}

A line is written whole with one ``write`` under an exclusive ``flock`` and
fsync'd before ``append`` returns (the directory too, when the file is new).
``replay`` inserts every spooled record in file order (the store skips ids it
has, so a replay cut short and run again never duplicates a row) and empties
the file only when all of them are in. A torn last line (a crash during the
write, before it was durable) is skipped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.stores.audit.record import AuditRecord

SPOOL_VERSION = 1
log = logging.getLogger(__name__)


def encode_line(record: AuditRecord) -> bytes:
    line = {"spool": SPOOL_VERSION, "record": record.model_dump(mode="json")}
    return (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode()


def decode_lines(data: bytes) -> list[AuditRecord]:
    """The records of a spool file's content; a torn or unreadable line is skipped."""
    records = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if line.get("spool") != SPOOL_VERSION:
                raise ValueError(f"unknown spool version {line.get('spool')!r}")
            records.append(AuditRecord.model_validate(line["record"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("audit spool line %d skipped: %s", number, exc)
    return records


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _open(self) -> int:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if new:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return fd

    def append(self, record: AuditRecord) -> None:
        """Add ``record``; durable on disk when this returns."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, encode_line(record))
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[AuditRecord]:
        if not self.path.exists():
            return []
        return decode_lines(self.path.read_bytes())

    async def replay(self, insert: Callable[[AuditRecord], Awaitable[Any]]) -> int:
        """Insert every spooled record with ``insert``; drop them from the spool once all
        are in (rows spooled meanwhile stay).

        Returns how many records were replayed (0 when another replay is under way). The
        spool's own lock is never held across an ``await``: ``append`` takes it, blocking,
        on the event loop's thread, so a replay holding it while it waits for the database
        would stop the process for good. Replays exclude each other with a lock of their
        own (``<spool>.replay``), taken without waiting.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        guard = os.open(
            self.path.with_name(self.path.name + ".replay"), os.O_RDWR | os.O_CREAT, 0o600
        )
        try:
            try:
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                records = decode_lines(os.pread(fd, size, 0))
            finally:
                os.close(fd)  # unlocks
            for record in records:
                await insert(record)
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                now = os.fstat(fd).st_size
                newer = os.pread(fd, now - size, size) if now > size else b""
                os.ftruncate(fd, 0)
                if newer:
                    os.write(fd, newer)  # O_APPEND: at the start of the emptied file
                os.fsync(fd)
            finally:
                os.close(fd)
            return len(records)
        finally:
            os.close(guard)
