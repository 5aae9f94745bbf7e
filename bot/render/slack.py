"""The diagnosis report, fix results and errors as Slack Block Kit messages.

Pure functions: data in, ``SlackMessage`` out; sending is the app's job.
Slack's limits live here and only here, and hold by construction: findings
that do not fit in the main message go to thread messages, evidence too long
for a block is cut there and attached whole as a text file, and every block
is checked with slack_sdk's Block Kit models (plus the limits those models do
not check) before it is returned, so an invalid message is a bug raised here,
not a ``invalid_blocks`` error from Slack.

Everything shown is redacted first (``bot.redact``), and every string that
came from a host is escaped for mrkdwn (``&``, ``<``, ``>``), so a log line
holding ``<!channel>`` or ``<@U123>`` is shown, never acted on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.action import ActionResult
from bot.diagnosis import DiagnosisReport
from bot.findings import EvidenceValue, Finding, Fix, Severity
from bot.redact import redact_model, redact_text

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_FALLBACK_TEXT = 3000
# Ours: evidence longer than this (after escaping) is cut in blocks, attached whole.
EVIDENCE_LIMIT = 1000
# Buttons per finding; more fixes than this are listed in the finding's file.
MAX_FIX_BUTTONS = 2 * MAX_ACTIONS

ButtonValue = Callable[[Finding, Fix], "str | None"]
ConfirmText = Callable[[Finding, Fix], str]

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}
VERDICT_EMOJI = {"critical": "🔴", "warning": "🟠", "healthy": "🟢"}
STATUS_EMOJI = {
    "applied": ":white_check_mark:",
    "nothing to do": ":white_check_mark:",
    "planned": ":memo:",
    "refused": ":no_entry:",
    "failed": ":x:",
}
FIXED_EMOJI = ":white_check_mark:"


class BlockKitError(ValueError):
    """A message this module built breaks Slack's rules: a bug here, never the user's."""


@dataclass(frozen=True)
class SlackMessage:
    """One message: fallback ``text``, ``blocks``, thread replies, files for the thread."""

    text: str
    blocks: list[dict[str, Any]]
    thread: list[SlackMessage] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (filename, content)


# ---------------------------------------------------------------- text helpers


def escape(text: str) -> str:
    """``text`` safe inside mrkdwn: ``<!channel>`` shows as text and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, marked with ``ellipsis`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ellipsis), 0)] + ellipsis


def clip_escaped(raw: str, limit: int, ellipsis: str = "…") -> tuple[str, bool]:
    """``escape(raw)`` cut to ``limit`` characters without splitting an entity.

    Returns the text and whether it was cut.
    """
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped, False
    budget = limit - len(ellipsis)
    out: list[str] = []
    used = 0
    for char in raw:
        piece = escape(char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ellipsis, True


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(text, MAX_TEXT))}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [_mrkdwn(clip(t, MAX_TEXT)) for t in texts[:MAX_CONTEXT_ELEMENTS]],
    }


def _lines(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many of ``lines`` as fit in ``limit`` characters, then ``more(n)`` for the rest."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        reserve = 0 if index == len(lines) - 1 else 40
        if used + len(line) + 1 + reserve > limit:
            out.append(more(len(lines) - index))
            break
        out.append(line)
        used += len(line) + 1
    return clip("\n".join(out), limit)


# ---------------------------------------------------------------- validation


def _extra_problems(block: Mapping[str, Any]) -> list[str]:
    """Limits slack_sdk 3.47's models do not check."""
    problems: list[str] = []

    def text_of(obj: Any) -> str | None:
        return obj.get("text") if isinstance(obj, Mapping) else None

    for item in block.get("fields") or ():
        field_text = text_of(item) or ""
        if len(field_text) > MAX_FIELD_TEXT:
            problems.append(f"field longer than {MAX_FIELD_TEXT} characters")
        if not field_text:
            problems.append("empty field text")
    if block.get("type") == "section" and "text" in block and not text_of(block["text"]):
        problems.append("empty section text")
    if block.get("type") == "context":
        for element in block.get("elements") or ():
            text = text_of(element)
            if text is not None and (not text or len(text) > MAX_TEXT):
                problems.append(f"context text empty or longer than {MAX_TEXT}")
    return problems


def validate_blocks(blocks: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``BlockKitError`` unless ``blocks`` is a message Slack accepts."""
    if len(blocks) > MAX_BLOCKS:
        raise BlockKitError(f"{len(blocks)} blocks; Slack takes at most {MAX_BLOCKS}")
    block_ids: set[str] = set()
    for index, data in enumerate(blocks):
        parsed = Block.parse(dict(data))
        if parsed is None:
            raise BlockKitError(f"block {index}: unknown block type {data.get('type')!r}")
        try:
            parsed.to_dict()  # validates the block and everything in it
        except SlackObjectFormationError as exc:
            raise BlockKitError(f"block {index} ({data.get('type')}): {exc}") from exc
        problems = _extra_problems(data)
        if problems:
            raise BlockKitError(f"block {index} ({data.get('type')}): " + "; ".join(problems))
        block_id = data.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                raise BlockKitError(f"block {index}: duplicate block_id {block_id!r}")
            block_ids.add(block_id)


def _message(
    text: str,
    blocks: list[dict[str, Any]],
    *,
    thread: list[SlackMessage] | None = None,
    files: list[tuple[str, str]] | None = None,
) -> SlackMessage:
    validate_blocks(blocks)
    return SlackMessage(
        text=clip(text, MAX_FALLBACK_TEXT) or " ",
        blocks=blocks,
        thread=thread or [],
        files=files or [],
    )


# ---------------------------------------------------------------- progress and errors


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


# ---------------------------------------------------------------- the report


@dataclass
class _FindingBlocks:
    finding_id: str
    blocks: list[dict[str, Any]]
    files: list[tuple[str, str]]


def _evidence_text(value: EvidenceValue) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _where(finding: Finding) -> str:
    parts = [
        f"{key} {value}"
        for key, value in finding.subject.model_dump(exclude_none=True).items()
        if key != "environment"
    ]
    return " · ".join(parts)


def _file_name(finding_id: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:40] or "evidence"
    return f"{finding_id}-{safe}.txt"


def _default_confirm(finding: Finding, fix: Fix) -> str:
    what = fix.summary or fix.action
    return f"{what}. This is destructive: it cannot be undone by stackbot."


def _finding_blocks(
    original: Finding,
    shown: Finding,
    *,
    button_value: ButtonValue,
    confirm_text: ConfirmText | None,
    fixed: str | None,
    known_secrets: tuple[str, ...],
) -> _FindingBlocks:
    """The blocks of one finding: a section, a context line when needed, its buttons.

    ``original`` (unredacted) is what the callbacks see, for exact parameters and
    a stable id; ``shown`` (redacted) is what the blocks show.
    """
    fid = original.id
    files: list[tuple[str, str]] = []
    notes: list[str] = []
    emoji = FIXED_EMOJI if fixed else SEVERITY_EMOJI[shown.severity]
    code = clip_escaped(shown.code, 100)[0]
    title = clip_escaped(shown.title, 1500)[0]
    head = f"{emoji} *{code}* · {'~' + title + '~' if fixed else title}  `{fid}`"
    where = _where(shown)
    if where:
        head += "\n" + clip_escaped(where, 1000)[0]
    section: dict[str, Any] = {
        "type": "section",
        "block_id": f"finding:{fid}",
        "text": _mrkdwn(head),
    }

    items = list(shown.evidence.items())
    fields = []
    for key, value in items[:MAX_FIELDS]:
        label = clip_escaped(key, 100)[0]
        raw = _evidence_text(value)
        text, cut = clip_escaped(raw.replace("\n", " ⏎ "), EVIDENCE_LIMIT)
        if cut:
            name = _file_name(fid, key)
            files.append((name, raw))
            notes.append(f"`{escape(key)}` cut here, whole in {escape(name)}")
        fields.append(_mrkdwn(f"*{label}*\n{text or '—'}"))
    if len(items) > MAX_FIELDS:
        rest = items[MAX_FIELDS:]
        name = _file_name(fid, "evidence")
        files.append((name, "\n".join(f"{k}: {_evidence_text(v)}" for k, v in rest)))
        notes.append(f"{len(rest)} more evidence items in {escape(name)}")
    if fields:
        section["fields"] = fields

    blocks: list[dict[str, Any]] = [section]
    buttons: list[dict[str, Any]] = []
    unbuttoned: list[Fix] = []
    if not fixed:
        for n, (fix, fix_shown) in enumerate(zip(original.fixes, shown.fixes, strict=True)):
            value = button_value(original, fix)
            if value is None:
                continue
            if len(value) > MAX_BUTTON_VALUE:
                raise BlockKitError(f"button value of {len(value)} characters for {fid}")
            if len(buttons) >= MAX_FIX_BUTTONS:
                unbuttoned.append(fix_shown)
                continue
            button: dict[str, Any] = {
                "type": "button",
                "action_id": f"fix:{fid}:{n}",
                "text": _plain(
                    clip_escaped(fix_shown.summary or fix_shown.action, MAX_BUTTON_TEXT)[0]
                ),
                "value": value,
            }
            if fix.destructive:
                said = (confirm_text or _default_confirm)(original, fix)
                button["style"] = "danger"
                button["confirm"] = {
                    "title": _plain("Apply a destructive fix?"),
                    "text": _plain(
                        clip_escaped(redact_text(said, known_secrets), MAX_CONFIRM_TEXT)[0]
                    ),
                    "confirm": _plain("Apply"),
                    "deny": _plain("Cancel"),
                    "style": "danger",
                }
            else:
                button["style"] = "primary"
            buttons.append(button)
    if unbuttoned:
        name = _file_name(fid, "fixes")
        files.append((name, "\n".join(f.summary or f.action for f in unbuttoned)))
        notes.append(f"{len(unbuttoned)} more fixes listed in {escape(name)}")
    if fixed:
        notes.insert(0, fixed)  # the app's own line, with a real mention: not escaped
    if notes:
        blocks.append(_context(*notes))
    for start in range(0, len(buttons), MAX_ACTIONS):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"fixes:{fid}:{start // MAX_ACTIONS}",
                "elements": buttons[start : start + MAX_ACTIONS],
            }
        )
    return _FindingBlocks(fid, blocks, files)


def _summary(report: DiagnosisReport) -> str:
    counts = [f"*{n}* {sev}" for sev, n in report.counts.items() if n]
    lines = [" · ".join(counts) or "No findings: every check passed."]
    for host in report.hosts:
        label = clip_escaped(host.label, 200)[0]
        if host.reached:
            stacks = len(host.stacks)
            lines.append(
                f":heavy_check_mark: {label}: {stacks} stack{'s' if stacks != 1 else ''}, "
                f"{host.containers} containers"
            )
            # what could not be read there, so was not judged
            lines += [f"      note: {clip_escaped(note, 300)[0]}" for note in host.notes]
        else:
            lines.append(f":x: {label}: not diagnosed (see below)")
    return _lines(lines, MAX_TEXT, lambda n: f"… and {n} more hosts")


def _dedupe_block_ids(parts: list[_FindingBlocks]) -> None:
    """Two findings with the same id (a check reporting twice) keep distinct block ids."""
    seen: dict[str, int] = {}
    for part in parts:
        n = seen.get(part.finding_id, 0)
        seen[part.finding_id] = n + 1
        if n:
            for block in part.blocks:
                if "block_id" in block:
                    block["block_id"] = f"{block['block_id']}:{n}"


def report_messages(
    report: DiagnosisReport,
    *,
    button_value: ButtonValue,
    fixed: Mapping[str, str] | None = None,
    confirm_text: ConfirmText | None = None,
    known_secrets: Iterable[str] = (),
) -> SlackMessage:
    """The report as a main message, with thread messages for what does not fit.

    ``button_value(finding, fix)`` gives each fix button's value (a pending
    action id; None: no button). ``fixed`` maps a finding id to the line it
    shows instead of buttons ("✅ fixed by <@U1> in 4 s"). ``confirm_text``
    gives a destructive fix's confirm dialog text (default: its summary and a
    warning). Callbacks see the unredacted finding; blocks show the redacted one.
    """
    fixed = fixed or {}
    secrets = tuple(known_secrets)
    shown = redact_model(report, secrets)
    env = clip_escaped(shown.environment, 60)[0]
    verdict = shown.verdict
    header_text = clip(
        f"{VERDICT_EMOJI[verdict]} {env} · {verdict.upper()} · {shown.duration:.1f} s", MAX_HEADER
    )
    hosts = len(shown.hosts)
    head: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header_text)},
        _context(
            f"diagnose · {hosts} host{'s' if hosts != 1 else ''} · "
            f"started {shown.started_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()
        ),
        _section(_summary(shown)),
    ]
    parts = [
        _finding_blocks(
            original,
            redacted,
            button_value=button_value,
            confirm_text=confirm_text,
            fixed=fixed.get(original.id),
            known_secrets=secrets,
        )
        for original, redacted in zip(report.findings, shown.findings, strict=True)
    ]
    _dedupe_block_ids(parts)
    counts = " · ".join(f"{n} {sev}" for sev, n in shown.counts.items() if n) or "no findings"
    fallback = f"{env}: {verdict.upper()} — {counts}"

    main_blocks = list(head)
    if parts:
        main_blocks.append({"type": "divider"})
    main_budget = MAX_BLOCKS - len(main_blocks) - 1  # one context line for "N more"
    taken = 0
    used = 0
    for part in parts:
        if used + len(part.blocks) > main_budget:
            break
        used += len(part.blocks)
        taken += 1
    main_files = [f for part in parts[:taken] for f in part.files]
    for part in parts[:taken]:
        main_blocks.extend(part.blocks)

    thread: list[SlackMessage] = []
    rest = parts[taken:]
    if rest:
        main_blocks.append(
            _context(
                f":thread: {len(rest)} more finding{'s' if len(rest) != 1 else ''} in the thread"
            )
        )
        total = len(parts)
        index = taken
        while index < total:
            first = index
            blocks: list[dict[str, Any]] = []
            budget = MAX_BLOCKS - 1  # the context line naming the range
            while index < total and len(blocks) + len(parts[index].blocks) <= budget:
                blocks.extend(parts[index].blocks)
                index += 1
            if index == first:  # cannot happen: one finding is at most a handful of blocks
                raise BlockKitError(f"finding {parts[index].finding_id} does not fit a message")
            label = f"{env}: findings {first + 1} to {index} of {total}"
            thread.append(
                _message(
                    label,
                    [_context(label), *blocks],
                    files=[f for part in parts[first:index] for f in part.files],
                )
            )
    return _message(fallback, main_blocks, thread=thread, files=main_files)


# ---------------------------------------------------------------- fix results


def result_message(
    result: ActionResult, *, audit_id: str | None, known_secrets: Iterable[str] = ()
) -> SlackMessage:
    """The thread reply after a fix: status, steps, post-check and the audit id."""
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
    if audit_id:
        blocks.append(_context(f"audit id `{clip_escaped(audit_id, 100)[0]}`"))
    fallback = f"{shown.action} on {shown.environment}/{shown.host}: {status}"
    return _message(escape(fallback), blocks)


def _more_steps(n: int) -> str:
    return f"… and {n} more steps"
