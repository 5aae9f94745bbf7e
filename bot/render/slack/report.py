"""The diagnosis report: a summary an on-call engineer reads in five seconds, details in
its thread.

The top message: a header with severity, environment and stack ("🔴 prod · shop —
2 critical"), one plain sentence per critical and warning finding (causes first)
with its buttons on the line below or, without a button, what to do; a note where a
fix should wait for another's ("Fix the data first"); a footer saying who asked,
which hosts, and what the thread holds. At most ``TOP_BLOCKS`` blocks: what does not
fit goes to the thread, counted in the footer.

The thread: each finding's evidence (catalogue labels, readable values, the code and
id for ``stackbot fix --finding``), the findings the top message had no room for, the
info findings, and what could not be read on a host. Files (evidence too long for a
block) hang on the top message; the app uploads them into the thread.

Everything shown is redacted first (``bot.redaction.redact``), SSH users and addresses are
left out (the terminal and JSON reports keep them), and every string from a host is
escaped for mrkdwn, so ``<!channel>`` in a log line is shown, never acted on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Fix, Severity
from bot.redaction.redact import redact_data, redact_text
from bot.render.labels import cause_rank, finding_name, guidance, readable, related_notes, sentence
from bot.render.slack.blocks import (
    FIXED_EMOJI,
    MAX_ACTIONS,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_TEXT,
    SEVERITY_EMOJI,
    VERDICT_EMOJI,
    BlockKitError,
    SlackMessage,
    _context,
    _lines,
    _message,
    _plain,
    _section,
    clip,
    clip_escaped,
    escape,
)
from bot.render.slack.buttons import button_label, confirmation
from bot.render.slack.cure import diagnose_again_button
from bot.render.slack.evidence import evidence_fields, file_name, where

__all__ = ["TOP_BLOCKS", "ButtonValue", "ConfirmText", "report_messages"]

ButtonValue = Callable[[Finding, Fix], "str | None"]
ConfirmText = Callable[[Finding, Fix], str]

TOP_BLOCKS = 12  # the top message, header and footer included
TOP_BUTTONS = 3  # per finding in the top message; the others are in its thread details
MAX_FIX_BUTTONS = 2 * MAX_ACTIONS  # per finding; more are listed in a file
HEALTHY_EMOJI = "✅"
NO_GUIDANCE = "Read its evidence in the thread."
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
M = TypeVar("M", bound=BaseModel)


@dataclass
class _Item:
    original: Finding  # what the callbacks see: exact parameters, the stable id
    shown: Finding  # redacted, SSH users and addresses left out
    fixed: str | None = None  # the app's line ("✅ fixed by <@U1> in 4 s"), not escaped
    wait: str | None = None  # fix another finding first
    resolved: bool = False  # fixed, and gone from this report

    @property
    def fid(self) -> str:
        return self.original.id


@dataclass
class _Render:
    env: str  # redacted, unescaped
    now: datetime
    button_value: ButtonValue
    confirm_text: ConfirmText | None
    secrets: tuple[str, ...]
    files: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- what is shown


def _ssh_pairs(hosts: Sequence[HostStatus]) -> list[tuple[str, str]]:
    """(text, replacement) that take SSH users and addresses out of what is shown."""
    pairs: list[tuple[str, str]] = []
    for host in hosts:
        match = re.fullmatch(r"(.*) \((.+)\)", host.label)
        if match is None or match.group(2) == "local":
            continue
        name, target = match.groups()
        address = target.split("@", 1)[-1]
        pairs += [(host.label, name), (target, host.host), (address, host.host)]
        bare = address.rsplit(":", 1)[0] if ":" in address else address
        if "." in bare or ":" in bare:  # an IP or a FQDN alone (not a short word like "db")
            pairs += [(bare, host.host), (bare.strip("[]"), host.host)]
    return sorted(pairs, key=lambda p: -len(p[0]))


def _public(model: M, pairs: Sequence[tuple[str, str]], secrets: tuple[str, ...]) -> M:
    """A copy of ``model`` with every string redacted and SSH users and addresses out."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for text, replacement in pairs:
                value = value.replace(text, replacement)
            return value
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    data = redact_data(model.model_dump(mode="json", exclude_computed_fields=True), secrets)
    return type(model).model_validate(clean(data))


