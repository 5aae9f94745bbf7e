"""Requests signed exactly as Slack signs them, and the bodies Slack sends.

``sign(body, secret)`` gives the two headers Slack adds to every request
(https://docs.slack.dev/authentication/verifying-requests-from-slack);
``slash_command_body`` and ``block_actions_body`` build the form-encoded
bodies of a slash command and of a button click, with the fields Slack sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

FORM = "application/x-www-form-urlencoded"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{ts}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """``sign()`` plus the form content type Slack uses for commands and interactions."""
    return {"Content-Type": FORM, **sign(body, secret, timestamp)}


def slash_command_body(
    text: str = "",
    *,
    command: str = "/stack",
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    channel_name: str = "ops",
    team_id: str = "T1",
    team_domain: str = "acme",
    api_app_id: str = "A1",
    trigger_id: str = "1111.2222.trigger",
    response_url: str = "https://hooks.slack.com/commands/T1/1/x",
) -> bytes:
    """The form body Slack posts for ``/stack TEXT``."""
    return urlencode(
        {
            "token": "verification-token-unused",
            "team_id": team_id,
            "team_domain": team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    ).encode()


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    block_id: str = "b1",
    text: str = "button",
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    channel_name: str = "ops",
    team_id: str = "T1",
    team_domain: str = "acme",
    api_app_id: str = "A1",
    message_ts: str = "1700000000.000100",
    message: dict[str, Any] | None = None,
    trigger_id: str = "1111.2222.trigger",
    response_url: str = "https://hooks.slack.com/actions/T1/1/x",
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when a button is clicked."""
    action_ts = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": message
        or {"type": "message", "ts": message_ts, "text": "", "user": "UBOT", "blocks": []},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "value": value,
                "action_ts": action_ts,
            }
        ],
    }


def block_actions_body(action_id: str, value: str, **fields: Any) -> bytes:
    """The form body (``payload=`` JSON) Slack posts for a button click."""
    payload = block_actions_payload(action_id, value, **fields)
    return urlencode({"payload": json.dumps(payload)}).encode()
