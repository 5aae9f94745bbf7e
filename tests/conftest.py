"""Shared fixtures. The lab fixture imports the lab lazily: `-m "not lab"` stays cheap."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.lab.lab import Lab

# The suite's scenarios default to Compose v1, whose container names (shop_db_1) its
# tests spell out; tests/integration/test_compose_v2.py runs every scenario under
# both. STACKBOT_LAB_COMPOSE=v2 builds them all with v2 instead.
os.environ.setdefault("STACKBOT_LAB_COMPOSE", "v1")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The running lab: started here (and stopped at session end) or attached to.

    A lab left running by ``python -m tests.lab up`` is attached to and left running.
    Set STACKBOT_LAB_KEEP=1 to leave a lab this session started running too.
    """
    if os.geteuid() != 0:
        pytest.fail(
            "lab tests need root (network namespaces, dockerd, sshd). Run pytest as root, "
            "or deselect them with: pytest -m 'not lab'",
            pytrace=False,
        )
    from tests.lab.lab import Lab

    handle = Lab()
    started = handle.start()
    try:
        yield handle
    finally:
        handle.close()
        if started and not os.environ.get("STACKBOT_LAB_KEEP"):
            handle.stop()
