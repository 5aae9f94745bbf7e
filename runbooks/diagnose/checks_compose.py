"""Compose checks: containers compose does not (or no longer) manage, environments that
share what they must not, databases without health checks.

Vocabulary used by the rules:

- **environment token** of a name: ``prod``/``production``, ``staging``/``stage``,
  ``dev``, ``test``, ``qa``, ``uat``, ``beta``, ``preview``, ``demo``, ``sandbox``
  as a word of it (``filter-ical-backend-production`` → production). A stack's
  environment comes from its project name, else from its container names (when
  they agree), else from its ``--env-file`` label (``.env.staging``).
- **core words** of a name: its words minus environment tokens, numbers and
  filler (``docker``, ``compose``, ``deploy``, ``app``, ``srv`` …).
- two stacks are **of one app** when they share a compose file path or their
  project names have the same core words (strong: ``filter-ical-staging`` and
  ``filter-ical-production``; not ``shop`` and ``shop-monitoring``), or when they
  were started from the same working directory and share a service (by name,
  or the database role) (weak: ``docker-compose.monitoring.yml`` beside the
  main file is another stack, not another copy).
- a **counterpart** of a service in another stack: same service name, or both
  are the stack's database; two generic images (``postgres``, ``redis`` …) must
  be the same image.

Rules:

- ``compose.project_mismatch`` (warning):
  (a) a running container without compose labels whose name matches a compose
  container's name (same core words) or whose image is the same non-generic
  image; or whose name holds all core words of a declared stack that does not
  run here (seed 004: production started by hand with ``docker run``).
  (b) a declared stack whose services run under another compose project of
  the same app and environment: the whole project when the declared one has
  no container here, else the services the declared project lacks.
- ``compose.orphan_container`` (warning): a container of a project of the same
  app and environment that is older than the current one (the current one is
  the declared stack; between undeclared ones, the one created last) and has
  a counterpart there (seed 000: ``multivendor_db_staging`` beside
  ``indexo_db_staging``); or, in one project, an older container holding the
  same service and replica number as a newer one (a renamed ``container_name``).
  Leftover services with no counterpart are orphans too when the relation is
  strong. And (seed 002) a container of project P, service S, created from
  P's working dir, where S is not among the services P's compose files
  define now (``facts.compose_services``: ``compose config --services``, read
  on the host): the file was cut down and ``up`` ran without
  ``--remove-orphans``. When that list could not be read, nothing is judged
  from it (the reason becomes a note of the diagnosis). No fix removes such a
  container (its volume may hold the data); a backup of each named volume it
  mounts is offered.
- ``compose.env_collision`` (critical):
  one project used from several working directories; one project+service
  holding containers of different environments (the same replica number under
  two ``container_name``s); a container-name template shared by an environment
  under compose and one started by hand; two stacks of one app sharing a host
  port binding, a named volume (also between unrelated stacks when both mount
  it into a database), or, for different environments, an env file.
- ``compose.no_healthcheck`` (info): no container of a stack's database
  service has a health check (absent, empty or ``NONE``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.inventory.discovery import DiscoveredStack, Service
from bot.model.docker_objects import (
    COMPOSE_CONTAINER_NUMBER,
    COMPOSE_ENV_FILE,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
)
from bot.model.findings import EvidenceValue, Finding, Fix, Severity, Subject, make_finding
from runbooks.diagnose.facts import ComposeServices, HostFacts
from runbooks.diagnose.subject import container_subject, subject

_ENV_WORDS = {
    "prod": "production",
    "production": "production",
    "prd": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "dev": "development",
    "develop": "development",
    "development": "development",
    "test": "test",
    "testing": "test",
    "qa": "qa",
    "uat": "uat",
    "beta": "beta",
    "preview": "preview",
    "demo": "demo",
    "sandbox": "sandbox",
}
_FILLER = {"docker", "compose", "deploy", "deployment", "app", "srv", "stack", "env", "the"}
_GENERIC_IMAGES = {
    "postgres", "postgis", "timescaledb", "redis", "valkey", "nginx", "mysql", "mariadb",
    "mongo", "busybox", "alpine", "ubuntu", "debian", "python", "node", "traefik", "caddy",
    "haproxy", "rabbitmq", "memcached", "elasticsearch", "httpd", "minio", "adminer",
    "pgadmin4", "certbot", "memcache", "golang", "openjdk", "php", "ruby",
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
_EPOCH = datetime.min.replace(tzinfo=UTC)
_ANY_IP = {"", "0.0.0.0", "::"}  # noqa: S104 - bind addresses read from the host


# --- names ------------------------------------------------------------------------


def _words(name: str) -> list[str]:
    return [w for w in _WORD.findall(name.lower()) if not w.isdigit()]


def env_of(name: str) -> str | None:
    """The environment a name says it belongs to, or None (none, or several)."""
    found = {_ENV_WORDS[w] for w in _words(name) if w in _ENV_WORDS}
    return found.pop() if len(found) == 1 else None


def core_words(name: str) -> frozenset[str]:
    return frozenset(w for w in _words(name) if w not in _ENV_WORDS and w not in _FILLER)


def _template(name: str) -> str:
    """The name with its environment word replaced: ``x-backend-prod`` → ``x-backend-{env}``."""
    parts = re.split(r"([^A-Za-z0-9]+)", name.lower())
    return "".join("{env}" if p in _ENV_WORDS else p for p in parts)


def _image_repo(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()


def _generic(image: str) -> bool:
    return _image_repo(image) in _GENERIC_IMAGES


def stack_env(stack: DiscoveredStack) -> str | None:
    env = env_of(stack.project)
    if env is not None:
        return env
    names = {env_of(c.name) for c in stack.containers}
    if len(names) == 1 and None not in names:
        return names.pop()
    labels = {
        env_of(posixpath.basename(c.labels.get(COMPOSE_ENV_FILE, ""))) for c in stack.containers
    }
    labels.discard(None)
    return labels.pop() if len(labels) == 1 else None


def _container_env(c: ContainerDetails, stack: DiscoveredStack | None) -> str | None:
    return env_of(c.name) or (stack_env(stack) if stack is not None else None)


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _newest_created(containers: Iterable[ContainerDetails]) -> datetime:
    return max((c.created or _EPOCH for c in containers), default=_EPOCH)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _named_volumes(c: ContainerDetails) -> list[str]:
    return [
        m.name
        for m in c.mounts
        if m.type == "volume" and m.name and not re.fullmatch(r"[0-9a-f]{64}", m.name)
    ]


# --- how stacks relate -----------------------------------------------------------


def _dirs(stack: DiscoveredStack) -> set[str]:
    return {d for d in (stack.working_dir, *stack.working_dirs) if d}


def _counterpart(service: Service, old: DiscoveredStack, new: DiscoveredStack) -> Service | None:
    """The service of ``new`` that does the job ``service`` of ``old`` did."""
    match = new.services.get(service.name)
    if match is None and old.roles.database == service.name and new.roles.database:
        match = new.services.get(new.roles.database)
    if match is None or not match.containers or not service.containers:
        return None
    a, b = service.containers[0].config.image, match.containers[0].config.image
    if _generic(a) and _generic(b) and _image_repo(a) != _image_repo(b):
        return None
    return match


@dataclass(frozen=True)
class _Relation:
    reason: str
    strong: bool


def _relation(a: DiscoveredStack, b: DiscoveredStack) -> _Relation | None:
    """Whether ``a`` and ``b`` are two copies of one app (see the module docstring)."""
    shared_files = sorted(set(a.config_files) & set(b.config_files))
    if shared_files:
        return _Relation(f"same compose file {shared_files[0]}", strong=True)
    words = core_words(a.project)
    if words and words == core_words(b.project):
        return _Relation(
            f"project names differ only by environment: {a.project}, {b.project}", strong=True
        )
    shared_dirs = sorted(_dirs(a) & _dirs(b))
    if shared_dirs and (
        not a.found or not b.found or any(_counterpart(s, a, b) for s in a.services.values())
    ):
        return _Relation(f"same working directory {shared_dirs[0]}", strong=False)
    return None


def _current_of(old: DiscoveredStack, new: DiscoveredStack) -> bool:
    """Whether ``new`` is the stack ``old`` was replaced by."""
    if old.declared:
        return False
    if new.declared:
        return True
    return _newest_created(old.containers) < _newest_created(new.containers)


def _unmanaged_match(
    c: ContainerDetails, stacks: Sequence[DiscoveredStack]
) -> tuple[DiscoveredStack, Service | None, ContainerDetails | None, str] | None:
    """The compose stack (and service, container) an unmanaged container belongs to."""
    words = core_words(c.name)
    repo = _image_repo(c.config.image)
    best: tuple[int, DiscoveredStack, Service | None, ContainerDetails | None, str] | None = None
    for stack in stacks:
        for service in stack.services.values():
            for other in service.containers:
                by_name = bool(words) and words == core_words(other.name)
                by_image = not _generic(c.config.image) and repo == _image_repo(other.config.image)
                score = 2 * by_name + by_image
                if score and (best is None or score > best[0]):
                    how = " and ".join(
                        w for w, hit in (("name", by_name), ("image", by_image)) if hit
                    )
                    best = (score, stack, service, other, how)
        if not stack.found and stack.declared:
            stack_words = core_words(stack.project)
            env = env_of(stack.project)
            if (
                stack_words
                and stack_words <= words
                and _compatible(env, env_of(c.name))
                and best is None
            ):
                best = (1, stack, None, None, "name")
    return None if best is None else best[1:]


# --- compose.project_mismatch ------------------------------------------------------


def _mismatch_unmanaged(facts: HostFacts) -> list[Finding]:
    findings: list[Finding] = []
    for c in facts.stacks.unmanaged:
        if not c.state.running:
            continue
        match = _unmanaged_match(c, facts.stacks.stacks)
        if match is None:
            continue
        stack, service, other, how = match
        what = f"service {service.name} of " if service is not None else ""
        findings.append(
            make_finding(
                "compose.project_mismatch",
                Severity.WARNING,
                f"{c.name} runs without compose labels (started with docker run) but matches "
                f"{what}compose project {stack.project} by {how}: compose will not manage it",
                subject(
                    facts,
                    project=stack.project,
                    service=service.name if service is not None else None,
                    container=c.name,
                ),
                container=c.name,
                image=c.config.image,
                created=_iso(c.created),
                started_at=_iso(c.state.started_at),
                matched_by=how,
                matched_project=stack.project,
                matched_service=service.name if service is not None else None,
                matched_container=other.name if other is not None else None,
                compose_service_running=service.running if service is not None else False,
                environment=env_of(c.name),
            )
        )
    return findings


@dataclass(frozen=True)
class _Leftover:
    old: DiscoveredStack
    new: DiscoveredStack
    relation: _Relation
    orphans: tuple[tuple[Service, Service | None], ...]  # (old service, its counterpart)
    misplaced: tuple[Service, ...]  # declared stack's services running under ``old``


def _leftovers(facts: HostFacts) -> list[_Leftover]:
    """Pairs (old project, current stack) of one app and environment."""
    out: list[_Leftover] = []
    stacks = facts.stacks.stacks
    for old in stacks:
        if not old.found or old.declared:
            continue
        for new in stacks:
            if new is old or not _current_of(old, new):
                continue
            relation = _relation(old, new)
            if relation is None or not _compatible(stack_env(old), stack_env(new)):
                continue
            orphans: list[tuple[Service, Service | None]] = []
            misplaced: list[Service] = []
            for service in old.services.values():
                match = _counterpart(service, old, new)
                if match is not None:
                    orphans.append((service, match))
                elif new.declared:
                    misplaced.append(service)
                elif relation.strong:
                    orphans.append((service, None))
            if orphans or misplaced:
                out.append(_Leftover(old, new, relation, tuple(orphans), tuple(misplaced)))
                break  # one current stack per old project
    return out


@dataclass(frozen=True)
class _Removed:
    """A service of a project that the project's compose files no longer define."""

    stack: DiscoveredStack
    service: Service
    defined: ComposeServices
    containers: tuple[ContainerDetails, ...]  # those created from the files' working dir


