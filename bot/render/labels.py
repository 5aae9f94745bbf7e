"""Readable words for findings: evidence labels and values, names, sentences, what to do.

The catalogue every chat surface takes its wording from, so a report says
"Old volume size 72.7 MB", never ``orphaned_volume_size 72744892``:

- ``evidence_label(key)`` / ``evidence_value(key, value, now)``: a field's label
  and its value for people (sizes, ages, percentages, yes/no; times in UTC
  minutes; 64-hex ids cut to 12). Keys not in the catalogue are humanised
  (``target_states`` → "Target states"), never shown raw.
- ``finding_name(code)``: what a code is called ("Network split").
- ``sentence(finding, now)``: one plain sentence, as (headline, detail).
- ``guidance(finding)``: the one-line "what to do" shown when no button is.
- ``related_notes(findings)``: a finding whose fix should wait for another's
  ("restore the data first"), and ``cause_rank(code)``: causes before effects.

Plain text in, plain text out: the renderer escapes it for its surface.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model.findings import EvidenceValue, Finding
from bot.model.units import human_duration, human_size

__all__ = [
    "EVIDENCE_LABELS",
    "FINDING_NAMES",
    "PROSE_KEYS",
    "Related",
    "cause_rank",
    "evidence_label",
    "evidence_value",
    "finding_name",
    "guidance",
    "readable",
    "related_notes",
    "sentence",
    "short_name",
]

# --------------------------------------------------------------------------- evidence

EVIDENCE_LABELS: dict[str, str] = {
    "address": "Address",
    "addresses": "Addresses",
    "advice": "Advice",
    "age_hours": "Age",
    "anonymous_volume_mounts": "Anonymous volumes",
    "app_container": "App container",
    "app_container_created": "App created",
    "available": "Free",
    "booted_at": "Booted",
    "cluster_initialized_at": "Database created",
    "command": "Command",
    "compose_files": "Compose files",
    "compose_project": "Compose project",
    "compose_service_running": "Compose service running",
    "compose_volume": "Volume in compose file",
    "config_keys": "Settings read",
    "config_keys_from_db": "Settings from the database service",
    "config_source": "Database settings from",
    "configured_found": "Configured project runs",
    "configured_project": "Configured project",
    "container": "Container",
    "container_created": "Container created",
    "container_names": "Container names used",
    "container_networks": "Its networks",
    "containers": "Containers",
    "count": "Count",
    "created": "Created",
    "created_note": "Note",
    "current_cluster_initialized": "Current database created",
    "current_containers": "Current containers",
    "current_created": "Current created",
    "current_project": "Current project",
    "current_volume": "Current volume",
    "current_volume_created": "Current volume last changed",
    "current_volume_size": "Current volume size",
    "current_volumes": "Current volumes",
    "data_dir": "Data directory",
    "database": "Database",
    "database_init_keys_only": "Only database init settings",
    "db_container": "Database container",
    "db_container_state": "Database container state",
    "declared": "In the inventory",
    "dependants": "Used by",
    "docker_reclaimable": "Docker could free",
    "docker_root_dir": "Docker data",
    "empty_keys": "Empty settings",
    "env_file_source": "Env file from",
    "env_files": "Env files",
    "environment": "Environment",
    "error": "Error",
    "exit_code": "Exit code",
    "failing_streak": "Failed checks in a row",
    "finished_at": "Stopped",
    "healthcheck": "Health check",
    "holds_docker_root": "Holds Docker's data",
    "hostname": "Host name used",
    "hostnames": "Host names used",
    "image": "Image",
    "in_env_file": "In the env file",
    "inodes_percent": "Inodes used",
    "inodes_total": "Inodes",
    "inodes_used": "Inodes in use",
    "keys": "Settings",
    "keys_added": "Settings added",
    "keys_changed": "Settings changed",
    "last_checked_at": "Last checked",
    "last_exit_code": "Last check exit code",
    "last_finished_at": "Last stopped",
    "last_log_lines": "Last log lines",
    "last_output": "Last check said",
    "loads_whole_file": "Loads the whole file",
    "match": "Why it matches",
    "matched_by": "Matched by",
    "matched_container": "Matching container",
    "matched_project": "Matching project",
    "matched_service": "Matching service",
    "memory_limit": "Memory limit",
    "message": "Message",
    "migrate_command_configured": "Migrations configured",
    "migrate_guidance": "Migrations",
    "minutes_after": "Created after the app by",
    "missing_keys": "Missing settings",
    "mount": "Filesystem",
    "mounts": "Mounts",
    "names": "Names",
    "network_mode": "Network mode",
    "networks": "Networks",
    "newest_line": "Newest line",
    "not_on_host": "Not on this host",
    "on_other_networks": "On other networks",
    "oom_killed": "Out of memory",
    "order": "Order",
    "orphaned_volume": "Old volume",
    "orphaned_volume_created": "Old volume last changed",
    "orphaned_volume_project": "Old volume's project",
    "orphaned_volume_size": "Old volume size",
    "other_containers": "Other containers",
    "output_tail": "Output",
    "paths": "Paths",
    "percent": "Used",
    "port": "Port",
    "project": "Project",
    "projects": "Projects",
    "recreated_with": "Recreated with",
    "references": "References",
    "relation": "Related by",
    "required_keys": "Required settings",
    "resolves_in_container": "Name resolves inside",
    "restart_count": "Restarts",
    "restart_policy": "Restart policy",
    "running": "Running",
    "running_project": "Running under project",
    "seen_by": "Seen by",
    "service": "Service",
    "service_names": "Service names",
    "services": "Services",
    "services_defined": "Services in the compose files",
    "size": "Size",
    "sqlstate": "SQL state",
    "stack": "Stack",
    "started_at": "Started",
    "state": "State",
    "states": "States",
    "status": "Status",
    "stopped": "Stopped",
    "storage": "Storage",
    "tables": "Tables",
    "target_networks": "Target's networks",
    "target_services": "Target services",
    "target_states": "Target state",
    "targets": "Targets",
    "total_size": "Total size",
    "unfinished": "Unfinished checks",
    "uptime_seconds": "Up for",
    "used": "Used",
    "user": "User",
    "volume": "Volume",
    "volume_size": "Volume size",
    "volumes": "Volumes",
    "working_dir": "Directory",
}
# Sentences rather than values: shown as lines of text under the fields.
PROSE_KEYS = frozenset({"advice", "created_note", "match", "migrate_guidance", "order", "relation"})
SIZE_KEYS = frozenset(
    {"available", "docker_reclaimable", "memory_limit", "size", "total_size", "used"}
    | {"mem_total", "mem_available", "swap_total", "swap_used", "logs_total", "threshold"}
)
# how long: the value times these seconds
DURATION_KEYS = {"uptime_seconds": 1.0, "age_hours": 3600.0, "minutes_after": 60.0}
PERCENT_KEYS = frozenset(
    {"percent", "inodes_percent", "available_percent", "swap_percent", "filesystem_percent"}
)

_ISO = re.compile(
    r"\b(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)?(?![\d:])"
)
_HEX64 = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")
_SNAKE = re.compile(r"_+")


def evidence_label(key: str) -> str:
    """The catalogue's label, or ``key`` in words: never a snake_case key."""
    label = EVIDENCE_LABELS.get(key)
    if label is not None:
        return label
    words = _SNAKE.sub(" ", key).strip() or "Value"
    return words[:1].upper() + words[1:]


