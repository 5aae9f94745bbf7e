"""Network and name checks: can each container reach, by name, what its environment points at?

Pure functions over ``HostFacts``. A container *refers to* a host name through
its environment (``referenced_hosts``: ``DATABASE_URL``, ``*_URL``, ``*_HOST`` …).
A container *answers to* a name on a network when the name is its container
name, or one of the aliases / DNS names of its endpoint on that network; only
user-defined networks have Docker DNS (the default ``bridge`` has none), and
Docker DNS never answers for a stopped container.

One problem, one finding:

- ``network.split``: the referring container shares no network on which a
  container answering to the name sits. It explains the failed resolution, so
  ``network.unresolvable_host`` is not emitted for the same (container, name).
- ``network.unresolvable_host``: the name did not resolve inside the container
  (its own resolver, ``facts.resolutions``) although the networks are not split:
  typically the container that answers to it is stopped.
- ``dns.resolution_failed``: the proxy's own logs; names found there are judged
  here (with the connect/restart fix) rather than as a second ``network.split``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from bot.inventory.discovery import HostReference, referenced_hosts
from bot.model.docker_objects import COMPOSE_ONEOFF, COMPOSE_PROJECT, ContainerDetails
from bot.model.findings import Finding, Fix, Severity, make_finding
from bot.redaction.redact import redact_text
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject, subject

__all__ = [
    "CHECKS",
    "check_container_name_reference",
    "check_ip_reference",
    "check_localhost_reference",
    "check_network_split",
    "check_proxy_resolution",
    "check_unresolvable_host",
]

_NO_DNS_NETWORKS = frozenset({"bridge", "host", "none", "default"})
# Schemes of URLs a browser follows (public site URLs, CORS origins): "localhost" there is
# usually meant for the user's machine, not a service the container dials.
_BROWSER_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# ``*_HOST`` keys that name the container's own listen or public address, not a peer.
_OWN_ADDRESS_WORDS = frozenset(
    {"BIND", "LISTEN", "SERVER", "PUBLIC", "EXTERNAL", "ALLOWED", "APP", "WEB", "HTTP", "SITE"}
)
_UNRESOLVED = (
    re.compile(r"(?P<name>[^\s\"'*]+) could not be resolved", re.IGNORECASE),
    re.compile(r"host not found in upstream \"(?P<name>[^\"]+)\"", re.IGNORECASE),
)
_LINE_LIMIT = 400
_EPOCH = datetime.min.replace(tzinfo=UTC)


# --- names and networks --------------------------------------------------------


def _live(c: ContainerDetails) -> bool:
    return c.state.running or c.state.restarting


def _oneoff(c: ContainerDetails) -> bool:
    return c.labels.get(COMPOSE_ONEOFF, "False").lower() == "true"


def _current_containers(facts: HostFacts) -> list[ContainerDetails]:
    """Containers whose configuration matters now: running or restarting ones, plus the
    newest container of each compose service that has none running (an app that exited
    because it could not connect still counts). Old leftovers and one-offs are left out."""
    current = [c for c in facts.containers if _live(c) and not _oneoff(c)]
    by_service: dict[tuple[str, str], list[ContainerDetails]] = {}
    for c in facts.containers:
        if c.compose_project and c.compose_service and not _oneoff(c):
            by_service.setdefault((c.compose_project, c.compose_service), []).append(c)
    for containers in by_service.values():
        if not any(_live(c) for c in containers):
            current.append(max(containers, key=lambda c: c.created or _EPOCH))
    return sorted(current, key=lambda c: c.name)


def _network_mode(c: ContainerDetails) -> str:
    return str(c.host_config.get("NetworkMode") or "")


def _networks(facts: HostFacts, c: ContainerDetails) -> set[str]:
    """User-defined networks the container is on (through the container it shares
    its network namespace with, for ``network_mode: container:X``/``service:X``)."""
    mode = _network_mode(c)
    if mode.startswith("container:"):
        ref = mode.partition(":")[2]
        other = next(
            (o for o in facts.containers if ref and (o.id.startswith(ref) or o.name == ref)), None
        )
        nets = set(other.networks) if other is not None else set()
    else:
        nets = set(c.networks)
    return nets - _NO_DNS_NETWORKS


def _answers_on(c: ContainerDetails, network: str) -> set[str]:
    """Names ``c`` answers to on ``network`` when it runs (lower case)."""
    endpoint = c.networks.get(network)
    if endpoint is None or network in _NO_DNS_NETWORKS:
        return set()
    names = {c.name, *endpoint.aliases, *endpoint.dns_names}
    if not endpoint.aliases and not endpoint.dns_names and c.compose_service:
        # The Engine did not report aliases (old API, hand-made facts): compose always
        # gives a service's endpoints the service name as an alias.
        names.add(c.compose_service)
    return {n.lower() for n in names}


def _all_names(c: ContainerDetails) -> set[str]:
    """Every name ``c`` answers to somewhere, plus its compose service name."""
    names = {c.name.lower()}
    if c.compose_service:
        names.add(c.compose_service.lower())
    for network in c.networks:
        names |= _answers_on(c, network)
    return names


def _static_names(c: ContainerDetails) -> set[str]:
    """Names the container resolves without Docker DNS: ``extra_hosts`` and legacy links."""
    names: set[str] = set()
    for entry in c.host_config.get("ExtraHosts") or ():
        names.add(str(entry).partition(":")[0].lower())
    for link in c.host_config.get("Links") or ():  # "/db:/app/database"
        names.add(str(link).rpartition(":")[2].rpartition("/")[2].lower())
    return names


def _reachable_via(facts: HostFacts, a: ContainerDetails, b: ContainerDetails, name: str) -> str:
    """A network shared by ``a`` and ``b`` on which ``b`` answers to ``name``, or ""."""
    shared = sorted(_networks(facts, a) & set(b.networks))
    return next((n for n in shared if name in _answers_on(b, n)), "")


def _project_network(facts: HostFacts, c: ContainerDetails, candidates: Iterable[str]) -> str:
    """Of ``candidates``, the network of ``c``'s compose project if any, else the first."""
    ordered = sorted(candidates)
    project = c.compose_project
    if project:
        labelled = {n.name for n in facts.networks if n.labels.get(COMPOSE_PROJECT) == project}
        for net in ordered:
            if net in labelled or net.startswith(f"{project}_"):
                return net
    return ordered[0] if ordered else ""


