"""Hostile names in the lab: shell metacharacters, unicode and maximum lengths.

A compose project lives in a directory whose name is a shell injection attempt (``$()``,
backticks, ``;``, quotes, ``<!here>``, unicode); beside it run a container and a volume
with names of Docker's maximum practical length and a network with unicode-free but
odd characters. Its env file is edited after ``up`` (``env.drift``, fix:
``container.recreate``, which runs compose in that directory over SSH) and a long-named
container is stopped (``container.down``, fix: ``container.restart``). Both go through
``stackbot diagnose`` and ``stackbot fix --finding`` as a user runs them, under Compose v2
and v1; the report also goes through Slack (the stand-in). What must hold:

- nothing the names spell is ever run: no sentinel file appears anywhere it could;
- the fixes do what their plans said (the recreated container runs the new env file;
  the stopped one runs again) and the audit trail's applied steps are the planned ones;
- Slack shows the names escaped (``&lt;!here&gt;``), never as a live mention.
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

from bot.inventory.config import load_inventory
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from tests.integration.compose_kinds import V2_AND_SAMPLED_V1
from tests.integration.inventories import lab_host, write_inventory
from tests.integration.test_ownership import SECRET, send
from tests.lab import compose_tools, images, stack
from tests.lab.config import H1, LAB_USER, STACKS_DIR
from tests.lab.lab import Lab
from tests.lab.scenarios import SLEEPER_CMD
from tests.lab.stack import compose, write_compose, write_env
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import slash_command_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

ENV = "hx"
PROJECT = "hx"
SENTINELS = ("sbpwn1", "sbpwn2", "sbpwn3", "sbpwn4")
# a directory name that is four injection attempts, a Slack mention, and unicode
HOSTILE_DIR = (
    "hx $(touch sbpwn1) `touch sbpwn2` ;touch sbpwn3; 'q\" |touch sbpwn4 <!here> &amp ünï ✓"
)
LONG = "hx-" + "l" * 125  # 128 characters
OPERATOR = "UHXOPS"
CHANNEL = "CHX"


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def sentinels() -> list[str]:
    """Every sentinel file anywhere a command could have been run from: the lab user's
    home, the stacks (and the hostile directory itself), /, /tmp and the cwd."""
    home = Path(f"~{LAB_USER}").expanduser()
    found = []
    for where in (home, STACKS_DIR, Path("/"), Path("/tmp"), Path.cwd()):
        if where.is_dir():
            pattern = "**/sbpwn*" if where in (home, STACKS_DIR) else "sbpwn*"
            found += [str(p) for p in where.glob(pattern)]
    return found


@pytest.fixture(scope="module", params=V2_AND_SAMPLED_V1)
def hostile(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Path]:
    lab.scenario("healthy", request.param)
    assert sentinels() == []
    d = STACKS_DIR / HOSTILE_DIR
    client = lab.docker("h1")
    client.networks.create(f"{PROJECT}_odd.net-{'n' * 40}")
    client.volumes.create(LONG)
    write_compose(
        d,
        {
            "services": {
                "api": {
                    "image": images.ref("busybox"),
                    "command": [part.replace("$", "$$") for part in SLEEPER_CMD],
                    "env_file": ["app.env"],
                    "volumes": [f"{LONG}:/data"],
                },
                "worker": {
                    "image": images.ref("busybox"),
                    "container_name": LONG,
                    "command": [part.replace("$", "$$") for part in SLEEPER_CMD],
                    "labels": {"org.example.note": "<!channel> `touch sbpwn2` ünï"},
                },
            },
            "volumes": {LONG: {"external": True}},
        },
    )
    write_env(d, {"GREETING": "hello"}, "app.env")
    compose(H1, d, "up", "-d", project=PROJECT)
    write_env(d, {"GREETING": "bonjour ünï $(touch sbpwn1)"}, "app.env")  # never applied
    client.containers.get(LONG).kill()  # exited 137: down, not a finished one-shot
    yield d
    try:
        compose(H1, d, "down", project=PROJECT, check=False)
        labelled: dict[str, str | list[str] | bool] = {
            "label": f"com.docker.compose.project={PROJECT}"
        }
        for c in client.containers.list(all=True, filters=labelled):
            c.remove(force=True)
        for c in client.containers.list(all=True, filters={"name": "stackbot-rollback"}):
            c.remove(force=True)
        client.volumes.get(LONG).remove(force=True)
        client.networks.get(f"{PROJECT}_odd.net-{'n' * 40}").remove()
    finally:
        lab.last_scenario = None
        stack.CURRENT[0] = compose_tools.flavor()


@pytest.fixture
def inventory_path(lab: Lab, hostile: Path, tmp_path: Path) -> Path:
    return write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            ENV: {
                "hosts": {"h1": lab_host(lab, "h1")},
                "stacks": {PROJECT: {"compose_project": PROJECT}},
                "projects": [PROJECT],
                "access": {"operator": [OPERATOR]},
            }
        },
    )


def diagnose(inventory_path: Path) -> dict[str, Any]:
    proc = stackbot("--config", str(inventory_path), "diagnose", ENV, "--format", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def finding(report: dict[str, Any], code: str, text: str) -> dict[str, Any]:
    hits: list[dict[str, Any]] = [
        f
        for f in report["findings"]
        if f["code"] == code and text in json.dumps(f, ensure_ascii=False)
    ]
    assert len(hits) == 1, [(f["code"], f["title"]) for f in report["findings"]]
    return hits[0]


def test_slack_renders_hostile_names_escaped(
    lab: Lab, hostile: Path, inventory_path: Path, slack_api: SlackStub
) -> None:
    inventory = load_inventory(inventory_path)

    async def go() -> None:
        settings = SlackSettings(
            bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
            api_url=slack_api.api_url,
        )  # fmt: skip
        assert inventory.data_dir is not None
        async with open_trail(inventory) as trail:
            bot = SlackBot(inventory, settings, trail=trail, lock_dir=inventory.data_dir / "locks")
            body = slash_command_body(f"diagnose {ENV}", user_id=OPERATOR, channel_id=CHANNEL)
            assert (await send(bot, body)).status == 200  # signed as Slack signs
            await bot.drain()
            assert bot.failures == []

    asyncio.run(go())
    messages = slack_api.messages(CHANNEL)
    assert messages, "no report posted"
    posted = json.dumps([[m.text, m.blocks] for m in messages], ensure_ascii=False)
    # the env.drift finding names the hostile directory: escaped, never a live mention
    assert "&lt;!here&gt;" in posted, posted[:2000]
    assert "<!here>" not in posted and "<!channel>" not in posted
    assert "ünï" in posted  # unicode kept as it is
    assert sentinels() == []


def test_hostile_names_are_diagnosed_and_fixed_without_running_them(
    lab: Lab, hostile: Path, inventory_path: Path
) -> None:
    client = lab.docker("h1")
    report = diagnose(inventory_path)
    drift = finding(report, "env.drift", "app.env")
    assert HOSTILE_DIR in drift["title"]  # named as it is, not mangled
    down = finding(report, "container.down", LONG)
    assert sentinels() == []

    api = stack.cname(PROJECT, "api")
    old_api = client.containers.get(api).id
    args = ("--config", str(inventory_path))
    for found in (drift, down):
        proc = stackbot(*args, "fix", "--finding", found["id"], ENV, "--yes")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "post-check" in proc.stdout, proc.stdout
        assert sentinels() == [], proc.stdout
    recreated = client.containers.get(api)
    assert recreated.id != old_api
    assert "GREETING=bonjour ünï $(touch sbpwn1)" in recreated.attrs["Config"]["Env"]
    assert client.containers.get(LONG).status == "running"
    assert LONG in [m.get("Name") for m in recreated.attrs["Mounts"]]  # data kept

    # the audit trail: each applied fix ran the steps its plan named, and only those
    rows = [
        json.loads(line)
        for line in stackbot(
            *args, "audit", "export", "--format", "jsonl", "--env", ENV
        ).stdout.splitlines()
        if line.strip()
    ]
    fixes: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        fixes.setdefault(row["correlation_id"], {})[row["kind"]] = row
    ran = [f for f in fixes.values() if "started" in f]
    assert len(ran) == 2, [sorted(f) for f in fixes.values()]
    for fix in ran:
        printed = [step["call"] for step in fix["planned"]["details"]["plan"]["steps"]]
        assert fix["started"]["details"]["steps"] == printed  # runs as printed
        done = [o["step"] for o in fix["finished"]["details"]["outcomes"]]
        described = [step["description"] for step in fix["planned"]["details"]["plan"]["steps"]]
        assert done and set(done) <= set(described), (done, described)
        assert fix["finished"]["details"]["status"] == "applied"
        assert fix["post_checked"]["details"]["cleared"] is True
    after = diagnose(inventory_path)
    codes = {(f["code"], f["subject"].get("container")) for f in after["findings"]}
    assert ("env.drift", api) not in codes and ("container.down", LONG) not in codes, codes
    assert sentinels() == []
