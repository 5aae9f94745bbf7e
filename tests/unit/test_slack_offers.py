"""The buttons a message offers (bot/slack/workflows/offers.py): a fix whose plan cannot be
stored (the audit database busy or down) is offered without a button; the message still
goes out. Seen under a burst of /stack diagnose: 36 of 201 requests lost their report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from bot.framework.action import Plan, Step
from bot.inventory.config import parse_inventory
from bot.model.findings import Fix, Severity, Subject, make_finding
from bot.slack.workflows.offers import Offers
from bot.stores.audit.errors import AuditUnavailable
from runbooks import load_actions

FIX = Fix(action="network.connect", params={"host": "web1", "container": "app", "network": "db"})
FINDING = make_finding(
    "network.split", Severity.CRITICAL, "app cannot reach db",
    Subject(host="web1", project="shop", container="app"), fixes=(FIX,),
)  # fmt: skip


class Operations:
    actions = load_actions()

    async def plan_fix(self, env: str, action: str, params: Any) -> Plan:
        step = Step(description="connect app to db", call="POST /networks/db/connect")
        return Plan(action=action, target={"container": "app"}, destructive=False, steps=(step,))


class Pending:
    def __init__(self, error: Exception | None) -> None:
        self.error, self.created = error, 0

    async def create(self, **given: Any) -> Any:
        if self.error is not None:
            raise self.error
        self.created += 1
        return type("Stored", (), {"id": "5f0e…"})()


def offers(pending: Pending, tmp_path: Path) -> Offers:
    inventory = parse_inventory(
        {"environments": {"prod": {"hosts": {"web1": {"address": "203.0.113.10"}}}}},
        source="test", base_dir=tmp_path,
    )  # fmt: skip
    return Offers(inventory, cast(Any, Operations()), cast(Any, pending))


async def test_a_stored_plan_is_the_buttons_value(tmp_path: Path) -> None:
    pending = Pending(None)
    value = await offers(pending, tmp_path).fix("prod", FINDING, FIX, "U1", "C1", "1.2")
    assert value == "5f0e…" and pending.created == 1


async def test_an_audit_database_that_cannot_store_it_leaves_the_fix_without_a_button(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pending = Pending(AuditUnavailable("the audit database cannot be used: pool timeout"))
    value = await offers(pending, tmp_path).fix("prod", FINDING, FIX, "U1", "C1", "1.2")
    assert value is None
    assert "no button for network.connect" in caplog.text and "pool timeout" in caplog.text


async def test_any_other_error_still_reaches_the_caller(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        await offers(Pending(RuntimeError("bug")), tmp_path).fix(
            "prod", FINDING, FIX, "U1", "C1", "1.2"
        )