def _candidates(facts: HostFacts, a: ContainerDetails | None, name: str) -> list[ContainerDetails]:
    """Containers (other than ``a``) that answer to ``name``: ``a``'s own project first,
    then running ones, then by container name."""
    project = a.compose_project if a is not None else None
    found = [
        b
        for b in facts.containers
        if (a is None or b.id != a.id) and not _oneoff(b) and name in _all_names(b)
    ]
    return sorted(
        found,
        key=lambda b: (project is None or b.compose_project != project, not _live(b), b.name),
    )


def _resolution(facts: HostFacts, container: str, name: str) -> bool | None:
    for r in facts.resolutions:
        if r.container == container and r.hostname.lower() == name:
            return r.resolved
    return None


def _host_refs(c: ContainerDetails) -> dict[str, list[HostReference]]:
    """Host-name references of ``c``'s environment, by lower-case host."""
    refs: dict[str, list[HostReference]] = {}
    for ref in referenced_hosts(c.config.env_map()):
        refs.setdefault(ref.host.lower(), []).append(ref)
    return refs


def _keys(refs: Iterable[HostReference]) -> list[str]:
    return sorted({r.key for r in refs})


def _env_secrets(facts: HostFacts) -> list[str]:
    """Every env value of every container, to mask in log lines; names of things on the
    host (containers, services, aliases, networks) and plain numbers are facts, not
    secrets, and are kept readable."""
    names = {n.name.lower() for n in facts.networks}
    for c in facts.containers:
        names |= _all_names(c) | {n.lower() for n in c.networks}
    found: set[str] = set()
    for c in facts.containers:
        for value in c.config.env_map().values():
            if value and not value.isdigit() and value.lower() not in names:
                found.add(value)
            found |= _url_passwords(value)
    return sorted(found)


