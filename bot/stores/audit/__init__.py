"""The audit trail: append-only, hash-chained rows in Postgres, never lost.

record.py     AuditRecord (one row), canonical JSON, the row hash
chain.py      verify a chain of rows (pure): names the first bad row
migrations.py the schema, as ordered SQL steps (stackbot_schema_version)
store.py      AuditStore: serialised inserts, reads (psycopg pool)
spool.py      the local fsync'd JSONL spool for rows the database did not take
trail.py      AuditTrail / AuditRequest: what the CLI and the executor call
lock.py       the environment lock as a Postgres advisory lock
embedded.py   the embedded Postgres in the data directory (no configuration)
setup.py      open_trail(): database URL, else the embedded server
"""

from bot.stores.audit.errors import AuditError, AuditUnavailable, EmbeddedPostgresFailed
from bot.stores.audit.record import AuditRecord, Kind
from bot.stores.audit.trail import AuditRequest, AuditTrail

__all__ = [
    "AuditError",
    "AuditRecord",
    "AuditRequest",
    "AuditTrail",
    "AuditUnavailable",
    "EmbeddedPostgresFailed",
    "Kind",
]
