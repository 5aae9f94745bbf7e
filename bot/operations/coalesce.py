"""Identical requests in flight at once share one run (``SharedRuns``).

Two people (or two hundred) asking ``/stack diagnose prod`` while a diagnosis
of prod is running get that run's report instead of starting one each::

    request A ──┐
    request B ──┼── key ("diagnose", env, stack, hosts, …) ──► one task ──► its result
    request C ──┘                                                           to A, B and C

- A run's key is whatever makes two requests identical (``Operations`` builds
  it); a request whose key has no run in flight starts one and owns it; its
  ``owner`` (an audit correlation id) is what the others are told they shared.
- Per-host progress reaches every waiter: each has its own listener, and one
  that joins late first hears of the hosts already done. A listener that fails
  fails its own request only (the error is raised to that waiter at the end).
- An error of the run reaches every waiter. A waiter that is cancelled leaves
  the others waiting; the run is cancelled when its last waiter leaves (and a
  request arriving after that starts a new one).
- A run is joined only while it is in flight: its result is never kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.model.outcome import HostOutcome

T = TypeVar("T")
HostDone = Callable[[HostOutcome[Any]], Awaitable[None]]
Work = Callable[[HostDone], Awaitable[T]]


@dataclass(frozen=True)
class Shared(Generic[T]):
    """A waiter's answer: the run's ``result``; ``shared_with``: the owner of the run this
    request joined (None when it started the run itself)."""

    result: T
    shared_with: object | None


@dataclass(eq=False)
class _Listener:
    """One waiter's progress callback; deliveries to it never overlap."""

    callback: HostDone | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    error: BaseException | None = None

    async def hear(self, outcome: HostOutcome[Any]) -> None:
        if self.callback is None or self.error is not None:
            return
        async with self.lock:
            try:
                await self.callback(outcome)
            except Exception as exc:  # this waiter's own failure: raised to it alone
                self.error = exc


@dataclass(eq=False)
class _Run(Generic[T]):
    owner: object | None
    task: asyncio.Task[T] | None = None
    listeners: list[_Listener] = field(default_factory=list)
    done_hosts: list[HostOutcome[Any]] = field(default_factory=list)

    async def host_done(self, outcome: HostOutcome[Any]) -> None:
        self.done_hosts.append(outcome)
        await asyncio.gather(*(listener.hear(outcome) for listener in list(self.listeners)))


class SharedRuns(Generic[T]):
    """The runs in flight, by key."""

    def __init__(self) -> None:
        self._runs: dict[Hashable, _Run[T]] = {}

    def in_flight(self) -> int:
        return len(self._runs)

    async def run(
        self,
        key: Hashable,
        work: Work[T],
        *,
        owner: object | None = None,
        on_host_done: HostDone | None = None,
    ) -> Shared[T]:
        """``work(host_done)``'s result, from the run in flight under ``key`` if there is
        one (``shared_with`` is then its owner), else from a new run owned by ``owner``."""
        run = self._runs.get(key)
        if run is not None and (run.task is None or run.task.get_loop() is not _loop()):
            run = None  # a run of another event loop (a closed one) is never joined
        joined = run is not None
        if run is None:
            run = _Run[T](owner)
            self._runs[key] = run
            run.task = asyncio.ensure_future(work(run.host_done))
            run.task.add_done_callback(lambda task: self._ended(key, run, task))
        listener = _Listener(on_host_done)
        run.listeners.append(listener)
        try:
            # the hosts done before this waiter came (a late joiner's progress)
            for outcome in list(run.done_hosts):
                await listener.hear(outcome)
            assert run.task is not None
            await asyncio.wait([run.task])  # a cancelled waiter leaves the run running
        except BaseException:
            self._leave(key, run, listener)
            raise
        run.listeners.remove(listener)
        if listener.error is not None:
            raise listener.error
        return Shared(run.task.result(), run.owner if joined else None)

    def _leave(self, key: Hashable, run: _Run[T], listener: _Listener) -> None:
        """A waiter went away (cancelled): the last one to go cancels the run."""
        run.listeners.remove(listener)
        if run.listeners or run.task is None or run.task.done():
            return
        if self._runs.get(key) is run:
            del self._runs[key]  # a request from now on starts afresh
        run.task.cancel()

    def _ended(self, key: Hashable, run: _Run[T], task: asyncio.Task[T]) -> None:
        if self._runs.get(key) is run:
            del self._runs[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter has it, and none may be left


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


__all__ = ["HostDone", "Shared", "SharedRuns", "Work"]
