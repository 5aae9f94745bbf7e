"""What an interaction payload (a button click) says: who, where, which value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def click_parts(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """(user id, channel id, the clicked button's value) of a ``block_actions`` payload."""
    user = str((body.get("user") or {}).get("id", ""))
    channel = str((body.get("channel") or {}).get("id", "")) or str(
        (body.get("container") or {}).get("channel_id", "")
    )
    actions = body.get("actions") or [{}]
    return user, channel, str(actions[0].get("value", ""))


def thread_root(body: Mapping[str, Any]) -> str | None:
    """The ts of the thread the clicked message is in (None: it is not in a thread).

    A report posted into an incident's thread is itself a reply: what follows a click
    on it (approvals, the fix's result) goes to that thread's root, never into a
    thread of the reply (Slack shows those nowhere useful)."""
    message = body.get("message") or {}
    container = body.get("container") or {}
    root = message.get("thread_ts") or container.get("thread_ts")
    return str(root) if root else None