def _order(items: list[_Item]) -> list[_Item]:
    """Most severe first; within a severity, causes before effects (data before network)."""
    return sorted(
        items,
        key=lambda i: (i.shown.severity.rank, cause_rank(i.shown.code)),
    )


# ---------------------------------------------------------------- buttons


def _buttons(render: _Render, item: _Item) -> tuple[list[dict[str, Any]], list[Fix]]:
    """The finding's buttons, and the fixes with a value that got none (too many)."""
    buttons: list[dict[str, Any]] = []
    unbuttoned: list[Fix] = []
    if item.fixed or item.resolved:
        return buttons, unbuttoned
    fixes = zip(item.original.fixes, item.shown.fixes, strict=True)
    for n, (fix, fix_shown) in enumerate(fixes):
        value = render.button_value(item.original, fix)
        if value is None:
            continue
        if len(value) > MAX_BUTTON_VALUE:
            raise BlockKitError(f"button value of {len(value)} characters for {item.fid}")
        if len(buttons) >= MAX_FIX_BUTTONS:
            unbuttoned.append(fix_shown)
            continue
        label = button_label(item.shown, fix_shown)
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"fix:{item.fid}:{n}",
            "text": _plain(clip_escaped(label, MAX_BUTTON_TEXT)[0]),
            "value": value,
        }
        if fix.destructive:
            asked = confirmation(item.shown, fix_shown, render.env)
            text = asked.text
            if render.confirm_text is not None:
                text = redact_text(render.confirm_text(item.original, fix), render.secrets)
            button["style"] = "danger"
            button["confirm"] = {
                "title": _plain(clip_escaped(asked.title, MAX_CONFIRM_TITLE)[0]),
                "text": _plain(clip_escaped(text, MAX_CONFIRM_TEXT)[0]),
                "confirm": _plain(asked.confirm),
                "deny": _plain("Cancel"),
                "style": "danger",
            }
        elif not item.wait and item.shown.severity is not Severity.INFO:
            button["style"] = "primary"
        buttons.append(button)
    return buttons, unbuttoned


def _actions(fid: str, buttons: list[dict[str, Any]], first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "type": "actions",
            "block_id": f"fixes:{fid}:{first + start // MAX_ACTIONS}",
            "elements": buttons[start : start + MAX_ACTIONS],
        }
        for start in range(0, len(buttons), MAX_ACTIONS)
    ]


# ---------------------------------------------------------------- one finding


def _line_text(render: _Render, item: _Item, *, has_button: bool) -> str:
    """The finding in one sentence, with the note or guidance it needs."""
    headline, detail = sentence(item.shown, render.now)
    head = clip_escaped(headline, 300)[0]
    if item.fixed or item.resolved:  # the sentence struck out, then who fixed it
        done = re.sub(r"^(✅|:white_check_mark:)\s*", "", item.fixed or "fixed")
        return f"{FIXED_EMOJI} ~{head}~ — {done}"  # the app's own line: not escaped
    text = f"{SEVERITY_EMOJI[item.shown.severity]} *{head}*"
    if detail:
        text += f" — {clip_escaped(detail, 400)[0]}"
    if item.wait:
        text += f"\n:warning: _{escape(item.wait)}_"
    if not has_button:
        said = guidance(item.shown) or NO_GUIDANCE
        text += f"\n*What to do:* {clip_escaped(said, 400)[0]}"
    return text


