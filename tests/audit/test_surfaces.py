"""The same audit rows from the CLI and from Slack: diagnose, a report, a fix.

Both surfaces run against the same fake host (tests/unit/fakes.py: a healthy
compose stack) through the transport seam, and write to a real Postgres; one
test per surface, one assertion function for both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.cli.main import main
from bot.framework.session import CommandResult, Database, ExecResult, HostSession
from bot.inventory.config import load_inventory
from bot.inventory.config.models import ResolvedHost
from bot.model.docker_objects import ContainerSummary, DiskUsage, EngineInfo, NetworkSummary
from bot.model.errors import DatabaseUnreachable
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.record import AuditRow
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import AuditStore
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body
from tests.unit.diagnose.factories import lab_stack
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

pytestmark = pytest.mark.postgres
__all__ = ["slack_api"]

SECRET = "surfaces-signing-secret"
OPERATOR = "UOPERATOR"
BACKEND, EXTRA = "shop-backend-1", "shop_extra"
FIX = {"host": "web1", "container": BACKEND, "network": EXTRA}
DF = "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda 1000 500 500 50% /\n"
DFI = "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/vda 1000 10 990 1% /\n"


class Session(FakeHostSession):
    """The app's database does not answer (its check says so; nothing else changes)."""

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        @asynccontextmanager
        async def refused() -> AsyncIterator[Database]:
            raise DatabaseUnreachable("web1", f"postgres at {address}:{port}: connection refused")
            yield  # pragma: no cover

        return refused()


def healthy_session(host: ResolvedHost) -> FakeHostSession:
    """A host running the healthy lab stack, with one more network to connect to."""
    containers = lab_stack()
    docker = FakeDocker(
        log=CallLog(),
        info_data=EngineInfo.model_validate({"DockerRootDir": "/var/lib/docker"}),
        disk_usage_data=DiskUsage.model_validate({"Volumes": []}),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={**{c.id: c for c in containers}, **{c.name: c for c in containers}},
        network_list=[
            NetworkSummary.model_validate({"Name": name, "Id": name})
            for name in ("shop_default", EXTRA)
        ],
        exec_handler=lambda ref, argv: ExecResult(
            container=ref, argv=argv, exit_code=0, output="172.18.0.3  db\n"
        ),
    )

    def answer(argv: tuple[str, ...]) -> CommandResult:
        if argv == ("docker", "compose", "version", "--short"):
            return completed(argv, "2.24.5\n")
        if "compose" in argv:
            return completed(argv, "backend\ndb\nnginx\n")
        return completed(argv, DFI if "-i" in argv else DF)

    files = {"/proc/uptime": b"400000.0 1.0\n", "/srv/shop/.env": b"DATABASE_URL=x\n"}
    return Session(handler=answer, docker=docker, files=files, host=host)


class FakeHosts:
    """The transport seam: a fake session per host, and how many were leased."""

    def __init__(self) -> None:
        self.leases = 0

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        self.leases += 1
        yield healthy_session(host)


def write_inventory(tmp_path: Path, conninfo: str) -> Path:
    path = tmp_path / "stackbot.yaml"
    path.write_text(
        json.dumps(
            {
                "database_url": conninfo,
                "data_dir": str(tmp_path / "data"),
                "environments": {
                    "prod": {
                        "hosts": {"web1": {"address": "192.0.2.10"}},
                        "access": {"operator": [OPERATOR]},
                    }
                },
            }
        )
    )
    return path


async def all_rows(conninfo: str) -> list[AuditRow]:
    async with AuditStore(conninfo, timeout=3) as store:
        return list(await store.rows())


