"""Configuration checks: env files that changed under running containers, required keys.

Values never leave this module: findings name keys only.

- ``env.drift`` (warning): for each stack whose env file(s) were read
  (``facts.env_files``, by ``stack.env_files`` path; several files merge in
  order, later ones winning, as compose does), each container of the stack
  is compared with the file:

  - a container **loads** the file (``env_file:``) when more than half of the
    file's keys are in its environment and none of the keys it lacks is held
    by a sibling container created no later than it (plus a minute): a key a
    sibling already had was in the file when this container was created, so
    this one only takes some keys, through ``environment:`` substitution
    (the lab's ``db`` gets ``POSTGRES_*`` that way and is not compared on
    ``DATABASE_URL``);
  - a loading container reports keys **added** (in the file, not in the
    container) and **changed** (different value); any other container, and
    the stack's database container always, only keys **changed** among those
    it has (a ``${POSTGRES_PASSWORD}`` the file changed since): keys added for
    the app mean nothing to Postgres, and this keeps a database that was
    created long before a redeployed app from being read as a stale loader.
  - when the only changes on the database are Postgres's init keys
    (``POSTGRES_USER``/``PASSWORD``/``DB`` …), no recreate is offered: the
    image applies them only to an empty data directory, so recreating would
    not change the password, only make the app and the database disagree.

  Keys removed from the file are not reported: a container's environment
  also holds the image's variables (``PATH``, ``PYTHON_VERSION``) and those of
  ``environment:``, which the facts cannot tell apart. Fix: ``container.recreate``.
- ``env.missing_required`` (critical): a key of the stack's ``required_env``
  absent (or empty) in a container of its app service. The fix recreates the
  service when the env file already has the key; otherwise the key must be
  added first and no fix is offered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.inventory.discovery import DiscoveredStack
from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Fix, Severity, make_finding
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject

SIBLING_SLACK = timedelta(minutes=1)
_EPOCH = datetime.min.replace(tzinfo=UTC)
MAX_KEYS_IN_TITLE = 4
# Read by the postgres image's entrypoint only when the data directory is empty.
POSTGRES_INIT_KEYS = frozenset(
    {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "POSTGRES_INITDB_ARGS",
        "POSTGRES_INITDB_WALDIR",
        "POSTGRES_HOST_AUTH_METHOD",
    }
)


def _recreate_fix(facts: HostFacts, c: ContainerDetails, why: str) -> Fix:
    if c.compose_project and c.compose_service:
        return Fix(
            action="container.recreate",
            params={"host": facts.host, "project": c.compose_project, "service": c.compose_service},
            destructive=True,
            summary=f"recreate service {c.compose_service} of project {c.compose_project} "
            f"(compose -p {c.compose_project} up -d --no-deps --force-recreate "
            f"{c.compose_service}) {why}",
        )
    return Fix(
        action="container.recreate",
        params={"host": facts.host, "container": c.name},
        destructive=True,
        summary=f"recreate {c.name} from its own configuration {why}",
    )


def _merged_env_file(facts: HostFacts, stack: DiscoveredStack) -> tuple[dict[str, str], list[str]]:
    """The stack's env files that were read, merged in order; and their paths."""
    values: dict[str, str] = {}
    paths: list[str] = []
    for path in stack.env_files:
        found = facts.env_files.get(path)
        if found is None or found.error is not None:
            continue
        values.update(found.values)
        paths.append(path)
    return values, paths


def _service_env_files(
    facts: HostFacts, stack: DiscoveredStack, service: str | None
) -> tuple[dict[str, str], list[str]]:
    """A service's own ``env_file:`` entries that were read, merged in order; their paths."""
    values: dict[str, str] = {}
    paths: list[str] = []
    for read in facts.compose_services:
        if read.project != stack.project or service is None:
            continue
        for path in read.service_env_files.get(service, ()):
            found = facts.env_files.get(path)
            if found is None or found.error is not None:
                continue
            values.update(found.values)
            paths.append(path)
    return values, paths


