"""Benchmarks against the lab (never timed tests): `scripts/bench` runs this.

Measures, with the lab running (it starts it if needed and leaves it as found):
- SSH connect + authenticate (pooled connection, first use);
- one Docker Engine API call through the forwarded socket, on a warm connection;
- a full `diagnose` of one host, per scenario (read + judge), median of N runs, each on a
  new connection: its SSH login, and the diagnosis itself on that connection;
- redacting a very long token and a long log (secrets masked everywhere output goes);
- on-call (embedded Postgres, the Slack stand-in): an alert posted over HTTP until
  its incident message is in the channel; a repeat of it; one escalation pass paging
  100 due incidents.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.framework.engine import environment_hosts, run_runbook
from bot.inventory.config import load_inventory
from bot.model.diagnosis import build_report
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


SPEED_LOOP = 300_000
AT_FULL_SPEED = 1.15  # a run counts as "at full speed" within this of the fastest loop


def machine_speed() -> float:
    """Seconds a fixed piece of pure-Python work takes now: this machine's speed varies
    by a third from second to second (a shared VM's), which no median of a few runs
    hides; each diagnosis is measured beside it."""
    started = time.perf_counter()
    total = 0
    for i in range(SPEED_LOOP):
        total += i
    return time.perf_counter() - started


def speed_note(speeds: list[float], durations: list[float]) -> str:
    """The machine's speed during a scenario's runs, and the diagnosis itself in the runs
    the machine was at (near) its fastest."""
    fastest = min(speeds)
    full = [d for s, d in zip(speeds, durations, strict=True) if s <= fastest * AT_FULL_SPEED]
    return (
        f"machine speed: a fixed loop took {statistics.median(speeds) * 1000:.1f} ms "
        f"(fastest {fastest * 1000:.1f}); in the {len(full)} runs at full speed (loop "
        f"within {AT_FULL_SPEED:g}x the fastest) the diagnosis itself "
        f"{statistics.median(full) * 1000:.0f} ms"
    )


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
        for compose in ("v2", "v1"):  # side by side: the scenario built and read with each
            lab.scenario(name, compose)
            env = "small" if name == "S6" else "lab"
            logins: list[float] = []
            durations: list[float] = []
            speeds: list[float] = []

            async def once(
                env: str = env,
                logins: list[float] = logins,
                durations: list[float] = durations,
                speeds: list[float] = speeds,
            ) -> None:
                speeds.append(machine_speed())
                # the SSH login first, timed apart; the diagnosis then leases the same new
                # connection (nothing read on it yet: its compose is found afresh)
                async with Transport(inventory.ssh) as transport:
                    started = time.perf_counter()
                    for host in environment_hosts(inventory, env):
                        async with transport.session(host):
                            pass
                    logins.append(time.perf_counter() - started)
                    report = build_report(
                        await run_runbook(transport, inventory, env, runbook, runbook.params())
                    )
                    assert transport.ssh.logins == len(report.hosts)  # no second login
                durations.append(report.duration)

            total = median_ms(await timed(once, repeat))
            login = statistics.median(logins) * 1000
            inside = statistics.median(durations) * 1000
            print(
                f"diagnose {name:8} compose {compose} (new connection) {total}; "
                f"SSH login {login:.0f} ms, the diagnosis itself {inside:.0f} ms "
                f"(min {min(durations) * 1000:.0f})"
            )
            print(f"    {speed_note(speeds, durations)}")
    lab.last_scenario = None


async def oncall_bench(repeat: int) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from pydantic import SecretStr

    from bot.inventory.config import parse_inventory
    from bot.oncall.intake import add_intake_routes
    from bot.slack.app import SlackBot
    from bot.slack.settings import SlackSettings
    from bot.stores.audit.spool import Spool
    from bot.stores.audit.store import AuditStore
    from bot.stores.audit.trail import AuditTrail
    from tests.audit.conftest import embedded_server
    from tests.clock import FakeClock
    from tests.slackstub.server import DEFAULT_TOKEN, SlackStub

    servers = embedded_server()
    server = await asyncio.to_thread(servers.__enter__)
    root = Path(tempfile.mkdtemp(prefix="stackbot-bench-"))
    inventory = parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {"web1": {"address": "127.0.0.1"}},
                    "slack_channel": "CPROD",
                    "oncall": {
                        "rotation": {"users": ["UALICE", "UBOB"], "start": "2026-11-02"},
                        "messages_per_minute": 100,  # a hundred separate incidents, no digest
                    },
                }
            },
            "data_dir": str(root / "state"),
        },
        source="bench",
        base_dir=root,
    )
    clock = FakeClock(datetime(2026, 11, 4, 10, 0, tzinfo=UTC))
    token = "bench-token"  # noqa: S105 (a test token)
    try:
        with SlackStub() as slack:
            settings = SlackSettings(
                bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr("s"),
                api_url=slack.api_url,
            )  # fmt: skip
            async with AuditStore(server.conninfo) as store:
                trail = AuditTrail(store, Spool(root / "spool.jsonl"))
                bot = SlackBot(inventory, settings, trail=trail, lock_dir=root, clock=clock)
                assert bot.incidents is not None
                app = web.Application()
                add_intake_routes(
                    app, token=token, environments=["prod"], sink=bot.incidents.receive
                )
                http = TestServer(app, host="127.0.0.1")
                await http.start_server()
                url = str(http.make_url("/alerts/prod"))
                auth = {"Authorization": f"Bearer {token}"}
                counter = iter(range(10**6))
                async with aiohttp.ClientSession() as client:

                    async def post(fingerprint: str) -> None:
                        alert = {"title": "bench", "fingerprint": fingerprint}
                        async with client.post(url, json=alert, headers=auth) as response:
                            assert response.status == 200
                        await bot.drain()

                    async def new_alert() -> None:
                        await post(f"fp{next(counter)}")

                    async def repeat_alert() -> None:
                        await post("fp0")

                    print(
                        "alert → incident message (HTTP) ",
                        median_ms(await timed(new_alert, repeat * 4)),
                    )
                    print(
                        "the same alert again            ",
                        median_ms(await timed(repeat_alert, repeat * 4)),
                    )
                    for n in range(100):
                        await bot.incidents.oncall.ingest("prod", [_bench_alert(n)])
                    await bot.incidents.run_due()  # the announcements
                    clock.advance(timedelta(minutes=5))

                    async def page_all() -> None:
                        pages = await bot.incidents.run_due()  # type: ignore[union-attr]
                        assert len(pages) >= 100

                    print("escalation pass paging 100      ", median_ms(await timed(page_all, 1)))
                await http.close()
                await bot.drain()
    finally:
        await asyncio.to_thread(servers.__exit__, None, None, None)
        await asyncio.to_thread(shutil.rmtree, root, True)


def _bench_alert(n: int) -> Any:
    from bot.oncall.models import Alert

    return Alert(fingerprint=f"page{n}", title=f"bench {n}", source="generic")


def redact_bench(repeat: int) -> None:
    from bot.redaction.redact import redact_text

    for label, text in (
        ("50,000-char token", "a1" * 25_000),
        ("50,000-char log, key=value pairs", "DB_PASSWORD=x user=app " * 2_200),
    ):
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            redact_text(text)
            samples.append(time.perf_counter() - started)
        print(f"redact a {label:34}", median_ms(samples))
    from tests.unit.test_redact_corpus import ADVERSARIAL

    worst = max(ADVERSARIAL, key=lambda name: _timed(redact_text, ADVERSARIAL[name]))
    print(
        f"redact the slowest of {len(ADVERSARIAL)} adversarial 50,000-char inputs "
        f"({worst}): {_timed(redact_text, ADVERSARIAL[worst]) * 1000:.0f} ms"
    )


def _timed(function: Any, text: str) -> float:
    started = time.perf_counter()
    function(text)
    return time.perf_counter() - started


# `scripts/bench NAME ...` runs a benchmark of its own module, ``main(argv)`` there.
SUBCOMMANDS = {
    "accuracy": "scripts.bench_accuracy",  # the corpus of Compose incidents: recall, false findings
    "speed": "scripts.bench_speed",  # against the manual way, fan-out, Slack ack, counts, memory
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        importlib.import_module(SUBCOMMANDS[sys.argv[1]]).main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenarios", default="healthy,S1,S5")
    parser.add_argument("--only-oncall", action="store_true", help="skip the lab benchmarks")
    args = parser.parse_args()
    redact_bench(args.repeat)
    asyncio.run(oncall_bench(args.repeat))
    if args.only_oncall:
        return
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
