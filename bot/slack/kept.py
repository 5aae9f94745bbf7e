"""The reports this process posted, by message ts: what a fix's click edits in place.

A fix changes the environment its report described; the report is then diagnosed
again and re-rendered over the same message (``chat.update``): fixed findings
struck out with who fixed them, the header saying what is left. For that the app
keeps each report it posts (bounded, the oldest forgotten first) with the stack it
was asked for, who asked, the thread it is in, and the fixes made from it so far.
A report this process did not post (a restart, another replica) falls back to
marking the clicked finding fixed in the blocks the click carried.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import Finding

KEEP = 200  # reports remembered


@dataclass
class KeptReport:
    report: DiagnosisReport  # as the message shows it now
    stack: str | None
    requested_by: str
    root: str  # the thread the report is in (an incident's), or its own ts
    fixed: dict[str, str] = field(default_factory=dict)  # finding id → "✅ fixed by …"
    gone: dict[str, Finding] = field(default_factory=dict)  # fixed, no longer found

    def finding(self, finding_id: str | None) -> Finding | None:
        if finding_id is None:
            return None
        found = next((f for f in self.report.findings if f.id == finding_id), None)
        return found or self.gone.get(finding_id)


class KeptReports:
    def __init__(self, size: int = KEEP) -> None:
        self._kept: OrderedDict[str, KeptReport] = OrderedDict()
        self._size = size

    def keep(self, ts: str, kept: KeptReport) -> None:
        self._kept[ts] = kept
        self._kept.move_to_end(ts)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def get(self, ts: str | None) -> KeptReport | None:
        return self._kept.get(ts) if ts else None

    def root(self, ts: str | None) -> str | None:
        """The thread root of the report posted as ``ts`` (None: not one of ours)."""
        kept = self.get(ts)
        return kept.root if kept is not None else None
