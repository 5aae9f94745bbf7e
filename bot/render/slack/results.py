"""Short messages: the progress of a diagnosis, an error only the user sees, a fix's result."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.framework.action import ActionResult
from bot.redaction.redact import redact_model, redact_text
from bot.render.slack.blocks import (
    MAX_TEXT,
    SlackMessage,
    _context,
    _lines,
    _message,
    _section,
    clip_escaped,
    escape,
)

__all__ = ["STATUS_EMOJI", "ephemeral_error", "progress_message", "result_message"]

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
) -> SlackMessage:
    """The thread reply after a fix: status, steps, post-check and the audit id; then
    ``note`` (stackbot's own mrkdwn, e.g. what is left) and ``buttons`` (what to do
    next: Resolve the incident, Diagnose again)."""
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
