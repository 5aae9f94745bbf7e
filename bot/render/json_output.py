"""JSON output of a runbook run: the ``RunOutcome`` as pydantic dumps it, redacted.

The shape is the public contract of ``--format json`` (see ``bot.model.outcome``);
every string in it has gone through ``bot.redaction.redact``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.model.outcome import RunOutcome
from bot.redaction.redact import redact_data


def render_json(outcome: RunOutcome[Any], *, known_secrets: Iterable[str] = ()) -> str:
    """``outcome`` as indented JSON with every string redacted."""
    data = redact_data(outcome.model_dump(mode="json"), known_secrets)
    return json.dumps(data, indent=2, ensure_ascii=False)
