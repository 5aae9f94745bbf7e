"""Incidents as Block Kit: the channel message, pages, ``/stack oncall`` and ``/stack incidents``.

Pure functions of the stored incident (and who is on call): the message is
re-rendered from the row on every change, so any replica can edit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.model.findings import Severity
from bot.model.units import human_duration
from bot.oncall.models import Incident, IncidentStatus, Listing
from bot.oncall.rotation import OnCallNow
from bot.render.slack import (
    MAX_TEXT,
    SEVERITY_EMOJI,
    SlackMessage,
    _context,
    _message,
    _plain,
    _section,
    clip_escaped,
)

ACK, DIAGNOSE, RESOLVE = "incident_ack", "incident_diagnose", "incident_resolve"


def _time(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _channel(channel: str) -> str:
    """A link to the channel when it is an id; a configured ``#name`` as it is."""
    return f"<#{channel}>" if channel[:1] in "CG" else clip_escaped(channel, 80)[0]


def _title(incident: Incident) -> str:
    return clip_escaped(incident.title, 200)[0]


def _status_line(incident: Incident) -> str:
    resolved = incident.status is IncidentStatus.RESOLVED
    if resolved and incident.is_digest and incident.resolved_by == "stackbot":
        return ":white_check_mark: *Resolved*: every incident it lists is resolved"
    if incident.status is IncidentStatus.RESOLVED and incident.resolved_at is not None:
        took = human_duration((incident.resolved_at - incident.opened_at).total_seconds())
        by = incident.resolved_by or "?"
        if by == "cure-watch":  # bot.oncall.cure_watch.ACTOR
            return f":white_check_mark: *Resolved* by stackbot after {took}: the cure held"
        who = f"<@{by}>" if by[:1] in "UW" and by.isalnum() else f"the alert ({by})"
        return f":white_check_mark: *Resolved* by {who} after {took}"
    took_ack = incident.time_to_acknowledge
    if incident.status is IncidentStatus.ACKNOWLEDGED and took_ack is not None:
        return (
            f":eyes: *Acknowledged* by <@{incident.acknowledged_by}> after "
            f"{human_duration(took_ack.total_seconds())}"
        )
    return ":rotating_light: *Not acknowledged yet*"


def _button(
    action: str, incident: Incident, label: str, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": f"{action}:{incident.id}",
        "text": _plain(label),
        "value": str(incident.id),
    }
    if style:
        button["style"] = style
    return button


def incident_message(
    incident: Incident, listing: Listing | None = None, *, watch: str | None = None
) -> SlackMessage:
    """The channel message: what, how bad, who is on call, its state, and the buttons.

    ``listing`` is what it holds: a group's alerts, or a storm digest's incidents
    (bounded: the counts, and the first few). ``watch``: the line about the watch of
    its latest cure (``bot.render.slack.cure.watch_line``), shown under its state.
    """
    emoji = SEVERITY_EMOJI[incident.severity]
    env = clip_escaped(incident.environment, 64)[0]
    severity = incident.severity.value.upper()
    if incident.is_digest:
        return _digest_message(incident, listing)
    blocks: list[dict[str, Any]] = [
        _section(f"{emoji} *{severity}* · `{env}` · *{_title(incident)}*"),
    ]
    if incident.summary:
        blocks.append(_section(clip_escaped(incident.summary, MAX_TEXT - 10)[0]))
    repeats = f" · {incident.alert_count} alerts" if incident.alert_count > 1 else ""
    if listing is not None and listing.total > 1:  # the listing counts them (not repeats)
        head = f"*{listing.total} alerts* in this group, {listing.open} firing:"
        blocks.append(_section(_listed(head, listing)))
        repeats = ""
    blocks.append(_context(_context_line(incident, f"{incident.source}{repeats}")))
    blocks.append(_section(_status_line(incident)))
    if watch:
        blocks.append(_section(watch))
    blocks.extend(_buttons(incident, ("Acknowledge", "Diagnose", "Resolve")))
    state = {"open": "", "acknowledged": " (acknowledged)", "resolved": " (resolved)"}
    text = f"{severity} {env}: {_title(incident)}{state[incident.status.value]}"
    if incident.oncall_user and incident.status is IncidentStatus.OPEN:
        text += f" · on call <@{incident.oncall_user}>"
    return _message(text, blocks)


def _digest_message(digest: Incident, listing: Listing | None) -> SlackMessage:
    """A storm's digest: the incidents beyond the environment's cap, counted and listed."""
    env = clip_escaped(digest.environment, 64)[0]
    count = listing.total if listing is not None else digest.alert_count
    more = f"+{count} more incident{'s' if count != 1 else ''}"
    blocks: list[dict[str, Any]] = [
        _section(
            f"{SEVERITY_EMOJI[digest.severity]} *{digest.severity.value.upper()}* · `{env}` · "
            f"*{more}* since {_time(digest.opened_at)} · {_title(digest)}: each is listed "
            "here instead of a message of its own"
        )
    ]
    if listing is not None and listing.items:
        head = f"{listing.open} of {listing.total} not resolved:"
        tail = f"`/stack incidents {env}` lists every one"
        blocks.append(_section(_listed(head, listing, tail)))
    blocks.append(_context(_context_line(digest, "alert storm digest")))
    blocks.append(_section(_status_line(digest)))
    blocks.extend(_buttons(digest, ("Acknowledge all", "Diagnose", "Resolve all")))
    state = {"open": "", "acknowledged": " (acknowledged)", "resolved": " (resolved)"}
    return _message(f"{env}: {more} (alert storm){state[digest.status.value]}", blocks)


