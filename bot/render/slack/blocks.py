"""Block Kit's building blocks, Slack's limits and the check that a message keeps them.

Slack's limits live here and only here, and hold by construction: every block
is checked with slack_sdk's Block Kit models (plus the limits those models do
not check) before a message is returned, so an invalid message is a bug raised
here, not an ``invalid_blocks`` error from Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.model.findings import Severity

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_FALLBACK_TEXT = 3000

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}
VERDICT_EMOJI = {"critical": "🔴", "warning": "🟠", "healthy": "🟢"}
FIXED_EMOJI = ":white_check_mark:"


class BlockKitError(ValueError):
    """A message this module built breaks Slack's rules: a bug here, never the user's."""


@dataclass(frozen=True)
class SlackMessage:
    """One message: fallback ``text``, ``blocks``, thread replies, files for the thread."""

    text: str
    blocks: list[dict[str, Any]]
    thread: list[SlackMessage] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (filename, content)


# ---------------------------------------------------------------- text helpers


def escape(text: str) -> str:
    """``text`` safe inside mrkdwn: ``<!channel>`` shows as text and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, marked with ``ellipsis`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ellipsis), 0)] + ellipsis


def clip_escaped(raw: str, limit: int, ellipsis: str = "…") -> tuple[str, bool]:
    """``escape(raw)`` cut to ``limit`` characters without splitting an entity.

    Returns the text and whether it was cut.
    """
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped, False
    budget = limit - len(ellipsis)
    out: list[str] = []
    used = 0
    for char in raw:
        piece = escape(char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ellipsis, True


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": _mrkdwn(clip(text, MAX_TEXT))}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [_mrkdwn(clip(t, MAX_TEXT)) for t in texts[:MAX_CONTEXT_ELEMENTS]],
    }


def _lines(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many of ``lines`` as fit in ``limit`` characters, then ``more(n)`` for the rest."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        reserve = 0 if index == len(lines) - 1 else 40
        if used + len(line) + 1 + reserve > limit:
            out.append(more(len(lines) - index))
            break
        out.append(line)
        used += len(line) + 1
    return clip("\n".join(out), limit)


# ---------------------------------------------------------------- validation


def _extra_problems(block: Mapping[str, Any]) -> list[str]:
    """Limits slack_sdk 3.47's models do not check."""
    problems: list[str] = []

    def text_of(obj: Any) -> str | None:
        return obj.get("text") if isinstance(obj, Mapping) else None

    for item in block.get("fields") or ():
        field_text = text_of(item) or ""
        if len(field_text) > MAX_FIELD_TEXT:
            problems.append(f"field longer than {MAX_FIELD_TEXT} characters")
        if not field_text:
            problems.append("empty field text")
    if block.get("type") == "section" and "text" in block and not text_of(block["text"]):
        problems.append("empty section text")
    if block.get("type") == "context":
        for element in block.get("elements") or ():
            text = text_of(element)
            if text is not None and (not text or len(text) > MAX_TEXT):
                problems.append(f"context text empty or longer than {MAX_TEXT}")
    return problems


def validate_blocks(blocks: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``BlockKitError`` unless ``blocks`` is a message Slack accepts."""
    if len(blocks) > MAX_BLOCKS:
        raise BlockKitError(f"{len(blocks)} blocks; Slack takes at most {MAX_BLOCKS}")
    block_ids: set[str] = set()
    for index, data in enumerate(blocks):
        parsed = Block.parse(dict(data))
        if parsed is None:
            raise BlockKitError(f"block {index}: unknown block type {data.get('type')!r}")
        try:
            parsed.to_dict()  # validates the block and everything in it
        except SlackObjectFormationError as exc:
            raise BlockKitError(f"block {index} ({data.get('type')}): {exc}") from exc
        problems = _extra_problems(data)
        if problems:
            raise BlockKitError(f"block {index} ({data.get('type')}): " + "; ".join(problems))
        block_id = data.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                raise BlockKitError(f"block {index}: duplicate block_id {block_id!r}")
            block_ids.add(block_id)


def _message(
    text: str,
    blocks: list[dict[str, Any]],
    *,
    thread: list[SlackMessage] | None = None,
    files: list[tuple[str, str]] | None = None,
) -> SlackMessage:
    validate_blocks(blocks)
    return SlackMessage(
        text=clip(text, MAX_FALLBACK_TEXT) or " ",
        blocks=blocks,
        thread=thread or [],
        files=files or [],
    )
