"""The work a listener hands off after its ``ack()``: kept, awaited on stop, never lost.

A listener answers Slack within 3 seconds; everything slower runs as a task kept
here. A task that fails is recorded in ``failures`` and the user it was for is told.
Work done for a Slack delivery waits for that delivery's claim (``claim``, from
``bot.slack.deliveries``) and is dropped, never started, when the delivery was
claimed before: a replay or a retry runs nothing and writes no audit row.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from bot.model.errors import StackbotError
from bot.slack.deliveries import Claim, claimed

Tell = Callable[[str, str, str], Awaitable[None]]  # (channel, user, text): only they see it


class Background:
    def __init__(self, tell: Tell) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []
        self._tell = tell

    def spawn(
        self,
        work: Awaitable[object],
        *,
        channel: str = "",
        user: str = "",
        claim: Claim | None = None,
    ) -> None:
        """Run ``work`` in the background; a failure is told to ``user`` in ``channel``.
        With ``claim`` (the claim of the delivery ``work`` is for), only once it says the
        delivery is a first one; otherwise ``work`` never starts."""
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(work, channel, user, claim))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(
        self, work: Awaitable[object], channel: str, user: str, claim: Claim | None
    ) -> None:
        """Background work never fails silently: the user hears of it, the bot keeps it."""
        runs = False
        try:
            runs = await claimed(claim)
        finally:
            if not runs and inspect.iscoroutine(work):
                work.close()  # never started (a copy, or cancelled on stop): nothing ran
        if not runs:
            return
        try:
            await work
        except StackbotError as exc:
            self.failures.append(exc)
            if channel and user:
                await self._tell(channel, user, exc.message)
        except Exception as exc:
            self.failures.append(exc)
            if channel and user:
                await self._tell(channel, user, f"stackbot failed: {type(exc).__name__}")
            raise

    async def drain(self) -> None:
        """Wait for the background work (tests, and a graceful stop)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
