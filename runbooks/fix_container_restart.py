"""Restart one container (only when it is not running and healthy, unless forced).

The fix for ``container.down``, ``container.unhealthy`` and a stopped
container that others look up by name. Destructive: its processes stop and
start again, and requests in flight are lost. Done only when the container
then stays up for ``settle`` seconds (healthy, where it has a health check): a
container that exits again within them is reported as not fixed, with its
state and last log lines (seed 003: an app that exits because its tables are
missing comes back up for a second, and no restart cures it).
"""

from __future__ import annotations

from pydantic import Field

from bot.framework.action import (
    Action,
    HostParams,
    Plan,
    ReadOnlyHost,
    Step,
    StepOutcome,
    about_container,
    single_step,
)
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.model.errors import DockerObjectNotFound
from bot.model.findings import Finding
from bot.redaction.redact import redact_text
from runbooks._settle import POLL, SETTLE_SECONDS, settle

NAME = "container.restart"
STOP_TIMEOUT = 10
VERIFIES = (
    "container.down",
    "container.restarting",
    "container.port_allocated",
    "network.stale_upstream",
)


class Params(HostParams):
    container: str = Field(description="container to restart (name or id)")
    force: bool = Field(False, description="restart even when it runs and is healthy")
    settle: float = Field(
        SETTLE_SECONDS, ge=0, le=600, description="seconds it must then stay up to count"
    )


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(action=NAME, target={"container": params.container}, destructive=True)
    try:
        container = await view.docker.inspect_container(params.container)
    except DockerObjectNotFound:
        return base.model_copy(
            update={
                "before": {"state": "absent"},
                "refusal": f"container {params.container} does not exist (any more)",
            }
        )
    health = container.state.health.status if container.state.health else "none"
    before = {
        "id": container.id[:12],
        "state": container.state.status,
        "health": health,
        "exit_code": container.state.exit_code,
    }
    fine = container.state.running and not container.state.restarting and health != "unhealthy"
    if fine and not params.force:
        return base.model_copy(update={"before": before, "after": before})
    restart = Step(
        description=f"restart {container.name} (stop waits up to {STOP_TIMEOUT} s)",
        call=f"POST /containers/{container.name}/restart?t={STOP_TIMEOUT}",
    )
    watch = Step(
        description=_watch(container.name, params.settle),
        call=f"GET /containers/{container.name}/json every {POLL:g} s for {params.settle:g} s",
    )
    after = {**before, "state": "running", "exit_code": 0}
    if health != "none":
        after["health"] = "starting"
    return base.model_copy(update={"before": before, "after": after, "steps": (restart, watch)})


def _watch(container: str, seconds: float) -> str:
    return f"watch {container} stay up for {seconds:g} s"


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    (restarted,) = await single_step(
        plan.model_copy(update={"steps": plan.steps[:1]}),
        session.docker.restart_container(params.container, timeout=STOP_TIMEOUT),
    )
    if not restarted.ok:
        return [restarted]
    watched = await settle(session.docker, [params.container], seconds=params.settle)
    step = _watch(params.container, params.settle)
    if watched.ok:
        return [restarted, StepOutcome(step=step, ok=True, detail=watched.detail)]
    logs = redact_text(watched.logs)
    detail = f"not fixed: {watched.detail}"
    if logs:
        detail += " — last lines: " + " ⏎ ".join(logs.splitlines()[-5:])
    return [restarted, StepOutcome(step=step, ok=False, detail=detail)]


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    """The container's own findings of ``VERIFIES``, and any finding that still offers
    this very restart (a database's ``db.connections_exhausted`` or ``db.lock_blocking``
    whose holder is this container): a restart that did not cure it is not a cure."""
    own = about_container(findings, VERIFIES, params.container)
    offered = [
        f
        for f in findings
        if f not in own
        and any(x.action == NAME and x.params.get("container") == params.container for x in f.fixes)
    ]
    return [*own, *offered]


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=VERIFIES,
    plan=plan,
    apply=apply,
    remaining=remaining,
)