def _url_passwords(value: str) -> set[str]:
    """The passwords of the URLs in an env value (a URL's password alone is not a value)."""
    if "://" not in value:
        return set()
    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        return set()
    return {password, unquote(password)} - {""} if password else set()


def _restart(facts: HostFacts, b: ContainerDetails) -> Fix:
    return Fix(
        action="container.restart",
        params={"host": facts.host, "container": b.name},
        destructive=True,
        summary=f"start {b.name} ({b.state.status}): Docker DNS does not resolve stopped "
        "containers",
    )


# --- network.split ---------------------------------------------------------------


@dataclass
class _Split:
    a: ContainerDetails
    network: str  # where the fix connects (empty: no fix found)
    connect: str  # which container the fix connects
    alias: str | None
    hosts: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    targets: list[ContainerDetails] = field(default_factory=list)
    resolved: list[bool | None] = field(default_factory=list)


def _splits(facts: HostFacts) -> list[_Split]:
    """Every (container, host name) that crosses a network split, grouped by the fix."""
    groups: dict[tuple[str, str, str, str | None], _Split] = {}
    for a in _current_containers(facts):
        mode = _network_mode(a)
        if mode in {"host", "none"}:
            continue
        own = _all_names(a) | _static_names(a)
        for name, refs in _host_refs(a).items():
            if refs[0].ip is not None or refs[0].is_loopback or name in own:
                continue
            candidates = _candidates(facts, a, name)
            if not candidates:
                continue  # not a container here: an external host is not ours to judge
            resolved = _resolution(facts, a.name, name)
            if resolved is True:
                continue  # it does resolve: whatever the model says, nothing is split
            if any(_reachable_via(facts, a, b, name) for b in candidates):
                continue
            b = candidates[0]
            answering = [n for n in b.networks if name in _answers_on(b, n)]
            if answering:
                network, connect, alias = _project_network(facts, b, answering), a.name, None
            else:
                # ``b`` answers to ``name`` on no network (a service name without an alias):
                # give it the alias on ``a``'s own network instead.
                network = _project_network(facts, a, _networks(facts, a))
                connect, alias = b.name, name
            group = groups.setdefault(
                (a.name, network, connect, alias),
                _Split(a=a, network=network, connect=connect, alias=alias),
            )
            group.hosts.append(name)
            group.keys.extend(_keys(refs))
            group.targets.append(b)
            group.resolved.append(resolved)
    return list(groups.values())


def check_network_split(facts: HostFacts) -> list[Finding]:
    """``network.split``: A refers to H, H is a name of container B here, and no network
    A is on has B answering to H. Fix: connect A to the network where B answers to H
    (B's project network first); if B answers to H nowhere, connect B to A's network
    with the alias H. A stopped B also gets a restart fix."""
    findings: list[Finding] = []
    for split in _splits(facts):
        a, targets = split.a, split.targets
        described = ", ".join(
            h if h == b.name.lower() else f"{h} ({b.name})"
            for h, b in zip(split.hosts, targets, strict=True)
        )
        fixes: list[Fix] = []
        if split.network:
            params: dict[str, str | int | bool | list[str]] = {
                "host": facts.host,
                "container": split.connect,
                "network": split.network,
            }
            if split.alias:
                params["alias"] = split.alias
                summary = (
                    f"connect {split.connect} to {split.network} with the alias {split.alias}, "
                    f"so {a.name} can reach it by that name"
                )
            else:
                summary = f"connect {a.name} to {split.network}, so it can reach {described}"
            fixes.append(Fix(action="network.connect", params=params, summary=summary))
        for b in targets:
            if not _live(b) and b.name not in {
                str(f.params.get("container")) for f in fixes if f.action == "container.restart"
            }:
                fixes.append(_restart(facts, b))
        where = sorted({n for b in targets for n in b.networks} - _NO_DNS_NETWORKS)
        title = f"{a.name} cannot reach {described}: no shared network"
        if where:
            title += f" (they are on {', '.join(where)})"
        known = [r for r in split.resolved if r is not None]
        evidence: dict[str, object] = {
            "container": a.name,
            "keys": sorted(set(split.keys)),
            "hostnames": sorted(set(split.hosts)),
            "targets": sorted({b.name for b in targets}),
            "target_states": sorted({f"{b.name}: {b.state.status}" for b in targets}),
            "container_networks": sorted(_networks(facts, a)),
            "target_networks": sorted({n for b in targets for n in b.networks}),
        }
        if known:
            evidence["resolves_in_container"] = any(known)
        findings.append(
            make_finding(
                "network.split",
                Severity.CRITICAL,
                title,
                container_subject(facts, a, network=split.network or None),
                fixes=tuple(fixes),
                **evidence,
            )
        )
    return findings


