"""`stackbot serve --http`: a real HTTP server answering requests signed as Slack signs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.inventory.config import load_inventory
from bot.stores.audit.record import AuditRow
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter
from tests.integration.inventories import lab_host, state_dir, write_inventory
from tests.lab.lab import Lab
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import signed_headers, slash_command_body

pytestmark = pytest.mark.postgres
__all__ = ["slack_api"]
SECRET = "serve-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


INVENTORY = """\
environments:
  prod:
    hosts: {web1: {address: 192.0.2.10}}
    access: {viewer: [UVIEWER], operator: [UALICE]}
    slack_channel: CPROD
    oncall:
      rotation: {users: [UALICE], start: 2026-11-02}
"""


@contextmanager
def serving(
    tmp_path: Path, slack_api: SlackStub, inventory: Path | None = None, **extra_env: str
) -> Iterator[int]:
    """``stackbot serve --http`` as a real process on a loopback port; stopped with SIGTERM."""
    if inventory is None:
        inventory = tmp_path / "inv.yaml"
        inventory.write_text(INVENTORY + f"data_dir: {state_dir()}\n")
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_api.api_url,
        **extra_env,
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(inventory), "serve", "--http",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a loaded 2-core machine starts it slowly
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()  # a clean stop


def test_http_mode_answers_signed_requests_only(tmp_path: Path, slack_api: SlackStub) -> None:
    with serving(tmp_path, slack_api) as port:
        url = f"http://127.0.0.1:{port}/slack/events"
        body = slash_command_body("help", user_id="UVIEWER")
        status, text = post(url, body, signed_headers(body, SECRET))
        assert status == 200 and "/stack diagnose ENV" in text
        status, _ = post(url, body, signed_headers(body, "not-the-secret"))
        assert status == 401
        body = slash_command_body("diagnose prdo", user_id="UVIEWER")
        status, text = post(url, body, signed_headers(body, SECRET))
        assert status == 200 and "Did you mean `/stack diagnose prod`?" in text
        status, _ = post(f"http://127.0.0.1:{port}/alerts/prod", b"{}", {})
        assert status == 404  # no STACKBOT_ALERT_TOKEN: no alert intake


def test_serve_takes_alerts_with_the_token_and_posts_the_incident(
    tmp_path: Path, slack_api: SlackStub
) -> None:
    token = "serve-alert-token-0123456789"
    alert = json.dumps({"title": "Checkout is failing", "severity": "critical"}).encode()
    with serving(tmp_path, slack_api, STACKBOT_ALERT_TOKEN=token) as port:
        url = f"http://127.0.0.1:{port}/alerts/prod"
        kind = {"Content-Type": "application/json"}
        status, text = post(url, alert, {**kind, "Authorization": "Bearer wrong"})
        assert status == 401 and "wrong token" in text and token not in text
        assert slack_api.calls("chat.postMessage") == []
        status, text = post(url, alert, {**kind, "Authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(text)["opened"] == 1, text
        posted = slack_api.wait_for(
            "chat.postMessage", lambda call: call.body.get("channel") == "CPROD", timeout=10
        )
        assert "Checkout is failing" in str(posted.body) and "<@UALICE>" in str(posted.body)
        status, text = post(url, alert, {**kind, "Authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(text)["repeated"] == 1


def test_a_port_in_use_is_one_clear_line(tmp_path: Path, slack_api: SlackStub) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY + f"data_dir: {state_dir()}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_api.api_url,
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "--config", str(inventory), "serve", "--http",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stackbot: error")]
    assert errors == [
        f"stackbot: error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another with --port/--host)"
    ], done.stderr
    assert "Traceback" not in done.stderr


def diagnose_reports(slack_api: SlackStub) -> list[str]:
    """The header of every finished diagnosis (the progress message edited into the report)."""
    return [
        str(block["text"]["text"])
        for call in slack_api.calls("chat.update")
        for block in call.body.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "header"
    ]


def wait_for_reports(slack_api: SlackStub, count: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(found := diagnose_reports(slack_api)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} reports"
        time.sleep(0.05)
    return found


@pytest.mark.lab
def test_serve_keeps_one_ssh_connection_across_commands(
    lab: Lab, tmp_path: Path, slack_api: SlackStub
) -> None:
    """One transport for the life of serve: a second `/stack diagnose` of the same
    environment within ssh.idle_close logs in to no host again; after idle_close the
    reaper has closed the connection, so the next one logs in anew (once)."""
    idle_close = 4.0
    inventory = write_inventory(
        tmp_path / "lab.yaml",
        lab,
        {"lab": {"hosts": {"h1": lab_host(lab, "h1")}, "access": {"viewer": ["UVIEWER"]}}},
        ssh={"idle_close": idle_close},
    )
    with serving(tmp_path, slack_api, inventory) as port:
        url = f"http://127.0.0.1:{port}/slack/events"

        def diagnose(count: int) -> tuple[int, str]:
            body = slash_command_body(  # a delivery of its own each time (not a replay)
                "diagnose lab", user_id="UVIEWER", channel_id="COPS", trigger_id=f"t{count}"
            )
            before = lab.login_count("h1")
            status, _ = post(url, body, signed_headers(body, SECRET))
            assert status == 200
            header = wait_for_reports(slack_api, count)[-1]
            return lab.login_count("h1") - before, header

        first, first_header = diagnose(1)
        second, second_header = diagnose(2)  # well within idle_close
        time.sleep(idle_close * 1.5 + 1)  # the reaper runs every idle_close/4
        third, third_header = diagnose(3)
    print(f"logins: first {first}, second {second}, after idle_close {third}")
    print(f"reports: {first_header!r} · {second_header!r} · {third_header!r}")
    assert (first, second, third) == (1, 0, 1)


@pytest.mark.lab
def test_a_burst_of_one_diagnosis_shares_runs_and_answers_every_request(
    lab: Lab, tmp_path: Path, slack_api: SlackStub
) -> None:
    """Ten `/stack diagnose lab` sent at once (ten deliveries: their own trigger_id): each
    is acked and gets its own report and its own audit rows, but those in flight together
    ran one diagnosis: the others name its request in ``shared_with``."""
    inventory = write_inventory(
        tmp_path / "lab.yaml",
        lab,
        {"lab": {"hosts": {"h1": lab_host(lab, "h1")}, "access": {"viewer": ["UBURST"]}}},
    )
    count = 10
    with serving(tmp_path, slack_api, inventory) as port:
        url = f"http://127.0.0.1:{port}/slack/events"

        def send(n: int) -> int:
            body = slash_command_body(
                "diagnose lab", user_id="UBURST", channel_id="COPS", trigger_id=f"burst{n}"
            )
            return post(url, body, signed_headers(body, SECRET))[0]

        with ThreadPoolExecutor(count) as pool:
            assert list(pool.map(send, range(count))) == [200] * count
        assert len(wait_for_reports(slack_api, count, timeout=180)) == count
    rows = asyncio.run(diagnose_rows(inventory))
    requests: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        requests[str(row.correlation_id)].append(row.kind)
    assert list(requests.values()) == [["requested", "diagnosed"]] * count
    diagnosed = [r for r in rows if r.kind == "diagnosed"]
    shared = [r for r in diagnosed if "shared_with" in r.details]
    owners = {str(r.correlation_id) for r in diagnosed if "shared_with" not in r.details}
    assert shared, "ten identical requests at once, and not one shared a run"
    assert {r.details["shared_with"] for r in shared} <= owners
    assert {r.details["verdict"] for r in diagnosed} == {diagnosed[0].details["verdict"]}


async def diagnose_rows(inventory: Path) -> list[AuditRow]:
    async with open_trail(load_inventory(inventory)) as trail:
        assert trail.store is not None
        return await trail.store.rows(RowFilter(action="diagnose", actor="UBURST"))
