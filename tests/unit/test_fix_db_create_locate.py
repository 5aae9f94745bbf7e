"""db.create finds the database server the way the diagnosis does, however the app says
where it is: a URL, libpq ``PG*``, or split ``*_DB_HOST``/``*_DB_PORT`` with a prefix."""

from __future__ import annotations

import pytest

from bot.inventory.discovery import discover_stacks
from runbooks.fix_db_create import DatabaseServer, database_server
from tests.unit.diagnose.factories import PLANTED_SECRET, lab_env, lab_stack

BASE = {k: v for k, v in lab_env().items() if k != "DATABASE_URL"}


@pytest.mark.parametrize(
    ("app_env", "port"),
    [
        ({"DATABASE_URL": f"postgresql://shop:{PLANTED_SECRET}@db:6543/shop"}, 6543),
        ({"PGHOST": "db", "PGPORT": "6544", "PGDATABASE": "shop", "PGUSER": "shop"}, 6544),
        (
            {
                "SHOP_DB_HOST": "db",
                "SHOP_DB_PORT": "6545",
                "SHOP_DB_NAME": "shop",
                "SHOP_DB_USER": "shop",
                "SHOP_DB_PASSWORD": PLANTED_SECRET,
            },
            6545,
        ),
    ],
    ids=["url", "libpq", "prefixed-split"],
)
def test_the_server_and_its_port_come_from_the_apps_settings(
    app_env: dict[str, str], port: int
) -> None:
    containers = lab_stack(env={**BASE, **app_env})
    (stack,) = discover_stacks(containers, {}).stacks
    server = database_server(stack, containers)
    assert isinstance(server, DatabaseServer), server
    assert server.container.name == "shop-db-1"
    assert server.port == port  # not the default 5432: what the app dials
    assert (server.user, server.password) == ("shop", PLANTED_SECRET)
