"""Who asked, and through which front end: every operation takes one."""

from __future__ import annotations

from dataclasses import dataclass

from bot.stores.audit.record import Surface


@dataclass(frozen=True)
class Requester:
    """``actor``: the OS user (cli), the Slack user id (slack), the alert's source (alert)."""

    actor: str
    surface: Surface


WATCHER = Requester(actor="watcher", surface="alert")

__all__ = ["WATCHER", "Requester"]
