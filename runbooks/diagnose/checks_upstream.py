"""Proxy check: a reverse proxy still dialling its upstream's old address.

nginx resolves the host name in a plain ``proxy_pass http://backend:8000`` once, when
it starts (no ``resolver`` and variable); when the upstream container is recreated
it usually gets another address, and nginx keeps dialling the old one: 502s,
``connect() failed (111: Connection refused)`` or ``(113: No route to host)`` or
``upstream timed out`` naming the old IP.

- ``network.stale_upstream`` (critical): a running proxy container of a stack (its
  proxy role) whose recent log (the tail read for ``dns.resolution_failed``) has
  such errors naming ``IP:PORT``, where IP is no longer the address of the
  container it meant: a running container on a network the proxy shares, created
  after the proxy started (it was recreated under the proxy), whose address is
  now another. Preferred when several: one exposing PORT, then the newest.
  Without such log lines nothing is judged (a proxy that resolves per request,
  like Traefik or nginx with ``resolver``, copes with a recreate). Evidence: proxy
  start, upstream creation, old and current addresses, error count, newest line.
  Fix: ``container.restart`` of the proxy (it resolves the name again at start);
  guidance: ``resolver 127.0.0.11 valid=10s;`` and a variable in ``proxy_pass``
  so it re-resolves by itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Fix, Severity, make_finding
from bot.redaction.redact import redact_text
from runbooks.diagnose.checks_containers import known_secrets
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject

_UPSTREAM_ERROR = re.compile(
    r"(connect\(\) failed|upstream timed out|no live upstreams|upstream prematurely closed)"
    r".*?upstream: \"[a-z]+://(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{1,5})",
    re.IGNORECASE,
)
_LINE_LIMIT = 400
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _address(c: ContainerDetails, networks: set[str]) -> str | None:
    for name, endpoint in c.networks.items():
        if name in networks and endpoint.ip_address:
            return endpoint.ip_address
    return None


def _exposes(c: ContainerDetails, port: str) -> bool:
    return any(p.partition("/")[0] == port for p in c.config.exposed_ports)


def check_stale_upstream(facts: HostFacts) -> list[Finding]:
    """``network.stale_upstream``: the proxy dials an address its upstream left."""
    secrets = known_secrets(facts)
    findings: list[Finding] = []
    seen: set[str] = set()
    for stack in facts.stacks.stacks:
        proxy_service = stack.services.get(stack.roles.proxy or "")
        for proxy in proxy_service.containers if proxy_service is not None else ():
            if proxy.name in seen or not proxy.state.running or proxy.state.started_at is None:
                continue
            seen.add(proxy.name)
            errors: dict[tuple[str, str], list[str]] = {}
            for line in facts.proxy_logs.get(proxy.name, "").splitlines():
                match = _UPSTREAM_ERROR.search(line)
                if match:
                    errors.setdefault((match["ip"], match["port"]), []).append(line)
            if not errors:
                continue
            networks = set(proxy.networks) - {"bridge", "host", "none"}
            started = proxy.state.started_at
            for (ip, port), lines in sorted(errors.items()):
                current = {
                    addr: c
                    for c in facts.containers
                    if c.state.running and (addr := _address(c, networks))
                }
                recreated = [
                    c
                    for c in current.values()
                    if c.id != proxy.id and (c.created or _EPOCH) > started
                ]
                if not recreated:
                    continue
                upstream = max(recreated, key=lambda c: (_exposes(c, port), c.created or _EPOCH))
                now_at = _address(upstream, networks)
                if now_at is None or now_at == ip:
                    continue
                newest = redact_text(lines[-1], known_secrets=secrets).strip()[:_LINE_LIMIT]
                holder = current.get(ip)
                findings.append(
                    make_finding(
                        "network.stale_upstream",
                        Severity.CRITICAL,
                        f"{proxy.name} still sends requests to {ip}:{port}, the address "
                        f"{upstream.name} had before it was recreated (now {now_at}): the "
                        "proxy resolved it once, at its start",
                        container_subject(facts, proxy),
                        fixes=(
                            Fix(
                                action="container.restart",
                                params={
                                    "host": facts.host,
                                    "container": proxy.name,
                                    "force": True,
                                },
                                destructive=True,
                                summary=f"restart {proxy.name} so it resolves "
                                f"{upstream.compose_service or upstream.name} again",
                            ),
                        ),
                        proxy=proxy.name,
                        upstream=upstream.name,
                        proxy_started_at=started.isoformat(),
                        upstream_created=upstream.created.isoformat() if upstream.created else None,
                        old_address=f"{ip}:{port}",
                        current_address=f"{now_at}:{port}",
                        old_address_now=holder.name if holder is not None else None,
                        count=len(lines),
                        newest_line=newest,
                        advice="restart the proxy; to stop it recurring, let nginx "
                        "re-resolve: `resolver 127.0.0.11 valid=10s;` and "
                        "`set $up http://SERVICE:PORT; proxy_pass $up;`",
                    )
                )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_stale_upstream,)
