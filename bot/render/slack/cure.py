"""The stability watch after a cure, in Slack: the incident's line, and the thread notes.

Pure functions of the stored watch (``bot.oncall.models.CureWatch``) and what a
check found; the app posts them, always into the incident's (or the report's)
thread root. Buttons that follow a fix (Resolve, Diagnose again) are built here
too, so a result message and a report offer the same ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.model.findings import Finding
from bot.model.units import human_duration
from bot.oncall.models import CureWatch, Incident
from bot.render.slack.blocks import (
    SEVERITY_EMOJI,
    SlackMessage,
    _context,
    _lines,
    _message,
    _plain,
    _section,
    clip_escaped,
    escape,
)

__all__ = [
    "DIAGNOSE_AGAIN",
    "RESOLVE",
    "diagnose_again_button",
    "resolve_button",
    "took",
    "watch_broke_message",
    "watch_held_message",
    "watch_line",
    "watch_page_message",
    "watch_started_message",
]

DIAGNOSE_AGAIN = "diagnose_again"  # action_id prefix; the value is "ENV" or "ENV STACK"
RESOLVE = "incident_resolve"  # the incident desk's Resolve (bot.render.incident.RESOLVE)


def took(delta: timedelta | float | None) -> str:
    """A duration for people: tenths of a second under a minute ("0.8 s"), else
    ``human_duration`` ("10 min")."""
    if delta is None:
        return "?"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    return f"{seconds:.1f} s" if seconds < 60 else human_duration(seconds)


def _time(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M} UTC"


def _fix(watch: CureWatch) -> str:
    return f"`{clip_escaped(watch.action, 60)[0]}` by {_user(watch.fixed_by)}"


def _user(user: str) -> str:
    return f"<@{user}>" if user[:1] in "UW" and user.isalnum() else clip_escaped(user, 40)[0]


def watch_line(watch: CureWatch) -> str:
    """The incident message's line about its latest watch."""
    settle = took(watch.settle)
    if watch.status == "watching":
        return (
            f":telescope: *Watching the cure* ({_fix(watch)}): held {watch.checks_done} of "
            f"{watch.checks_total} checks, until {_time(watch.ends_at)}"
        )
    if watch.status == "held":
        return f":white_check_mark: *The cure held* for {settle} ({_fix(watch)})"
    codes = ", ".join(f"`{clip_escaped(e.get('code', '?'), 60)[0]}`" for e in watch.evidence[:3])
    after = took((watch.finished_at or watch.ends_at) - watch.started_at)
    return f":x: *The cure broke* {after} after {_fix(watch)}: {codes or 'see the thread'}"


def watch_started_message(watch: CureWatch) -> SlackMessage:
    """The thread note when a watch starts."""
    what = f"`{clip_escaped(watch.finding_id, 20)[0]}`" if watch.finding_id else "what it fixed"
    touched = ", ".join(clip_escaped(c, 80)[0] for c in watch.touched[:4])
    text = (
        f":telescope: Watching the cure for {took(watch.settle)}: {watch.checks_total} checks "
        f"of {clip_escaped(watch.host, 60)[0]} (finding {what}"
        + (f", and {touched}" if touched else "")
        + f"), the last at {_time(watch.ends_at)}."
    )
    tail = (
        "If it holds, the incident resolves itself; if it breaks, it opens again."
        if watch.incident_id
        else "If it breaks, you hear of it here."
    )
    return _message(f"Watching the cure for {took(watch.settle)}", [_section(f"{text} {tail}")])


