"""Connect a container to a network (optionally answering to an alias there).

The fix for ``network.split``: the app and the service it names share no
network, so Docker's DNS cannot resolve the name. Not destructive: nothing
restarts, the container gains one network.
"""

from __future__ import annotations

import json

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

NAME = "network.connect"
VERIFIES = ("network.split", "network.unresolvable_host")


class Params(HostParams):
    container: str = Field(description="container to connect (name or id)")
    network: str = Field(description="network to connect it to")
    alias: str | None = Field(None, description="a name the container answers to there")


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    target = {"container": params.container, "network": params.network}
    base = Plan(action=NAME, target=target, destructive=False)
    try:
        container = await view.docker.inspect_container(params.container)
    except DockerObjectNotFound:
        return base.model_copy(
            update={
                "before": {"container": "absent"},
                "refusal": f"container {params.container} does not exist (any more)",
            }
        )
    networks = {n.name for n in await view.docker.networks()}
    attached = sorted(container.networks)
    before = {"container": container.state.status, "networks": attached}
    if params.network not in networks:
        return base.model_copy(
            update={"before": before, "refusal": f"network {params.network} does not exist"}
        )
    endpoint = container.networks.get(params.network)
    if endpoint is not None and (params.alias is None or params.alias in endpoint.aliases):
        return base.model_copy(update={"before": before, "after": before})
    if endpoint is not None:
        return base.model_copy(
            update={
                "before": before,
                "refusal": f"{container.name} is already on {params.network} without alias "
                f"{params.alias}: disconnect it first to change its aliases",
            }
        )
    body: dict[str, object] = {"Container": container.name}
    if params.alias:
        body["EndpointConfig"] = {"Aliases": [params.alias]}
    alias = f" as {params.alias}" if params.alias else ""
    step = Step(
        description=f"connect {container.name} to {params.network}{alias}",
        call=f"POST /networks/{params.network}/connect {json.dumps(body)}",
    )
    after = {**before, "networks": sorted([*attached, params.network])}
    return base.model_copy(update={"before": before, "after": after, "steps": (step,)})


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    aliases = [params.alias] if params.alias else []
    return await single_step(
        plan, session.docker.connect_network(params.network, params.container, aliases=aliases)
    )


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return about_container(findings, VERIFIES, params.container)


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.CHANGE,
    verifies=VERIFIES,
    plan=plan,
    apply=apply,
    remaining=remaining,
)
