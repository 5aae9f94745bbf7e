"""Benchmarks against the lab (never timed tests): `scripts/bench` runs this.

Measures, with the lab running (it starts it if needed and leaves it as found):
- SSH connect + authenticate (pooled connection, first use);
- one Docker Engine API call through the forwarded socket, on a warm connection;
- a full `diagnose` of one host, per scenario (read + judge), median of N runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from bot.config import load_inventory
from bot.diagnosis import build_report
from bot.engine import run_runbook
from bot.transport import Transport
from runbooks import load_runbook
from tests.lab.lab import Lab


def median_ms(samples: list[float]) -> str:
    median, fastest = statistics.median(samples) * 1000, min(samples) * 1000
    return f"{median:8.1f} ms (min {fastest:.1f}, n={len(samples)})"


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def transport_bench(lab: Lab, repeat: int) -> None:
    inventory = load_inventory(lab.inventory_path)
    host = inventory.resolved_host("lab", "h1")

    async def connect() -> None:
        async with Transport(inventory.ssh) as transport, transport.session(host) as session:
            await session.run(["true"])

    print("ssh connect + auth + one command ", median_ms(await timed(connect, repeat)))
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        await session.docker.version()
        print(
            "docker API call (warm tunnel)    ",
            median_ms(await timed(session.docker.version, repeat * 5)),
        )
        containers = await session.docker.containers(all=True)

        async def inspect_all() -> None:
            await asyncio.gather(*(session.docker.inspect_container(c.id) for c in containers))

        print(
            f"inspect {len(containers)} containers at once    ",
            median_ms(await timed(inspect_all, repeat)),
        )


async def diagnose_bench(lab: Lab, scenarios: list[str], repeat: int) -> None:
    inventory = load_inventory(lab.inventory_path)
    runbook = load_runbook("diagnose")
    for name in scenarios:
        lab.scenario(name)
        env = "small" if name == "S6" else "lab"

        async def once(env: str = env) -> None:
            async with Transport(inventory.ssh) as transport:
                build_report(
                    await run_runbook(transport, inventory, env, runbook, runbook.params())
                )

        print(f"diagnose {name:8} (new connection)  ", median_ms(await timed(once, repeat)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenarios", default="healthy,S1,S5")
    args = parser.parse_args()
    lab = Lab()
    started_here = lab.start()
    try:
        asyncio.run(transport_bench(lab, args.repeat))
        asyncio.run(diagnose_bench(lab, args.scenarios.split(","), args.repeat))
    finally:
        if started_here:
            lab.stop()


if __name__ == "__main__":
    main()