def _top_blocks(render: _Render, item: _Item) -> list[dict[str, Any]]:
    """The finding in the top message: its sentence, then up to ``TOP_BUTTONS`` buttons."""
    buttons, _ = _buttons(render, item)
    shown = buttons[:TOP_BUTTONS]
    text = _line_text(render, item, has_button=bool(shown))
    return [_section(text, f"finding:{item.fid}"), *_actions(item.fid, shown)]


def _details(render: _Render, item: _Item, *, line: bool) -> list[dict[str, Any]]:
    """The finding in the thread: its evidence (and, when the top message has no room
    for it, its sentence and every button)."""
    buttons, unbuttoned = _buttons(render, item)
    evidence = evidence_fields(item.shown, item.fid, render.now)
    render.files += evidence.files
    notes = list(evidence.notes)
    if unbuttoned:
        name = file_name(item.fid, "fixes")
        render.files.append((name, "\n".join(f.summary or f.action for f in unbuttoned)))
        notes.append(f"{len(unbuttoned)} more fixes listed in {escape(name)}")
    about = clip_escaped(readable(where(item.shown), render.now), 300)[0]
    name = escape(finding_name(item.shown.code))
    if line:
        text = _line_text(render, item, has_button=bool(buttons))
        text += f"\n_{name}_" + (f" · {about}" if about else "")
        block_id = f"finding:{item.fid}"
        more = buttons
    else:
        emoji = FIXED_EMOJI if item.fixed else SEVERITY_EMOJI[item.shown.severity]
        text = f"{emoji} *{name}*" + (f" · {about}" if about else "")
        block_id = f"evidence:{item.fid}"
        more = buttons[TOP_BUTTONS:]
    # the check's own words, whole: the sentences above are short on purpose
    text += "\n" + clip_escaped(readable(item.shown.title, render.now), 600)[0]
    if evidence.prose:
        text += "\n" + _lines(
            evidence.prose, MAX_TEXT - len(text) - 1, lambda n: f"… and {n} more notes"
        )
    sections = [_section(text, block_id)]
    for start in range(0, len(evidence.fields), MAX_FIELDS):
        if start:
            more_id = f"fields{start // MAX_FIELDS}:{block_id}"
            sections.append({"type": "section", "block_id": more_id})
        sections[-1]["fields"] = evidence.fields[start : start + MAX_FIELDS]
    code = clip_escaped(item.shown.code, 100)[0]
    blocks = [*sections, _context(f"`{code}` · id `{item.fid}`", *notes)]
    return blocks + _actions(item.fid, more, first=0 if line else 1)


# ---------------------------------------------------------------- the whole report


def _stacks(items: Sequence[_Item], report: DiagnosisReport) -> str:
    names: list[str] = []
    for item in items:
        project = item.shown.subject.project
        if project and item.shown.severity is not Severity.INFO and project not in names:
            names.append(project)
    if not names:
        names = sorted({s for h in report.hosts for s in h.stacks})
    if len(names) > 2:
        return f"{len(names)} stacks"
    return ", ".join(names)


def _status(report: DiagnosisReport, after_fix: bool) -> str:
    counts = report.counts
    left = " left" if after_fix else ""
    if report.verdict == "critical":
        text = f"{counts.get('critical', 0)} critical{left}"
        warnings = counts.get("warning", 0)
        return text + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "")
    if report.verdict == "warning":
        n = counts.get("warning", 0)
        return f"{n} warning{'s' if n != 1 else ''}{left}"
    return "healthy"


def _footer(report: DiagnosisReport, requested_by: str | None, thread_note: str) -> dict[str, Any]:
    parts: list[str] = []
    if requested_by:
        asked = f"<@{requested_by}>" if _USER_ID.fullmatch(requested_by) else escape(requested_by)
        parts.append(f"Asked by {asked}")
    reached = [h.host for h in report.hosts if h.reached]
    missed = [h.host for h in report.hosts if not h.reached]
    hosts = ", ".join(reached)
    if missed:
        hosts += (", " if hosts else "") + ", ".join(missed) + " not reached"
    if hosts:
        parts.append(clip_escaped(hosts, 300)[0])
    started = report.started_at
    started = started.astimezone(UTC) if started.tzinfo else started
    parts.append(f"{report.duration:.1f} s · {started:%Y-%m-%d %H:%M} UTC")
    if thread_note:
        parts.append(thread_note)
    return _context(" · ".join(parts))


