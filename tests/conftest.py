"""Shared fixtures. The lab fixture imports the lab lazily: `-m "not lab"` stays cheap."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.lab.lab import Lab

# The suite's scenarios default to Compose v1, whose container names (shop_db_1) its
# tests spell out; tests/integration/test_compose_v2.py runs every scenario under
# both. STACKBOT_LAB_COMPOSE=v2 builds them all with v2 instead.
os.environ.setdefault("STACKBOT_LAB_COMPOSE", "v1")


def sample(nodeids: list[str], keep: int, day: int) -> set[str]:
    """``keep`` of ``nodeids`` (sorted), a different window each day, so that every one of
    them runs within ``ceil(len / keep)`` days."""
    ordered = sorted(nodeids)
    if keep >= len(ordered):
        return set(ordered)
    start = (day * keep) % len(ordered)
    return {ordered[(start + i) % len(ordered)] for i in range(keep)}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``sampled(group, keep=N)`` are equivalent slow checks: a run keeps N of
    each group (rotating daily), unless STACKBOT_ALL_SAMPLES=1, or the run names tests
    itself (``path::test`` or ``-k``). The terminal summary says what was kept."""
    if os.environ.get("STACKBOT_ALL_SAMPLES") or config.option.keyword:
        return
    if any("::" in str(arg) for arg in config.args):
        return
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        marker = item.get_closest_marker("sampled")
        if marker is not None:
            groups.setdefault(str(marker.args[0]), []).append(item)
    dropped: list[pytest.Item] = []
    notes = []
    for group, members in sorted(groups.items()):
        marker = members[0].get_closest_marker("sampled")
        assert marker is not None
        kept = sample([m.nodeid for m in members], int(marker.kwargs.get("keep", 1)),
                      date.today().toordinal())  # fmt: skip
        dropped += [m for m in members if m.nodeid not in kept]
        notes.append(f"{group}: {len(kept)} of {len(members)} ({', '.join(sorted(kept))})")
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    config.stash[SAMPLED] = notes


SAMPLED = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    notes = terminalreporter.config.stash.get(SAMPLED, [])
    for note in notes:
        terminalreporter.write_line(f"sampled {note}; STACKBOT_ALL_SAMPLES=1 runs them all")


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
