"""At most N runs at once per environment (``EnvironmentLimits``); the rest queue.

Every runbook run and every button's plan ``Operations`` starts takes a slot
of its environment's semaphore first, so a flood of requests (two hundred
``/stack diagnose`` in a minute) waits its turn, first come first served,
instead of running all at once on the one event loop, where their work
would starve everything else ``serve`` does (answering Slack within three
seconds above all). Identical requests queued behind the bound share one run
(``bot.operations.coalesce``), so the queue holds distinct work only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

RUNS_PER_ENVIRONMENT = 4  # a diagnosis is mostly waiting on SSH; four keep two cores busy


class EnvironmentLimits:
    """A semaphore of ``per_environment`` slots for each environment, made on first use."""

    def __init__(self, per_environment: int = RUNS_PER_ENVIRONMENT) -> None:
        if per_environment < 1:
            raise ValueError("per_environment must be at least 1")
        self.per_environment = per_environment
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._busy: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def slot(self, env: str) -> AsyncIterator[None]:
        """Hold one of ``env``'s slots (waiting for one when all are taken)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the semaphores of a loop that ended are dropped
            self._loop, self._slots, self._busy = loop, {}, Counter()
        semaphore = self._slots.setdefault(env, asyncio.Semaphore(self.per_environment))
        async with semaphore:
            self._busy[env] += 1
            try:
                yield
            finally:
                self._busy[env] -= 1

    def busy(self, env: str) -> int:
        """How many of ``env``'s slots are taken now."""
        return self._busy[env]


__all__ = ["RUNS_PER_ENVIRONMENT", "EnvironmentLimits"]
