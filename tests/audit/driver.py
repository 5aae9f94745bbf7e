"""A stackbot process applying a slow fix, for the kill -9 test: ``python -m tests.audit.driver``.

argv: CONNINFO SPOOL MARKER. Writes the correlation id to MARKER + ".id", then
applies an action that writes MARKER and sleeps a minute (to be killed there).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.framework.executor import execute, plan_action
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail
from tests.audit.support import ACTION, INVENTORY, FakeTransport, Params, no_findings


async def main(conninfo: str, spool: str, marker: str) -> None:
    async with AuditStore(conninfo, timeout=3) as store:
        trail = AuditTrail(store, Spool(Path(spool)))
        audit = trail.request(actor="carol", surface="cli", environment="prod", action=ACTION.name)
        Path(marker + ".id").write_text(str(audit.correlation_id))  # noqa: ASYNC240 (a test double)
        await audit.record("requested", durable=True)
        params = Params(host="web1", sleep=60, marker=marker)
        transport = FakeTransport()
        plan = await plan_action(transport, INVENTORY, "prod", ACTION, params)
        await audit.record("planned", {"plan": plan.model_dump(mode="json")}, durable=True)
        await execute(
            transport,
            INVENTORY,
            "prod",
            ACTION,
            params,
            confirmed=plan,
            actor="carol",
            lock_dir=Path(spool).parent,
            diagnose=no_findings,
            audit=audit,
        )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
