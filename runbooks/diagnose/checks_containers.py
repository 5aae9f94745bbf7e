"""Container checks: down, restart loops, failing health checks, OOM kills, recent recreation.

Which containers are judged: every non one-off container of a compose stack
(``compose run`` containers are never judged), and unmanaged containers
(started with ``docker run``) only while they run: a stopped container nobody
manages is a leftover, not an outage.

Rules, all against ``facts.now``:

- ``container.down`` (critical): a compose service none of whose containers
  runs (exited, dead, created); evidence includes the newest container's last
  log lines (``last_log_lines``: at most 20, each cut to 300 characters, 3000
  in all, redacted; for a whole project down, the last 5 of each container).
  A service whose containers all exited 0 with restart policy ``no`` or
  ``on-failure`` is a finished one-shot job
  (migrations, seeding) and is not down. When no service of a project runs at
  all, the project gets one finding instead of one per service; such a project
  is skipped when it is undeclared and its last container stopped more than 7
  days ago (a stack somebody stopped on purpose, not an outage). Services
  that ``compose.orphan_container`` reports as left over from an earlier
  deployment, or that the project's compose files no longer define, are not
  down: they were replaced (seed 000) or removed (seed 002). Declared
  stacks with no container on the host are left to the compose checks.
- ``container.restarting`` (critical): Docker says it is restarting, or it
  runs but Docker restarted it at least 3 times and the last start was under
  10 minutes ago (a loop caught while up). Evidence: its last log lines, as for
  ``container.down``.

The gathering step reads those log lines (``wants_logs``: one ``docker logs
--tail 20`` per container that may be down or restarting; a proxy's longer tail,
read anyway, serves instead).
- ``container.unhealthy`` (critical): running, health status ``unhealthy``.
  (A stopped container keeps its last health status: it is reported as down.)
- ``container.oom_killed`` (warning): ``State.OOMKilled`` is set: the last exit
  was the kernel's out-of-memory kill. Reported beside down/restarting, as
  their cause.
- ``container.recently_recreated`` (info): a database container (the stack's
  database role, or an unmanaged container running a Postgres image) created
  in the last 24 h: a recreated database is where "the data is gone" starts.
  Other containers of its stack recreated in the same window are listed in
  the evidence, not reported one by one (deploys recreate apps every day).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from bot.inventory.discovery import DiscoveredStack, HostStacks, Service, parse_database_url
from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Fix, Severity, make_finding
from bot.redaction.redact import is_secret_key, redact_text
from runbooks.diagnose.checks_compose import orphaned_services
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject, subject

RECENT = timedelta(hours=24)
STALE_STOPPED_PROJECT = timedelta(days=7)
RESTART_LOOP_COUNT = 3
RESTART_LOOP_WINDOW = timedelta(minutes=10)
MAX_OUTPUT = 500  # characters of health-check output or error kept in evidence
MAX_LOG_LINES = 20  # last log lines of a down or restarting container in evidence
MAX_LOG_LINE = 300  # characters of one log line
MAX_LOG_TEXT = 3000  # characters of all of them (the newest kept)
PROJECT_LOG_LINES = 5  # of each container, when a whole project is down
_ONE_SHOT_POLICIES = {"", "no", "on-failure"}
_DB_IMAGE = re.compile(r"postgres|postgis|timescale")
_NOT_DB_IMAGE = re.compile(r"exporter|backup|bouncer|pool|admin")
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = datetime.min.replace(tzinfo=UTC)


# --- helpers --------------------------------------------------------------------


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _identifiers(facts: HostFacts) -> set[str]:
    """Names the findings show anyway: objects on the host, and the non-secret parts
    (user, host, database) of database URLs in the environments."""
    names: set[str] = set()
    for c in facts.containers:
        names.update((c.name, c.compose_project or "", c.compose_service or ""))
        names.update(c.networks)
        names.update(m.name or "" for m in c.mounts)
        for key, value in c.config.env_map().items():
            if "://" not in value or is_secret_key(key):
                continue
            try:
                url = parse_database_url(value)
            except ValueError:
                continue
            names.update((url.user or "", url.host or "", url.dbname or ""))
    names.update(s.name for s in facts.stacks.stacks)
    names.update(n.name for n in facts.networks)
    names.update(v.name for v in facts.volumes)
    names.update(x for d in facts.databases for x in (d.dbname or "", d.user or "", d.host or ""))
    names.discard("")
    return names


def known_secrets(facts: HostFacts) -> list[str]:
    """Every environment value of every container and env file, to mask in free text;
    except, unless a secret-looking key holds them, the names the evidence shows anyway
    (container, project, network, volume and database names: ``database "shop" does
    not exist`` must keep its ``shop``). Passwords inside URLs are added on their own."""
    pairs = [(k, v) for c in facts.containers for k, v in c.config.env_map().items()]
    pairs += [(k, v) for f in facts.env_files.values() for k, v in f.values.items()]
    shown = _identifiers(facts)
    values: set[str] = set()
    for key, value in pairs:
        if not value:
            continue
        if is_secret_key(key) or value not in shown:
            values.add(value)
        if "://" in value:
            try:
                password = parse_database_url(value).password
            except ValueError:
                continue
            if password is not None and password.get_secret_value():
                values.add(password.get_secret_value())
    return sorted(values)


def _clip(text: str, secrets: list[str]) -> str:
    """Redact first (a secret cut in half would no longer be recognised), then keep the tail."""
    clean = redact_text(text, known_secrets=secrets).strip()
    return clean if len(clean) <= MAX_OUTPUT else "…" + clean[-MAX_OUTPUT:]


def _restart_policy(c: ContainerDetails) -> str:
    policy = c.host_config.get("RestartPolicy") or {}
    name = policy.get("Name", "") if isinstance(policy, dict) else ""
    return str(name or "no")


def _newest(containers: tuple[ContainerDetails, ...]) -> ContainerDetails:
    return max(containers, key=lambda c: (c.created or _EPOCH, c.name))


def _watched(facts: HostFacts) -> Iterator[ContainerDetails]:
    for stack in facts.stacks.stacks:
        for service in stack.services.values():
            yield from service.containers
    yield from (c for c in facts.stacks.unmanaged if c.state.running)


def _restart_fix(facts: HostFacts, c: ContainerDetails, why: str) -> Fix:
    return Fix(
        action="container.restart",
        params={"host": facts.host, "container": c.name},
        destructive=True,
        summary=f"restart {c.name} ({why})",
    )


def _log_tail(facts: HostFacts, c: ContainerDetails, secrets: list[str]) -> list[str] | None:
    """The last ``MAX_LOG_LINES`` non-empty lines, redacted, each cut to ``MAX_LOG_LINE``
    characters, the oldest dropped beyond ``MAX_LOG_TEXT`` in all."""
    text = facts.container_logs.get(c.name) or facts.proxy_logs.get(c.name)
    if not text:
        return None
    lines = [line for line in text.splitlines() if line.strip()][-MAX_LOG_LINES:]
    kept: list[str] = []
    total = 0
    for line in reversed(lines):
        clean = redact_text(line, known_secrets=secrets).rstrip()
        if len(clean) > MAX_LOG_LINE:
            clean = clean[: MAX_LOG_LINE - 1] + "…"
        total += len(clean)
        if total > MAX_LOG_TEXT:
            break
        kept.append(clean)
    return kept[::-1] or None


def _exit_phrase(c: ContainerDetails) -> str:
    state = c.state
    if state.status == "created":
        return f"{c.name} was created but never started"
    how = (
        "was killed for lack of memory"
        if state.oom_killed
        else f"exited with code {state.exit_code}"
    )
    when = f" at {state.finished_at.isoformat()}" if state.finished_at else ""
    return f"{c.name} {how}{when}" if state.status != "dead" else f"{c.name} is dead{when}"


# --- container.down -------------------------------------------------------------------


def _finished_job(service: Service) -> bool:
    return bool(service.containers) and all(
        c.state.status == "exited"
        and c.state.exit_code == 0
        and _restart_policy(c) in _ONE_SHOT_POLICIES
        for c in service.containers
    )


def _last_activity(stack: DiscoveredStack) -> datetime | None:
    times = [t for c in stack.containers for t in (c.state.finished_at, c.created) if t]
    return max(times, default=None)


def _migrate_first(
    facts: HostFacts, stack: DiscoveredStack, service: Service
) -> tuple[tuple[Fix, ...], dict[str, str]]:
    """``db.migrate`` before the restart when the stack's database explains a down app (no
    tables, or its migration check failed); without a declared ``migrate_command``,
    guidance naming the inventory key instead (evidence ``migrate_guidance``)."""
    apps = stack.roles.apps or ((stack.roles.app,) if stack.roles.app else ())
    if service.name not in apps:
        return (), {}
    empty = any(
        d.stack == stack.name and d.status == "ok" and d.tables == 0 for d in facts.databases
    )
    pending = any(
        m.stack == stack.name and m.exit_code not in (None, 0) for m in facts.migration_checks
    )
    if not (empty or pending):
        return (), {}
    why = "its database has no tables" if empty else "its migrations are pending"
    if not stack.migrate_command:
        key = f"environments.{facts.environment}.stacks.{stack.name}.migrate_command"
        return (), {
            "migrate_guidance": f"{why}: set {key} (an argv list) and stackbot can run the "
            f"migrations (db.migrate) before starting {service.name}"
        }
    fix = Fix(
        action="db.migrate",
        params={"host": facts.host, "stack": stack.name},
        destructive=True,
        summary=f"{why}: run {stack.name}'s migrations (in a one-off container of "
        f"{service.name}), then start it",
    )
    return (fix,), {}


def _service_down(
    facts: HostFacts, stack: DiscoveredStack, service: Service, secrets: list[str]
) -> Finding:
    c = _newest(service.containers)
    state = c.state
    others = [x.name for x in service.containers if x.name != c.name]
    migrate, guidance = _migrate_first(facts, stack, service)
    return make_finding(
        "container.down",
        Severity.CRITICAL,
        f"service {service.name} of {stack.project} is down: {_exit_phrase(c)}",
        container_subject(facts, c),
        fixes=(*migrate, _restart_fix(facts, c, f"bring service {service.name} back")),
        **guidance,
        service=service.name,
        containers=[x.name for x in service.containers],
        state=state.status,
        exit_code=state.exit_code,
        oom_killed=state.oom_killed,
        error=_clip(state.error, secrets) if state.error else None,
        started_at=_iso(state.started_at),
        finished_at=_iso(state.finished_at),
        restart_policy=_restart_policy(c),
        restart_count=c.restart_count,
        other_containers=others or None,
        last_log_lines=_log_tail(facts, c, secrets),
    )


def _project_down(
    facts: HostFacts, stack: DiscoveredStack, services: list[Service], secrets: list[str]
) -> Finding:
    newest = [_newest(s.containers) for s in services]
    finished = [c.state.finished_at for c in newest if c.state.finished_at]
    logs = [
        f"{c.name}: {line}"
        for c in newest
        for line in (_log_tail(facts, c, secrets) or [])[-PROJECT_LOG_LINES:]
    ]
    return make_finding(
        "container.down",
        Severity.CRITICAL,
        f"compose project {stack.project} is stopped: none of its {len(services)} services "
        f"runs ({', '.join(s.name for s in services)})",
        subject(facts, project=stack.project),
        fixes=tuple(_restart_fix(facts, c, f"start service {c.compose_service}") for c in newest),
        services=[s.name for s in services],
        containers=[c.name for c in newest],
        states=[f"{c.name}: {c.state.status} (exit {c.state.exit_code})" for c in newest],
        oom_killed=[c.name for c in newest if c.state.oom_killed] or None,
        last_finished_at=_iso(max(finished, default=None)),
        declared=stack.declared,
        last_log_lines=logs or None,  # "container: line", the last few of each
    )


def check_down(facts: HostFacts) -> list[Finding]:
    """``container.down``: a compose service with no running container."""
    secrets = known_secrets(facts)
    leftovers = orphaned_services(facts)
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        if not stack.found:
            continue
        down = [
            s
            for s in stack.services.values()
            if s.containers
            and not s.running
            and not _finished_job(s)
            and (stack.project, s.name) not in leftovers
        ]
        if not down:
            continue
        if any(s.running for s in stack.services.values()):
            findings.extend(_service_down(facts, stack, s, secrets) for s in down)
            continue
        last = _last_activity(stack)
        if not stack.declared and (last is None or facts.now - last > STALE_STOPPED_PROJECT):
            continue
        findings.append(_project_down(facts, stack, down, secrets))
    return findings


# --- container.restarting -----------------------------------------------------------


def _restarting(c: ContainerDetails, now: datetime) -> bool:
    state = c.state
    started = state.started_at
    return (
        state.restarting
        or state.status == "restarting"
        or (
            state.status == "running"
            and c.restart_count >= RESTART_LOOP_COUNT
            and started is not None
            and now - started < RESTART_LOOP_WINDOW
        )
    )


def check_restarting(facts: HostFacts) -> list[Finding]:
    """``container.restarting``: Docker is restarting it, or restarted it ≥ 3 times and
    the last start was under 10 minutes ago."""
    secrets = known_secrets(facts)
    findings: list[Finding] = []
    for c in _watched(facts):
        state = c.state
        started = state.started_at
        looping = state.restarting or state.status == "restarting"
        if not _restarting(c, facts.now):
            continue
        if looping:
            why = f"exit code {state.exit_code}" + (", out of memory" if state.oom_killed else "")
            title = f"{c.name} is in a restart loop ({c.restart_count} restarts, last {why})"
        else:
            ago = int((facts.now - started).total_seconds()) if started else 0
            title = (
                f"{c.name} keeps restarting: Docker restarted it {c.restart_count} times, "
                f"last start {ago} s ago"
            )
        findings.append(
            make_finding(
                "container.restarting",
                Severity.CRITICAL,
                title,
                container_subject(facts, c),
                state=state.status,
                restart_count=c.restart_count,
                restart_policy=_restart_policy(c),
                exit_code=state.exit_code,
                oom_killed=state.oom_killed,
                error=_clip(state.error, secrets) if state.error else None,
                started_at=_iso(started),
                finished_at=_iso(state.finished_at),
                last_log_lines=_log_tail(facts, c, secrets),
            )
        )
    return findings


# --- container.unhealthy -------------------------------------------------------------


def _healthcheck_test(c: ContainerDetails, secrets: list[str]) -> str | None:
    test = (c.config.healthcheck or {}).get("Test")
    if not isinstance(test, list) or not test:
        return None
    argv = [str(a) for a in test]
    if argv[0] in {"CMD", "CMD-SHELL"}:
        argv = argv[1:]
    return _clip(" ".join(argv), secrets)


def check_unhealthy(facts: HostFacts) -> list[Finding]:
    """``container.unhealthy``: running, and its health check says unhealthy."""
    secrets = known_secrets(facts)
    findings: list[Finding] = []
    for c in _watched(facts):
        health = c.state.health
        if c.state.status != "running" or health is None or health.status != "unhealthy":
            continue
        last = health.log[-1] if health.log else {}
        output = str(last.get("Output", "") or "")
        exit_code = last.get("ExitCode")
        checked = last.get("End") or last.get("Start")
        clipped = _clip(output, secrets) if output else None
        last_line = clipped.splitlines()[-1] if clipped else "no output"
        findings.append(
            make_finding(
                "container.unhealthy",
                Severity.CRITICAL,
                f"{c.name} is unhealthy: {health.failing_streak} failed checks in a row, "
                f"last said: {last_line[:120]}",
                container_subject(facts, c),
                fixes=(_restart_fix(facts, c, "helps only if it is stuck: read the output first"),),
                failing_streak=health.failing_streak,
                last_output=clipped,
                last_exit_code=exit_code if isinstance(exit_code, int) else None,
                last_checked_at=str(checked) if checked else None,
                healthcheck=_healthcheck_test(c, secrets),
                started_at=_iso(c.state.started_at),
            )
        )
    return findings


# --- container.oom_killed ------------------------------------------------------------


def check_oom_killed(facts: HostFacts) -> list[Finding]:
    """``container.oom_killed``: the last exit was an out-of-memory kill."""
    findings: list[Finding] = []
    for c in _watched(facts):
        if not c.state.oom_killed:
            continue
        limit = c.host_config.get("Memory")
        limit = limit if isinstance(limit, int) and limit > 0 else None
        why = (
            f"its memory limit ({limit // (1024 * 1024)} MiB)"
            if limit
            else "the host's memory (no limit set)"
        )
        findings.append(
            make_finding(
                "container.oom_killed",
                Severity.WARNING,
                f"{c.name} was killed for exceeding {why}",
                container_subject(facts, c),
                state=c.state.status,
                exit_code=c.state.exit_code,
                finished_at=_iso(c.state.finished_at),
                restart_count=c.restart_count,
                memory_limit=limit,
            )
        )
    return findings


# --- container.recently_recreated ----------------------------------------------------


def _looks_like_db(c: ContainerDetails) -> bool:
    repo = c.config.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    return bool(_DB_IMAGE.search(repo)) and not _NOT_DB_IMAGE.search(repo)


def _recent(facts: HostFacts, c: ContainerDetails) -> bool:
    return c.created is not None and timedelta(0) <= facts.now - c.created < RECENT


def _recreated_finding(
    facts: HostFacts, c: ContainerDetails, stack: DiscoveredStack | None
) -> Finding:
    assert c.created is not None
    hours = (facts.now - c.created).total_seconds() / 3600
    volumes = [m for m in c.mounts if m.type == "volume" and m.name]
    named = [m.name or "" for m in volumes if not _ANONYMOUS.match(m.name or "")]
    anonymous = [m.destination for m in volumes if _ANONYMOUS.match(m.name or "")]
    siblings = (
        [x.name for x in stack.containers if x.name != c.name and _recent(facts, x)]
        if stack is not None
        else []
    )
    return make_finding(
        "container.recently_recreated",
        Severity.INFO,
        f"database container {c.name} was created {hours:.1f} h ago "
        f"({c.created.isoformat()}): if data went missing, check which volume it mounts",
        container_subject(facts, c),
        fixes=(
            Fix(
                action="volumes.list",
                params={"host": facts.host},
                summary="list volumes with sizes, creation times and who mounts them",
            ),
        ),
        created=c.created.isoformat(),
        age_hours=round(hours, 1),
        volumes=named or None,
        anonymous_volume_mounts=anonymous or None,
        recreated_with=siblings or None,
    )


def check_recently_recreated(facts: HostFacts) -> list[Finding]:
    """``container.recently_recreated``: a database container created in the last 24 h."""
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        db = stack.services.get(stack.roles.database or "")
        if db is None:
            continue
        findings.extend(
            _recreated_finding(facts, c, stack) for c in db.containers if _recent(facts, c)
        )
    for c in facts.stacks.unmanaged:
        if c.state.running and _looks_like_db(c) and _recent(facts, c):
            findings.append(_recreated_finding(facts, c, None))
    return findings


# --- what gathering reads for these checks ---------------------------------------


def wants_logs(stacks: HostStacks, now: datetime) -> list[ContainerDetails]:
    """The containers whose last log lines ``container.down`` and ``container.restarting``
    would show: the newest container of each stack service none of whose containers
    runs (never started ones have no logs), and every watched container in a restart
    loop. A finished one-shot job or a long-stopped undeclared project may be read
    in vain; a few lines of a stopped container cost little."""
    wanted: dict[str, ContainerDetails] = {}
    for stack in stacks.stacks:
        for service in stack.services.values():
            if service.containers and not service.running and not _finished_job(service):
                newest = _newest(service.containers)
                if newest.state.status != "created":
                    wanted[newest.name] = newest
            for c in service.containers:
                if _restarting(c, now):
                    wanted[c.name] = c
    for c in stacks.unmanaged:
        if c.state.running and _restarting(c, now):
            wanted[c.name] = c
    return sorted(wanted.values(), key=lambda c: c.name)


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_down,
    check_restarting,
    check_unhealthy,
    check_oom_killed,
    check_recently_recreated,
)