# --- network.unresolvable_host -------------------------------------------------------


def check_unresolvable_host(facts: HostFacts) -> list[Finding]:
    """``network.unresolvable_host``: H did not resolve inside A (A's own resolver), and
    it is not already explained by ``network.split``. When the container that answers
    to H (on a network A is on) is stopped, the title says so and the fix starts it.
    One finding per container A, listing every such name."""
    split = {(s.a.name, h) for s in _splits(facts) for h in s.hosts}
    failed: dict[str, list[str]] = {}
    for r in facts.resolutions:
        name = r.hostname.lower()
        if r.resolved is not False or (r.container, name) in split:
            continue
        if name not in failed.setdefault(r.container, []):
            failed[r.container].append(name)
    findings: list[Finding] = []
    for container_name, names in sorted(failed.items()):
        a = facts.container(container_name)
        fixes: list[Fix] = []
        stopped: list[str] = []
        missing: list[str] = []
        running: list[str] = []
        for name in names:
            candidates = _candidates(facts, a, name)
            near = candidates
            if a is not None:  # prefer those that would answer on a network A is on
                mine = _networks(facts, a)
                near = [
                    b for b in candidates if any(name in _answers_on(b, n) for n in mine)
                ] or candidates
            if not near:
                missing.append(name)
                continue
            down = [b for b in near if not _live(b)]
            if down and not any(_live(b) for b in near):
                stopped.append(f"{name} ({down[0].name}: {down[0].state.status})")
                fixes.append(_restart(facts, down[0]))
            else:
                running.append(f"{name} ({near[0].name})")
        parts = []
        if stopped:
            parts.append(
                "answered by a stopped container: "
                + ", ".join(stopped)
                + " (Docker DNS does not resolve stopped containers)"
            )
        if missing:
            parts.append("no container here answers to " + ", ".join(missing))
        if running:
            parts.append("although running: " + ", ".join(running))
        refs = _host_refs(a) if a is not None else {}
        keys = sorted({k for n in names for k in _keys(refs.get(n, []))})
        findings.append(
            make_finding(
                "network.unresolvable_host",
                Severity.CRITICAL,
                f"{', '.join(names)} {'do' if len(names) > 1 else 'does'} not resolve inside "
                f"{container_name}: {'; '.join(parts)}",
                container_subject(facts, a) if a else subject(facts, container=container_name),
                fixes=tuple(fixes),
                container=container_name,
                hostnames=names,
                keys=keys,
                stopped=stopped,
                not_on_host=missing,
                running=running,
            )
        )
    return findings


# --- references by container name, loopback, IP ------------------------------------


def check_container_name_reference(facts: HostFacts) -> list[Finding]:
    """``network.container_name_reference``: A refers to B by B's container name while B
    is a compose service with another name; only when that service name is unambiguous
    for A (B is in A's project, or no other container answers to it), so the advice
    to use the service name is always right. One finding per A."""
    findings: list[Finding] = []
    for a in _current_containers(facts):
        hits: list[tuple[str, ContainerDetails, list[str]]] = []
        for name, refs in _host_refs(a).items():
            if refs[0].ip is not None:
                continue
            b = next((c for c in facts.containers if c.id != a.id and c.name.lower() == name), None)
            if b is None or not b.compose_service or b.compose_service.lower() == name:
                continue
            service = b.compose_service.lower()
            others = [
                c
                for c in facts.containers
                if c.id != b.id and c.id != a.id and not _oneoff(c) and service in _all_names(c)
            ]
            same_project = b.compose_project is not None and b.compose_project == a.compose_project
            if same_project or not others:
                hits.append((name, b, _keys(refs)))
        if not hits:
            continue
        described = [f"{n} (service {b.compose_service})" for n, b, _ in hits]
        findings.append(
            make_finding(
                "network.container_name_reference",
                Severity.WARNING,
                f"{a.name} refers to {', '.join(described)} by container name, not by "
                "service name: it breaks when the container is renamed",
                container_subject(facts, a),
                container=a.name,
                keys=sorted({k for _, _, ks in hits for k in ks}),
                container_names=[b.name for _, b, _ in hits],
                service_names=[str(b.compose_service) for _, b, _ in hits],
                projects=[b.compose_project or "" for _, b, _ in hits],
            )
        )
    return findings


