"""Short messages: the progress of a diagnosis, an error only the user sees, a fix's result
(and the line a fixed finding's buttons become in a report this process did not post)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.framework.action import ActionResult, Snapshot
from bot.model.units import human_size
from bot.redaction.redact import redact_model, redact_text
from bot.render.report import fix_command
from bot.render.slack.blocks import (
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_TEXT,
    SlackMessage,
    _context,
    _lines,
    _message,
    _plain,
    _section,
    clip_escaped,
    escape,
)
from bot.render.slack.buttons import ACTIONS, snapshot_confirmation

__all__ = [
    "RESTORE",
    "STATUS_EMOJI",
    "ephemeral_error",
    "fixed_line",
    "mark_fixed",
    "progress_message",
    "restore_button",
    "result_message",
    "snapshot_blocks",
]

# The action_id prefix of "Restore this snapshot": a fix button like a report's, its
# value the id of a stored pending action.
RESTORE = "fix:restore"

STATUS_EMOJI = {
    "applied": ":white_check_mark:",
    "nothing to do": ":white_check_mark:",
    "planned": ":memo:",
    "refused": ":no_entry:",
    "failed": ":x:",
}


def progress_message(env: str, hosts: int, done: int = 0, total: int | None = None) -> SlackMessage:
    """ "Diagnosing prod (2 hosts)…", with the checks done so far when known."""
    name = clip_escaped(env, 100)[0]
    line = f"Diagnosing {name} ({hosts} host{'s' if hosts != 1 else ''})…"
    blocks = [_section(f":hourglass_flowing_sand: {line}")]
    if total:
        blocks.append(_context(f"{min(done, total)}/{total} checks done"))
    return _message(line, blocks)


def ephemeral_error(text: str, *, known_secrets: Iterable[str] = ()) -> SlackMessage:
    """A short error only the user sees; ``text`` is redacted and escaped."""
    shown = clip_escaped(redact_text(text, known_secrets), MAX_TEXT - 20)[0]
    return _message(shown, [_section(f":warning: {shown}")])


def result_message(
    result: ActionResult,
    *,
    audit_id: str | None,
    known_secrets: Iterable[str] = (),
    note: str | None = None,
    buttons: Sequence[dict[str, Any]] = (),
    restore_values: Sequence[str | None] = (),
) -> SlackMessage:
    """The thread reply after a fix: status, steps, post-check, the snapshots the fix
    took (each with its restore command, and a "Restore this snapshot" button where
    ``restore_values`` has its stored pending action's id, in the order of
    ``result.snapshots``) and the audit id; then ``note`` (stackbot's own mrkdwn, e.g.
    what is left) and ``buttons`` (what to do next: Resolve the incident, Diagnose
    again)."""
    shown = redact_model(result, tuple(known_secrets))
    action = clip_escaped(shown.action, 100)[0]
    where = clip_escaped(f"{shown.environment}/{shown.host}", 200)[0]
    status = shown.status
    line = f"{STATUS_EMOJI[status]} *{action}* on {where}: {status} in {shown.duration:.1f} s"
    blocks: list[dict[str, Any]] = [_section(line)]
    if shown.message:
        blocks.append(_section(clip_escaped(shown.message, MAX_TEXT)[0]))
    if shown.outcomes:
        ok = sum(1 for o in shown.outcomes if o.ok)
        failed = len(shown.outcomes) - ok
        steps = [
            f"{':heavy_check_mark:' if o.ok else ':x:'} {clip_escaped(o.step, 300)[0]}"
            + (f" — {clip_escaped(o.detail, 300)[0]}" if o.detail else "")
            for o in shown.outcomes
        ]
        summary = f"*Steps*: {ok} ok, {failed} failed"
        blocks.append(
            _section(summary + "\n" + _lines(steps, MAX_TEXT - len(summary) - 1, _more_steps))
        )
    check = shown.post_check
    if check is not None:
        checked = clip_escaped(", ".join(check.checked), 500)[0] or "nothing"
        if check.cleared:
            text = f":white_check_mark: *Post-check*: cleared ({checked})"
        else:
            left = [
                f"• {clip_escaped(f.code, 100)[0]} · {clip_escaped(f.title, 300)[0]}"
                for f in check.remaining
            ]
            text = f":warning: *Post-check*: still present ({checked})\n" + _lines(
                left, MAX_TEXT - 200, lambda n: f"… and {n} more"
            )
        blocks.append(_section(text))
    blocks += snapshot_blocks(shown, restore_values)
    if note:
        blocks.append(_section(note))
    if buttons:
        blocks.append({"type": "actions", "block_id": "after_fix", "elements": list(buttons)})
    if audit_id:
        blocks.append(_context(f"audit id `{clip_escaped(audit_id, 100)[0]}`"))
    fallback = f"{shown.action} on {shown.environment}/{shown.host}: {status}"
    return _message(escape(fallback), blocks)


def _more_steps(n: int) -> str:
    return f"… and {n} more steps"


def snapshot_blocks(
    result: ActionResult, values: Sequence[str | None] = ()
) -> list[dict[str, Any]]:
    """The snapshots ``result`` took: each named (volume, archive, size, sha256) with the
    command that puts it back, and its "Restore this snapshot" button where ``values``
    (aligned with ``result.snapshots``) holds a stored pending action's id."""
    snapshots = result.snapshots
    if not snapshots:
        return []
    lines = []
    for n, snapshot in enumerate(snapshots, 1):
        number = f"{n}. " if len(snapshots) > 1 else ""
        size = f"{human_size(snapshot.size)}, " if snapshot.size is not None else ""
        command = fix_command(result.environment, snapshot.restore_fix(result.host))
        lines.append(
            f"{number}`{clip_escaped(snapshot.volume, 255)[0]}` as it was: "
            f"`{clip_escaped(snapshot.path, 600)[0]}` ({size}sha256 `{snapshot.sha256[:12]}…`)"
            f"\n`{clip_escaped(command, 900)[0]}`"
        )
    head = "*Snapshot taken*" if len(snapshots) == 1 else f"*Snapshots taken* ({len(snapshots)})"
    text = f":floppy_disk: {head}: put back with the button, or in a terminal with\n"
    blocks = [_section(text + _lines(lines, MAX_TEXT - len(text), lambda k: f"… and {k} more"))]
    buttons = [
        restore_button(snapshot, value, result.environment, n, len(snapshots))
        for n, (snapshot, value) in enumerate(zip(snapshots, values, strict=False))
        if value
    ]
    if buttons:
        blocks.append({"type": "actions", "block_id": "restore", "elements": buttons[:25]})
    return blocks


