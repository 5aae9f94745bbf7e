"""One pooled asyncssh connection per host, and the HostSession that rides on it.

- A connection is opened on first use, shared by every runbook in the process,
  kept alive with keepalives, and closed after ``ssh.idle_close`` seconds unused.
- At most ``ssh.max_concurrent_handshakes`` handshakes run at once.
- Host keys come from known_hosts only; anything else is refused (hostkeys.py).
- The Docker Engine API and Postgres travel through forwarded channels of the
  same connection: never one SSH login per call.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from bot.framework.session import CommandResult, Database, quote_argv
from bot.inventory.config.models import ResolvedHost, SSHEndpoint, SSHSettings
from bot.model.errors import (
    AuthenticationFailed,
    CommandTimeout,
    DockerUnavailable,
    HostError,
    HostUnreachable,
)
from bot.transport.completed import command_result
from bot.transport.docker_engine import DockerEngineClient
from bot.transport.hostkeys import explain_rejection, known_hosts_path
from bot.transport.postgres import open_database

T = TypeVar("T")

# asyncssh's own order with AES-GCM first: its chacha20-poly1305 builds two cipher
# contexts per packet (~70 µs of CPU each packet, ~50 ms over a diagnosis's ~800),
# AES-GCM one (~4 µs). Every OpenSSH since 6.2 offers AES-GCM; the rest stay as
# fallbacks, so no server that negotiated before is refused now.
ENCRYPTION_ALGS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


class _Client(asyncssh.SSHClient):
    """Notices when the server or network drops the connection."""

    def __init__(self) -> None:
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class _ForwardedDocker(DockerEngineClient):
    """The Docker API through a forwarded channel: when the SSH connection under it is
    lost (sshd killed, host rebooted), a failed call says that, not "Docker does not answer"."""

    def __init__(self, *args: Any, lost: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lost = lost

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await super()._call(fn)
        except DockerUnavailable as exc:
            if not self._lost():
                raise
            raise HostUnreachable(
                self._host, "lost the SSH connection (sshd stopped, or the host went away)"
            ) from exc


@dataclass
class _Pooled:
    conn: asyncssh.SSHClientConnection
    client: _Client
    docker: DockerEngineClient | None = None
    forward: asyncssh.SSHListener | None = None
    tunnel: asyncssh.SSHClientConnection | None = None  # the jump host's connection
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)
    memo: dict[str, Any] = field(default_factory=dict)  # per-connection facts

    @property
    def usable(self) -> bool:
        return not self.client.lost


class SSHPool:
    """Opens, shares, keeps alive and closes SSH connections, one per host."""

    def __init__(self, settings: SSHSettings) -> None:
        self._settings = settings
        self._pooled: dict[tuple[str, str], _Pooled] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._handshakes = asyncio.Semaphore(settings.max_concurrent_handshakes)
        self._socket_dir = Path(tempfile.mkdtemp(prefix="stackbot-ssh-"))  # mode 0700
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._forwards = 0
        self.logins = 0
        """How many SSH connections (logins) this pool has opened."""

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[SSHHostSession]:
        """Lease the host's connection for the length of the ``async with``."""
        pooled = await self._acquire(host)
        pooled.active += 1
        try:
            yield SSHHostSession(host, pooled, self)
        finally:
            pooled.active -= 1
            pooled.last_used = time.monotonic()

    async def _acquire(self, host: ResolvedHost) -> _Pooled:
        if self._closed:
            raise RuntimeError("the SSH pool is closed")
        key = (host.env, host.name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            pooled = self._pooled.get(key)
            if pooled is not None and pooled.usable:
                return pooled
            if pooled is not None:
                await self._discard(key)
            conn, client, tunnel = await self._connect(host)
            pooled = _Pooled(conn=conn, client=client, tunnel=tunnel)
            pooled.docker = _ForwardedDocker(
                lambda: self._forward_docker(host, pooled),
                host_label=host.label,
                remote_socket=host.docker_socket,
                lost=lambda: not pooled.usable,
            )
            self._pooled[key] = pooled
            self._start_reaper()
            return pooled

    async def _connect(
        self, host: ResolvedHost
    ) -> tuple[asyncssh.SSHClientConnection, _Client, asyncssh.SSHClientConnection | None]:
        known_hosts = known_hosts_path(host)
        tunnel = await self._connect_jump(host) if host.jump_host else None
        client = _Client()
        async with self._handshakes:
            try:
                conn = await asyncssh.connect(
                    host.address,
                    host.port,
                    tunnel=tunnel,
                    username=host.user,
                    client_factory=lambda: client,
                    **self._options(host, host.private_key, known_hosts),
                )
            except asyncssh.HostKeyNotVerifiable as exc:
                if tunnel is not None:
                    tunnel.close()
                raise await explain_rejection(host, known_hosts) from exc
            except BaseException as exc:
                if tunnel is not None:
                    tunnel.close()
                raise _map_connect_error(host, exc) from exc
        self.logins += 1
        return conn, client, tunnel

    async def _connect_jump(self, host: ResolvedHost) -> asyncssh.SSHClientConnection:
        jump: SSHEndpoint = host.jump_host  # type: ignore[assignment]
        jump_host = host.model_copy(
            update={
                "name": f"{host.name}-jump",
                "address": jump.address,
                "port": jump.port,
                "user": jump.user or host.user,
                "private_key": jump.private_key or host.private_key,
                "known_hosts": jump.known_hosts or host.known_hosts,
                "jump_host": None,
            }
        )
        conn, _, _ = await self._connect(jump_host)
        return conn

    def _options(
        self, host: ResolvedHost, private_key: Path | None, known_hosts: Path
    ) -> dict[str, Any]:
        if private_key is not None and not os.access(private_key, os.R_OK):
            raise AuthenticationFailed(host.label, f"cannot read private key {private_key}")
        return {
            "known_hosts": str(known_hosts),
            "client_keys": [str(private_key)] if private_key else (),
            "config": [],  # the inventory is the whole truth, not ~/.ssh/config
            "agent_path": None,
            "password": None,
            "kbdint_auth": False,
            "preferred_auth": "publickey",
            "encryption_algs": ENCRYPTION_ALGS,
            "connect_timeout": host.connect_timeout,
            "login_timeout": host.connect_timeout,
            "keepalive_interval": self._settings.keepalive_interval,
            "keepalive_count_max": self._settings.keepalive_count_max,
        }

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_idle(), name="stackbot-ssh-reaper")

    async def _reap_idle(self) -> None:
        idle = self._settings.idle_close
        while self._pooled:
            await asyncio.sleep(min(max(idle / 4, 0.05), 30.0))
            now = time.monotonic()
            for key, pooled in list(self._pooled.items()):
                if pooled.active == 0 and (now - pooled.last_used >= idle or not pooled.usable):
                    await self._discard(key)

    async def _discard(self, key: tuple[str, str]) -> None:
        pooled = self._pooled.pop(key, None)
        if pooled is None:
            return
        if pooled.docker is not None:
            await pooled.docker.close()
        if pooled.forward is not None:
            pooled.forward.close()
        for conn in (pooled.conn, pooled.tunnel):
            if conn is None:
                continue
            conn.close()
            with suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(conn.wait_closed(), timeout=5)

    @property
    def command_timeout(self) -> float:
        return self._settings.command_timeout

    @property
    def open_connections(self) -> int:
        return sum(1 for p in self._pooled.values() if p.usable)

    async def _forward_docker(self, host: ResolvedHost, pooled: _Pooled) -> str:
        """A local socket whose every connection is a channel to the remote Docker socket."""
        self._forwards += 1
        local = self._socket_dir / f"{host.env}.{host.name}.{self._forwards}.docker.sock"
        try:
            pooled.forward = await pooled.conn.forward_local_path(str(local), host.docker_socket)
        except (asyncssh.Error, OSError) as exc:
            raise HostUnreachable(host.label, f"cannot forward the Docker socket: {exc}") from exc
        return f"unix://{local}"

    async def close(self) -> None:
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        for key in list(self._pooled):
            await self._discard(key)
        for leftover in self._socket_dir.glob("*"):
            leftover.unlink(missing_ok=True)
        self._socket_dir.rmdir()


