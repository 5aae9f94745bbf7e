"""DockerEngineClient reaches the engine once for the calls waiting on it, and not after
its session ended (a late attempt through a closing SSH connection hung for 60 s)."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.model.errors import DockerUnavailable
from bot.transport.docker_engine import DockerEngineClient


class _Opener:
    """An ``open_socket`` that counts its calls and gives a socket nothing listens on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)  # let the other callers line up behind the lock
        return f"unix://{self.path}"


@pytest.fixture(autouse=True)
def _docker_py_leaks_a_failed_connects_socket() -> Iterator[None]:
    """docker-py does not close the socket of a connect that failed; it is freed with the
    error's frames, by the collector: collect here, where its warning is expected."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _client(opener: _Opener) -> DockerEngineClient:
    return DockerEngineClient(opener, host_label="lab/h1", remote_socket="/run/nothing.sock")


async def test_calls_waiting_on_a_failed_attempt_share_its_error(tmp_path: Path) -> None:
    opener = _Opener(tmp_path / "nothing.sock")
    client = _client(opener)
    answers = await asyncio.gather(
        client.containers(), client.volumes(), client.networks(), return_exceptions=True
    )
    assert all(isinstance(a, DockerUnavailable) for a in answers), answers
    assert opener.calls == 1  # one attempt for the three calls waiting on it
    assert "/run/nothing.sock" in str(answers[0])

    with pytest.raises(DockerUnavailable):  # a later call tries again
        await client.info()
    assert opener.calls == 2
    await client.close()


async def test_no_attempt_after_the_session_ended(tmp_path: Path) -> None:
    opener = _Opener(tmp_path / "nothing.sock")
    client = _client(opener)
    await client.close()
    with pytest.raises(DockerUnavailable, match="session with this host has ended"):
        await client.containers()
    assert opener.calls == 0


class _Engine:
    """A Docker engine stand-in on a unix socket, speaking HTTP/1.1 as the engine does:
    ``/version`` says ``api``; a versioned path outside [``oldest``, ``api``] gets the
    engine's own refusal (400, "client version … is too new/old")."""

    def __init__(self, api: str, oldest: str = "1.24") -> None:
        self.api, self.oldest = api, oldest
        self.paths: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            path = line.split()[1].decode()
            while (await reader.readline()).strip():
                pass  # the headers; the calls here send no body
            self.paths.append(path)
            status, body = 200, b"[]"
            if path.startswith("/version"):
                body = json.dumps({"ApiVersion": self.api, "Version": "20.10.24"}).encode()
            elif (asked := path.split("/")[1].removeprefix("v")) and path.startswith("/v"):
                mine = tuple(int(x) for x in asked.split("."))
                if mine > tuple(int(x) for x in self.api.split(".")):
                    status, body = 400, self.refusal(asked, "new", "Maximum", self.api)
                elif mine < tuple(int(x) for x in self.oldest.split(".")):
                    status, body = 400, self.refusal(asked, "old", "Minimum", self.oldest)
            head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        writer.close()

    @staticmethod
    def refusal(asked: str, how: str, bound: str, version: str) -> bytes:
        said = f"client version {asked} is too {how}. {bound} supported API version is {version}"
        return json.dumps({"message": said}).encode()


async def _listing(engine: _Engine, socket_path: Path) -> list[str]:
    """The paths one new session's container list asked the engine."""
    engine.paths.clear()
    client = DockerEngineClient(
        _Opener(socket_path), host_label="lab/h9", remote_socket=str(socket_path)
    )
    try:
        assert await client.containers() == []
    finally:
        await client.close()
    return [p.partition("?")[0] for p in engine.paths]


@pytest.mark.parametrize("change", ["upgraded", "downgraded"])
async def test_a_new_session_names_the_version_agreed_before(tmp_path: Path, change: str) -> None:
    engine = _Engine("1.41")
    socket_path = tmp_path / "docker.sock"
    server = await asyncio.start_unix_server(engine.serve, path=str(socket_path))
    try:
        assert await _listing(engine, socket_path) == ["/version", "/v1.41/containers/json"]
        # another session with the same engine: no /version first
        assert await _listing(engine, socket_path) == ["/v1.41/containers/json"]
        # the engine changed meanwhile and refuses that version: asked again, then answered
        engine.api, engine.oldest = ("1.47", "1.44") if change == "upgraded" else ("1.40", "1.24")
        assert await _listing(engine, socket_path) == [
            "/v1.41/containers/json",
            "/version",
            f"/v{engine.api}/containers/json",
        ]
        assert await _listing(engine, socket_path) == [f"/v{engine.api}/containers/json"]
    finally:
        server.close()
        await server.wait_closed()
