"""The approval request: a destructive fix someone asked for, with Approve and Deny.

Posted in the thread the click came from; each button's value is the stored
pending action's id (``bot.stores.pending``), so the click carries nothing else.
"""

from __future__ import annotations

from typing import Any

from bot.render.slack.blocks import SlackMessage, _message

__all__ = ["APPROVE", "DENY", "approval_request"]

APPROVE, DENY = "approve", "deny"  # the buttons' action_id prefixes: "approve:ID", "deny:ID"


def approval_request(pending_id: object, action: str, env: str, requester: str) -> SlackMessage:
    """``requester`` wants to run ``action`` on ``env``: someone else with the approver
    role approves or denies it (``pending_id``: the stored pending action)."""
    ask = (
        f"*Approval needed*: <@{requester}> wants to run `{action}` on `{env}` "
        "(destructive). Someone else with the approver role must approve."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": ask}},
        {
            "type": "actions",
            "block_id": f"approval:{pending_id}",
            "elements": [
                _button(APPROVE, pending_id, "Approve", "primary"),
                _button(DENY, pending_id, "Deny", "danger"),
            ],
        },
    ]
    return _message(f"Approval needed for {action} on {env}", blocks)


def _button(prefix: str, pending_id: object, label: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": f"{prefix}:{pending_id}",
        "text": {"type": "plain_text", "text": label},
        "style": style,
        "value": str(pending_id),
    }