class SSHHostSession:
    """``bot.framework.session.HostSession`` over a pooled SSH connection."""

    def __init__(self, host: ResolvedHost, pooled: _Pooled, pool: SSHPool) -> None:
        self._host = host
        self._pooled = pooled
        self._pool = pool

    @property
    def host(self) -> ResolvedHost:
        return self._host

    @property
    def docker(self) -> DockerEngineClient:
        assert self._pooled.docker is not None
        return self._pooled.docker

    @property
    def memo(self) -> dict[str, Any]:
        return self._pooled.memo

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        command = quote_argv(argv)
        limit = timeout if timeout is not None else self._pool.command_timeout
        started = time.monotonic()
        try:
            # stdin closed: a prompt (compose's "Recreate volume?") reads EOF, never hangs
            proc = await self._pooled.conn.run(
                command, check=False, timeout=limit, stdin=asyncssh.DEVNULL
            )
        except asyncssh.TimeoutError as exc:
            raise CommandTimeout(
                self._host.label, command, limit, _text(exc.stdout), _text(exc.stderr)
            ) from exc
        except (asyncssh.Error, OSError) as exc:
            raise HostUnreachable(self._host.label, f"lost the connection: {exc}") from exc
        return command_result(
            self._host.label,
            argv,
            exit_status=proc.returncode,
            stdout=_text(proc.stdout),
            stderr=_text(proc.stderr),
            started=started,
            check=check,
        )

    async def read_file(self, path: str, *, max_bytes: int = 1_048_576) -> bytes:
        result = await self.run(["head", "-c", str(max_bytes), "--", path], check=True)
        return result.stdout.encode("utf-8", errors="surrogateescape")

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        return self._database(
            address=address, port=port, user=user, password=password, dbname=dbname
        )

    @asynccontextmanager
    async def _database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AsyncIterator[Database]:
        try:
            listener = await self._pooled.conn.forward_local_port("127.0.0.1", 0, address, port)
        except (asyncssh.Error, OSError) as exc:
            raise HostUnreachable(
                self._host.label, f"cannot forward to {address}:{port}: {exc}"
            ) from exc
        try:
            async with open_database(
                dial_host="127.0.0.1",
                dial_port=listener.get_port(),
                user=user,
                password=password,
                dbname=dbname,
                host_label=self._host.label,
                target=f"postgres at {address}:{port}",
            ) as db:
                yield db
        finally:
            listener.close()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _map_connect_error(host: ResolvedHost, exc: BaseException) -> BaseException:
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationFailed(
            host.label,
            f"authentication refused for user {host.user!r} with key {host.private_key}",
        )
    if isinstance(exc, asyncssh.KeyImportError):
        return AuthenticationFailed(
            host.label, f"cannot load private key {host.private_key}: {exc}"
        )
    if isinstance(exc, TimeoutError):
        return HostUnreachable(host.label, f"no answer within {host.connect_timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return HostUnreachable(host.label, "connection refused (is sshd running on that port?)")
    if isinstance(exc, OSError):
        return HostUnreachable(host.label, exc.strerror or str(exc) or type(exc).__name__)
    if isinstance(exc, asyncssh.Error):
        return HostUnreachable(host.label, f"SSH handshake failed: {exc.reason}")
    return exc
