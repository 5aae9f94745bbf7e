"""An environment's report and its fixes touch only what that environment owns.

The lab's h1 engine holds three projects of three environments (seed 004's layout
plus a second app): ``shop`` (environment ``shop``), ``crm-production`` (``crm-prod``)
and ``crm-staging`` (``crm-stg``), both CRM projects from one directory with per-env
env files. A user who is an operator of ``crm-stg`` only tries every way to change
production: the CLI naming production's container or project, and a Slack button
whose stored action names production's container (a forged or stale value).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.framework.action import Plan
from bot.framework.engine import run_runbook
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import build_report
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter
from bot.transport import Transport
from runbooks import load_runbook
from tests.integration.inventories import lab_host, write_inventory
from tests.lab import compose_tools, images, stack
from tests.lab.config import H1, STACKS_DIR
from tests.lab.lab import Lab
from tests.lab.scenarios import SLEEPER_CMD
from tests.lab.stack import compose, write_compose, write_env
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

SECRET = "signing-secret-for-tests"
STG_OPERATOR = "USTGOPS"
STG_APPROVER = "USTGAPPR"
CHANNEL = "CCRM"


@pytest.fixture(scope="module", params=["v2", "v1"])
def crm(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Path]:
    """``healthy`` (shop) plus crm-production and crm-staging from one directory, built
    with Compose v2 and then v1 (every test of the module runs under both)."""
    lab.scenario("healthy", request.param)
    d = STACKS_DIR / "crm"
    write_compose(
        d,
        {
            "services": {
                "api": {
                    "image": images.ref("busybox"),
                    "command": [part.replace("$", "$$") for part in SLEEPER_CMD],
                    "environment": {"APP_ENV": "${APP_ENV}", "DB_NAME": "${DB_NAME}"},
                }
            }
        },
    )
    for name in ("production", "staging"):
        write_env(d, {"APP_ENV": name, "DB_NAME": f"crm_{name}"}, f".env.{name}")
        compose(H1, d, "--env-file", f".env.{name}", "up", "-d", project=f"crm-{name}")
    yield d
    lab.last_scenario = None  # these containers are not part of any scenario
    stack.CURRENT[0] = compose_tools.flavor()


def names(crm: Path) -> tuple[str, str]:
    """(production's api container, staging's) as the current compose names them."""
    return stack.cname("crm-production", "api"), stack.cname("crm-staging", "api")


def write(lab: Lab, path: Path, **crm_stg: Any) -> Path:
    h1 = lab_host(lab, "h1")
    return write_inventory(
        path,
        lab,
        {
            "shop": {"hosts": {"h1": h1}, "stacks": {"shop": {}}},
            "crm-prod": {
                "hosts": {"h1": h1},
                "stacks": {"crm": {"compose_project": "crm-production"}},
                "access": {"operator": ["UPRODOPS"]},
            },
            "crm-stg": {
                "hosts": {"h1": h1},
                "stacks": {"crm": {"compose_project": "crm-staging"}},
                "access": {"operator": [STG_OPERATOR], "approver": [STG_APPROVER]},
                **crm_stg,
            },
        },
    )


@pytest.fixture
def inventory_path(lab: Lab, crm: Path, tmp_path: Path) -> Path:
    return write(lab, tmp_path / "inv.yaml")


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def container_ids(lab: Lab) -> dict[str, str]:
    client = lab.docker("h1")
    return {c.name: str(c.id) for c in client.containers.list(all=True) if c.name}


def report_of(inventory: Inventory, env: str) -> Any:
    runbook = load_runbook("diagnose")

    async def go() -> Any:
        async with Transport(inventory.ssh) as transport:
            outcome = await run_runbook(transport, inventory, env, runbook, runbook.params())
        return build_report(outcome)

    return asyncio.run(go())


def test_each_diagnosis_names_only_its_own_stacks(inventory_path: Path) -> None:
    inventory = load_inventory(inventory_path)
    for env, own, others in (
        ("crm-stg", "crm-staging", ("crm-production", "shop")),
        ("crm-prod", "crm-production", ("crm-staging", "shop")),
        ("shop", "shop", ("crm-production", "crm-staging")),
    ):
        report = report_of(inventory, env)
        (host,) = report.hosts
        assert host.stacks == ["crm" if env != "shop" else "shop"], host
        text = json.dumps([f.model_dump(mode="json") for f in report.findings])
        for other in others:
            assert other not in text, (env, other)
            assert any(other in note for note in host.notes), (env, host.notes)
        assert all(f.subject.project in (own, None) for f in report.findings), env
        for finding in report.findings:
            for fix in finding.fixes:
                assert not any(o in json.dumps(fix.params) for o in others), (env, fix)
    stg = report_of(inventory, "crm-stg").hosts[0]
    assert "1 other project here (crm-production) belongs to crm-prod: not judged here" in (
        stg.notes
    )


def test_staging_operator_cannot_change_production_from_the_cli(
    lab: Lab, crm: Path, inventory_path: Path
) -> None:
    PROD_API, STG_API = names(crm)
    before = container_ids(lab)
    args = ("--config", str(inventory_path))
    attempts = [
        ("container.restart", "--param", f"container={PROD_API}"),
        ("container.recreate", "--param", "project=crm-production", "--param", "service=api"),
        ("container.recreate", "--param", f"container={PROD_API}"),
    ]
    for action, *params in attempts:
        proc = stackbot(*args, "fix", action, "crm-stg", "--param", "host=h1", *params, "--yes")
        assert proc.returncode == 5, (action, proc.stdout, proc.stderr)
        assert "belongs to environment crm-prod, not crm-stg" in proc.stdout + proc.stderr
        assert "post-check" not in proc.stdout
    assert container_ids(lab) == before  # production (and everything else) untouched
    # refused in the staging trail, denied in production's: both know
    prod = stackbot(*args, "audit", "export", "--format", "jsonl", "--env", "crm-prod")
    rows = [json.loads(line) for line in prod.stdout.splitlines() if line.strip()]
    denied = [r for r in rows if r["kind"] == "denied"]
    assert denied and all(r["environment"] == "crm-prod" for r in denied), rows
    assert all(r["details"]["requested_in"] == "crm-stg" for r in denied)
    # and staging's own app is still its operator's to fix
    own = stackbot(*args, "fix", "container.restart", "crm-stg", "--param", "host=h1",
                   "--param", f"container={STG_API}", "--dry-run")  # fmt: skip
    assert own.returncode == 0, own.stdout + own.stderr


def test_an_undeclared_project_follows_the_inventory_rule(
    lab: Lab, crm: Path, tmp_path: Path
) -> None:
    """Both ways: without a rule, a project nobody declares belongs to nobody on a
    shared engine; a `projects:` pattern gives it to the environment that names it."""
    compose(H1, crm, "--env-file", ".env.staging", "up", "-d", project="crm-preview")
    try:
        plain = load_inventory(write(lab, tmp_path / "plain.yaml"))
        for env in ("crm-stg", "crm-prod", "shop"):
            (host,) = report_of(plain, env).hosts
            assert any("crm-preview" in n and "no environment" in n for n in host.notes), host
        ruled = load_inventory(write(lab, tmp_path / "ruled.yaml", projects=["crm-pre*"]))
        (stg,) = report_of(ruled, "crm-stg").hosts
        assert sorted(stg.stacks) == ["crm", "crm-preview"], stg
        (prod,) = report_of(ruled, "crm-prod").hosts
        assert any("crm-preview" in n and "crm-stg" in n for n in prod.notes), prod
    finally:
        compose(H1, crm, "--env-file", ".env.staging", "down", project="crm-preview")


async def send(bot: SlackBot, body: bytes) -> Any:
    headers = signed_headers(body, SECRET, None)
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    return await bot.app.async_dispatch(request)


def test_a_forged_slack_button_for_production_is_refused(
    lab: Lab, crm: Path, inventory_path: Path, slack_api: SlackStub
) -> None:
    PROD_API, _ = names(crm)
    inventory = load_inventory(inventory_path)
    before = container_ids(lab)

    async def go() -> None:
        settings = SlackSettings(
            bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
            api_url=slack_api.api_url,
        )  # fmt: skip
        assert inventory.data_dir is not None
        async with open_trail(inventory) as trail:
            bot = SlackBot(inventory, settings, trail=trail, lock_dir=inventory.data_dir / "locks")
            # the staging report: no button of it names production
            body = slash_command_body("diagnose crm-stg", user_id=STG_OPERATOR, channel_id=CHANNEL)
            assert (await send(bot, body)).status == 200
            await bot.drain()
            (report,) = [m for m in slack_api.messages(CHANNEL) if m.thread_ts is None]
            buttons = [b for b in report.blocks if b.get("type") == "actions"]
            assert "crm-production" not in json.dumps(buttons)
            # a stored action of crm-stg whose target is production's container
            assert bot.pending is not None
            plan = Plan(action="container.restart", target={"container": PROD_API},
                        destructive=True)  # fmt: skip
            forged = await bot.pending.create(
                environment="crm-stg", action="container.restart", plan=plan,
                requester=STG_OPERATOR, params={"host": "h1", "container": PROD_API},
                host="h1", channel=CHANNEL, message_ts=report.ts,
            )  # fmt: skip
            click = block_actions_body(
                "fix:forged:0", str(forged.id), user_id=STG_OPERATOR, channel_id=CHANNEL,
                message_ts=report.ts,
            )  # fmt: skip
            assert (await send(bot, click)).status == 200
            await bot.drain()
            replies = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == report.ts]
            assert any("belongs to environment crm-prod" in m.text for m in replies), replies
            assert trail.store is not None
            denied = await trail.store.rows(RowFilter(environment="crm-prod"))
            assert any(r.kind == "denied" and r.actor == STG_OPERATOR for r in denied)

            # the same through an approval: staging's approver approves it, still refused
            asked = await bot.pending.create(
                environment="crm-stg", action="container.restart", plan=plan,
                requester=STG_OPERATOR, params={"host": "h1", "container": PROD_API},
                host="h1", channel=CHANNEL, message_ts=report.ts, needs_approval=True,
            )  # fmt: skip
            await bot.pending.request_approval(asked.id, STG_OPERATOR)
            approve = block_actions_body(
                f"approve:{asked.id}", str(asked.id), user_id=STG_APPROVER, channel_id=CHANNEL,
                message_ts=report.ts,
            )  # fmt: skip
            assert (await send(bot, approve)).status == 200
            await bot.drain()
            replies = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == report.ts]
            refusals = [m for m in replies if "belongs to environment crm-prod" in m.text]
            assert len(refusals) == 2, replies
            denied = await trail.store.rows(RowFilter(environment="crm-prod"))
            assert any(r.kind == "denied" and r.actor == STG_APPROVER for r in denied), denied
            assert bot.failures == []

    asyncio.run(go())
    assert container_ids(lab) == before