def _removed_services(facts: HostFacts) -> list[_Removed]:
    out: list[_Removed] = []
    projects: set[str] = set()
    for stack in facts.stacks.stacks:
        if not stack.found or stack.project in projects:
            continue
        projects.add(stack.project)
        defined = facts.defined_services(stack.project)
        if defined is None or defined.services is None:
            continue  # not read: nothing is judged from missing facts
        for service in stack.services.values():
            if service.name in defined.services:
                continue
            mine = tuple(
                c
                for c in service.containers
                if c.labels.get(COMPOSE_WORKING_DIR) in (None, "", defined.working_dir)
            )
            out.append(_Removed(stack, service, defined, mine))
    return out


def orphaned_services(facts: HostFacts) -> set[tuple[str, str]]:
    """(project, service) pairs ``compose.orphan_container`` reports as left over, or that
    the project's compose files no longer define: other checks (``container.down``)
    leave them alone rather than report them twice."""
    return {
        (left.old.project, service.name)
        for left in _leftovers(facts)
        for service, _match in left.orphans
    } | {(r.stack.project, r.service.name) for r in _removed_services(facts)}


def _mismatch_declared(facts: HostFacts) -> list[Finding]:
    findings: list[Finding] = []
    for left in _leftovers(facts):
        if not left.misplaced:
            continue
        services = [s.name for s in left.misplaced]
        containers = [c.name for s in left.misplaced for c in s.containers]
        where = (
            "none of its containers runs under that project"
            if not left.new.found
            else f"{', '.join(services)} run only under {left.old.project}"
        )
        findings.append(
            make_finding(
                "compose.project_mismatch",
                Severity.WARNING,
                f"stack {left.new.name} is configured as compose project {left.new.project} but "
                f"{where} (project {left.old.project}): compose -p {left.new.project} "
                "will not manage them",
                subject(facts, project=left.new.project),
                configured_project=left.new.project,
                running_project=left.old.project,
                services=services,
                containers=containers,
                relation=left.relation.reason,
                configured_found=left.new.found,
            )
        )
    return findings