def _own_address_key(key: str) -> bool:
    words = set(re.split(r"[^A-Z0-9]+", key.upper()))
    return bool(words & _OWN_ADDRESS_WORDS)


def _own_port(c: ContainerDetails, port: int | None) -> bool:
    return port is not None and any(
        p.partition("/")[0] == str(port) for p in c.config.exposed_ports
    )


def check_localhost_reference(facts: HostFacts) -> list[Finding]:
    """``network.localhost_reference``: a database or service reference of A points at
    localhost / 127.0.0.0/8 / ::1, where nothing but A itself listens. Left alone: A
    on ``network_mode: host`` or sharing another container's namespace; browser-facing
    http(s)/ws URLs; ``*_HOST`` keys that name A's own listen or public address
    (BIND, LISTEN, SERVER, APP, …); a port A itself exposes (A talking to itself)."""
    findings: list[Finding] = []
    for a in _current_containers(facts):
        mode = _network_mode(a)
        if mode == "host" or mode.startswith(("container:", "service:")):
            continue
        hits: list[HostReference] = []
        for refs in _host_refs(a).values():
            for ref in refs:
                if not ref.is_loopback or _own_port(a, ref.port):
                    continue
                if ref.scheme is not None and ref.scheme.split("+")[0] in _BROWSER_SCHEMES:
                    continue
                if ref.scheme is None and _own_address_key(ref.key):
                    continue
                hits.append(ref)
        if not hits:
            continue
        hits.sort(key=lambda r: r.key)
        findings.append(
            make_finding(
                "network.localhost_reference",
                Severity.WARNING,
                f"{a.name} points {', '.join(r.key for r in hits)} at "
                f"{', '.join(sorted({r.host for r in hits}))}: inside a container that is "
                "the container itself",
                container_subject(facts, a),
                container=a.name,
                keys=[r.key for r in hits],
                references=[f"{r.key}: {_hostport(r)}" for r in hits],
                network_mode=mode or None,
            )
        )
    return findings


def _hostport(ref: HostReference) -> str:
    host = f"[{ref.host}]" if ":" in ref.host else ref.host
    where = f"{host}:{ref.port}" if ref.port is not None else host
    return f"{ref.scheme}://{where}" if ref.scheme else where


def check_ip_reference(facts: HostFacts) -> list[Finding]:
    """``network.ip_reference``: a reference of A is the current IP address of another
    container on this host (from the containers' endpoints), which changes when that
    container is recreated. One finding per A."""
    owners: dict[str, tuple[ContainerDetails, str]] = {}
    for c in facts.containers:
        for net, endpoint in c.networks.items():
            if endpoint.ip_address:
                owners.setdefault(endpoint.ip_address, (c, net))
    findings: list[Finding] = []
    for a in _current_containers(facts):
        hits: list[tuple[HostReference, ContainerDetails, str]] = []
        for refs in _host_refs(a).values():
            for ref in refs:
                ip = ref.ip
                owner = owners.get(str(ip)) if ip is not None else None
                if owner is not None and owner[0].id != a.id:
                    hits.append((ref, owner[0], owner[1]))
        if not hits:
            continue
        hits.sort(key=lambda h: h[0].key)
        described = [
            f"{ref.host} ({b.name}"
            + (f", service {b.compose_service}" if b.compose_service else "")
            + ")"
            for ref, b, _ in hits
        ]
        findings.append(
            make_finding(
                "network.ip_reference",
                Severity.WARNING,
                f"{a.name} refers to {', '.join(described)} by IP address: it changes when "
                "the container is recreated",
                container_subject(facts, a),
                container=a.name,
                keys=[ref.key for ref, _, _ in hits],
                addresses=[f"{ref.key}: {_hostport(ref)}" for ref, _, _ in hits],
                targets=[b.name for _, b, _ in hits],
                target_services=[b.compose_service or "" for _, b, _ in hits],
                target_networks=[net for _, _, net in hits],
            )
        )
    return findings


