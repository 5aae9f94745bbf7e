"""Host port checks: a container that could not bind its published port, and compose
projects (or services) that publish the same one.

Rules:

- ``container.port_allocated`` (critical): the current container of a compose service
  (the newest one, when none of the service's containers runs) or a hand-run one
  is not running and Docker's ``State.Error`` says ``port is already allocated`` or
  ``address already in use``. Evidence: the port (from the error), and who holds it:
  a container judged here that publishes it (name, project, state), else a container
  of another environment or none (its project only), else whether a process on the
  host listens there (``ss -Hlntu``, read only in this case). When nothing holds it
  any more the fix is ``container.restart`` (the port is free: starting cures it);
  otherwise guidance: free the port or publish another, then start the service.
- ``compose.port_collision`` (critical): two containers publish the same host port
  (same protocol, overlapping host IP: an unspecified address overlaps every one),
  they belong to different compose projects, or to different services of one
  project, or one of them was started by hand, and both are meant to run (running,
  restarting, or the current container of its service that failed or was never
  started; a project stopped on purpose is not). Two stacks of one app (two
  environments) are ``compose.env_collision``'s, not reported twice. The subject is
  the container that cannot run (else the first by name); evidence names both
  containers and both projects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model.docker_objects import COMPOSE_ONEOFF, ContainerDetails
from bot.model.findings import Finding, Fix, Severity, make_finding
from runbooks.diagnose.checks_compose import related_port_pairs
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject

_PORT_ERROR = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
_PORT_IN_ERROR = re.compile(
    r"(?:Bind for |listen (?P<proto>tcp|udp)[46]? )"
    r"\[?(?P<ip>[0-9A-Fa-f.:]*?)\]?:(?P<port>\d{1,5})\b"
)
_ANY_IP = {"", "0.0.0.0", "::"}  # noqa: S104 - bind addresses read from the host
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Binding:
    host_ip: str
    host_port: str
    proto: str

    def overlaps(self, other: Binding) -> bool:
        same_ip = (
            self.host_ip == other.host_ip or self.host_ip in _ANY_IP or other.host_ip in _ANY_IP
        )
        return self.host_port == other.host_port and self.proto == other.proto and same_ip

    def __str__(self) -> str:
        ip = "" if self.host_ip in _ANY_IP else f"{self.host_ip}:"
        return f"{ip}{self.host_port}/{self.proto}"


def bindings(c: ContainerDetails) -> set[Binding]:
    """The host ports ``c`` publishes (``HostConfig.PortBindings``)."""
    out: set[Binding] = set()
    raw = c.host_config.get("PortBindings") or {}
    for port, rows in raw.items() if isinstance(raw, dict) else ():
        proto = str(port).partition("/")[2] or "tcp"
        for row in rows or ():
            host_port = str((row or {}).get("HostPort") or "")
            if host_port:
                out.add(Binding(str(row.get("HostIp") or ""), host_port, proto))
    return out


def port_conflict(c: ContainerDetails) -> Binding | None:
    """The port ``c`` could not bind, when its last start failed for that reason."""
    error = c.state.error
    if c.state.running or not error or not _PORT_ERROR.search(error):
        return None
    found = _PORT_IN_ERROR.search(error)
    if found is None:
        published = sorted(bindings(c), key=str)
        return published[0] if len(published) == 1 else Binding("", "?", "tcp")
    return Binding(found["ip"] or "", found["port"], found["proto"] or "tcp")


def _oneoff(c: ContainerDetails) -> bool:
    return c.labels.get(COMPOSE_ONEOFF, "False").lower() == "true"


def _current(facts: HostFacts) -> Iterator[ContainerDetails]:
    """Containers that are meant to run: every container of a service that runs, the
    newest one of a service that does not, and hand-run containers."""
    for stack in facts.stacks.stacks:
        for service in stack.services.values():
            if service.running:
                yield from (c for c in service.containers if c.state.running)
            elif service.containers:
                yield max(service.containers, key=lambda c: (c.created or _EPOCH, c.name))
    yield from facts.stacks.unmanaged


def _wanted(c: ContainerDetails) -> bool:
    """Meant to run now: running, restarting, never started, or failed to start."""
    state = c.state
    return (
        state.running
        or state.restarting
        or state.status == "created"
        or bool(state.error)
        or (state.status == "exited" and _restart_policy(c) in ("always", "unless-stopped")
            and state.exit_code not in (0, 137, 143))
    )  # fmt: skip


def _restart_policy(c: ContainerDetails) -> str:
    policy = c.host_config.get("RestartPolicy") or {}
    return str(policy.get("Name") or "no") if isinstance(policy, dict) else "no"


def _who(c: ContainerDetails) -> str:
    project = c.compose_project
    owner = f"project {project}, service {c.compose_service}" if project else "docker run"
    return f"{c.name} ({owner}, {c.state.status})"


def _start_guidance(c: ContainerDetails) -> str:
    if c.compose_project and c.compose_service:
        return (
            f"`docker compose -p {c.compose_project} up -d {c.compose_service}` "
            f"in {c.labels.get('com.docker.compose.project.working_dir', 'its directory')}"
        )
    return f"`docker start {c.name}`"


# --- container.port_allocated ---------------------------------------------------------


def check_port_allocated(facts: HostFacts) -> list[Finding]:
    """``container.port_allocated``: it could not start, its host port was taken."""
    findings: list[Finding] = []
    for c in _current(facts):
        port = port_conflict(c)
        if port is None:
            continue
        holders = [
            o
            for o in facts.containers
            if o.id != c.id and (o.state.running or o.state.restarting)
            and any(b.overlaps(port) for b in bindings(o))
        ]  # fmt: skip
        foreign = [
            h
            for h in facts.foreign_ports
            if h.running and Binding(h.host_ip, h.host_port, h.proto).overlaps(port)
        ]
        listening = None
        if facts.listening is not None and port.host_port != "?":
            listening = [
                s
                for s in facts.listening
                if s.endswith(f":{port.host_port}/{port.proto}")
                and (port.host_ip in _ANY_IP or s.startswith((f"{port.host_ip}:", ":")))
            ]
        fixes: tuple[Fix, ...] = ()
        if holders:
            held_by = [_who(o) for o in holders]
            advice = (
                f"free port {port}: stop {', '.join(o.name for o in holders)} or publish "
                f"another port in one of them, then start {c.name} ({_start_guidance(c)})"
            )
        elif foreign:
            held_by = [
                f"a container of {'project ' + h.project if h.project else 'docker run'} "
                "(not this environment's)"
                for h in foreign
            ]
            advice = (
                f"port {port} belongs to another environment's container: publish another "
                f"port for {c.name}, then start it ({_start_guidance(c)})"
            )
        elif listening:
            held_by = [
                f"a process on the host listening on {s} (not a container)" for s in listening
            ]
            advice = (
                f"find the process with `sudo ss -ltnup 'sport = :{port.host_port}'`, stop it "
                f"or publish another port, then start {c.name} ({_start_guidance(c)})"
            )
        else:
            held_by = []
            advice = (
                f"nothing holds port {port} now (it was taken when {c.name} started): "
                "start it again"
            )
            if listening is not None:  # we looked, and nothing listens: a start cures it
                fixes = (
                    Fix(
                        action="container.restart",
                        params={"host": facts.host, "container": c.name},
                        destructive=True,
                        summary=f"start {c.name} now that port {port} is free",
                    ),
                )
        findings.append(
            make_finding(
                "container.port_allocated",
                Severity.CRITICAL,
                f"{c.name} cannot start: host port {port} is already taken"
                + (f" by {held_by[0]}" if held_by else ""),
                container_subject(facts, c),
                fixes=fixes,
                port=str(port),
                held_by=held_by or None,
                state=c.state.status,
                error=c.state.error[:300],
                published=sorted(str(b) for b in bindings(c)) or None,
                advice=advice,
            )
        )
    return findings


# --- compose.port_collision -------------------------------------------------------


def check_port_collision(facts: HostFacts) -> list[Finding]:
    """``compose.port_collision``: two projects (or services) publish one host port."""
    already = related_port_pairs(facts)
    current = sorted(
        {c.id: c for c in _current(facts) if _wanted(c) and not _oneoff(c)}.values(),
        key=lambda c: c.name,
    )
    findings: list[Finding] = []
    for i, a in enumerate(current):
        for b in current[i + 1 :]:
            if a.compose_project is None and b.compose_project is None:
                continue  # two hand-run containers: not compose's business
            if a.compose_project == b.compose_project and a.compose_service == b.compose_service:
                continue  # replicas of one service: compose's own scale problem
            if frozenset((a.name, b.name)) in already:
                continue
            ports = sorted({str(x) for x in bindings(a) for y in bindings(b) if x.overlaps(y)})
            if not ports:
                continue
            blocked = [c for c in (a, b) if not c.state.running]
            victim = blocked[0] if blocked else a
            other = b if victim is a else a
            what = (
                f"services {a.compose_service} and {b.compose_service} of {a.compose_project}"
                if a.compose_project == b.compose_project
                else f"{_owner(a)} and {_owner(b)}"
            )
            findings.append(
                make_finding(
                    "compose.port_collision",
                    Severity.CRITICAL,
                    f"{what} both publish host port {', '.join(ports)}: only one can run"
                    + (f" ({victim.name} does not)" if blocked else ""),
                    container_subject(facts, victim),
                    ports=ports,
                    containers=[_who(victim), _who(other)],
                    projects=[_owner(victim), _owner(other)],
                    other_container=other.name,
                    other_project=other.compose_project,
                    advice=f"give one of them another host port (the `ports:` of "
                    f"{victim.compose_service or victim.name} or "
                    f"{other.compose_service or other.name}), or stop the one not needed; "
                    f"then start {victim.name} ({_start_guidance(victim)})",
                )
            )
    return findings


def _owner(c: ContainerDetails) -> str:
    return f"project {c.compose_project}" if c.compose_project else f"docker run {c.name}"


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_port_allocated,
    check_port_collision,
)
