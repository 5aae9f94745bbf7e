"""Fix buttons: a short verb-first label, and for a destructive fix a confirmation that
says what happens (the action and environment in its title, what stops and restarts,
the env keys that change, the snapshot taken, how to undo; the confirm button is the verb).

The words per action are in ``ACTIONS``; a label is the first of its candidates that
has every value it names and fits ``LABEL_LIMIT``, so a label is never cut.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.framework.action import Snapshot
from bot.model.findings import Finding, Fix
from bot.render.labels import short_name
from bot.render.slack.blocks import MAX_CONFIRM_BUTTON, MAX_CONFIRM_TEXT

__all__ = [
    "ACTIONS",
    "LABEL_LIMIT",
    "TITLE_LIMIT",
    "Confirmation",
    "button_label",
    "confirmation",
    "snapshot_confirmation",
]

LABEL_LIMIT = 30  # a button of 30 characters fits a phone's width beside nothing else
TITLE_LIMIT = 24  # a confirmation title longer than this is cut by Slack's dialog
ENV_SHORT = {"production": "prod", "staging": "stg", "development": "dev", "testing": "test"}


@dataclass(frozen=True)
class ActionWords:
    """How an action is said: the verb, label candidates (most specific first) and, for a
    destructive one, what stops, the snapshot and the undo. ``{name}`` fields come from
    the fix's parameters and the finding (``_values``)."""

    verb: str
    labels: tuple[str, ...]
    titles: tuple[str, ...] = ()  # shorter than the labels, for the dialog's title
    happens: str = ""
    snapshot: str = ""
    undo: str = ""


ACTIONS: dict[str, ActionWords] = {
    "network.connect": ActionWords(
        "Connect",
        (
            "Connect {who} to {target} network",
            "Connect {who} to {network}",
            "Connect {who} to network",
            "Connect to network",
        ),
    ),
    "container.recreate": ActionWords(
        "Recreate",
        ("Recreate {service}", "Recreate service"),
        happens="stops {service} and starts a new container from the current {env_file}",
        snapshot="the old container is kept, stopped, and put back if the new one fails",
        undo="put the old values back in {env_file} and recreate again",
    ),
    "container.restart": ActionWords(
        "Restart",
        ("Restart {who}", "Restart container"),
        happens="stops {container} and starts it again; requests in flight are lost",
        snapshot="none needed, nothing is deleted",
        undo="nothing to undo; it is watched until it stays up",
    ),
    "volume.restore": ActionWords(
        "Restore",
        ("Restore data volume",),
        titles=("Restore {service} data",),
        happens="stops {container}, replaces what {current} holds with a copy of {volume}, "
        "starts {container} again",
        snapshot="{current} is archived first; {volume} is only read",
        undo="the result names the archive, put back the same way if it fails",
    ),
    "volume.backup": ActionWords("Back up", ("Back up {volume}", "Back up volume")),
    "volume.unarchive": ActionWords(
        "Restore",
        ("Restore this snapshot", "Restore snapshot"),
        titles=("Restore snapshot",),
        happens="stops what uses {volume}, puts {archive} back into it (sha256 checked "
        "first) and starts it again",
        snapshot="what {volume} holds now is archived first",
        undo="restore that archive, the result offers it",
    ),
    "db.create": ActionWords("Create", ("Create database {database}", "Create database")),
    "db.migrate": ActionWords(
        "Migrate",
        ("Run migrations",),
        happens="runs the migrations of {stack} in its app container; the schema changes",
        snapshot="the database is backed up first",
        undo="restore the backup the result names",
    ),
    "docker.prune": ActionWords(
        "Prune",
        ("Prune Docker leftovers",),
        happens="removes stopped containers, dangling images and build cache; never volumes",
        snapshot="none, what is removed is gone",
        undo="compose recreates a removed container on the next up",
    ),
    "volumes.list": ActionWords("List", ("List volumes",)),
    "disk.check": ActionWords("Check", ("Check disk usage",)),
}
# A finding that names the thing better than the fix does.
LABEL_FOR = {("volume.orphaned_data", "volume.backup"): ("Back up old data volume",)}
_FIELD = re.compile(r"\{(\w+)\}")


def _values(finding: Finding, fix: Fix) -> dict[str, str]:
    """What ``{field}``s may name: the fix's parameters, in the finding's words."""
    s, p = finding.subject, fix.params
    values = {k: str(v) for k, v in p.items() if isinstance(v, str | int) and v != ""}
    container = values.get("container")
    mine = container is None or container == s.container
    who = (s.service or s.container) if mine else container
    if who:
        values["who"] = who
    service = values.get("service") or (s.service if mine else None) or container
    if service:
        values["service"] = service
    hostnames = finding.evidence.get("hostnames")
    if mine and isinstance(hostnames, list) and hostnames:
        values["target"] = hostnames[0]
    if "network" in values:
        values["network"] = short_name(values["network"], s.project)
    if "stack" not in values and s.project:
        values["stack"] = s.project
    if "database" not in values and s.database:
        values["database"] = s.database
    current = finding.evidence.get("current_volume")
    if isinstance(current, str):
        values["current"] = current
    files = finding.evidence.get("env_files")
    values["env_file"] = (
        posixpath.basename(files[0]) if isinstance(files, list) and files else "env file"
    )
    return values


