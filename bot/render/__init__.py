"""Renderers: one per output surface, each receiving a ``bot.model.outcome.RunOutcome``.

Runbooks return neutral results; how they look on a terminal or as JSON is
decided here, and every renderer redacts what it prints.
"""

from __future__ import annotations

from bot.render.json_output import render_json
from bot.render.terminal import render_terminal

__all__ = ["render_json", "render_terminal"]
