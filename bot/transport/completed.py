"""Turning a finished command into the ``CommandResult`` every transport returns."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.framework.session import CommandResult
from bot.model.errors import CommandFailed


def command_result(
    host_label: str,
    argv: Sequence[str],
    *,
    exit_status: int | None,
    stdout: str,
    stderr: str,
    started: float,
    check: bool,
) -> CommandResult:
    """The frozen record (``-1`` when killed by a signal); with ``check``, non-zero raises."""
    result = CommandResult(
        argv=tuple(argv),
        exit_status=exit_status if exit_status is not None else -1,
        stdout=stdout,
        stderr=stderr,
        duration=time.monotonic() - started,
    )
    if check and not result.ok:
        raise CommandFailed(host_label, result)
    return result
