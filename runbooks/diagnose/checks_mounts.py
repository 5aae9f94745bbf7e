"""Bind mount check: a source that did not exist, so Docker made an empty directory.

- ``container.bind_source_missing``: a container (of a compose stack, or a hand-run
  one that runs) bind-mounts a host path that is now an empty directory which was
  made when the container was (its mtime not before the container's ``Created``:
  Docker creates a missing bind source while it creates the container, so a
  directory that was there before is never reported). Severity: critical when the
  container is not running and its ``State.Error`` is about that mount
  (``not a directory``, ``mount``); warning when the destination looks like a file
  (``nginx.conf``, ``settings.yml``: a file was expected, the process sees a
  directory); info otherwise (an empty directory the app may fill later, such as
  uploads; if it should have held files, the path in the compose file is wrong).
  Evidence: the host path, the destination, when it was made. Guidance: put the
  file or directory where the compose file says (paths are relative to the compose
  file's folder), then recreate the service.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Severity, make_finding
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject

SLACK = timedelta(milliseconds=10)  # same clock; mtime made just after Created
_FILE_LIKE = re.compile(
    r"\.(conf|cfg|cnf|ini|json|ya?ml|toml|xml|env|sh|py|js|rb|php|lua|pem|crt|key|cert|"
    r"txt|properties|sql|htpasswd|rules|list|lock|sock)$",
    re.IGNORECASE,
)
_MOUNT_ERROR = re.compile(r"not a directory|mount", re.IGNORECASE)


def bind_sources(c: ContainerDetails) -> list[str]:
    """The host paths ``c`` bind-mounts."""
    return [m.source for m in c.mounts if m.type == "bind" and m.source.startswith("/")]


def _file_like(destination: str) -> bool:
    return bool(_FILE_LIKE.search(posixpath.basename(destination)))


def _watched(facts: HostFacts) -> Iterator[ContainerDetails]:
    for stack in facts.stacks.stacks:
        for service in stack.services.values():
            yield from service.containers
    yield from (c for c in facts.stacks.unmanaged if c.state.running)


def check_bind_source_missing(facts: HostFacts) -> list[Finding]:
    """``container.bind_source_missing``: Docker created the bind source, empty."""
    findings: list[Finding] = []
    for c in _watched(facts):
        for m in c.mounts:
            if m.type != "bind":
                continue
            seen = facts.paths.get(m.source)
            if seen is None or seen.kind != "dir" or seen.empty is not True:
                continue
            if seen.modified is None or c.created is None or seen.modified < c.created - SLACK:
                continue  # it was there before the container: somebody made it on purpose
            failed = not c.state.running and bool(_MOUNT_ERROR.search(c.state.error or ""))
            file_expected = _file_like(m.destination)
            if failed:
                severity = Severity.CRITICAL
                why = f"{c.name} cannot start"
            elif file_expected:
                severity = Severity.WARNING
                why = f"{c.name} sees an empty directory where a file was expected"
            else:
                severity = Severity.INFO
                why = f"{c.name} got an empty directory"
            service = c.compose_service
            findings.append(
                make_finding(
                    "container.bind_source_missing",
                    severity,
                    f"{why}: bind mount source {m.source} did not exist, so Docker "
                    f"created it empty (mounted at {m.destination})",
                    container_subject(facts, c, path=m.source),
                    path=m.source,
                    destination=m.destination,
                    file_expected=file_expected,
                    created_at=seen.modified.isoformat(),
                    container_created=c.created.isoformat(),
                    state=c.state.status,
                    error=(c.state.error or "")[:300] or None,
                    advice=f"put the {'file' if file_expected else 'directory'} the "
                    f"compose file means at {m.source} (relative paths there are relative "
                    "to the compose file's folder; remove the empty directory Docker made "
                    "first), then recreate " + (f"service {service}" if service else c.name),
                )
            )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_bind_source_missing,)
