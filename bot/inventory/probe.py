"""``check-config --connect``: try each host's key, login and Docker, and say which failed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from bot.framework.compose_cli import detect_compose
from bot.inventory.config.models import ResolvedHost
from bot.model.errors import AuthenticationFailed, HostError, HostKeyRejected
from bot.model.outcome import ErrorInfo
from bot.transport import Transport

Check = Literal["ok", "failed", "unchecked", "not applicable"]


class HostProbe(BaseModel):
    env: str
    host: str
    label: str
    host_key: Check = "unchecked"
    host_key_detail: str = ""
    authentication: Check = "unchecked"
    docker: Check = "unchecked"
    docker_version: str | None = None
    api_version: str | None = None
    compose: str | None = None  # "docker compose 2.40.3 (v2 plugin)", or "none"
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def probe_host(transport: Transport, host: ResolvedHost) -> HostProbe:
    probe = HostProbe(env=host.env, host=host.name, label=host.label)
    if host.is_local:
        probe.host_key = probe.authentication = "not applicable"
    try:
        async with transport.session(host) as session:
            if not host.is_local:
                probe.host_key = probe.authentication = "ok"
            try:
                version = await session.docker.version()
            except HostError:
                probe.docker = "failed"
                raise
            probe.docker = "ok"
            probe.docker_version, probe.api_version = version.version, version.api_version
            found = await detect_compose(session)
            probe.compose = found.label if found is not None else "none"
    except HostKeyRejected as exc:
        probe.host_key = "failed"
        probe.host_key_detail = "changed" if exc.changed else "unknown"
        probe.error = ErrorInfo.from_error(exc)
    except AuthenticationFailed as exc:
        probe.host_key, probe.authentication = "ok", "failed"
        probe.error = ErrorInfo.from_error(exc)
    except HostError as exc:
        probe.error = ErrorInfo.from_error(exc)
    return probe


async def probe_hosts(transport: Transport, hosts: Sequence[ResolvedHost]) -> list[HostProbe]:
    return list(await asyncio.gather(*(probe_host(transport, host) for host in hosts)))