def _environment_keys(
    facts: HostFacts, stack: DiscoveredStack, service: str | None
) -> frozenset[str]:
    """The keys ``service``'s compose ``environment:`` sets itself (compose files read)."""
    keys: frozenset[str] = frozenset()
    for read in facts.compose_services:
        if read.project == stack.project and service is not None:
            keys |= read.service_environment_keys.get(service, frozenset())
    return keys


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_IN_TITLE])
    return shown + (
        f" and {len(keys) - MAX_KEYS_IN_TITLE} more" if len(keys) > MAX_KEYS_IN_TITLE else ""
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def loads_env_file(
    c: ContainerDetails, file: dict[str, str], siblings: tuple[ContainerDetails, ...]
) -> bool:
    """Whether ``c`` takes the whole file (``env_file:``): see the module docstring."""
    env = c.config.env_map()
    present = [k for k in file if k in env]
    if not file or len(present) * 2 <= len(file):
        return False
    lacking = [k for k in file if k not in env]
    created = c.created or _EPOCH
    for other in siblings:
        if other.name == c.name or (other.created or _EPOCH) > created + SIBLING_SLACK:
            continue
        other_env = other.config.env_map()
        if any(k in other_env for k in lacking):
            return False
    return True


def check_env_drift(facts: HostFacts) -> list[Finding]:
    """``env.drift``: the env file on disk differs from what a container runs with."""
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        stack_file, stack_paths = _merged_env_file(facts, stack)
        siblings = stack.containers
        for c in siblings:
            # the service's own `env_file:` entries (compose loads them whole), then the
            # env files compose recorded or the stack declares
            own, own_paths = _service_env_files(facts, stack, c.compose_service)
            file = {**stack_file, **own}
            paths = [*own_paths, *(p for p in stack_paths if p not in own_paths)]
            if not file:
                continue
            shown_path = paths[0] if len(paths) == 1 else ", ".join(paths)
            env = c.config.env_map()
            is_db = c.compose_service is not None and c.compose_service == stack.roles.database
            loads = loads_env_file(c, stack_file, siblings)
            whole = {**stack_file, **own} if loads and not is_db else own  # loaded whole
            # a key the service's `environment:` sets itself wins over every env file
            # (an override file's `LOG_LEVEL: debug`): its value is meant to differ
            fixed = _environment_keys(facts, stack, c.compose_service)
            added = sorted(k for k in whole if k not in env and k not in fixed)
            changed = sorted(k for k in file if k in env and env[k] != file[k] and k not in fixed)
            if not added and not changed:
                continue
            parts = []
            if changed:
                parts.append(f"{_plural(len(changed), 'key')} changed ({_keys(changed)})")
            if added:
                parts.append(f"{_plural(len(added), 'key')} added ({_keys(added)})")
            who = c.compose_service or c.name
            init_only = is_db and all(k in POSTGRES_INIT_KEYS for k in changed) and not added
            if init_only:
                advice = (
                    "Postgres applies these only when it initialises an empty data directory: "
                    "recreating will not change them (use ALTER USER / ALTER DATABASE)"
                )
                fixes: tuple[Fix, ...] = ()
            else:
                advice = "a restart will not pick it up"
                fixes = (_recreate_fix(facts, c, f"so it reloads {shown_path}"),)
            findings.append(
                make_finding(
                    "env.drift",
                    Severity.WARNING,
                    f"{who} ({c.name}) runs with an older {shown_path}: {'; '.join(parts)}; "
                    + advice,
                    container_subject(facts, c, path=paths[0]),
                    fixes=fixes,
                    env_files=paths,
                    env_file_source=stack.env_file_source,
                    keys_added=added,
                    keys_changed=changed,
                    loads_whole_file=loads,
                    database_init_keys_only=init_only,
                    container_created=c.created.isoformat() if c.created else None,
                )
            )
    return findings


def check_missing_required(facts: HostFacts) -> list[Finding]:
    """``env.missing_required``: a required key absent from the app container."""
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        if not stack.required_env or stack.roles.app is None:
            continue
        service = stack.services.get(stack.roles.app)
        if service is None:
            continue
        file, paths = _merged_env_file(facts, stack)
        for c in service.containers:
            env = c.config.env_map()
            absent = [k for k in stack.required_env if k not in env]
            empty = [k for k in stack.required_env if k in env and not env[k]]
            missing = absent + empty
            if not missing:
                continue
            in_file = [k for k in missing if file.get(k)]
            fixes: tuple[Fix, ...] = ()
            if paths and len(in_file) == len(missing):
                advice = f"{paths[0]} has {'it' if len(missing) == 1 else 'them'}: recreate"
                fixes = (_recreate_fix(facts, c, f"so it loads {_keys(missing)} from {paths[0]}"),)
            elif paths:
                advice = f"add {'it' if len(missing) == 1 else 'them'} to {paths[0]}, then recreate"
            else:
                advice = "set it in the stack's environment, then recreate"
            findings.append(
                make_finding(
                    "env.missing_required",
                    Severity.CRITICAL,
                    f"{service.name} ({c.name}) lacks required {_keys(missing)}: {advice}",
                    container_subject(facts, c),
                    fixes=fixes,
                    missing_keys=absent,
                    empty_keys=empty,
                    required_keys=list(stack.required_env),
                    in_env_file=in_file,
                    env_files=paths or None,
                )
            )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_env_drift,
    check_missing_required,
)
