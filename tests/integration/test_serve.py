"""`stackbot serve --http`: a real HTTP server answering requests signed as Slack signs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.inventories import state_dir
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


def test_http_mode_answers_signed_requests_only(tmp_path: Path, slack_api: SlackStub) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "environments:\n"
        "  prod:\n"
        "    hosts: {web1: {address: 192.0.2.10}}\n"
        "    access: {viewer: [UVIEWER]}\n"
        f"data_dir: {state_dir()}\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_api.api_url,
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "--config", str(inventory), "serve", "--http",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        body = slash_command_body("help", user_id="UVIEWER")
        status, text = post(url, body, signed_headers(body, SECRET))
        assert status == 200 and "/stack diagnose ENV" in text
        status, _ = post(url, body, signed_headers(body, "not-the-secret"))
        assert status == 401
        body = slash_command_body("diagnose prdo", user_id="UVIEWER")
        status, text = post(url, body, signed_headers(body, SECRET))
        assert status == 200 and "Did you mean `/stack diagnose prod`?" in text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()  # a clean stop