def restore_button(
    snapshot: Snapshot, value: str, environment: str, n: int = 0, of: int = 1
) -> dict[str, Any]:
    """The button that puts ``snapshot`` back: destructive, so red, with a dialog saying
    what happens."""
    words = ACTIONS[Snapshot.RESTORE]
    label = words.labels[0] if of == 1 else f"{words.labels[1]} {n + 1}"
    asked = snapshot_confirmation(snapshot, environment)
    return {
        "type": "button",
        "action_id": f"{RESTORE}:{n}",
        "text": _plain(label),
        "value": value,
        "style": "danger",
        "confirm": {
            "title": _plain(clip_escaped(asked.title, MAX_CONFIRM_TITLE)[0]),
            "text": _plain(clip_escaped(asked.text, MAX_CONFIRM_TEXT)[0]),
            "confirm": _plain(asked.confirm),
            "deny": _plain("Cancel"),
            "style": "danger",
        },
    }


def fixed_line(user: str, seconds: float) -> str:
    """What a fixed finding shows instead of its buttons: who fixed it, how fast."""
    return f"✅ fixed by <@{user}> in {seconds:.0f} s"


def mark_fixed(
    blocks: Sequence[dict[str, Any]], finding_id: str, line: str
) -> list[dict[str, Any]] | None:
    """A report's ``blocks`` (as a click carried them) with the fix buttons of
    ``finding_id`` replaced by a context ``line``; None when they show none. The blocks
    come from Slack and go back to it as they are: they are not checked here."""
    edited, changed = [], False
    for block in blocks:
        if str(block.get("block_id", "")).startswith(f"fixes:{finding_id}"):
            block = {
                "type": "context",
                "block_id": block["block_id"],
                "elements": [{"type": "mrkdwn", "text": line}],
            }
            changed = True
        edited.append(block)
    return edited if changed else None
