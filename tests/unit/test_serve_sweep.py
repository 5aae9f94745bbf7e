"""`serve` sweeps stored actions past their time, and a database outage does not stop it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from bot.slack.serve import sweep_pending
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.pending import PendingActions


class Store:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0
        self.third = asyncio.Event()

    async def expire_old(self) -> list[Any]:
        self.calls += 1
        if self.calls == 3:
            self.third.set()
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, Exception):
            raise answer
        return list(answer)


async def test_the_sweep_runs_again_after_an_outage_and_stops_at_once() -> None:
    store = Store([AuditUnavailable("the audit database cannot be used"), ["ended"], []])
    stop = asyncio.Event()
    task = asyncio.ensure_future(sweep_pending(cast(PendingActions, store), stop, 0.01))
    await asyncio.wait_for(store.third.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 1)  # returns promptly once stopped
    assert store.calls >= 3  # the outage did not end the loop