def check_project_mismatch(facts: HostFacts) -> list[Finding]:
    """``compose.project_mismatch``: a stack's containers outside its compose project."""
    return _mismatch_unmanaged(facts) + _mismatch_declared(facts)


# --- compose.orphan_container ------------------------------------------------------


def _orphan_finding(
    facts: HostFacts,
    c: ContainerDetails,
    current: Sequence[ContainerDetails],
    current_project: str,
    reason: str,
    is_db: bool,
) -> Finding:
    replaced = ", ".join(x.name for x in current) or f"nothing in {current_project}"
    fixes: tuple[Fix, ...] = ()
    if is_db:
        fixes = (
            Fix(
                action="volumes.list",
                params={"host": facts.host},
                summary="compare the volumes of the old and the current database "
                "(size, created, mounted by) before removing anything",
            ),
        )
    return make_finding(
        "compose.orphan_container",
        Severity.WARNING,
        f"{c.name} (project {c.compose_project}) is left over from an earlier deployment: "
        f"{current_project} now runs {replaced}",
        container_subject(facts, c),
        fixes=fixes,
        container=c.name,
        state=c.state.status,
        image=c.config.image,
        created=_iso(c.created),
        volumes=_named_volumes(c) or None,
        current_project=current_project,
        current_containers=[x.name for x in current] or None,
        current_created=_iso(max((x.created for x in current if x.created), default=None)),
        current_volumes=sorted({v for x in current for v in _named_volumes(x)}) or None,
        relation=reason,
    )


