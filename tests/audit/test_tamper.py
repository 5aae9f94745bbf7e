"""As a superuser, triggers off: change a field, delete a row, swap rows → verify names it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def chain(trail: AuditTrail, store: AuditStore) -> AsyncIterator[list[str]]:
    ids = []
    for n in range(6):
        req = trail.request(actor=f"user{n}", surface="cli", environment="prod", action="diagnose")
        ids.append(str((await req.record("diagnosed", {"n": n, "ratio": n / 3})).id))
    yield ids


async def superuser(conninfo: str, *statements: str) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SET session_replication_role = replica")  # triggers off
        for statement in statements:
            await conn.execute(statement.encode())


async def test_an_untouched_chain_verifies(store: AuditStore, chain: list[str]) -> None:
    report = await store.verify()
    assert report.intact and report.rows == 6


async def test_the_triggers_refuse_update_delete_truncate(
    store: AuditStore, chain: list[str], conninfo: str
) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for statement in (
            "UPDATE audit_log SET actor = 'mallory'",
            "DELETE FROM audit_log WHERE seq = 2",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(statement.encode())
    assert (await store.verify()).intact


async def test_a_changed_field_is_named(store: AuditStore, chain: list[str], conninfo: str) -> None:
    await superuser(conninfo, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = await store.verify()
    assert report.broken is not None and report.broken.seq == 3
    assert report.broken.row_id == chain[2] and "changed" in report.broken.problem


async def test_a_changed_detail_is_named(
    store: AuditStore, chain: list[str], conninfo: str
) -> None:
    await superuser(
        conninfo, "UPDATE audit_log SET details = jsonb_set(details, '{n}', '99') WHERE seq = 5"
    )
    report = await store.verify()
    assert report.broken is not None and report.broken.seq == 5


async def test_a_deleted_row_is_named(store: AuditStore, chain: list[str], conninfo: str) -> None:
    await superuser(conninfo, "DELETE FROM audit_log WHERE seq = 4")
    report = await store.verify()
    assert report.broken is not None and report.broken.seq == 5
    assert "seq 4" in report.broken.problem and "deleted" in report.broken.problem


async def test_a_deleted_row_with_renumbering_is_named(
    store: AuditStore, chain: list[str], conninfo: str
) -> None:
    await superuser(
        conninfo,
        "DELETE FROM audit_log WHERE seq = 2",
        "UPDATE audit_log SET seq = seq + 100 WHERE seq > 2",
        "UPDATE audit_log SET seq = seq - 101 WHERE seq > 100",
    )
    report = await store.verify()
    assert report.broken is not None and report.broken.seq == 2
    assert report.broken.row_id == chain[2]


async def test_swapped_rows_are_named(store: AuditStore, chain: list[str], conninfo: str) -> None:
    await superuser(
        conninfo,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 100",
    )
    report = await store.verify()
    assert report.broken is not None and report.broken.seq == 2
    assert report.broken.row_id == chain[2]


async def test_the_insert_select_role_of_the_docs(
    store: AuditStore, chain: list[str], conninfo: str
) -> None:
    """The documented setup (docs/AUDIT.md): the bot's role may only INSERT and SELECT."""
    await superuser(
        conninfo,
        "CREATE ROLE stackbot_test_bot LOGIN",
        "GRANT SELECT, INSERT ON audit_log, stackbot_schema_version TO stackbot_test_bot",
    )
    bot_conninfo = conninfo.replace("user=postgres", "user=stackbot_test_bot")
    from bot.stores.audit.spool import Spool

    async with AuditStore(bot_conninfo, timeout=3) as bot_store:
        trail = AuditTrail(bot_store, Spool(__import__("pathlib").Path("/nonexistent/spool")))
        req = trail.request(actor="bot", surface="slack", environment="prod")
        await req.record("requested", durable=True)
        assert (await bot_store.verify()).intact
    async with await psycopg.AsyncConnection.connect(bot_conninfo, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER ALL")
    await superuser(conninfo, "DROP OWNED BY stackbot_test_bot", "DROP ROLE stackbot_test_bot")
