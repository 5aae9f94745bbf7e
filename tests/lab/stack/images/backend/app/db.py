# mypy: ignore-errors
# (runs inside the lab container with Debian's python3 and psycopg2, not the project's)
"""Database access and the app's migrations (a tiny Django-like migrate command)."""

import os

import psycopg2

MIGRATIONS = [
    (
        "0001_initial",
        [
            "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL,"
            " email text UNIQUE NOT NULL)",
        ],
    ),
    (
        "0002_orders",
        [
            "CREATE TABLE orders (id serial PRIMARY KEY,"
            " customer_id integer NOT NULL REFERENCES customers(id),"
            " total_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
        ],
    ),
    (
        "0003_orders_status",
        ["ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'"],
    ),
]


def connect():
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return psycopg2.connect(url, connect_timeout=3)


def applied(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.app_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return set()
        cur.execute("SELECT name FROM app_migrations")
        return {row[0] for row in cur.fetchall()}


def pending(conn):
    done = applied(conn)
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(conn):
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS app_migrations (name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    conn.commit()
    done = applied(conn)
    ran = []
    for name, statements in MIGRATIONS:
        if name in done:
            continue
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            cur.execute("INSERT INTO app_migrations (name) VALUES (%s)", (name,))
        conn.commit()
        ran.append(name)
    return ran