# --- dns.resolution_failed ---------------------------------------------------------


def _unresolved_names(line: str) -> list[str]:
    names: list[str] = []
    for pattern in _UNRESOLVED:
        for match in pattern.finditer(line):
            name = match["name"].split("://")[-1]
            if not name.startswith("["):
                name = name.rpartition(":")[0] if name.count(":") == 1 else name
            name = name.strip("/").lower()
            if name and name not in names:
                names.append(name)
    return names


def _proxy_fixes(
    facts: HostFacts, proxy: ContainerDetails | None, names: Sequence[str]
) -> tuple[list[Fix], list[str], list[str]]:
    """Fixes for names a proxy could not resolve: start the stopped container that
    answers to one; connect the proxy to the network where a running one answers."""
    fixes: list[Fix] = []
    stopped: list[str] = []
    elsewhere: list[str] = []
    for name in names:
        candidates = _candidates(facts, proxy, name)
        if not candidates:
            continue
        b = candidates[0]
        if not _live(b):
            stopped.append(f"{name} ({b.name}: {b.state.status})")
            if all(f.params.get("container") != b.name for f in fixes):
                fixes.append(_restart(facts, b))
            continue
        if proxy is None or any(_reachable_via(facts, proxy, c, name) for c in candidates):
            continue
        answering = [n for n in b.networks if name in _answers_on(b, n)]
        if not answering:
            continue
        network = _project_network(facts, b, answering)
        elsewhere.append(f"{name} ({b.name} on {network})")
        fixes.append(
            Fix(
                action="network.connect",
                params={"host": facts.host, "container": proxy.name, "network": network},
                summary=f"connect {proxy.name} to {network}, where {b.name} answers to {name}",
            )
        )
    return fixes, stopped, elsewhere


def check_proxy_resolution(facts: HostFacts) -> list[Finding]:
    """``dns.resolution_failed``: a proxy's recent log lines say an upstream could not be
    resolved (``could not be resolved``, ``host not found in upstream``). Evidence: how
    many lines, the names, the newest line (redacted). Fixes: start a stopped container
    that answers to a name; connect the proxy to the network of a running one it is
    not on."""
    findings: list[Finding] = []
    secrets: list[str] | None = None
    for name, text in sorted(facts.proxy_logs.items()):
        lines = [line for line in text.splitlines() if _unresolved_names(line)]
        if not lines:
            continue
        names: list[str] = []
        for line in lines:
            names.extend(n for n in _unresolved_names(line) if n not in names)
        names.sort()
        proxy = facts.container(name)
        fixes, stopped, elsewhere = _proxy_fixes(facts, proxy, names)
        if secrets is None:
            secrets = _env_secrets(facts)
        newest = redact_text(lines[-1].strip(), known_secrets=secrets)
        if len(newest) > _LINE_LIMIT:
            newest = newest[:_LINE_LIMIT] + "…"
        reasons = []
        if stopped:
            reasons.append(f"stopped: {', '.join(stopped)}")
        if elsewhere:
            reasons.append(f"on a network {name} is not on: {', '.join(elsewhere)}")
        why = f"; {'; '.join(reasons)}" if reasons else ""
        findings.append(
            make_finding(
                "dns.resolution_failed",
                Severity.CRITICAL,
                f"{name} could not resolve {', '.join(names)} "
                f"({len(lines)} time{'s' if len(lines) != 1 else ''} in its recent logs){why}",
                container_subject(facts, proxy) if proxy else subject(facts, container=name),
                fixes=tuple(fixes),
                container=name,
                count=len(lines),
                names=names,
                newest_line=newest,
                stopped=stopped,
                on_other_networks=elsewhere,
            )
        )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_network_split,
    check_unresolvable_host,
    check_container_name_reference,
    check_localhost_reference,
    check_ip_reference,
    check_proxy_resolution,
)
