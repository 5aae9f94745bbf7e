"""Fixtures shared by the lab tests of stackbot's own behaviour."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import inventories


@pytest.fixture(scope="session", autouse=True)
def state_root() -> Iterator[Path]:
    """Where the tests' stackbot state lives; removed at the end of the session."""
    root = Path(tempfile.mkdtemp(prefix="stackbot-test-state-"))
    root.chmod(0o711)
    inventories.STATE_ROOT[:] = [root]
    yield root
    inventories.STATE_ROOT.clear()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port on loopback that accepts connections and never says a word.

    Stands in for a host that does not answer (a firewall that drops, a hung
    sshd) without sending any packet off this machine.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()
