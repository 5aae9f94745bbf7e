"""The Docker Engine API of one host, via docker-py, made asynchronous and typed.

docker-py is synchronous: every call runs in a worker thread so the event loop
(which also carries the SSH channels the calls travel through) keeps turning.
docker-py and requests exceptions are mapped to ``bot.model.errors`` here and only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.utils.socket import frames_iter

from bot.framework.session import EXEC_TIMEOUT, ExecResult
from bot.model.docker_objects import (
    ContainerDetails,
    ContainerSummary,
    DiskUsage,
    EngineInfo,
    EngineVersion,
    NetworkSummary,
    Volume,
)
from bot.model.errors import (
    CommandTimeout,
    DockerAPIError,
    DockerObjectNotFound,
    DockerUnavailable,
    HostError,
)

T = TypeVar("T")

API_TIMEOUT = 60
DF_RETRIES = 12
# the API version each engine (host label, socket) agreed to, in this process: a new
# session with it names that version instead of asking ``/version`` first (one request
# and one round trip fewer before the first answer); an engine that refuses it since
# (upgraded, downgraded) is asked again
_AGREED: dict[tuple[str, str], str] = {}
_REFUSED_VERSION = re.compile(r"client version \S+ is too (new|old)", re.IGNORECASE)


class DockerEngineClient:
    """Implements ``bot.framework.session.DockerEngine`` over a unix socket URL.

    ``open_socket`` returns the base URL to talk to, and is awaited once, before
    the first call: the host's own socket (local session) or the local end of
    an SSH-forwarded channel to the remote Docker socket (SSH session).
    """

    def __init__(
        self,
        open_socket: Callable[[], Awaitable[str]],
        *,
        host_label: str,
        remote_socket: str,
    ) -> None:
        self._open_socket = open_socket
        self._host = host_label
        self._remote_socket = remote_socket
        self._client: docker.APIClient | None = None
        self._lock = asyncio.Lock()
        self._failures = 0  # failed attempts to reach the engine, and the last one's error
        self._failure: tuple[type[HostError], str] | None = None
        self._closed = False
        self._df_lock = asyncio.Lock()
        self._engine = (host_label, remote_socket)
        self.api_calls = 0

    async def _api(self) -> docker.APIClient:
        """The client, made on first use. Calls that waited while an attempt failed get that
        attempt's error instead of one more attempt each (an engine that did not answer
        the first does not answer the second either, and a late attempt could outlive the
        session: a channel opened while the connection closes is never answered, and
        the call would hang for API_TIMEOUT); a later call tries again."""
        failures_before = self._failures
        async with self._lock:
            if self._client is not None:
                return self._client
            if self._closed:
                raise DockerUnavailable(self._host, "the session with this host has ended")
            if self._failure is not None and self._failures > failures_before:
                kind, detail = self._failure
                raise kind(self._host, detail)
            try:
                base_url = await self._open_socket()
                # version="auto" asks the engine once (newer engines refuse old API
                # versions); the version it agreed to before is named without asking
                version = _AGREED.get(self._engine, "auto")
                client = await self._call(
                    lambda: docker.APIClient(
                        base_url=base_url, version=version, timeout=API_TIMEOUT
                    )
                )
            except HostError as exc:
                self._failures += 1
                self._failure = (type(exc), exc.detail)  # not the error: its frames hold sockets
                raise
            _AGREED[self._engine] = client.api_version
            self._client = client
            return client

    async def _renegotiate(self, refused: docker.APIClient) -> None:
        """The engine refused the API version agreed before: ask it again (``auto``)."""
        async with self._lock:
            if self._client is not refused:
                return  # another call did it already
            _AGREED.pop(self._engine, None)
            self._client = None
        await asyncio.to_thread(refused.close)

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except docker.errors.NotFound as exc:
            raise DockerObjectNotFound(self._host, _explain(exc)) from exc
        except docker.errors.APIError as exc:
            raise DockerAPIError(self._host, _explain(exc)) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise DockerUnavailable(
                self._host,
                f"the Docker daemon at {self._remote_socket} does not answer "
                f"(not running, no such socket, or no permission): {type(exc).__name__}",
            ) from exc
        except OSError as exc:
            raise DockerUnavailable(
                self._host, f"the Docker socket {self._remote_socket} failed: {exc.strerror or exc}"
            ) from exc

    async def _request(self, fn: Callable[[docker.APIClient], T]) -> T:
        api = await self._api()
        self.api_calls += 1
        try:
            return await self._call(lambda: fn(api))
        except DockerAPIError as exc:
            if not _REFUSED_VERSION.search(exc.detail):
                raise
        await self._renegotiate(api)
        api = await self._api()
        self.api_calls += 1
        return await self._call(lambda: fn(api))

    async def version(self) -> EngineVersion:
        return EngineVersion.model_validate(await self._request(lambda api: api.version()))

    async def info(self) -> EngineInfo:
        return EngineInfo.model_validate(await self._request(lambda api: api.info()))

    async def containers(self, *, all: bool = True) -> list[ContainerSummary]:
        rows: list[dict[str, Any]] = await self._request(lambda api: api.containers(all=all))
        return [ContainerSummary.model_validate(row) for row in rows]

    async def inspect_container(self, ref: str) -> ContainerDetails:
        data = await self._request(lambda api: api.inspect_container(ref))
        return ContainerDetails.model_validate(data)

    async def volumes(self) -> list[Volume]:
        data = await self._request(lambda api: api.volumes())
        return [Volume.model_validate(row) for row in (data.get("Volumes") or [])]

    async def networks(self) -> list[NetworkSummary]:
        rows: list[dict[str, Any]] = await self._request(lambda api: api.networks())
        return [NetworkSummary.model_validate(row) for row in rows]

    async def disk_usage(self) -> DiskUsage:
        """``/system/df``. The engine runs one at a time and refuses a second one while the
        first runs ("a disk usage operation is already running"): wait and ask again."""
        async with self._df_lock:
            for attempt in range(DF_RETRIES):
                try:
                    return DiskUsage.model_validate(await self._request(lambda api: api.df()))
                except DockerAPIError as exc:
                    if "already running" not in exc.detail or attempt == DF_RETRIES - 1:
                        raise
                    await asyncio.sleep(0.25 * (attempt + 1))
        raise AssertionError("unreachable")

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        raw: bytes = await self._request(
            lambda api: api.logs(ref, stdout=True, stderr=True, tail=tail, timestamps=False)
        )
        return raw.decode("utf-8", errors="replace")

    async def exec_run(
        self, ref: str, argv: Sequence[str], *, timeout: float = EXEC_TIMEOUT
    ) -> ExecResult:
        """docker-py reads an exec's output with no time limit at all (it turns the socket's
        timeout off and polls): the output is read here from the raw socket, and a command
        still running after ``timeout`` has its socket shut, which ends the read."""
        command = list(argv)

        def start(api: docker.APIClient) -> tuple[str, Any]:
            created = api.exec_create(ref, cmd=command, stdout=True, stderr=True, tty=False)
            return str(created["Id"]), api.exec_start(created["Id"], socket=True)

        exec_id, sock = await self._request(start)
        raw = getattr(sock, "_sock", sock)

        def read() -> bytes:
            frames = frames_iter(sock, tty=False)  # type: ignore[no-untyped-call]
            return b"".join(data for _, data in frames)

        reader: asyncio.Task[bytes] = asyncio.get_running_loop().create_task(self._call(read))
        try:
            output: bytes = await asyncio.wait_for(asyncio.shield(reader), timeout)
        except TimeoutError:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
            with contextlib.suppress(Exception):
                await reader
            raise CommandTimeout(
                self._host, f"{shlex.join(command)} (in {ref})", timeout, "", ""
            ) from None
        finally:
            with contextlib.suppress(OSError):
                sock.close()
                raw.close()  # the hijacked connection: nothing else will close it
        exit_code = await self._request(lambda api: api.exec_inspect(exec_id).get("ExitCode"))
        return ExecResult(
            container=ref,
            argv=tuple(command),
            exit_code=exit_code,
            output=output.decode("utf-8", errors="replace"),
        )

    async def connect_network(
        self, network: str, container: str, *, aliases: Sequence[str] = ()
    ) -> None:
        names = list(aliases) or None
        await self._request(
            lambda api: api.connect_container_to_network(container, network, aliases=names)
        )

    async def restart_container(self, ref: str, *, timeout: int = 10) -> None:
        await self._request(lambda api: api.restart(ref, timeout=timeout))

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None:
        await self._request(lambda api: api.stop(ref, timeout=timeout))

    async def start_container(self, ref: str) -> None:
        await self._request(lambda api: api.start(ref))

    async def rename_container(self, ref: str, name: str) -> None:
        await self._request(lambda api: api.rename(ref, name))

    async def remove_container(self, ref: str, *, force: bool = False) -> None:
        await self._request(lambda api: api.remove_container(ref, force=force))

    async def create_container(self, body: dict[str, Any], *, name: str) -> str:
        created = await self._request(lambda api: api.create_container_from_config(body, name=name))  # type: ignore[no-untyped-call]
        return str(created["Id"])

    async def wait_container(self, ref: str, *, timeout: float) -> int:
        answer = await self._request(lambda api: api.wait(ref, timeout=int(timeout)))
        return int(answer.get("StatusCode", -1))

    async def prune(self) -> dict[str, int]:
        def run(api: docker.APIClient) -> dict[str, int]:
            containers = api.prune_containers()  # type: ignore[no-untyped-call]
            images = api.prune_images(filters={"dangling": True})  # type: ignore[no-untyped-call]
            builds = api.prune_builds()
            return {
                "containers": int(containers.get("SpaceReclaimed") or 0),
                "images": int(images.get("SpaceReclaimed") or 0),
                "build_cache": int(builds.get("SpaceReclaimed") or 0),
            }

        return await self._request(run)

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", errors="replace")
    return str(explanation or exc)
