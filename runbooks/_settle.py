"""Did it stay up? The post-check a restart or recreate needs before anyone says "fixed".

``settle(docker, refs, seconds=…)`` watches containers for ``seconds``: each must be
running the whole time with its restart count unchanged, and, where it has a health
check, end healthy (waiting up to ``health_wait`` for ``starting`` to resolve). A
container that exits, restarts or turns unhealthy ends the wait at once with the
evidence: its state, exit code and its last log lines (redacted by the caller).
Not a runbook: a helper of the runbooks that change containers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from bot.framework.session import DockerEngine
from bot.model.docker_objects import ContainerDetails
from bot.model.errors import DockerObjectNotFound, HostError

SETTLE_SECONDS = 10.0
HEALTH_WAIT = 60.0
POLL = 1.0
LOG_LINES = 10


class Settled(BaseModel):
    """How the containers fared while watched."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    seconds: float
    detail: str  # "stayed up 10 s (healthy)" or what went wrong
    logs: str = ""  # the fallen container's last lines (not yet redacted)


async def settle(
    docker: DockerEngine,
    refs: Sequence[str],
    *,
    seconds: float = SETTLE_SECONDS,
    health_wait: float = HEALTH_WAIT,
    poll: float = POLL,
) -> Settled:
    started = time.monotonic()
    first: dict[str, int] = {}
    while True:
        elapsed = time.monotonic() - started
        try:
            found = [await docker.inspect_container(ref) for ref in refs]
        except DockerObjectNotFound as exc:
            return Settled(ok=False, seconds=elapsed, detail=f"it is gone: {exc.detail}")
        except HostError as exc:
            return Settled(ok=False, seconds=elapsed, detail=f"cannot watch it: {exc.detail}")
        for c in found:
            restarts = c.restart_count
            first.setdefault(c.id, restarts)
            fell = _fell(c, restarts - first[c.id])
            if fell:
                logs = await _tail(docker, c.id)
                return Settled(ok=False, seconds=elapsed, detail=fell, logs=logs)
        waiting = [c for c in found if c.state.health and c.state.health.status == "starting"]
        if elapsed >= seconds and not waiting:
            health = " (healthy)" if any(c.state.health for c in found) else ""
            return Settled(ok=True, seconds=elapsed, detail=f"stayed up {elapsed:.0f} s{health}")
        if waiting and elapsed >= max(seconds, health_wait):
            names = ", ".join(c.name for c in waiting)
            return Settled(
                ok=False, seconds=elapsed, detail=f"{names} still not healthy after {elapsed:.0f} s"
            )
        await asyncio.sleep(poll)


def _fell(c: ContainerDetails, restarted: int) -> str | None:
    state = c.state
    if state.restarting or restarted > 0:
        return f"{c.name} is restarting (restarted {max(restarted, 1)} time(s) while watched)"
    if not state.running:
        return f"{c.name} is {state.status or 'not running'} (exit code {state.exit_code})"
    if state.health and state.health.status == "unhealthy":
        return f"{c.name} is unhealthy"
    return None


async def _tail(docker: DockerEngine, ref: str) -> str:
    try:
        text = await docker.logs(ref, tail=LOG_LINES)
    except HostError:
        return ""
    return text.strip()


__all__ = ["HEALTH_WAIT", "SETTLE_SECONDS", "Settled", "settle"]
