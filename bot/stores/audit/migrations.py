"""The audit schema, as ordered SQL steps; ``stackbot_schema_version`` says which ran.

Each step runs once, in its own transaction, under an advisory lock so that
several replicas starting at once migrate one at a time. Steps are never
edited once released: a change is a new step.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

MIGRATION_LOCK = 7_311_730_001  # pg_advisory_xact_lock key for migrations

STEPS: tuple[str, ...] = (
    # 1: the append-only, hash-chained audit table
    """
    CREATE TABLE audit_log (
        id             uuid        PRIMARY KEY,
        seq            bigint      NOT NULL UNIQUE CHECK (seq > 0),
        correlation_id uuid        NOT NULL,
        at             timestamptz NOT NULL,
        recorded_at    timestamptz NOT NULL,
        kind           text        NOT NULL,
        actor          text        NOT NULL,
        surface        text        NOT NULL,
        environment    text,
        host           text,
        stack          text,
        target         jsonb       NOT NULL DEFAULT '{}',
        action         text,
        details        jsonb       NOT NULL DEFAULT '{}',
        prev_hash      text        NOT NULL,
        row_hash       text        NOT NULL
    );
    CREATE INDEX audit_log_correlation ON audit_log (correlation_id);
    CREATE INDEX audit_log_at ON audit_log (at);
    CREATE INDEX audit_log_env_actor ON audit_log (environment, actor);

    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    """,
    # 2: pending actions behind Slack buttons (bot/stores/pending.py): single-use, expiring
    """
    CREATE TABLE pending_actions (
        id                    uuid        PRIMARY KEY,
        created_at            timestamptz NOT NULL DEFAULT now(),
        expires_at            timestamptz NOT NULL,
        environment           text        NOT NULL,
        host                  text,
        action                text        NOT NULL,
        params                jsonb       NOT NULL DEFAULT '{}',
        plan                  jsonb       NOT NULL,
        plan_fingerprint      text        NOT NULL,
        destructive           boolean     NOT NULL,
        needs_approval        boolean     NOT NULL,
        finding_id            text,
        requester             text        NOT NULL,
        channel               text,
        message_ts            text,
        status                text        NOT NULL DEFAULT 'pending' CHECK (status IN (
            'pending', 'awaiting_approval', 'approved', 'denied', 'claimed', 'done', 'failed',
            'expired')),
        approval_requested_by text,
        approval_requested_at timestamptz,
        approver              text,
        approved_at           timestamptz,
        denied_by             text,
        denied_at             timestamptz,
        claimed_by            text,
        claimed_at            timestamptz,
        finished_at           timestamptz,
        result                jsonb,
        correlation_id        uuid        NOT NULL
    );
    CREATE INDEX pending_actions_open ON pending_actions (expires_at)
        WHERE status IN ('pending', 'awaiting_approval', 'approved');
    CREATE INDEX pending_actions_correlation ON pending_actions (correlation_id);
    """,
    # 3: on-call (bot/oncall/store.py): incidents, their history, overrides, watcher runs
    """
    CREATE TABLE incidents (
        id               uuid        PRIMARY KEY,
        environment      text        NOT NULL,
        fingerprint      text        NOT NULL,
        source           text        NOT NULL,
        title            text        NOT NULL,
        severity         text        NOT NULL,
        summary          text        NOT NULL DEFAULT '',
        labels           jsonb       NOT NULL DEFAULT '{}',
        url              text,
        status           text        NOT NULL DEFAULT 'open'
                                     CHECK (status IN ('open', 'acknowledged', 'resolved')),
        opened_at        timestamptz NOT NULL,
        last_seen_at     timestamptz NOT NULL,
        alert_count      integer     NOT NULL DEFAULT 1,
        oncall_user      text,
        channel          text        NOT NULL,
        message_ts       text,
        escalation_step  integer     NOT NULL DEFAULT 0,
        next_page_at     timestamptz,
        acknowledged_by  text,
        acknowledged_at  timestamptz,
        resolved_by      text,
        resolved_at      timestamptz
    );
    CREATE UNIQUE INDEX incidents_one_open_per_fingerprint ON incidents (environment, fingerprint)
        WHERE status <> 'resolved';
    CREATE INDEX incidents_due ON incidents (next_page_at) WHERE next_page_at IS NOT NULL;
    CREATE INDEX incidents_environment_status ON incidents (environment, status);

    CREATE TABLE incident_events (
        id          bigserial   PRIMARY KEY,
        incident_id uuid        NOT NULL REFERENCES incidents (id),
        at          timestamptz NOT NULL,
        kind        text        NOT NULL,
        actor       text        NOT NULL,
        details     jsonb       NOT NULL DEFAULT '{}'
    );
    CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

    CREATE TABLE oncall_overrides (
        id          uuid        PRIMARY KEY,
        environment text        NOT NULL,
        user_id     text        NOT NULL,
        starts_at   timestamptz NOT NULL,
        ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
        created_by  text        NOT NULL,
        created_at  timestamptz NOT NULL
    );
    CREATE INDEX oncall_overrides_environment ON oncall_overrides (environment, ends_at);

    CREATE TABLE oncall_watch (
        environment text        PRIMARY KEY,
        last_run_at timestamptz NOT NULL
    );
    """,
    # 4: alert storms (bot/oncall/store.py): a group's alerts, the digest, the message cap
    """
    ALTER TABLE incidents ADD COLUMN digest_id uuid REFERENCES incidents (id);
    CREATE INDEX incidents_digest ON incidents (digest_id) WHERE digest_id IS NOT NULL;

    CREATE TABLE incident_alerts (
        incident_id   uuid        NOT NULL REFERENCES incidents (id),
        fingerprint   text        NOT NULL,
        status        text        NOT NULL CHECK (status IN ('firing', 'resolved')),
        severity      text        NOT NULL,
        detail        text        NOT NULL DEFAULT '',
        first_seen_at timestamptz NOT NULL,
        last_seen_at  timestamptz NOT NULL,
        PRIMARY KEY (incident_id, fingerprint)
    );

    CREATE TABLE oncall_announcements (
        environment text          PRIMARY KEY,
        recent      timestamptz[] NOT NULL
    );
    """,
    # 5: Slack deliveries already taken (bot/slack/deliveries.py): short-lived, swept after 1 h
    """
    CREATE TABLE slack_deliveries (
        key     text        PRIMARY KEY,
        seen_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX slack_deliveries_seen ON slack_deliveries (seen_at);
    """,
    # 6: the stability watch after a cure (bot/oncall/cures.py); a reopened incident
    # escalates again from the time it reopened
    """
    ALTER TABLE incidents ADD COLUMN reopened_at timestamptz;

    CREATE TABLE cure_watches (
        id            uuid        PRIMARY KEY,
        environment   text        NOT NULL,
        host          text        NOT NULL,
        stack         text,
        action        text        NOT NULL,
        params        jsonb       NOT NULL DEFAULT '{}',
        finding_id    text,
        touched       jsonb       NOT NULL DEFAULT '[]',
        incident_id   uuid        REFERENCES incidents (id),
        fixed_by      text        NOT NULL,
        channel       text,
        thread_ts     text,
        started_at    timestamptz NOT NULL,
        ends_at       timestamptz NOT NULL,
        checks_total  integer     NOT NULL CHECK (checks_total > 0),
        checks_done   integer     NOT NULL DEFAULT 0,
        next_check_at timestamptz,
        status        text        NOT NULL DEFAULT 'watching'
                                  CHECK (status IN ('watching', 'held', 'broke')),
        finished_at   timestamptz,
        evidence      jsonb       NOT NULL DEFAULT '[]'
    );
    CREATE INDEX cure_watches_due ON cure_watches (next_check_at) WHERE status = 'watching';
    CREATE INDEX cure_watches_incident ON cure_watches (incident_id) WHERE incident_id IS NOT NULL;
    """,
)


async def migrate(conn: AsyncConnection[Any]) -> int:
    """Bring the schema up to date; return the version it is at."""
    if await _version(conn) >= len(STEPS):
        return len(STEPS)  # nothing to do: an INSERT/SELECT-only role gets here
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS stackbot_schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM stackbot_schema_version")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, step in enumerate(STEPS, 1):
            if version <= current:
                continue
            await conn.execute(step.encode())
            await conn.execute(
                "INSERT INTO stackbot_schema_version (version) VALUES (%s)", (version,)
            )
            current = version
    return current


async def _version(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT to_regclass('stackbot_schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if not (row and row[0]):
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM stackbot_schema_version")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
