"""The audit trail's errors, under ``bot.model.errors.StackbotError``.

StackbotError
└── AuditError                 the audit trail cannot be used      (exit 5)
    ├── AuditUnavailable       the database cannot be written: a change is refused
    └── EmbeddedPostgresFailed the embedded server did not start
"""

from __future__ import annotations

from bot.model.errors import StackbotError


class AuditError(StackbotError):
    code = "audit"
    exit_status = 5


class AuditUnavailable(AuditError):
    """The audit database cannot be written; anything that changes a host is refused."""

    code = "audit.unavailable"


class EmbeddedPostgresFailed(AuditError):
    code = "audit.embedded_failed"