def assert_the_rows(rows: Sequence[AuditRow], *, actor: str, surface: str) -> None:
    """The assertions both surfaces must pass: the same requests, the same rows.
    (Slack's cure then starts a stability watch, its own story: ``watch_of``.)"""
    stories: dict[str, list[AuditRow]] = {}
    for row in (r for r in rows if r.action != "cure.watch"):
        stories.setdefault(str(row.correlation_id), []).append(row)
    by_action = {str(story[0].action): story for story in stories.values()}
    assert sorted(by_action) == ["diagnose", "network.connect", "volumes"], by_action
    assert len(stories) == 3
    assert {(r.actor, r.surface, r.environment) for r in rows if r.action != "cure.watch"} == {
        (actor, surface, "prod")
    }

    diagnose = by_action["diagnose"]
    assert [r.kind for r in diagnose] == ["requested", "diagnosed"]
    assert diagnose[0].details["hosts"] == ["web1"]
    assert diagnose[1].details["unreached"] == [] and "verdict" in diagnose[1].details

    report = by_action["volumes"]
    assert [r.kind for r in report] == ["requested", "finished"]
    assert report[0].details["read_only"] is True and report[0].details["hosts"] == ["web1"]
    assert report[1].details["status"] == "reported" and report[1].details["failed"] == []

    fix = by_action["network.connect"]
    assert [r.kind for r in fix] == [
        "requested",
        "authorised",
        "planned",
        "confirmed",
        "started",
        "finished",
        "post_checked",
    ]
    assert fix[0].details["params"] == FIX and fix[0].details["destructive"] is False
    assert fix[1].details["by"] == actor
    assert fix[2].details["plan"]["steps"][0]["description"] == f"connect {BACKEND} to {EXTRA}"
    assert fix[3].details["by"] == actor
    assert {r.host for r in fix[4:]} == {"web1"}
    assert fix[4].target == {"container": BACKEND, "network": EXTRA}
    assert fix[5].details["status"] == "applied" and fix[5].details["changed"] is True
    assert fix[6].details["cleared"] is True


def test_the_cli_writes_the_rows(
    tmp_path: Path, conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACKBOT_DATABASE_URL", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    inventory = str(write_inventory(tmp_path, conninfo))
    hosts = FakeHosts()
    assert main(["--config", inventory, "diagnose", "prod"], transport=hosts) == 1  # db refused
    assert main(["--config", inventory, "volumes", "prod"], transport=hosts) == 0
    params = [f"--param={key}={value}" for key, value in FIX.items()]
    assert (
        main(["--config", inventory, "fix", "network.connect", "prod", *params], transport=hosts)
        == 0
    )
    assert_the_rows(asyncio.run(all_rows(conninfo)), actor="alice", surface="cli")


async def send(bot: SlackBot, body: bytes) -> None:
    headers = signed_headers(body, SECRET)
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    assert (await bot.app.async_dispatch(request)).status == 200
    await bot.drain()


def test_slack_writes_the_same_rows(
    tmp_path: Path, conninfo: str, slack_api: SlackStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACKBOT_DATABASE_URL", raising=False)
    inventory = load_inventory(write_inventory(tmp_path, conninfo))
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN),
        signing_secret=SecretStr(SECRET),
        api_url=slack_api.api_url,
    )

    async def scenario() -> None:
        async with open_trail(inventory) as trail:
            bot = SlackBot(
                inventory, settings, trail=trail, lock_dir=tmp_path / "locks",
                transport=FakeHosts(),
            )  # fmt: skip
            await send(bot, slash_command_body("diagnose prod", user_id=OPERATOR))
            await send(bot, slash_command_body("volumes prod", user_id=OPERATOR))
            # a fix button, as a report would carry it: the plan stored, its id the value
            assert bot.pending is not None
            plan = await bot.operations.plan_fix("prod", "network.connect", FIX)
            pending = await bot.pending.create(
                environment="prod", action="network.connect", plan=plan, requester=OPERATOR,
                params=FIX, host="web1",
            )  # fmt: skip
            click = block_actions_body(f"fix:{pending.id}", str(pending.id), user_id=OPERATOR)
            await send(bot, click)
            await bot.drain()
            assert bot.failures == []

    asyncio.run(scenario())
    rows = asyncio.run(all_rows(conninfo))
    assert_the_rows(rows, actor=OPERATOR, surface="slack")
    # the cure is then watched: its own story, started for the fix that cleared
    watch = [r for r in rows if r.action == "cure.watch"]
    assert [r.kind for r in watch] == ["watch_started"], watch
    assert any("post-check" in (m.text + str(m.blocks)).lower() for m in slack_api.messages("C1"))