def _same_number_groups(service: Service) -> list[list[ContainerDetails]]:
    groups: dict[str, list[ContainerDetails]] = {}
    for c in service.containers:
        groups.setdefault(c.labels.get(COMPOSE_CONTAINER_NUMBER, "1"), []).append(c)
    return [g for g in groups.values() if len(g) > 1]


def _removed_finding(facts: HostFacts, removed: _Removed, c: ContainerDetails) -> Finding:
    files = removed.defined.config_files
    names = ", ".join(posixpath.basename(f) for f in files)
    defined = list(removed.defined.services or ())
    networks = sorted(c.networks)
    volumes = _named_volumes(c)
    on = f", left on {', '.join(networks)}" if networks else ""
    return make_finding(
        "compose.orphan_container",
        Severity.WARNING,
        f"{c.name} is service {removed.service.name} of compose project "
        f"{removed.stack.project}, which {names} no longer define{'s' if len(files) == 1 else ''}"
        f" (services now: {', '.join(defined)}): compose no longer manages it{on}",
        container_subject(facts, c),
        fixes=tuple(
            Fix(
                action="volume.backup",
                params={"host": facts.host, "volume": v},
                summary=f"archive volume {v} of {c.name} before anything removes the "
                "container (`up --remove-orphans` would)",
            )
            for v in volumes
        ),
        container=c.name,
        state=c.state.status,
        image=c.config.image,
        created=_iso(c.created),
        project=removed.stack.project,
        service=removed.service.name,
        working_dir=removed.defined.working_dir,
        compose_files=list(files),
        services_defined=defined,
        networks=networks or None,
        volumes=volumes or None,
        relation="service no longer defined in the project's compose files",
    )