def _when(text: str) -> datetime | None:
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    day, minute, zone = match.groups()
    try:
        offset = "+00:00" if zone in (None, "Z") else zone
        moment = datetime.fromisoformat(f"{day}T{minute}{offset}")
    except ValueError:
        return None
    return moment.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_text(moment: datetime, now: datetime | None) -> str:
    shown = f"{moment:%Y-%m-%d %H:%M} UTC"
    if now is None:
        return shown
    delta = (_utc(now) - moment).total_seconds()
    if delta >= 0:
        return f"{shown} ({human_duration(delta)} ago)"
    return shown


def readable(text: str, now: datetime | None = None) -> str:
    """Free text with times in UTC minutes and 64-hex ids cut to 12 (``f56f850c77b0…``)."""

    def when(match: re.Match[str]) -> str:
        moment = _when(match.group(0))
        return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else match.group(0)

    return _HEX64.sub(r"\1…", _ISO.sub(when, text))


def evidence_value(key: str, value: EvidenceValue, now: datetime | None = None) -> str | None:
    """``value`` for people; None when there is nothing to show (unset, empty list)."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if key in SIZE_KEYS or key.endswith("_size"):
            return human_size(int(value)) if value >= 0 else "unknown"
        if key in DURATION_KEYS:
            return human_duration(float(value) * DURATION_KEYS[key])
        if key in PERCENT_KEYS:
            return f"{value:.0f} %"
        return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(value)
    if isinstance(value, list):
        return ", ".join(readable(item, now) for item in value)
    moment = _when(value)
    if moment is not None:
        return _time_text(moment, now)
    return readable(value, now)


# --------------------------------------------------------------------------- names

FINDING_NAMES: dict[str, str] = {
    "host.unreachable": "Host unreachable",
    "host.key_mismatch": "Host key changed",
    "docker.unreachable": "Docker not answering",
    "host.recent_reboot": "Recent reboot",
    "disk.low": "Disk nearly full",
    "disk.inodes_low": "Inodes nearly used up",
    "diagnose.incomplete": "Diagnosis incomplete",
    "container.down": "Service down",
    "container.restarting": "Restart loop",
    "container.unhealthy": "Unhealthy container",
    "container.oom_killed": "Out of memory",
    "container.recently_recreated": "Recently recreated",
    "compose.project_mismatch": "Outside its compose project",
    "compose.orphan_container": "Left-over container",
    "compose.env_collision": "Environments collide",
    "compose.config_stale": "Compose change not applied",
    "compose.no_healthcheck": "No health check",
    "network.split": "Network split",
    "network.unresolvable_host": "Name does not resolve",
    "network.container_name_reference": "Refers to a container name",
    "network.localhost_reference": "Points at localhost",
    "network.ip_reference": "Points at a container IP",
    "dns.resolution_failed": "Proxy cannot resolve",
    "volume.orphaned_data": "Data left in an old volume",
    "volume.project_prefixed": "Volume named after the project",
    "volume.ephemeral_data": "Data that a recreate loses",
    "volume.unused": "Unused volumes",
    "db.unreachable": "Database not answering",
    "db.missing": "Database missing",
    "db.empty": "Database empty",
    "db.migrations_pending": "Migrations pending",
    "db.reinitialized": "Database re-created",
    "env.drift": "Older env file",
    "env.missing_required": "Required setting missing",
    "container.port_allocated": "Host port taken",
    "compose.port_collision": "Two stacks want one port",
    "container.image_stale": "Newer image not applied",
    "container.bind_source_missing": "Bind mount source missing",
    "env.file_missing": "Env file missing",
    "disk.logs_unrotated": "Logs without rotation",
    "compose.run_leftover": "Left-over compose run",
    "network.label_mismatch": "Network without compose labels",
    "host.memory_pressure": "Memory short",
    "network.stale_upstream": "Proxy uses an old address",
    "db.connections_exhausted": "Database out of connections",
    "db.lock_blocking": "Database lock blocking",
    "volume.nearly_full": "Database volume nearly full",
}

# Causes before effects: where several findings stand, the one to act on first comes
# first (within a severity). Codes not listed come after these, by code.
CAUSE_ORDER = (
    "host.key_mismatch",
    "host.unreachable",
    "docker.unreachable",
    "diagnose.incomplete",
    "disk.low",
    "disk.inodes_low",
    "volume.orphaned_data",
    "volume.ephemeral_data",
    "db.reinitialized",
    "compose.env_collision",
    "host.memory_pressure",
    "compose.port_collision",
    "container.port_allocated",
    "container.bind_source_missing",
    "env.file_missing",
    "network.split",
    "network.unresolvable_host",
    "dns.resolution_failed",
    "network.stale_upstream",
    "db.unreachable",
    "db.missing",
    "db.empty",
    "db.migrations_pending",
    "env.missing_required",
    "env.drift",
    "container.down",
    "container.restarting",
    "container.unhealthy",
)


def finding_name(code: str) -> str:
    """What ``code`` is called; an unknown code in words ("Logs error")."""
    name = FINDING_NAMES.get(code)
    if name is not None:
        return name
    words = re.sub(r"[._]+", " ", code).strip() or "Finding"
    return words[:1].upper() + words[1:]


def cause_rank(code: str) -> int:
    return CAUSE_ORDER.index(code) if code in CAUSE_ORDER else len(CAUSE_ORDER)


def short_name(name: str, project: str | None = None) -> str:
    """``indexo-staging_internal`` → ``internal``: a name without its project prefix."""
    if project and name.startswith(f"{project}_") and len(name) > len(project) + 1:
        return name[len(project) + 1 :]
    return name


# --------------------------------------------------------------------------- sentences


def _text(finding: Finding, key: str) -> str | None:
    value = finding.evidence.get(key)
    if value is None or value == []:
        return None
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _int(finding: Finding, key: str) -> int | None:
    value = finding.evidence.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(finding: Finding, key: str) -> str | None:
    value = _int(finding, key)
    return human_size(value) if value is not None and value >= 0 else None


def who(finding: Finding) -> str:
    """The thing a finding is about, by its shortest readable name."""
    s = finding.subject
    return s.service or s.container or s.project or s.database or s.host or "the environment"


def _ago(finding: Finding, key: str, now: datetime | None) -> str:
    text = _text(finding, key)
    moment = _when(text) if text else None
    if moment is None or now is None or moment > _utc(now):
        return ""
    return f" {human_duration((_utc(now) - moment).total_seconds())} ago"


def _strings(finding: Finding, key: str) -> list[str]:
    value = finding.evidence.get(key)
    return [v for v in value if v] if isinstance(value, list) else []


def _keys(finding: Finding, *keys: str, limit: int = 3) -> str:
    names = [name for key in keys for name in _strings(finding, key)]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


def _first_clause(title: str, limit: int = 160) -> str:
    head = title.split(": ", 1)[0]
    if len(head) <= limit:
        return head
    cut = head[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _network_split(f: Finding, now: datetime | None) -> tuple[str, str]:
    hosts = _text(f, "hostnames") or "its database"
    return f"{who(f)} cannot reach {hosts}", "they share no network"


def _orphaned(f: Finding, now: datetime | None) -> tuple[str, str]:
    old, old_size = _text(f, "orphaned_volume"), _size(f, "orphaned_volume_size")
    current, size = _text(f, "current_volume"), _size(f, "current_volume_size")
    detail = f"{old}{f' ({old_size})' if old_size else ''} is mounted by nothing"
    if current:
        detail += f"; {who(f)} now runs on {current}{f' ({size})' if size else ''}"
    return "The database's data was left in an old volume", detail


def _down(f: Finding, now: datetime | None) -> tuple[str, str]:
    if "services" in f.evidence and "service" not in f.evidence:
        return f"Stack {f.subject.project or who(f)} is stopped", "none of its services runs"
    state, code = _text(f, "state"), _int(f, "exit_code")
    if state == "created":
        return f"{who(f)} is down", "created but never started"
    how = "ran out of memory" if f.evidence.get("oom_killed") is True else f"exited ({code})"
    return f"{who(f)} is down", how + _ago(f, "finished_at", now)


def _unhealthy(f: Finding, now: datetime | None) -> tuple[str, str]:
    streak = _int(f, "failing_streak")
    said = (_text(f, "last_output") or "").strip().splitlines()
    last = said[-1] if said else ""
    if len(last) > 60:
        last = last[:59].rsplit(" ", 1)[0] + " …"
    detail = f"{streak} failed health checks" if streak else "its health check fails"
    return f"{who(f)} is unhealthy", detail + (f": “{last}”" if last else "")


def _env_drift(f: Finding, now: datetime | None) -> tuple[str, str]:
    files = [posixpath.basename(p) for p in _strings(f, "env_files")]
    changed = _keys(f, "keys_changed", "keys_added")
    what = f"{', '.join(files) or 'its env file'} changed since it started"
    return f"{who(f)} runs with an older {', '.join(files) or 'env file'}", (
        f"{changed} changed" if changed else what
    )


def _disk(f: Finding, now: datetime | None) -> tuple[str, str]:
    percent = f.evidence.get("percent")
    shown = f"{percent:.0f} %" if isinstance(percent, int | float) else "nearly"
    free = _size(f, "available")
    reclaim = _size(f, "docker_reclaimable")
    parts = [f"{free} free" if free else "", f"Docker could free {reclaim}" if reclaim else ""]
    detail = ", ".join(part for part in parts if part)
    return f"The disk of {f.subject.host or 'the host'} is {shown} full", detail


_SENTENCES: dict[str, Callable[[Finding, datetime | None], tuple[str, str]]] = {
    "network.split": _network_split,
    "volume.orphaned_data": _orphaned,
    "container.down": _down,
    "container.unhealthy": _unhealthy,
    "env.drift": _env_drift,
    "disk.low": _disk,
}
# Codes whose sentence needs only the subject and a little evidence: (headline, detail)
# templates filled with ``who``, ``host``, ``project`` and evidence values by key.
_TEMPLATES: dict[str, tuple[str, str]] = {
    "host.unreachable": ("{host} cannot be reached", "SSH does not answer"),
    "host.key_mismatch": ("{host} presented an unknown SSH host key", "stackbot will not connect"),
    "docker.unreachable": ("Docker on {host} does not answer", "the host itself answers"),
    "host.recent_reboot": ("{host} rebooted recently", ""),
    "disk.inodes_low": ("{host} is running out of inodes", "{inodes_percent} used on {mount}"),
    "diagnose.incomplete": ("The diagnosis of {host} did not finish", "checks ran out of time"),
    "container.restarting": ("{who} keeps restarting", "{restart_count} restarts"),
    "container.oom_killed": ("{who} ran out of memory", "the kernel killed it"),
    "container.recently_recreated": ("{who} was recreated recently", "check which volume it uses"),
    "compose.orphan_container": ("{container} is left over from an earlier deployment", ""),
    "compose.config_stale": ("{who} runs an older compose config", "the change was never applied"),
    "compose.no_healthcheck": ("{who} has no health check", "others cannot wait for it"),
    "network.unresolvable_host": ("{who} cannot resolve {hostnames}", ""),
    "network.container_name_reference": (
        "{who} refers to a container by name",
        "it breaks when that container is renamed",
    ),
    "network.localhost_reference": ("{who} points at localhost", "that is the container itself"),
    "network.ip_reference": ("{who} points at a container IP", "it changes on every recreate"),
    "dns.resolution_failed": ("{who} cannot resolve its upstream", "{count} errors in its log"),
    "volume.project_prefixed": (
        "{who}'s data volume is named after the project",
        "under another project name compose starts an empty one",
    ),
    "volume.ephemeral_data": ("{who} keeps its data where a recreate loses it", "{storage}"),
    "volume.unused": ("{count} volumes are mounted by nothing", "{total_size} in all"),
    "db.unreachable": ("The database of {stack} does not answer", ""),
    "db.missing": ("Database {database} does not exist", "the app cannot start without it"),
    "db.empty": ("Database {database} has no tables", "its migrations never ran"),
    "db.migrations_pending": ("{stack} has migrations to run", ""),
    "db.reinitialized": ("The database of {stack} was re-created", "its data was probably lost"),
    "env.missing_required": ("{who} lacks required settings", "{missing_keys}"),
    "db.connections_exhausted": (
        "The database of {stack} is out of connections",
        "{in_use} in use of {available}",
    ),
    "db.lock_blocking": (
        "A session blocks the database of {stack}",
        "{waiting} waiting on pid {blocker_pid} ({blocker_state})",
    ),
    "volume.nearly_full": ("{who}'s data volume is nearly full", "{percent} % used"),
    "container.port_allocated": ("{who} cannot start", "host port {port} is already taken"),
    "compose.port_collision": ("Two stacks publish host port {ports}", "only one can run"),
    "container.image_stale": ("{who} runs an older image", "{image} now points to a newer one"),
    "container.bind_source_missing": (
        "{who} mounts a path that did not exist",
        "Docker created {path} empty",
    ),
    "env.file_missing": ("{who} names an env file that is not there", "{paths}"),
    "disk.logs_unrotated": ("Container logs grow without rotation", "{largest_logs}"),
    "compose.run_leftover": ("compose run left containers in {project}", "{containers}"),
    "network.label_mismatch": (
        "Network {network} lacks compose's labels",
        "the next compose up fails",
    ),
    "host.memory_pressure": ("{host} is short of memory", "{available_percent} available"),
    "network.stale_upstream": (
        "{who} sends requests to an old address",
        "{upstream} was recreated after it started",
    ),
}
_FIELD = re.compile(r"\{(\w+)\}")


def _fill(
    template: str,
    finding: Finding,
    now: datetime | None,
    defaults: dict[str, str] | None = None,
) -> str | None:
    """``template`` with its fields (evidence first, then the subject, then
    ``defaults``); None when one has no value."""
    s = finding.subject
    subject = {
        "who": who(finding),
        "host": s.host,
        "project": s.project,
        "container": s.container,
        "stack": s.project,
        "database": s.database,
    }
    missing = False

    def field(match: re.Match[str]) -> str:
        nonlocal missing
        key = match.group(1)
        found = evidence_value(key, finding.evidence.get(key), now) or subject.get(key)
        found = found or (defaults or {}).get(key)
        if found is None:
            missing = True
            return ""
        return found

    text = _FIELD.sub(field, template)
    return None if missing else text


def sentence(finding: Finding, now: datetime | None = None) -> tuple[str, str]:
    """(headline, detail) in plain words: "backend cannot reach db", "they share no network".

    Unknown codes (and templates lacking a value) fall back to the title's first
    clause, with times and ids made readable.
    """
    make = _SENTENCES.get(finding.code)
    if make is not None:
        headline, detail = make(finding, now)
        return readable(headline, now), readable(detail, now)
    template = _TEMPLATES.get(finding.code)
    filled = _fill(template[0], finding, now) if template is not None else None
    if template is not None and filled is not None:
        detail = _fill(template[1], finding, now) or ""
        return readable(filled, now), readable(detail, now)
    return readable(_first_clause(finding.title), now), ""


# --------------------------------------------------------------------------- what to do

_GUIDANCE: dict[str, str] = {
    "host.unreachable": "Check that {host} is up and its SSH port answers.",
    "host.key_mismatch": "Verify the new host key with whoever runs {host}, then update "
    "known_hosts.",
    "docker.unreachable": "Start Docker on {host} (systemctl start docker).",
    "diagnose.incomplete": "Diagnose again; if it keeps running out of time, give it a longer "
    "deadline.",
    "disk.low": "Free space on {host}: old images, build cache and logs are the usual suspects.",
    "disk.inodes_low": "Remove many small files on {host} (build cache, logs, sessions).",
    "container.down": "Read its last log lines in the thread, then start it.",
    "container.restarting": "Read its last log lines in the thread: a restart will not cure it.",
    "container.unhealthy": "Read its health check output in the thread; restart only if stuck.",
    "container.oom_killed": "Give {who} more memory, or find what makes it grow.",
    "compose.env_collision": "Give each environment its own names, ports, volumes and env file.",
    "network.split": "Connect {who} to the network where {hostnames} answers.",
    "network.unresolvable_host": "Start what answers to {hostnames}, or fix the name in {keys}.",
    "dns.resolution_failed": "Start the proxy's upstream, or fix its name in the proxy config.",
    "volume.orphaned_data": "Back up the old volume, then restore it into the database's volume.",
    "volume.ephemeral_data": "Back up the data, then give the database a named volume.",
    "db.unreachable": "Check that the database container runs and accepts connections.",
    "db.missing": "Create database {database}, then run the migrations.",
    "db.empty": "Run the migrations of {stack}.",
    "db.reinitialized": "Find the old data (volumes, backups) before anything writes more.",
    "env.drift": "Recreate {who} so it loads its env file.",
    "env.missing_required": "Add {missing_keys} to the env file, then recreate {who}.",
    "container.port_allocated": "Free the host port {who} publishes, then start it.",
    "compose.port_collision": "Give one of them another host port, or stop the one not needed.",
    "container.bind_source_missing": "Put what its bind mount names in place, then recreate {who}.",
    "env.file_missing": "Create the env file the compose file names, then deploy again.",
    "host.memory_pressure": "Find what uses the memory on {host} (docker stats) and limit it.",
    "network.stale_upstream": "Restart {who} so it resolves its upstream again.",
    "container.image_stale": "Recreate {who} from the new image (compose up -d).",
    "disk.logs_unrotated": "Set max-size on json-file logs, then recreate the services.",
    "compose.run_leftover": "Remove the containers compose run left (docker rm).",
    "network.label_mismatch": "Declare the network external, or let compose recreate it.",
    "db.connections_exhausted": "Restart what holds the connections, then cap its pool.",
    "db.lock_blocking": "End the blocking session (pg_terminate_backend), then migrate.",
    "volume.nearly_full": "Free space in the database's volume, or give it a larger one.",
}
_ADVICE_KEYS = ("advice", "migrate_guidance")
# Words for a value the finding lacks, so the line still reads.
_SOMETHING = {
    "host": "the host",
    "hostnames": "the name it uses",
    "keys": "its settings",
    "missing_keys": "the missing settings",
    "database": "the database",
    "stack": "the stack",
}


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def guidance(finding: Finding) -> str | None:
    """One line saying what to do: the finding's own advice, else the catalogue's."""
    for key in _ADVICE_KEYS:
        advice = finding.evidence.get(key)
        if isinstance(advice, str) and advice:
            line = _one_line(advice)
            return line[:1].upper() + line[1:] + ("" if line.endswith((".", "…")) else ".")
    template = _GUIDANCE.get(finding.code)
    if template is None:
        return None
    return _fill(template, finding, None, _SOMETHING)


# --------------------------------------------------------------------------- related


@dataclass(frozen=True)
class Related:
    """``dependent``'s fix should wait for ``first``'s, on the same stack (or container)."""

    dependent: str
    first: str
    note: str
    same_container: bool = False


RELATED: tuple[Related, ...] = (
    Related(
        "network.split",
        "volume.orphaned_data",
        "Fix the data first: connected now, the app would use the new, nearly empty database.",
    ),
    Related(
        "db.empty",
        "volume.orphaned_data",
        "Fix the data first: migrations would build an empty schema on the new volume.",
    ),
    Related(
        "db.missing",
        "volume.orphaned_data",
        "Fix the data first: a new database would hide where the data went.",
    ),
    Related(
        "container.unhealthy",
        "network.split",
        "Probably the network split: connect first, restart only if it stays unhealthy.",
        same_container=True,
    ),
    Related(
        "container.restarting",
        "network.split",
        "Probably the network split: connect first.",
        same_container=True,
    ),
    Related("container.down", "db.empty", "Its database has no tables: run the migrations first."),
    Related("container.down", "db.missing", "Its database is missing: create it first."),
)


def _same(a: Finding, b: Finding, rule: Related) -> bool:
    if a.subject.host != b.subject.host or a.subject.project != b.subject.project:
        return False
    if rule.same_container:
        return a.subject.container is not None and a.subject.container == b.subject.container
    return a.subject.project is not None


def related_notes(findings: Sequence[Finding]) -> dict[int, tuple[str, int]]:
    """For a finding (by index) whose fix should wait: (the note, the index of the first)."""
    notes: dict[int, tuple[str, int]] = {}
    for i, dependent in enumerate(findings):
        for rule in RELATED:
            if rule.dependent != dependent.code:
                continue
            first = next(
                (
                    j
                    for j, other in enumerate(findings)
                    if other.code == rule.first and _same(dependent, other, rule)
                ),
                None,
            )
            if first is not None:
                notes[i] = (rule.note, first)
                break
    return notes
