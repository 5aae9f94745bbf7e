"""What Slack checks in a message's blocks, checked the way the stand-in sees them.

Independent of ``bot.render.slack`` on purpose: the stand-in is the oracle the
renderer is tested against, so it uses slack_sdk's models and the limits
directly rather than the renderer's own checks.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_MESSAGE_TEXT = 40_000


def _texts(obj: Any) -> list[str]:
    """Every ``text`` of every text object inside ``obj``."""
    found: list[str] = []
    if isinstance(obj, dict):
        if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
            found.append(obj["text"])
        for value in obj.values():
            found += _texts(value)
    elif isinstance(obj, list):
        for item in obj:
            found += _texts(item)
    return found


def block_errors(blocks: Any) -> list[str]:
    """Slack's complaints about ``blocks`` (empty when Slack would accept them)."""
    if not isinstance(blocks, list):
        return ["blocks must be a JSON array"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}]"
        if not isinstance(block, dict):
            errors.append(f"block must be an object {where}")
            continue
        parsed = Block.parse(block)
        if parsed is None:
            errors.append(f"unknown block type {block.get('type')!r} {where}")
            continue
        try:
            parsed.to_dict()
        except SlackObjectFormationError as exc:
            errors.append(f"{exc} {where}")
        for text in _texts(block):
            if not text:
                errors.append(f"must be more than 0 characters {where}")
            elif len(text) > MAX_TEXT:
                errors.append(f"must be less than {MAX_TEXT + 1} characters {where}")
        for item in block.get("fields") or ():
            if isinstance(item, dict) and len(str(item.get("text", ""))) > MAX_FIELD_TEXT:
                errors.append(f"field must be less than {MAX_FIELD_TEXT + 1} characters {where}")
    return errors


def message_errors(body: dict[str, Any]) -> list[str]:
    """Slack's complaints about a chat.postMessage / update / postEphemeral body."""
    errors: list[str] = []
    if "blocks" in body and body["blocks"] is not None:
        errors += block_errors(body["blocks"])
    text = body.get("text")
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        errors.append(f"text must be less than {MAX_MESSAGE_TEXT + 1} characters")
    return errors
