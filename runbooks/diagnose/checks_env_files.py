"""Env file check: a compose file names an ``env_file:`` that does not exist.

- ``env.file_missing``: a service's required ``env_file:`` entry (not marked
  ``required: false``) names a file that is not on the host, so compose refuses to
  run anything for the project (``config``, ``up``: "env file … not found").
  When ``compose config`` fails (v1, and v2 before it resolved env files lazily),
  one ``stat`` of the entries (``ComposeServices.missing_env_files``); when it
  succeeds (Compose 2.40 lists services without reading them), the entries read
  for ``env.drift`` that failed with "No such file"; critical when the service has no running
  container, else warning (it runs from before; the next deploy fails). Evidence:
  the missing paths, the compose files, compose's own error line. Guidance: put the
  file there (the deploy's secrets store, a copy of the example file), or mark it
  ``required: false`` (Compose ≥ 2.24), then ``up``.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.model.findings import Finding, Severity, make_finding
from runbooks.diagnose.facts import ComposeServices, HostFacts
from runbooks.diagnose.subject import subject


def _gone(facts: HostFacts, path: str) -> bool:
    read = facts.env_files.get(path)
    return read is not None and bool(read.error) and "no such file" in (read.error or "").lower()


def missing_env_files(facts: HostFacts, read: ComposeServices) -> dict[str, tuple[str, ...]]:
    """Service → its required env files not on the host: as stat saw them when ``compose
    config`` failed, else as reading them did (``facts.env_files``: "No such file")."""
    found = {service: tuple(paths) for service, paths in read.missing_env_files.items()}
    optional = set(read.optional_env_files)
    for service, paths in read.service_env_files.items():
        gone = tuple(p for p in paths if p not in optional and _gone(facts, p))
        if gone and service not in found:
            found[service] = gone
    return found


def check_env_file_missing(facts: HostFacts) -> list[Finding]:
    """``env.file_missing``: a service's env_file is not on the host."""
    findings: list[Finding] = []
    for read in facts.compose_services:
        stack = next((s for s in facts.stacks.stacks if s.project == read.project), None)
        for service, paths in sorted(missing_env_files(facts, read).items()):
            svc = stack.services.get(service) if stack is not None else None
            running = svc is not None and svc.running
            container = (
                max(svc.containers, key=lambda c: c.name).name
                if svc is not None and len(svc.containers) == 1
                else None
            )
            findings.append(
                make_finding(
                    "env.file_missing",
                    Severity.WARNING if running else Severity.CRITICAL,
                    f"service {service} of {read.project} names env_file "
                    f"{', '.join(paths)}, which does not exist: compose cannot "
                    + ("deploy the project (it still runs from before)" if running else "start it"),
                    subject(
                        facts,
                        project=read.project,
                        service=service,
                        container=container,
                        path=paths[0],
                    ),
                    paths=list(paths),
                    compose_files=list(read.config_files),
                    compose_error=read.error,
                    service_running=running,
                    advice=f"create {paths[0]} (from the deploy's secrets or the example "
                    "file) or mark the entry `required: false` (Compose ≥ 2.24), then "
                    f"`docker compose -p {read.project} up -d`",
                )
            )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_env_file_missing,)
