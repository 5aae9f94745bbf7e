"""A report's text (logs, ps, volumes, the audit trail…) as a code block under a title.

The whole text goes to the thread as a file when the block cannot hold it.
"""

from __future__ import annotations

from typing import Any

from bot.render.slack.blocks import SlackMessage, _message, escape

__all__ = ["TEXT_LIMIT", "text_message"]

TEXT_LIMIT = 2900  # a section's text is at most 3,000 characters: the fences and "…" fit
FENCE = "`" * 3


def text_message(title: str, text: str, filename: str) -> SlackMessage:
    """``text`` in a code block within Slack's limits; cut, it is whole in ``filename``
    (the message's file, for the thread). The limit is on the escaped text (``<``
    becomes ``&lt;``): cut after escaping, never inside an entity."""
    safe = escape(text).replace(FENCE, "` ` `")
    cut = len(safe) > TEXT_LIMIT
    if cut:
        safe = safe[:TEXT_LIMIT]
        entity = safe.rfind("&")
        if entity != -1 and ";" not in safe[entity:]:
            safe = safe[:entity]
        safe += "\n…"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{FENCE}{safe}{FENCE}"}},
    ]
    return _message(title, blocks, files=[(filename, text)] if cut else None)