def _listed(head: str, listing: Listing, tail: str = "") -> str:
    lines = [head]
    for item in listing.items:
        ref = f"`{item.ref}` " if item.ref else ""
        state = "" if item.open else " (resolved)"
        lines.append(
            f"{SEVERITY_EMOJI[item.severity]} {ref}{clip_escaped(item.title, 150)[0]}{state}"
        )
    rest = listing.total - len(listing.items)
    if rest > 0:
        lines.append(f"… and {rest} more" + (f": {tail}" if tail else ""))
    return "\n".join(lines)


def _context_line(incident: Incident, what: str) -> str:
    oncall = f"<@{incident.oncall_user}>" if incident.oncall_user else "nobody (no rotation)"
    return (
        f"On call: {oncall} · opened {_time(incident.opened_at)} · {what} · "
        f"incident `{incident.short_id}`"
    )


def _buttons(incident: Incident, labels: tuple[str, str, str]) -> list[dict[str, Any]]:
    ack, diagnose, resolve = labels
    buttons = []
    if incident.status is IncidentStatus.OPEN:
        buttons.append(_button(ACK, incident, ack, "primary"))
    if incident.status is not IncidentStatus.RESOLVED:
        buttons.append(_button(DIAGNOSE, incident, diagnose))
        buttons.append(_button(RESOLVE, incident, resolve))
    if not buttons:
        return []
    return [{"type": "actions", "block_id": f"incident:{incident.id}", "elements": buttons}]


def page_message(incident: Incident, *, step: str) -> SlackMessage:
    """A page: a direct message to a person (with Acknowledge), or the channel's last call."""
    waited = "" if step == "primary" else " and nobody has acknowledged it"
    mention = "<!channel> " if step == "channel" else ""
    text = (
        f"{mention}:rotating_light: *{incident.severity.value.upper()}* incident on "
        f"`{clip_escaped(incident.environment, 64)[0]}`: *{_title(incident)}* — opened "
        f"{_time(incident.opened_at)}{waited}. See {_channel(incident.channel)}."
    )
    blocks = [_section(text)]
    if step != "channel":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"page:{incident.id}",
                "elements": [_button(ACK, incident, "Acknowledge", "primary")],
            }
        )
    fallback = f"Paged: {incident.severity.value} incident on {incident.environment}"
    return _message(fallback, blocks)


def oncall_message(rows: Sequence[tuple[str, OnCallNow | None]]) -> SlackMessage:
    """``/stack oncall``: now, until when, next, the secondary, per environment."""
    lines: list[str] = []
    for env, now in rows:
        name = clip_escaped(env, 64)[0]
        if now is None:
            lines.append(f"*{name}*: no rotation configured")
            continue
        line = f"*{name}*: <@{now.primary}> until {_time(now.until)}"
        if now.override is not None:
            line += (
                f" (override by <@{now.override.created_by}>; the rotation has <@{now.scheduled}>)"
            )
        line += f" · next: <@{now.next_primary}> from {_time(now.until)}"
        line += f" · secondary: <@{now.secondary}>" if now.secondary else " · no secondary"
        lines.append(line)
    text = "\n".join(lines) or "No environment you can see has a rotation."
    return _message("Who is on call", [_section(text)])


def incidents_message(incidents: Sequence[Incident], now: datetime) -> SlackMessage:
    """``/stack incidents``: the open ones, most severe first, oldest first."""
    if not incidents:
        return _message("No open incidents", [_section(":white_check_mark: No open incidents.")])
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    lines = []
    for incident in sorted(incidents, key=lambda i: (order[i.severity], i.opened_at)):
        age = human_duration((now - incident.opened_at).total_seconds())
        state = (
            f"acknowledged by <@{incident.acknowledged_by}>"
            if incident.status is IncidentStatus.ACKNOWLEDGED
            else "*not acknowledged*"
        )
        lines.append(
            f"{SEVERITY_EMOJI[incident.severity]} `{incident.short_id}` "
            f"`{clip_escaped(incident.environment, 64)[0]}` {_title(incident)} — open {age}, "
            f"{state}"
        )
    blocks, chunk = [], ""
    for line in lines:  # a section holds 3,000 characters; a message 50 blocks
        if len(chunk) + len(line) + 1 > MAX_TEXT - 10:
            blocks.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    blocks.append(_section(chunk))
    if len(blocks) > 49:
        blocks = [*blocks[:48], _context(f"… and more: {len(incidents)} open incidents in all")]
    return _message(f"{len(incidents)} open incident(s)", blocks)


def notice(text: str) -> SlackMessage:
    """A short answer built by stackbot itself (mentions stay mentions)."""
    return _message(text, [_section(f":information_source: {text}")])