def _pack(
    label: Callable[[int, int], str], units: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """``units`` in messages of at most ``MAX_BLOCKS`` blocks, each led by ``label``."""
    messages: list[list[dict[str, Any]]] = []
    index = 0
    while index < len(units):
        first = index
        blocks: list[dict[str, Any]] = []
        while index < len(units) and len(blocks) + len(units[index]) <= MAX_BLOCKS - 1:
            blocks.extend(units[index])
            index += 1
        if index == first:  # cannot happen: one finding is at most a handful of blocks
            raise BlockKitError("a finding's details do not fit a message")
        messages.append([_context(label(first + 1, index)), *blocks])
    return messages


def _unique_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two findings with one id (a check reporting twice) keep distinct block ids."""
    used: set[str] = set()
    for block in blocks:
        block_id = block.get("block_id")
        if block_id is None:
            continue
        n, unique = 0, block_id
        while unique in used:
            n += 1
            unique = f"{block_id}:{n}"
        used.add(unique)
        block["block_id"] = unique
    return blocks


def _host_notes(report: DiagnosisReport) -> list[str]:
    return [
        f"• {escape(host.host)}: {clip_escaped(note, 300)[0]}"
        for host in report.hosts
        for note in host.notes
    ]


def report_messages(
    report: DiagnosisReport,
    *,
    button_value: ButtonValue,
    fixed: Mapping[str, str] | None = None,
    resolved: Iterable[Finding] = (),
    confirm_text: ConfirmText | None = None,
    known_secrets: Iterable[str] = (),
    requested_by: str | None = None,
    diagnose_again: bool = False,
    stack: str | None = None,
) -> SlackMessage:
    """The report as a summary message, with its details as thread messages.

    ``button_value(finding, fix)`` gives each fix button's value (a pending action id;
    None: no button). ``requested_by``: the Slack user id of who asked. After a fix,
    pass the new diagnosis with ``fixed`` (finding id → the line shown instead of its
    buttons, "✅ fixed by <@U1> in 4 s") and ``resolved`` (fixed findings the new
    diagnosis no longer has): the header then says what is left. ``confirm_text``
    replaces a destructive fix's confirmation text. ``diagnose_again``: a "Diagnose again"
    button above the footer (its value the environment and ``stack``), as after a fix.
    Callbacks see the unredacted finding; blocks show the redacted one.
    """
    fixed = dict(fixed or {})
    secrets = tuple(known_secrets)
    pairs = _ssh_pairs(report.hosts)
    shown = _public(report, pairs, secrets)
    gone = list(resolved)
    gone_shown = [_public(f, pairs, secrets) for f in gone]
    render = _Render(
        env=shown.environment,
        now=report.started_at,
        button_value=button_value,
        confirm_text=confirm_text,
        secrets=secrets,
    )
    items = _order(
        [
            _Item(original, public, fixed=fixed.get(original.id))
            for original, public in zip(report.findings, shown.findings, strict=True)
        ]
    )
    for index, (note, first) in related_notes([i.shown for i in items]).items():
        if not items[first].fixed:
            items[index].wait = note
    done = [
        _Item(o, s, fixed=fixed.get(o.id), resolved=True)
        for o, s in zip(gone, gone_shown, strict=True)
    ]
    after_fix = bool(fixed or gone)

    env = clip_escaped(shown.environment, 60)[0]
    stacks = clip_escaped(_stacks(items, shown), 60)[0]
    place = env + (f" · {stacks}" if stacks else "")
    status = _status(shown, after_fix)
    emoji = HEALTHY_EMOJI if after_fix and shown.verdict == "healthy" else None
    header = f"{emoji or VERDICT_EMOJI[shown.verdict]} {place} — {status}"

    # the top message: the critical and warning findings that fit, then the fixed ones
    top = [i for i in items if i.shown.severity is not Severity.INFO]
    budget = TOP_BLOCKS - 2 - int(diagnose_again)  # the header, the footer, the button
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(clip(header, MAX_HEADER))}]
    taken = 0
    for item in top:
        part = _top_blocks(render, item)
        if len(blocks) - 1 + len(part) > budget:
            break
        blocks += part
        taken += 1
    shown_done = 0
    for item in done:
        if len(blocks) - 1 + 1 > budget:
            break
        blocks.append(_section(_line_text(render, item, has_button=False), f"fixed:{item.fid}"))
        shown_done += 1
    if not top and not done:
        hosts = [h for h in shown.hosts if h.reached]
        n_stacks = sum(len(h.stacks) for h in hosts)
        n_notes = len(items)
        blocks.append(
            _section(
                f"{HEALTHY_EMOJI} Every check passed: {len(hosts)} host"
                f"{'s' if len(hosts) != 1 else ''}, {n_stacks} stack"
                f"{'s' if n_stacks != 1 else ''}."
                + (f" {n_notes} note{'s' * (n_notes != 1)} in the thread." if n_notes else "")
            )
        )

    # the thread: the evidence of what is above, then everything else
    evidence_units = [_details(render, item, line=False) for item in top[:taken]]
    rest = top[taken:] + [i for i in items if i.shown.severity is Severity.INFO]
    more_units = [_details(render, item, line=True) for item in rest]
    more_units += [  # fixed ones the top message had no room for
        [_section(_line_text(render, item, has_button=False), f"fixed:{item.fid}")]
        for item in done[shown_done:]
    ]
    thread_blocks = _pack(
        lambda a, b: f"*Evidence* for the report above ({a} to {b} of {taken})", evidence_units
    ) + _pack(lambda a, b: f"*More findings* ({a} to {b} of {len(more_units)})", more_units)
    notes = _host_notes(shown)
    if notes:
        text = "*Not judged* (could not be read):\n" + _lines(
            notes, MAX_TEXT - 40, lambda n: f"… and {n} more"
        )
        thread_blocks.append([_section(text)])

    pointers: list[str] = []
    if evidence_units:
        pointers.append("evidence")
    if rest:
        pointers.append(f"{len(rest)} more finding{'s' if len(rest) != 1 else ''}")
    if len(done) > shown_done:
        pointers.append(f"{len(done) - shown_done} fixed")
    thread_note = f":thread: {' and '.join(pointers)} in the thread" if pointers else ""
    if diagnose_again:
        again = diagnose_again_button(report.environment, stack)
        blocks.append({"type": "actions", "block_id": "again", "elements": [again]})
    blocks.append(_footer(shown, requested_by, thread_note))

    thread = [_message(f"{place}: details", _unique_ids(each)) for each in thread_blocks if each]
    notification = _notification(
        place, status, items, render, after_fix, emoji or VERDICT_EMOJI[shown.verdict]
    )
    return _message(
        notification,
        _unique_ids(blocks),
        thread=thread,
        files=render.files,
    )


def _notification(
    place: str, status: str, items: list[_Item], render: _Render, after_fix: bool, emoji: str
) -> str:
    """The push notification: the environment's status and its top problem."""
    open_items = [i for i in items if not i.fixed and i.shown.severity is not Severity.INFO]
    if not open_items:
        return f"{emoji} {place} — {status}"
    headline = escape(sentence(open_items[0].shown, render.now)[0])
    same = sum(1 for i in open_items if i.shown.severity is open_items[0].shown.severity)
    more = f" (+{same - 1} more {open_items[0].shown.severity.value})" if same > 1 else ""
    if after_fix:
        return f"{emoji} {place} — {status}: {headline}{more}"
    return f"{emoji} {place}: {headline}{more}"
