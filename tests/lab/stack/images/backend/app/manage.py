# mypy: ignore-errors
# (runs inside the lab container with Debian's python3 and psycopg2, not the project's)
"""Management commands: migrate, check_migrations, showmigrations, seed N."""

import sys

import db


def main(argv):
    if len(argv) < 2:
        print("usage: manage.py migrate|check_migrations|showmigrations|seed N", file=sys.stderr)
        return 2
    command = argv[1]
    conn = db.connect()
    try:
        if command == "migrate":
            ran = db.migrate(conn)
            for name in ran:
                print(f"  Applying {name}... OK")
            if not ran:
                print("No migrations to apply.")
            return 0
        if command == "check_migrations":
            todo = db.pending(conn)
            if todo:
                print("Pending migrations: " + ", ".join(todo))
                return 1
            print("All migrations applied.")
            return 0
        if command == "showmigrations":
            done = db.applied(conn)
            for name, _ in db.MIGRATIONS:
                print(f" [{'X' if name in done else ' '}] {name}")
            return 0
        if command == "seed":
            count = int(argv[2]) if len(argv) > 2 else 10
            with conn.cursor() as cur:
                for i in range(count):
                    cur.execute(
                        "INSERT INTO customers (name, email) VALUES (%s, %s) RETURNING id",
                        (f"Customer {i}", f"customer{i}@example.test"),
                    )
                    cid = cur.fetchone()[0]
                    cur.execute(
                        "INSERT INTO orders (customer_id, total_cents) VALUES (%s, %s)",
                        (cid, 1000 + i),
                    )
            conn.commit()
            print(f"Seeded {count} customers and orders.")
            return 0
        print(f"unknown command: {command}", file=sys.stderr)
        return 2
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
