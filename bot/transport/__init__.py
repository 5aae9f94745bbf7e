"""Transports: a host's session over SSH (asyncssh, docker-py) or on this machine, and the
Postgres access runbooks get through it (the stores import psycopg too: docs/ARCHITECTURE.md).

``Transport.session(host)`` leases a ``bot.framework.session.HostSession`` for a host:
over the pooled SSH connection, or on this machine when the host's address
is ``local``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.framework.session import HostSession
from bot.inventory.config.models import ResolvedHost, SSHSettings
from bot.transport.local import LocalHostSession
from bot.transport.ssh import SSHPool


class Transport:
    def __init__(self, settings: SSHSettings) -> None:
        self._settings = settings
        self.ssh = SSHPool(settings)

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        if host.is_local:
            local = LocalHostSession(host, command_timeout=self._settings.command_timeout)
            try:
                yield local
            finally:
                await local.close()
            return
        async with self.ssh.session(host) as remote:
            yield remote

    async def close(self) -> None:
        await self.ssh.close()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["Transport"]
