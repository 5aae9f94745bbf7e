"""Coalesced in-place updates: at most one message update per interval, the last one always."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Coalescer:
    """Calls ``send(latest)`` at most every ``interval`` seconds; ``flush`` sends what is left."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, interval: float = 1.0) -> None:
        self._send = send
        self._interval = interval
        self._latest: str | None = None
        self._sent_at = float("-inf")
        self._pending: asyncio.Task[None] | None = None
        self.sent: int = 0

    def update(self, text: str) -> None:
        self._latest = text
        if self._pending is None or self._pending.done():
            delay = max(0.0, self._sent_at + self._interval - time.monotonic())
            self._pending = asyncio.create_task(self._later(delay))

    async def _later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._push()

    async def _push(self) -> None:
        text, self._latest = self._latest, None
        if text is None:
            return
        self._sent_at = time.monotonic()
        self.sent += 1
        await self._send(text)

    async def flush(self) -> None:
        """Drop a scheduled update and send nothing more: the caller replaces the message."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._latest = None
