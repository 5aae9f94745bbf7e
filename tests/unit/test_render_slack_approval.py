"""The blocks a fix button's click adds besides its result: the approval request, and the
✅ line a fixed finding's buttons become. Each renders exactly as the app built it inline."""

from __future__ import annotations

import uuid
from typing import Any

from bot.render.slack import approval_request, fixed_line, mark_fixed, validate_blocks

PENDING = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_the_approval_request_is_the_section_and_the_two_buttons() -> None:
    message = approval_request(PENDING, "container.recreate", "prod", "UALICE")
    assert message.text == "Approval needed for container.recreate on prod"
    assert message.blocks == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Approval needed*: <@UALICE> wants to run `container.recreate` on "
                "`prod` (destructive). Someone else with the approver role must approve.",
            },
        },
        {
            "type": "actions",
            "block_id": f"approval:{PENDING}",
            "elements": [
                {
                    "type": "button",
                    "action_id": f"approve:{PENDING}",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": str(PENDING),
                },
                {
                    "type": "button",
                    "action_id": f"deny:{PENDING}",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "style": "danger",
                    "value": str(PENDING),
                },
            ],
        },
    ]
    assert message.thread == [] and message.files == []
    validate_blocks(message.blocks)


def test_a_fixed_findings_buttons_become_its_line_and_nothing_else_changes() -> None:
    line = fixed_line("UBOB", 12.4)
    assert line == "✅ fixed by <@UBOB> in 12 s"
    header: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": "report"}}
    other: dict[str, Any] = {"type": "actions", "block_id": "fixes:ffff0000:0", "elements": []}
    blocks: list[dict[str, Any]] = [
        header,
        {"type": "actions", "block_id": "fixes:0a1b2c3d:0", "elements": [{"type": "button"}]},
        {"type": "actions", "block_id": "fixes:0a1b2c3d:1", "elements": [{"type": "button"}]},
        other,
    ]
    assert mark_fixed(blocks, "0a1b2c3d", line) == [
        header,
        {
            "type": "context",
            "block_id": "fixes:0a1b2c3d:0",
            "elements": [{"type": "mrkdwn", "text": line}],
        },
        {
            "type": "context",
            "block_id": "fixes:0a1b2c3d:1",
            "elements": [{"type": "mrkdwn", "text": line}],
        },
        other,
    ]
    assert blocks[1]["type"] == "actions"  # the blocks given are left as they were


def test_a_report_without_the_findings_buttons_is_not_edited() -> None:
    blocks: list[dict[str, Any]] = [{"type": "section", "block_id": "head"}]
    assert mark_fixed(blocks, "0a1b2c3d", "✅") is None
    assert mark_fixed([], "0a1b2c3d", "✅") is None
