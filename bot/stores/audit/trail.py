"""What the CLI and the executor call: ``AuditTrail.request(...)`` → ``AuditRequest.record(kind)``.

Every record goes through ``bot.redaction.redact`` before it is hashed, written or spooled.

- ``durable=True`` (anything before a change to a host): the row must be in
  the database when ``record`` returns; if it cannot be written, ``record``
  raises ``AuditUnavailable`` and the caller refuses (fail closed). A
  ``denied`` row saying why is spooled.
- ``durable=False`` (read-only runs, and what happens after a change): the row
  goes to the database, else to the local spool, replayed before the next row
  that reaches the database.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.record import AuditRecord, Kind, Surface, redact_record
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore

log = logging.getLogger(__name__)


class AuditTrail:
    def __init__(
        self, store: AuditStore | None, spool: Spool, *, unavailable: str | None = None
    ) -> None:
        self.store = store
        self.spool = spool
        self.unavailable = unavailable or "no audit database is configured or running"

    async def write(self, record: AuditRecord, *, durable: bool) -> AuditRecord:
        """Write ``record`` (redacted first); see the module docstring for ``durable``."""
        record = redact_record(record)
        try:
            if self.store is None:
                raise AuditUnavailable(self.unavailable)
            await self.replay()
            await self.store.append(record)
        except AuditUnavailable as exc:
            if durable:
                self.spool.append(
                    record.model_copy(
                        update={
                            "id": uuid.uuid4(),
                            "kind": "denied",
                            "details": {
                                "refused": record.kind,
                                "reason": f"audit trail unavailable: {exc.message}",
                            },
                        }
                    )
                )
                raise AuditUnavailable(
                    f"refused: the audit trail cannot be written ({exc.message}); "
                    "nothing was changed"
                ) from exc
            log.warning("audit database unavailable, row spooled: %s", exc.message)
            self.spool.append(record)
        return record

    async def replay(self) -> int:
        """Move spooled rows into the database (raises ``AuditUnavailable`` if it is down)."""
        if self.store is None:
            return 0
        return await self.spool.replay(self.store.append)

    def request(
        self,
        *,
        actor: str,
        surface: Surface,
        environment: str | None = None,
        action: str | None = None,
        host: str | None = None,
        stack: str | None = None,
        target: dict[str, str] | None = None,
    ) -> AuditRequest:
        return AuditRequest(
            trail=self,
            correlation_id=uuid.uuid4(),
            actor=actor,
            surface=surface,
            environment=environment,
            action=action,
            host=host,
            stack=stack,
            target=dict(target or {}),
        )


@dataclass
class AuditRequest:
    """One request's rows share its correlation id and who/where fields."""

    trail: AuditTrail
    correlation_id: uuid.UUID
    actor: str
    surface: Surface
    environment: str | None = None
    action: str | None = None
    host: str | None = None
    stack: str | None = None
    target: dict[str, str] = field(default_factory=dict)
    last_kind: Kind | None = None  # the kind of the last row recorded (or spooled)

    async def record(
        self, kind: Kind, details: dict[str, Any] | None = None, *, durable: bool = False
    ) -> AuditRecord:
        self.last_kind = kind
        return await self.trail.write(
            AuditRecord(
                correlation_id=self.correlation_id,
                kind=kind,
                actor=self.actor,
                surface=self.surface,
                environment=self.environment,
                host=self.host,
                stack=self.stack,
                target=self.target,
                action=self.action,
                details=details or {},
            ),
            durable=durable,
        )
