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