def watch_held_message(
    watch: CureWatch,
    *,
    resolved: bool,
    kept_open: str | None,
    page_to_cure: timedelta | None,
    cure_to_resolved: timedelta | None,
) -> SlackMessage:
    """The closing note: resolved by itself (with page-to-cure and cure-to-resolved), or
    why the incident stays open."""
    held = f"the cure held for {took(watch.settle)} ({watch.checks_done} checks)"
    if resolved:
        text = f":white_check_mark: *Resolved*: {held}."
        times = []
        if page_to_cure is not None:
            times.append(f"page to cure {took(page_to_cure)}")
        if cure_to_resolved is not None:
            times.append(f"cure to resolved {took(cure_to_resolved)}")
        if page_to_cure is not None and cure_to_resolved is not None:
            times.append(f"page to resolved {took(page_to_cure + cure_to_resolved)}")
        blocks = [_section(text)]
        if times:
            blocks.append(_context(" · ".join(times).capitalize()))
        return _message(f"Resolved: {held}", blocks)
    if kept_open:
        text = (
            f":white_check_mark: {held.capitalize()}, but the incident stays open: "
            f"{escape(kept_open)}. Resolve it when it is over."
        )
        return _message(f"{held.capitalize()}; the incident stays open", [_section(text)])
    return _message(held.capitalize(), [_section(f":white_check_mark: {held.capitalize()}.")])


def _evidence(broken: Sequence[Finding]) -> str:
    lines = [
        f"{SEVERITY_EMOJI[f.severity]} `{clip_escaped(f.code, 60)[0]}` · "
        f"{clip_escaped(f.title, 300)[0]} · id `{clip_escaped(f.id, 20)[0]}`"
        for f in broken
    ]
    return _lines(lines, 2000, lambda n: f"… and {n} more")


def watch_broke_message(
    watch: CureWatch,
    broken: Sequence[Finding],
    *,
    incident: Incident | None,
    reopened: bool,
    linked: Sequence[Incident],
) -> SlackMessage:
    """The thread note (broadcast to the channel) when a cure breaks: the new evidence,
    who is told, and what became of the incident."""
    after = took((watch.finished_at or datetime.now(UTC)) - watch.started_at)
    people = [_user(watch.fixed_by) + " (applied the fix)"]
    oncall = incident.oncall_user if incident is not None else None
    if oncall and oncall != watch.fixed_by:
        people.append(f"<@{oncall}> (on call)")
    if reopened:
        state = "The incident is *open again* and escalates from now."
    elif linked:
        refs = ", ".join(f"`{i.short_id}`" for i in linked)
        state = f"It is carried on by incident {refs}."
    else:
        state = "Diagnose again to see what is wrong now."
    text = (
        f":rotating_light: *The cure broke* {after} after {_fix(watch)}: the check of "
        f"{clip_escaped(watch.host, 60)[0]} found\n{_evidence(broken)}\n"
        f"{' and '.join(people)}: {state}"
    )
    codes = ", ".join(f.code for f in broken[:3])
    return _message(escape(f"The cure broke: {codes}"), [_section(text)])


def watch_page_message(
    watch: CureWatch, broken: Sequence[Finding], *, channel: str | None, role: str
) -> SlackMessage:
    """A direct message to the person who applied the fix (or who is on call)."""
    where = f" See <#{channel}>." if channel and channel[:1] in "CG" else ""
    codes = ", ".join(f"`{clip_escaped(f.code, 60)[0]}`" for f in broken[:3])
    text = (
        f":rotating_light: The fix {role} on `{clip_escaped(watch.environment, 64)[0]}` "
        f"(`{clip_escaped(watch.action, 60)[0]}`) did not hold: {codes} again.{where}"
    )
    return _message(f"A cure broke on {watch.environment}", [_section(text)])


def diagnose_again_button(environment: str, stack: str | None = None) -> dict[str, Any]:
    """Runs the diagnosis of the environment again, into the same thread (read-only: the
    value names the environment, and the click is authorised again)."""
    value = environment if stack is None else f"{environment} {stack}"
    return {
        "type": "button",
        "action_id": f"{DIAGNOSE_AGAIN}:{environment}"[:255],
        "text": _plain("Diagnose again"),
        "value": value,
    }


def resolve_button(incident_id: uuid.UUID | str) -> dict[str, Any]:
    """The incident desk's Resolve, beside a fix's result."""
    return {
        "type": "button",
        "action_id": f"{RESOLVE}:{incident_id}",
        "text": _plain("Resolve incident"),
        "value": str(incident_id),
        "style": "primary",
    }
