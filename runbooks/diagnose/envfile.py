"""Parsing an env file the way compose reads it (``KEY=VALUE`` lines)."""

from __future__ import annotations

import re

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")


def parse_env_file(text: str) -> dict[str, str]:
    """Keys and values; comments, blank lines and malformed lines are skipped.

    Quoted values lose their quotes (double quotes understand ``\\n`` and
    ``\\"``); an unquoted value loses a trailing `` # comment``.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        key, raw = match.group(1), match.group(2).strip()
        values[key] = _unquote(raw)
    return values


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace("\\n", "\n").replace('\\"', '"')
    return re.sub(r"\s+#.*$", "", raw)
