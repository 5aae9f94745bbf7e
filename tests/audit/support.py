"""A tiny destructive action and a transport of fake sessions: the executor without Docker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.inventory.config.models import Inventory, ResolvedHost
from bot.model.findings import Finding
from tests.unit.fakes import FakeHostSession

PLANTED = "pl4nted-S3cret-value"  # must never reach an audit row
INVENTORY = Inventory.model_validate(
    {"environments": {"prod": {"hosts": {"web1": {"address": "203.0.113.10"}}}}}
)


class FakeTransport:
    def __init__(self) -> None:
        self.sessions = 0

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        self.sessions += 1
        yield FakeHostSession(host=host)


class Params(HostParams):
    container: str = "shop_db"
    sleep: float = 0.0
    marker: str = ""


APPLIED: list[str] = []


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    return Plan(
        action="test.restart",
        target={"container": params.container},
        destructive=True,
        steps=(
            Step(
                description=f"restart {params.container}",
                call=f"POST /containers/{params.container}/restart "
                f"(DATABASE_URL=postgres://app:{PLANTED}@db/app)",
            ),
        ),
        before={"state": "exited", "env": {"DB_PASSWORD": PLANTED}},
        after={"state": "running"},
    )


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    if params.marker:
        Path(params.marker).write_text("applying")  # noqa: ASYNC240 (a test double)
    if params.sleep:
        await asyncio.sleep(params.sleep)
    APPLIED.append(params.container)
    return [
        StepOutcome(
            step=plan.steps[0].description,
            ok=True,
            detail=f"restarted; log said password={PLANTED} and Bearer {PLANTED}",
        )
    ]


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return [f for f in findings if f.code == "container.down"]


ACTION = Action(
    name="test.restart",
    summary="Restart a container (test double).",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=("container.down",),
    plan=plan,
    apply=apply,
    remaining=remaining,
)


async def no_findings(session: HostSession) -> list[Finding]:
    return []