def _fill(template: str, values: Mapping[str, str]) -> str | None:
    names = _FIELD.findall(template)
    if any(name not in values for name in names):
        return None
    return _FIELD.sub(lambda m: values[m.group(1)], template)


def _words(fix: Fix) -> ActionWords:
    known = ACTIONS.get(fix.action)
    if known is not None:
        return known
    name = re.sub(r"[._]+", " ", fix.action).strip()
    summary = " ".join(fix.summary.split())
    said = summary[:1].upper() + summary[1:]
    labels = (*(x for x in (said, f"Run {name}") if x.strip()), "Apply fix")
    return ActionWords("Apply", labels)


def button_label(finding: Finding, fix: Fix) -> str:
    """A verb-first label of at most ``LABEL_LIMIT`` characters, never cut."""
    values = _values(finding, fix)
    candidates = LABEL_FOR.get((finding.code, fix.action), ()) + _words(fix).labels
    for template in candidates:
        label = _fill(template, values)
        if label is not None and len(label) <= LABEL_LIMIT:
            return label
    return _words(fix).verb


@dataclass(frozen=True)
class Confirmation:
    title: str
    text: str
    confirm: str


def _env_short(env: str) -> str:
    short = ENV_SHORT.get(env.lower())
    if short is not None:
        return short
    return env if len(env) <= 8 else env[:7] + "…"


def _title(verb: str, labels: list[str], env: str) -> str:
    """ "Recreate api in prod?": the action and the environment, abbreviated to fit."""
    short = _env_short(env)
    for what in [*labels, verb]:
        for candidate in (f"{what} in {env}?", f"{what} in {short}?", f"{what} ({short})?"):
            if len(candidate) <= TITLE_LIMIT:
                return candidate
    return f"{verb}?"[:TITLE_LIMIT]


def _changed_keys(finding: Finding) -> list[str]:
    keys: list[str] = []
    for name in ("keys_changed", "keys_added", "missing_keys", "empty_keys"):
        value = finding.evidence.get(name)
        if isinstance(value, list):
            keys += [k for k in value if k not in keys]
    return keys


def _keys_text(keys: list[str], budget: int) -> str:
    """As many key names as fit in ``budget`` characters, then "and N more"."""
    for shown in range(len(keys), 0, -1):
        rest = len(keys) - shown
        text = ", ".join(keys[:shown]) + (f" and {rest} more" if rest else "")
        if len(text) <= budget:
            return text
    return f"{len(keys)} keys"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def confirmation(finding: Finding, fix: Fix, environment: str) -> Confirmation:
    """The dialog of a destructive fix, within Slack's limits (title, 300-character text)."""
    words = _words(fix)
    values = _values(finding, fix)
    titles = [t for t in (_fill(x, values) for x in words.titles) if t]
    where = [environment]
    if values.get("stack"):
        where.append(f"stack {values['stack']}")
    if values.get("service") and ({"container", "service"} & set(fix.params)):
        where.append(f"service {values['service']}")
    head = " · ".join(where) + ": "
    happens = _fill(words.happens, values) or (fix.summary or fix.action)
    snapshot = _fill(words.snapshot, values) or "none, stackbot cannot undo it"
    undo = _fill(words.undo, values) or ""
    keys = _changed_keys(finding)
    tail = f" Snapshot: {snapshot}." + (f" Undo: {undo}." if undo else "")
    body = head + happens[:1].upper() + happens[1:] + "."
    if keys:
        budget = MAX_CONFIRM_TEXT - len(body) - len(tail) - len(" Keys that change: .")
        body += f" Keys that change: {_keys_text(keys, max(budget, 20))}."
    text = body + tail
    if len(text) > MAX_CONFIRM_TEXT:  # drop the undo, then cut what happens
        text = body + f" Snapshot: {snapshot}."
    return Confirmation(
        title=_title(words.verb, [*titles, button_label(finding, fix)], environment),
        text=_cut(text, MAX_CONFIRM_TEXT),
        confirm=words.verb[:MAX_CONFIRM_BUTTON],
    )


def snapshot_confirmation(snapshot: Snapshot, environment: str) -> Confirmation:
    """The dialog of "Restore this snapshot" (a result thread's button, no finding)."""
    words = ACTIONS[Snapshot.RESTORE]
    values = {"volume": snapshot.volume, "archive": snapshot.archive}
    happens = _fill(words.happens, values) or ""
    body = f"{environment}: {happens[:1].upper()}{happens[1:]}."
    text = f"{body} Snapshot: {_fill(words.snapshot, values)}. Undo: {_fill(words.undo, values)}."
    if len(text) > MAX_CONFIRM_TEXT:  # drop the undo, then cut what happens
        text = f"{body} Snapshot: {_fill(words.snapshot, values)}."
    return Confirmation(
        title=_title(words.verb, [*words.titles, *words.labels], environment),
        text=_cut(text, MAX_CONFIRM_TEXT),
        confirm=words.verb[:MAX_CONFIRM_BUTTON],
    )
