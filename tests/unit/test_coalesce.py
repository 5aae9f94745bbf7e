"""``SharedRuns``: identical requests in flight share one run; errors reach every waiter;
a waiter that leaves never takes the run from the others."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.model.outcome import HostOutcome
from bot.operations.coalesce import HostDone, SharedRuns


async def settle() -> None:
    """Let every ready task run until it waits on something the test controls."""
    for _ in range(50):
        await asyncio.sleep(0)


def outcome(host: str) -> HostOutcome[Any]:
    return HostOutcome[Any](host=host, label=host, duration=0.0)


class Work:
    """A run the test finishes by hand: counts its starts, reports hosts when told."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.finish: asyncio.Future[str] | None = None
        self.host_done: HostDone | None = None

    async def __call__(self, host_done: HostDone) -> str:
        self.started += 1
        self.host_done = host_done
        self.finish = asyncio.get_running_loop().create_future()
        try:
            return await self.finish
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def done(self, result: str = "report") -> None:
        assert self.finish is not None
        self.finish.set_result(result)

    def fail(self, exc: BaseException) -> None:
        assert self.finish is not None
        self.finish.set_exception(exc)


async def test_identical_requests_in_flight_share_one_run_and_learn_its_owner() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    first = asyncio.ensure_future(runs.run("prod", work, owner="A"))
    second = asyncio.ensure_future(runs.run("prod", work, owner="B"))
    await settle()
    assert work.started == 1 and runs.in_flight() == 1
    work.done("the report")
    a, b = await first, await second
    assert (a.result, a.shared_with) == ("the report", None)  # it started the run
    assert (b.result, b.shared_with) == ("the report", "A")  # it joined A's
    assert runs.in_flight() == 0


async def test_other_keys_run_on_their_own_and_a_finished_run_is_never_reused() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    prod = asyncio.ensure_future(runs.run(("prod", "shop"), work))
    await settle()
    other = Work()
    staging = asyncio.ensure_future(runs.run(("prod", "blog"), other))
    await settle()
    assert work.started == other.started == 1
    work.done("shop")
    other.done("blog")
    assert ((await prod).result, (await staging).result) == ("shop", "blog")
    again = asyncio.ensure_future(runs.run(("prod", "shop"), work))
    await settle()
    assert work.started == 2  # the first run was over: a new one, not its old result
    work.done("shop, later")
    assert (await again).result == "shop, later" and (await again).shared_with is None


async def test_an_error_of_the_shared_run_reaches_every_waiter() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    waiters = [asyncio.ensure_future(runs.run("prod", work, owner=n)) for n in "ABC"]
    await settle()
    assert work.started == 1
    work.fail(RuntimeError("the engine fell over"))
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError] * 3
    assert all("fell over" in str(r) for r in results)
    assert work.started == 1 and runs.in_flight() == 0


async def test_a_cancelled_waiter_leaves_the_others_their_run() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    first = asyncio.ensure_future(runs.run("prod", work, owner="A"))
    second = asyncio.ensure_future(runs.run("prod", work, owner="B"))
    await settle()
    assert work.started == 1
    first.cancel()  # the one that started the run goes away
    await settle()
    assert first.cancelled() and work.cancelled == 0
    work.done("still here")
    assert (await second).result == "still here"
    assert work.started == 1


async def test_the_last_waiter_to_leave_cancels_the_run_and_the_next_request_starts_afresh() -> (
    None
):
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    waiters = [asyncio.ensure_future(runs.run("prod", work)) for _ in range(2)]
    await settle()
    for waiter in waiters:
        waiter.cancel()
    await settle()
    assert work.cancelled == 1 and runs.in_flight() == 0
    fresh = asyncio.ensure_future(runs.run("prod", work, owner="C"))
    await settle()
    assert work.started == 2
    work.done("fresh")
    assert (await fresh).result == "fresh" and (await fresh).shared_with is None


async def test_progress_reaches_every_waiter_and_a_late_one_hears_what_it_missed() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()
    heard: dict[str, list[str]] = {"A": [], "B": []}

    def listener(name: str) -> HostDone:
        async def host_done(done: HostOutcome[Any]) -> None:
            heard[name].append(done.host)

        return host_done

    first = asyncio.ensure_future(runs.run("prod", work, on_host_done=listener("A")))
    await settle()
    assert work.host_done is not None
    await work.host_done(outcome("web1"))
    late = asyncio.ensure_future(runs.run("prod", work, on_host_done=listener("B")))
    await settle()
    assert work.started == 1
    assert heard == {"A": ["web1"], "B": ["web1"]}  # B joined after web1 was done
    await work.host_done(outcome("web2"))
    work.done()
    await first, await late
    assert heard == {"A": ["web1", "web2"], "B": ["web1", "web2"]}


async def test_a_failing_listener_fails_its_own_request_only() -> None:
    runs: SharedRuns[str] = SharedRuns()
    work = Work()

    async def broken(done: HostOutcome[Any]) -> None:
        raise ValueError("cannot post progress")

    heard: list[str] = []

    async def fine(done: HostOutcome[Any]) -> None:
        heard.append(done.host)

    failing = asyncio.ensure_future(runs.run("prod", work, on_host_done=broken))
    healthy = asyncio.ensure_future(runs.run("prod", work, on_host_done=fine))
    await settle()
    assert work.started == 1
    assert work.host_done is not None
    await work.host_done(outcome("web1"))
    await work.host_done(outcome("web2"))
    work.done("report")
    with pytest.raises(ValueError, match="cannot post progress"):
        await failing
    assert (await healthy).result == "report" and heard == ["web1", "web2"]
