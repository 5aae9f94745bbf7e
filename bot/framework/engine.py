"""Runs a runbook on every host of an environment at once and collects the outcomes.

A host that fails (unreachable, refused key, no Docker…) becomes an error
outcome for that host; the other hosts complete regardless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from bot.framework.runbook import Runbook
from bot.framework.session import HostSession
from bot.inventory.config.models import Inventory, ResolvedHost
from bot.model.errors import HostError, HostUnreachable, UnknownEnvironment, UsageError
from bot.model.outcome import ErrorInfo, HostOutcome, RunOutcome, host_outcome_of, run_outcome_of
from bot.transport import Transport

T = TypeVar("T", bound=BaseModel)
GRACE = 0.5  # past a runbook's own deadline: time to hand back what it read


def environment_hosts(
    inventory: Inventory, env: str, only: Sequence[str] = ()
) -> list[ResolvedHost]:
    """The environment's hosts (or the named subset), with defaults applied."""
    if env not in inventory.environments:
        raise UnknownEnvironment(env, list(inventory.environments))
    names = list(inventory.environments[env].hosts)
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(
            f"environment {env!r} has no host {unknown[0]!r} (hosts: {', '.join(names)})"
        )
    return [inventory.resolved_host(env, name) for name in names if not only or name in only]


async def on_each_host(
    transport: Transport,
    hosts: Sequence[ResolvedHost],
    work: Callable[[HostSession], Awaitable[T]],
    result_type: type[T],
    on_host_done: Callable[[HostOutcome[T]], Awaitable[None]] | None = None,
    deadline: float | None = None,
) -> list[HostOutcome[T]]:
    """Run ``work`` with a session on every host concurrently; errors stay per host.

    ``deadline`` bounds each host as a whole, the SSH connect included: a host that
    has not answered by then is an error outcome ("no answer within N s"), and the
    others' results are not held up (the work's own deadline, where it has one,
    ends it first with what it read)."""
    outcome_type = host_outcome_of(result_type)

    async def one(host: ResolvedHost) -> HostOutcome[T]:
        outcome = await read(host)
        if on_host_done is not None:
            await on_host_done(outcome)
        return outcome

    async def read(host: ResolvedHost) -> HostOutcome[T]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(None if deadline is None else deadline + GRACE):
                async with transport.session(host) as session:
                    result = await work(session)
        except TimeoutError:
            exc = HostUnreachable(
                host.label, f"no answer within the {deadline:g} s deadline (connecting included)"
            )
            return outcome_type(
                host=host.name,
                label=host.label,
                duration=time.monotonic() - started,
                error=ErrorInfo.from_error(exc),
            )
        except HostError as exc:
            return outcome_type(
                host=host.name,
                label=host.label,
                duration=time.monotonic() - started,
                error=ErrorInfo.from_error(exc),
            )
        return outcome_type(
            host=host.name, label=host.label, duration=time.monotonic() - started, result=result
        )

    return list(await asyncio.gather(*(one(host) for host in hosts)))


async def run_runbook(
    transport: Transport,
    inventory: Inventory,
    env: str,
    runbook: Runbook[Any, Any],
    params: BaseModel,
    *,
    only_hosts: Sequence[str] = (),
    on_host_done: Callable[[HostOutcome[Any]], Awaitable[None]] | None = None,
) -> RunOutcome[Any]:
    hosts = environment_hosts(inventory, env, only_hosts)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    deadline = getattr(params, "deadline", None)
    outcomes = await on_each_host(
        transport,
        hosts,
        lambda session: runbook.run(session, params),
        runbook.result,
        on_host_done,
        deadline=float(deadline) if isinstance(deadline, int | float) else None,
    )
    return run_outcome_of(runbook.result)(
        environment=env,
        runbook=runbook.name,
        started_at=started_at,
        duration=time.monotonic() - started,
        hosts=outcomes,
    )
