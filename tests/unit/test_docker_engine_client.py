"""DockerEngineClient reaches the engine once for the calls waiting on it, and not after
its session ended (a late attempt through a closing SSH connection hung for 60 s)."""

from __future__ import annotations

import asyncio
import gc
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
