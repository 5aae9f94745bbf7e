"""``HostSession`` for this machine: the local Docker socket, local processes, no SSH."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from bot.framework.session import CommandResult, Database, quote_argv
from bot.inventory.config.models import ResolvedHost
from bot.model.errors import CommandFailed, CommandTimeout, HostUnreachable
from bot.transport.completed import command_result
from bot.transport.docker_engine import DockerEngineClient
from bot.transport.postgres import open_database


class LocalHostSession:
    def __init__(self, host: ResolvedHost, *, command_timeout: float) -> None:
        self._host = host
        self._timeout = command_timeout
        self._memo: dict[str, Any] = {}

        async def local_socket() -> str:
            return f"unix://{host.docker_socket}"

        self._docker = DockerEngineClient(
            local_socket, host_label=host.label, remote_socket=host.docker_socket
        )

    @property
    def host(self) -> ResolvedHost:
        return self._host

    @property
    def docker(self) -> DockerEngineClient:
        return self._docker

    @property
    def memo(self) -> dict[str, Any]:
        return self._memo

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        command = quote_argv(argv)
        limit = timeout if timeout is not None else self._timeout
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise HostUnreachable(
                self._host.label, f"cannot run {argv[0]!r}: {exc.strerror}"
            ) from exc
        assert proc.stdout is not None and proc.stderr is not None
        out, err = bytearray(), bytearray()

        async def drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
            while chunk := await stream.read(65536):
                sink.extend(chunk)

        readers = asyncio.gather(drain(proc.stdout, out), drain(proc.stderr, err), proc.wait())
        try:
            await asyncio.wait_for(readers, timeout=limit)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise CommandTimeout(
                self._host.label, command, limit, _decode(out), _decode(err)
            ) from exc
        return command_result(
            self._host.label,
            argv,
            exit_status=proc.returncode,
            stdout=_decode(out),
            stderr=_decode(err),
            started=started,
            check=check,
        )

    async def read_file(self, path: str, *, max_bytes: int = 1_048_576) -> bytes:
        def read() -> bytes:
            with Path(path).open("rb") as handle:
                return handle.read(max_bytes)

        try:
            return await asyncio.to_thread(read)
        except OSError as exc:
            result = CommandResult(
                argv=("read", path), exit_status=1, stdout="", stderr=str(exc.strerror), duration=0
            )
            raise CommandFailed(self._host.label, result) from exc

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        return self._database(address, port, user, password, dbname)

    @asynccontextmanager
    async def _database(
        self, address: str, port: int, user: str, password: str, dbname: str
    ) -> AsyncIterator[Database]:
        async with open_database(
            dial_host=address,
            dial_port=port,
            user=user,
            password=password,
            dbname=dbname,
            host_label=self._host.label,
            target=f"postgres at {address}:{port}",
        ) as db:
            yield db

    async def close(self) -> None:
        await self._docker.close()


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