def check_orphan_container(facts: HostFacts) -> list[Finding]:
    """``compose.orphan_container``: containers left from an earlier name or project, or
    whose service the project's compose files no longer define."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for left in _leftovers(facts):
        for service, match in left.orphans:
            current = match.containers if match is not None else ()
            is_db = left.old.roles.database == service.name
            for c in service.containers:
                if c.name not in seen:
                    seen.add(c.name)
                    findings.append(
                        _orphan_finding(
                            facts, c, current, left.new.project, left.relation.reason, is_db
                        )
                    )
    for stack in facts.stacks.stacks:
        for service in stack.services.values():
            for group in _same_number_groups(service):
                envs = {env_of(c.name) for c in group} - {None}
                if len(envs) > 1:
                    continue  # two environments: compose.env_collision
                ordered = sorted(group, key=lambda c: (c.created or _EPOCH, c.name))
                newest = ordered[-1]
                for c in ordered[:-1]:
                    if c.name not in seen:
                        seen.add(c.name)
                        findings.append(
                            _orphan_finding(
                                facts,
                                c,
                                [newest],
                                stack.project,
                                f"same service {service.name} and replica number as "
                                f"{newest.name}, created earlier",
                                stack.roles.database == service.name,
                            )
                        )
    for removed in _removed_services(facts):
        for c in removed.containers:
            if c.name not in seen:
                seen.add(c.name)
                findings.append(_removed_finding(facts, removed, c))
    return findings


# --- compose.env_collision ----------------------------------------------------------


def _bindings(c: ContainerDetails) -> set[tuple[str, str, str]]:
    """Host bindings as (host ip, host port, protocol)."""
    out: set[tuple[str, str, str]] = set()
    raw = c.host_config.get("PortBindings") or {}
    if not isinstance(raw, dict):
        return out
    for port, rows in raw.items():
        proto = str(port).partition("/")[2] or "tcp"
        for row in rows or ():
            host_port = str((row or {}).get("HostPort") or "")
            if host_port:
                out.add((str(row.get("HostIp") or ""), host_port, proto))
    return out


def _port_clash(a: set[tuple[str, str, str]], b: set[tuple[str, str, str]]) -> list[str]:
    clashes = set()
    for ip_a, port_a, proto_a in a:
        for ip_b, port_b, proto_b in b:
            same_ip = ip_a == ip_b or ip_a in _ANY_IP or ip_b in _ANY_IP
            if port_a == port_b and proto_a == proto_b and same_ip:
                clashes.add(f"{port_a}/{proto_a}")
    return sorted(clashes)


@dataclass(frozen=True)
class _Unit:
    """Containers that deploy together: a compose project, or one hand-run container."""

    label: str  # project name, or "docker run <name>"
    project: str | None
    stack: DiscoveredStack | None
    containers: tuple[ContainerDetails, ...]
    env: str | None


def _units(facts: HostFacts) -> list[_Unit]:
    units = [
        _Unit(s.project, s.project, s, s.containers, stack_env(s))
        for s in facts.stacks.stacks
        if s.found
    ]
    units.extend(
        _Unit(f"docker run {c.name}", None, None, (c,), env_of(c.name))
        for c in facts.stacks.unmanaged
        if c.state.running
    )
    return units


def _units_related(a: _Unit, b: _Unit) -> str | None:
    if a.stack is not None and b.stack is not None:
        relation = _relation(a.stack, b.stack)
        return relation.reason if relation is not None else None
    for hand, compose in ((a, b), (b, a)):
        if hand.stack is None and compose.stack is not None:
            match = _unmanaged_match(hand.containers[0], [compose.stack])
            if match is not None:
                return f"{hand.containers[0].name} matches {compose.label} by {match[3]}"
    return None


def _db_mounts(unit: _Unit, volume: str) -> bool:
    for c in unit.containers:
        if volume not in _named_volumes(c):
            continue
        if unit.stack is not None and unit.stack.roles.database == c.compose_service:
            return True
        repo = _image_repo(c.config.image)
        if re.search(r"postgres|postgis|timescale|mysql|mariadb|mongo", repo):
            return True
    return False


def _collision(
    title: str,
    where: Subject,
    *,
    shared: str,
    units: Sequence[_Unit] = (),
    **evidence: str | list[str] | None,
) -> Finding:
    facts_: dict[str, EvidenceValue] = {
        "shared": shared,
        "projects": [u.label for u in units] or None,
        "environments": [f"{u.label}: {u.env or 'unknown'}" for u in units] or None,
        **evidence,
    }
    return Finding(
        code="compose.env_collision",
        severity=Severity.CRITICAL,
        title=title,
        subject=where,
        evidence=facts_,
    )


def _within_project(facts: HostFacts) -> list[Finding]:
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        if len(stack.working_dirs) > 1:
            by_dir = [
                f"{c.name}: {c.labels.get('com.docker.compose.project.working_dir', '?')}"
                for c in stack.containers
            ]
            findings.append(
                _collision(
                    f"compose project {stack.project} is deployed from "
                    f"{len(stack.working_dirs)} directories ({', '.join(stack.working_dirs)}): "
                    "an up in one replaces the other's containers",
                    subject(facts, project=stack.project),
                    shared="compose project",
                    working_dirs=list(stack.working_dirs),
                    containers=by_dir,
                )
            )
        elif len(stack.config_file_sets) > 1:  # `compose ls`: one project, two sets of files
            sets = [" + ".join(s) for s in stack.config_file_sets]
            by_files = [
                f"{c.name}: {c.labels.get('com.docker.compose.project.config_files', '?')}"
                for c in stack.containers
            ]
            findings.append(
                _collision(
                    f"compose project {stack.project} is deployed from {len(sets)} sets of "
                    f"compose files ({'; '.join(sets)}): an up with one set replaces or "
                    "removes what the other started",
                    subject(facts, project=stack.project),
                    shared="compose project",
                    compose_file_sets=sets,
                    containers=by_files,
                )
            )
        for service in stack.services.values():
            for group in _same_number_groups(service):
                envs = sorted({e for c in group if (e := env_of(c.name))})
                if len(envs) < 2:
                    continue
                names = [c.name for c in group]
                findings.append(
                    _collision(
                        f"{' and '.join(envs)} share compose project {stack.project}: "
                        f"{', '.join(names)} are one service ({service.name}) to compose, "
                        "so deploying one environment recreates or removes the other",
                        subject(facts, project=stack.project, service=service.name),
                        shared="compose project and service",
                        containers=names,
                        container_environments=[f"{c.name}: {env_of(c.name)}" for c in group],
                    )
                )
    return findings


def _between_units(facts: HostFacts) -> list[Finding]:
    findings: list[Finding] = []
    units = _units(facts)
    for i, a in enumerate(units):
        for b in units[i + 1 :]:
            if a.stack is None and b.stack is None:
                continue
            related = _units_related(a, b)
            envs_differ = a.env is not None and b.env is not None and a.env != b.env
            pair = f"{a.label} and {b.label}"
            project = a.project or b.project
            # named volumes
            vols_a = {v for c in a.containers for v in _named_volumes(c)}
            vols_b = {v for c in b.containers for v in _named_volumes(c)}
            for vol in sorted(vols_a & vols_b):
                both_db = _db_mounts(a, vol) and _db_mounts(b, vol)
                if related is None and not both_db:
                    continue
                users = [c.name for u in (a, b) for c in u.containers if vol in _named_volumes(c)]
                findings.append(
                    _collision(
                        f"{pair} both mount volume {vol}"
                        + (": two databases on one data directory" if both_db else ""),
                        subject(facts, project=project, volume=vol),
                        shared="named volume",
                        units=(a, b),
                        containers=users,
                        relation=related,
                    )
                )
            if related is None:
                continue
            # host ports
            clashes: list[str] = []
            holders: set[str] = set()
            for ca in a.containers:
                for cb in b.containers:
                    hit = _port_clash(_bindings(ca), _bindings(cb))
                    if hit:
                        clashes.extend(hit)
                        holders.update(
                            (f"{ca.name}: {ca.state.status}", f"{cb.name}: {cb.state.status}")
                        )
            if clashes:
                ports = sorted(set(clashes))
                findings.append(
                    _collision(
                        f"{pair} publish the same host port {', '.join(ports)}: "
                        "only one of them can run",
                        subject(facts, project=project),
                        shared="host port",
                        units=(a, b),
                        ports=ports,
                        containers=sorted(holders),
                        relation=related,
                    )
                )
            # env files (different environments only: same-environment copies are orphans)
            if envs_differ and a.stack is not None and b.stack is not None:
                for path in sorted(set(a.stack.env_files) & set(b.stack.env_files)):
                    findings.append(
                        _collision(
                            f"{a.env} ({a.label}) and {b.env} ({b.label}) read the same env "
                            f"file {path}: whichever was copied there last configures both",
                            subject(facts, project=project, path=path),
                            shared="env file",
                            units=(a, b),
                            relation=related,
                        )
                    )
            # a container-name template across compose and docker run
            if envs_differ and (a.stack is None) != (b.stack is None):
                hand, compose = (a, b) if a.stack is None else (b, a)
                template = _template(hand.containers[0].name)
                twins = [c for c in compose.containers if _template(c.name) == template]
                if twins:
                    names = [hand.containers[0].name, *(c.name for c in twins)]
                    findings.append(
                        _collision(
                            f"{hand.env} and {compose.env} share the container name pattern "
                            f"{template} of one compose setup: {compose.env} runs under "
                            f"project {compose.label}, {hand.env} by hand (docker run)",
                            subject(
                                facts, project=compose.project, container=hand.containers[0].name
                            ),
                            shared="container name pattern",
                            units=(compose, hand),
                            containers=names,
                            relation=related,
                        )
                    )
    return findings


def related_port_pairs(facts: HostFacts) -> set[frozenset[str]]:
    """Pairs of container names ``compose.env_collision`` reports for a shared host port
    (two stacks of one app): ``compose.port_collision`` leaves them to it."""
    pairs: set[frozenset[str]] = set()
    units = _units(facts)
    for i, a in enumerate(units):
        for b in units[i + 1 :]:
            if (a.stack is None and b.stack is None) or _units_related(a, b) is None:
                continue
            for ca in a.containers:
                for cb in b.containers:
                    if _port_clash(_bindings(ca), _bindings(cb)):
                        pairs.add(frozenset((ca.name, cb.name)))
    return pairs


def check_env_collision(facts: HostFacts) -> list[Finding]:
    """``compose.env_collision``: environments of one app sharing what they must not."""
    return _within_project(facts) + _between_units(facts)


# --- compose.no_healthcheck ---------------------------------------------------------


def _has_healthcheck(c: ContainerDetails) -> bool:
    test = (c.config.healthcheck or {}).get("Test")
    return isinstance(test, list) and bool(test) and test[0] != "NONE"


def check_no_healthcheck(facts: HostFacts) -> list[Finding]:
    """``compose.no_healthcheck``: the database service has no health check."""
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        db = stack.services.get(stack.roles.database or "")
        if db is None or not db.containers or any(_has_healthcheck(c) for c in db.containers):
            continue
        c = max(db.containers, key=lambda x: (x.created or _EPOCH, x.name))
        disabled = c.config.healthcheck is not None
        findings.append(
            make_finding(
                "compose.no_healthcheck",
                Severity.INFO,
                f"database {db.name} of {stack.project} ({c.name}) has no health check"
                f"{' (disabled)' if disabled else ''}: dependants cannot wait for it "
                "(depends_on: condition: service_healthy)",
                container_subject(facts, c),
                image=c.config.image,
                healthcheck="disabled" if disabled else "none",
                dependants=list(stack.roles.apps) or None,
            )
        )
    return findings


def check_config_stale(facts: HostFacts) -> list[Finding]:
    """``compose.config_stale``: the compose files now give a different container than
    the one running (a deploy edited and never applied): compose would recreate it.
    Read from compose's own dry run of ``up`` (v2 from 2.20, not v5: compose#14029) or,
    under v1, from ``config --hash`` against each container's config-hash label; where
    neither can tell, nothing is judged. A container with ``env.drift`` is reported there instead
    (the judge keeps one of the two). Guidance, not a button: what `up` would change
    is compose's to say (its dry run), and it may touch more than env."""
    findings: list[Finding] = []
    by_name = {c.name: c for c in facts.containers}
    for read in facts.compose_services:
        for name in read.stale:
            c = by_name.get(name)
            if c is None:
                continue
            service = c.compose_service or "?"
            findings.append(
                make_finding(
                    "compose.config_stale",
                    Severity.WARNING,
                    f"{c.name} is not what the compose files of {read.project} give now: "
                    f"compose would recreate it (the change was never applied)",
                    container_subject(facts, c),
                    container=c.name,
                    project=read.project,
                    service=service,
                    compose_files=list(read.config_files),
                    seen_by=read.stale_by,
                    advice=f"review `docker compose -p {read.project} up --dry-run -d` in "
                    f"{read.working_dir}, then apply it for {service} when the change is wanted",
                )
            )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_config_stale,
    check_project_mismatch,
    check_orphan_container,
    check_env_collision,
    check_no_healthcheck,
)
