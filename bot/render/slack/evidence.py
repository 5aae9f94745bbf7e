"""A finding's evidence as Block Kit fields: catalogue labels, readable values.

Values too long for a field are cut there and attached whole as a text file;
sentences (``PROSE_KEYS``) are lines of text rather than fields; items beyond
``MAX_EVIDENCE_FIELDS`` go to a file too. Everything is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.model.findings import EvidenceValue, Finding
from bot.render.labels import PROSE_KEYS, evidence_label, evidence_value
from bot.render.slack.blocks import MAX_FIELDS, _mrkdwn, clip_escaped, escape

__all__ = ["EVIDENCE_LIMIT", "Evidence", "evidence_fields", "file_name", "where"]

# Ours: evidence longer than this (after escaping) is cut in blocks, attached whole.
EVIDENCE_LIMIT = 1000
PROSE_LIMIT = 400
MAX_EVIDENCE_FIELDS = 2 * MAX_FIELDS  # two sections; the rest in a file


@dataclass
class Evidence:
    fields: list[dict[str, Any]] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)  # mrkdwn lines, escaped
    files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mrkdwn, escaped


def file_name(finding_id: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:40] or "evidence"
    return f"{finding_id}-{safe}.txt"


def _raw(value: EvidenceValue) -> str:
    if isinstance(value, list):
        return "\n".join(value)
    return "" if value is None else str(value)


def evidence_fields(finding: Finding, finding_id: str, now: datetime | None) -> Evidence:
    """Up to ``MAX_EVIDENCE_FIELDS`` labelled fields and the prose; what is cut or left
    over, in files."""
    out = Evidence()
    items = []
    for key, value in finding.evidence.items():
        shown = evidence_value(key, value, now)
        if shown is None:
            continue
        if key in PROSE_KEYS:
            line = clip_escaped(" ".join(shown.split()), PROSE_LIMIT)[0]
            out.prose.append(f"_{escape(evidence_label(key))}_: {line}")
        else:
            items.append((key, value, shown))
    for key, value, shown in items[:MAX_EVIDENCE_FIELDS]:
        label = clip_escaped(evidence_label(key), 100)[0]
        text, cut = clip_escaped(shown.replace("\n", " ⏎ "), EVIDENCE_LIMIT)
        if cut:
            name = file_name(finding_id, key)
            out.files.append((name, _raw(value)))
            out.notes.append(f"{escape(evidence_label(key))} cut here, whole in {escape(name)}")
        out.fields.append(_mrkdwn(f"*{label}*\n{text or '—'}"))
    rest = items[MAX_EVIDENCE_FIELDS:]
    if rest:
        name = file_name(finding_id, "evidence")
        out.files.append((name, "\n".join(f"{evidence_label(k)}: {s}" for k, _, s in rest)))
        out.notes.append(f"{len(rest)} more evidence items in {escape(name)}")
    return out


def where(finding: Finding) -> str:
    """ "web1 · stack shop · service backend (shop-backend-1)": what it is about."""
    s = finding.subject
    parts = [s.host or ""]
    if s.project:
        parts.append(f"stack {s.project}")
    if s.service:
        parts.append(f"service {s.service}" + (f" ({s.container})" if s.container else ""))
    elif s.container:
        parts.append(f"container {s.container}")
    for name, value in (("volume", s.volume), ("database", s.database), ("path", s.path)):
        if value:
            parts.append(f"{name} {value}")
    return " · ".join(p for p in parts if p)
