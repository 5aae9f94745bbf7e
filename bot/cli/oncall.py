"""``stackbot oncall [ENV]`` and ``stackbot incidents [ENV]``: on-call from a terminal.

The same answers as ``/stack oncall`` and ``/stack incidents``, read from the
same database (overrides and incidents live there). ``oncall`` still answers
from the rotation when the database is down, and says that overrides could
not be read.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from bot.inventory.config import Inventory
from bot.model.errors import UnknownEnvironment
from bot.model.units import human_duration
from bot.oncall.clock import SystemClock
from bot.oncall.models import IncidentStatus
from bot.oncall.rotation import on_call
from bot.oncall.service import OnCall
from bot.oncall.store import IncidentStore
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.setup import open_trail

EXIT_OK = 0
EXIT_OPEN = 1  # `incidents`: some are open


def _environments(inventory: Inventory, env: str | None) -> list[str]:
    if env is None:
        return list(inventory.environments)
    if env not in inventory.environments:
        raise UnknownEnvironment(env, list(inventory.environments))
    return [env]


def _time(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M %Z}"


async def run_oncall(inventory: Inventory, args: argparse.Namespace, out: Console) -> int:
    envs = [e for e in _environments(inventory, args.env) if inventory.environments[e].oncall]
    if not envs:
        out.print("no rotation configured" + (f" for {args.env}" if args.env else ""))
        return EXIT_OK
    async with open_trail(inventory) as trail:
        store = IncidentStore(trail.store) if trail.store is not None else None
        service = OnCall(inventory, store, SystemClock()) if store is not None else None
        for env in envs:
            config = inventory.environments[env].oncall
            assert config is not None
            try:
                now = await service.who(env) if service is not None else None
                note = ""
            except AuditUnavailable as exc:
                now, note = None, f"  (overrides not read: {exc.message})"
            if now is None:
                now = on_call(config.rotation, SystemClock().now())
                note = note or "  (overrides not read: no database)"
            zone = config.rotation.zone
            line = f"{env}: {now.primary} until {_time(now.until.astimezone(zone))}"
            if now.override is not None:
                line += f" (override by {now.override.created_by}; rotation: {now.scheduled})"
            line += f" · next {now.next_primary} from {_time(now.handoff_at.astimezone(zone))}"
            line += f" · secondary {now.secondary or '-'}"
            out.print(line + note, markup=False, soft_wrap=True)
    return EXIT_OK


async def run_incidents(inventory: Inventory, args: argparse.Namespace, out: Console) -> int:
    envs = _environments(inventory, args.env)
    async with open_trail(inventory) as trail:
        if trail.store is None:
            raise AuditUnavailable(trail.unavailable)
        incidents = await IncidentStore(trail.store).open_incidents(envs)
    if not incidents:
        out.print("no open incidents")
        return EXIT_OK
    now = SystemClock().now()
    for incident in incidents:
        state = (
            f"acknowledged by {incident.acknowledged_by}"
            if incident.status is IncidentStatus.ACKNOWLEDGED
            else "NOT acknowledged"
        )
        out.print(
            f"{incident.short_id}  {incident.severity.value:<8} {incident.environment:<12} "
            f"{incident.title}  (open {human_duration((now - incident.opened_at).total_seconds())}"
            f", {state}, {incident.source})",
            markup=False,
            soft_wrap=True,
        )
    return EXIT_OPEN
