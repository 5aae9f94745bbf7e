"""A transaction left open blocks a migration, and every query queued behind it.

Project ``shop``, migrated up to 0002 (0003 adds a column to ``orders``). A session in
the backend container read ``orders`` in a transaction and went idle without
committing (a script stuck at a prompt); the deploy's ``manage.py migrate`` then
waits for its ``ALTER TABLE orders`` lock. The build waits until that wait is 12 s old.
"""

from __future__ import annotations

import time

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import cname, exec_detached, psql, shop, wait_until
from tests.lab.lab import Lab

HOLDER = (
    "import time, db\n"
    "conn = db.connect()\n"
    "cur = conn.cursor()\n"
    "cur.execute('SELECT count(*) FROM orders')\n"
    "time.sleep(86400)\n"
)


def build(lab: Lab) -> None:
    shop(lab)
    db, backend = cname("shop", "db"), cname("shop", "backend")
    psql(lab, db, "ALTER TABLE orders DROP COLUMN status; "
                  "DELETE FROM app_migrations WHERE name = '0003_orders_status'")  # fmt: skip
    exec_detached(lab, backend, ["python3", "-c", HOLDER])
    wait_until("the open transaction", lambda: _idle_in_transaction(lab, db) >= 1)
    exec_detached(lab, backend, ["python3", "/app/manage.py", "migrate"])
    wait_until("the migration waiting on its lock", lambda: _waiting(lab, db) >= 1)
    time.sleep(12)  # the diagnosis reports waits of 10 s or more


def _idle_in_transaction(lab: Lab, db: str) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
    return int(psql(lab, db, sql).strip() or 0)


def _waiting(lab: Lab, db: str) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    return int(psql(lab, db, sql).strip() or 0)


SCENARIO = Scenario(
    id="lock-blocks-migration",
    title="an idle-in-transaction session blocks migrate's ALTER TABLE orders",
    family="database",
    build=build,
    expect=Expect(
        required=(Required(code="db.lock_blocking", subject="shop"),),
        tolerated=("db.migrations_pending",),
        forbidden=("db.unreachable", "db.empty", "db.missing", "db.connections_exhausted"),
    ),
)
