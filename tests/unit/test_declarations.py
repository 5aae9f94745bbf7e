"""One declaration for reports and fixes (a name, a summary, Params, a Risk) and one naming
scheme tying each to its module (bot/framework/runbook.py, runbooks/__init__.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, StepOutcome
from bot.framework.runbook import Risk, Runbook, RunbookDefinitionError, module_for
from bot.framework.session import HostSession
from bot.model.findings import Finding
from runbooks import _named_as_declared, load_actions, load_runbooks


class Params(HostParams):
    pass


class Loose(BaseModel):  # unknown keys allowed: refused by every declaration
    model_config = ConfigDict(extra="allow")


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    return Plan(action="test.thing", target={}, destructive=False)


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    return []


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return []


async def run(session: HostSession, params: Loose) -> Loose:
    return params


def action(**given: object) -> Action[Params]:
    fields: dict[str, object] = {
        "name": "test.thing", "summary": "A test fix.", "params": Params, "risk": Risk.CHANGE,
        "verifies": (), "plan": plan, "apply": apply, "remaining": remaining,
    }  # fmt: skip
    fields.update(given)
    return Action(**fields)  # type: ignore[arg-type]


def test_a_fix_declares_its_risk_and_destructive_follows_it() -> None:
    assert action().destructive is False
    assert action(risk=Risk.DESTRUCTIVE).destructive is True
    with pytest.raises(RunbookDefinitionError, match="a fix changes something"):
        action(risk=Risk.READ_ONLY)


def test_reports_and_fixes_share_the_declaration_checks() -> None:
    with pytest.raises(RunbookDefinitionError, match="not a plain identifier"):
        action(name="rm -rf")
    with pytest.raises(RunbookDefinitionError, match="summary"):
        action(summary=" ")
    with pytest.raises(RunbookDefinitionError, match="forbid unknown keys"):
        Runbook(name="loose", summary="x", params=Loose, result=Loose, risk=Risk.READ_ONLY, run=run)
    with pytest.raises(RunbookDefinitionError, match="HostParams"):
        action(params=Loose)


def test_one_naming_scheme_from_declaration_to_module() -> None:
    assert module_for("disk", Risk.READ_ONLY) == "disk"
    assert module_for("network.connect", Risk.CHANGE) == "fix_network_connect"
    assert module_for("volume.unarchive", Risk.DESTRUCTIVE) == "fix_volume_unarchive"
    _named_as_declared("fix_volume_backup", "volume.backup", Risk.CHANGE)
    with pytest.raises(RunbookDefinitionError, match=r"belongs in runbooks\.fix_db_migrate"):
        _named_as_declared("fix_migrate", "db.migrate", Risk.DESTRUCTIVE)
    with pytest.raises(RunbookDefinitionError, match=r"belongs in runbooks\.disk"):
        _named_as_declared("disk_check", "disk", Risk.READ_ONLY)


def test_every_shipped_runbook_follows_the_scheme() -> None:
    """Loading checks each module's name; every fix is CHANGE or DESTRUCTIVE, every report
    read-only (a report runs for anyone with the viewer role)."""
    reports, fixes = load_runbooks(), load_actions()
    assert {"diagnose", "disk", "volumes", "ps", "logs"} <= set(reports)
    assert all(r.risk is Risk.READ_ONLY for r in reports.values())
    assert all(a.risk in (Risk.CHANGE, Risk.DESTRUCTIVE) for a in fixes.values())
    assert {a.name for a in fixes.values() if a.destructive} >= {
        "container.recreate", "db.migrate", "volume.restore", "volume.unarchive",
    }  # fmt: skip
