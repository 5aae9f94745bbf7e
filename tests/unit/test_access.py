"""Access rules: roles per environment, the top-level default, groups, the safe default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.inventory.access import (
    COMMAND_PERMISSIONS,
    NOT_CONFIGURED,
    AccessDenied,
    Permission,
    Role,
    authorise,
    configured,
    needs_approval,
    permissions,
    require,
    role_of,
    visible_environments,
)
from bot.inventory.config import Inventory, parse_inventory
from bot.model.errors import ConfigInvalid

HOSTS = {"web1": {"address": "203.0.113.10"}}


def inventory(access: dict[str, Any] | None = None, **envs: dict[str, Any]) -> Inventory:
    raw: dict[str, Any] = {
        "environments": {name: {"hosts": HOSTS, **cfg} for name, cfg in envs.items()}
    }
    if access is not None:
        raw["access"] = access
    return parse_inventory(raw, source="test.yaml", base_dir=Path())


INV = inventory(
    {"viewer": ["S0VIEWERS"], "admin": ["U0ADMIN"]},
    prod={
        "access": {"operator": ["U0OPS", "S0ONCALL"], "approver": ["U0BOSS"]},
        "approval_required": True,
        "slack_channel": "C0PRODALRT",
    },
    staging={"access": {"operator": ["S0DEVS"], "viewer": ["U0INTERN"]}},
    dev={},
)


def test_roles_are_ordered_and_include_the_ones_below() -> None:
    assert [r.rank for r in Role] == [0, 1, 2, 3]
    assert Role.APPROVER.includes(Role.OPERATOR) and Role.ADMIN.includes(Role.APPROVER)
    assert not Role.OPERATOR.includes(Role.APPROVER)
    assert Permission.VIEW.required_role is Role.VIEWER
    assert Permission.OPERATE.required_role is Role.OPERATOR
    assert Permission.APPROVE.required_role is Role.APPROVER
    assert COMMAND_PERMISSIONS["diagnose"] is Permission.VIEW
    assert COMMAND_PERMISSIONS["approve"] is Permission.APPROVE
    assert not {"fix", "disk", "volumes"} & set(COMMAND_PERMISSIONS)  # from the declaration


@pytest.mark.parametrize(
    ("env", "user", "groups", "role"),
    [
        ("prod", "U0OPS", (), Role.OPERATOR),
        ("prod", "U0BOSS", (), Role.APPROVER),
        ("prod", "U0ADMIN", (), Role.ADMIN),  # top-level admin is admin everywhere
        ("dev", "U0ADMIN", (), Role.ADMIN),
        ("prod", "U0NOBODY", ("S0ONCALL",), Role.OPERATOR),  # through a group
        ("prod", "U0NOBODY", ("S0VIEWERS",), Role.VIEWER),  # top-level group default
        ("prod", "U0NOBODY", ("S0VIEWERS", "S0ONCALL"), Role.OPERATOR),  # highest wins
        ("prod", "U0NOBODY", ("S0DEVS",), None),  # staging's group means nothing on prod
        ("staging", "U0NOBODY", ("S0DEVS",), Role.OPERATOR),
        ("staging", "U0OPS", (), None),  # prod's operator is nobody on staging
        ("staging", "U0INTERN", (), Role.VIEWER),
        ("prod", "U0INTERN", (), None),
        ("nowhere", "U0ADMIN", (), None),
    ],
)
def test_role_per_environment(
    env: str, user: str, groups: tuple[str, ...], role: Role | None
) -> None:
    assert role_of(INV, env, user, groups)[0] == role


def test_granted_by_names_the_group() -> None:
    assert role_of(INV, "prod", "U0X", ["S0ONCALL"]) == (Role.OPERATOR, "S0ONCALL")
    assert role_of(INV, "prod", "U0OPS", ["S0VIEWERS"]) == (Role.OPERATOR, "U0OPS")


def test_operator_may_view_and_operate_but_not_approve() -> None:
    assert authorise(INV, "prod", "U0OPS", [], Permission.VIEW).allowed
    ok = authorise(INV, "prod", "U0OPS", [], Permission.OPERATE)
    assert (
        ok.allowed
        and ok.role is Role.OPERATOR
        and ok.reason == "you hold the operator role on prod"
    )
    no = authorise(INV, "prod", "U0OPS", [], Permission.APPROVE)
    assert not no.allowed and no.role is Role.OPERATOR
    assert no.reason == (
        "you need the approver role on prod to approve fixes (you are an operator there); "
        "ask an admin (U0ADMIN)"
    )
    assert no.contacts == ("U0ADMIN",)


def test_approver_may_also_operate_and_admin_may_do_everything() -> None:
    for permission in Permission:
        assert authorise(INV, "prod", "U0BOSS", [], permission).allowed
        assert authorise(INV, "dev", "U0ADMIN", [], permission).allowed
    assert permissions(INV, "prod", "U0BOSS", []) == set(Permission)
    assert permissions(INV, "prod", "U0OPS", []) == {Permission.VIEW, Permission.OPERATE}
    assert permissions(INV, "prod", "U0X", ["S0VIEWERS"]) == {Permission.VIEW}
    assert permissions(INV, "prod", "U0X", []) == set()


def test_viewer_is_told_which_role_to_ask_for() -> None:
    decision = authorise(INV, "staging", "U0INTERN", [], Permission.OPERATE)
    assert not decision.allowed
    assert decision.reason == (
        "you need the operator role on staging to run fixes (you are a viewer there); "
        "ask an admin (U0ADMIN)"
    )
    details = decision.audit_details()
    assert details["allowed"] is False and details["role"] == "viewer"
    assert details["permission"] == "operate" and details["reason"] == decision.reason


def test_no_role_at_all() -> None:
    decision = authorise(INV, "prod", "U0STRANGER", ["S0OTHER"], Permission.VIEW)
    assert not decision.allowed and decision.role is None and decision.granted_by is None
    assert decision.reason.startswith("you need the viewer role on prod to look at it")
    assert "(you have no role)" in decision.reason


def test_without_admins_the_reason_points_at_the_inventory() -> None:
    inv = inventory(prod={"access": {"viewer": ["U0A"]}})
    decision = authorise(inv, "prod", "U0A", [], Permission.OPERATE)
    assert not decision.allowed and decision.contacts == ()
    assert "ask whoever maintains the stackbot inventory" in decision.reason
    assert "docs/ACCESS.md" in decision.reason


def test_environment_rules_add_to_the_default() -> None:
    rules = INV.access_for("prod")
    assert rules.viewer == ("S0VIEWERS",)
    assert rules.operator == ("U0OPS", "S0ONCALL")
    assert rules.admin == ("U0ADMIN",)
    # the same id in both places is listed once
    inv = inventory({"operator": ["U0A"]}, prod={"access": {"operator": ["U0A", "U0B"]}})
    assert inv.access_for("prod").operator == ("U0A", "U0B")


def test_only_top_level_rules_apply_everywhere() -> None:
    inv = inventory({"operator": ["S0ALL"]}, prod={}, dev={})
    for env in ("prod", "dev"):
        assert authorise(inv, env, "U0X", ["S0ALL"], Permission.OPERATE).allowed
    assert visible_environments(inv, "U0X", ["S0ALL"]) == ["dev", "prod"]


def test_unknown_environment_lists_only_what_the_user_may_see() -> None:
    decision = authorise(INV, "prdo", "U0INTERN", [], Permission.VIEW)
    assert not decision.allowed and decision.environment == "prdo"
    assert decision.reason == "there is no environment 'prdo' (yours: staging)"
    stranger = authorise(INV, "prdo", "U0STRANGER", [], Permission.VIEW)
    assert stranger.reason == "there is no environment 'prdo' (yours: none you may see)"


def test_nothing_configured_means_nobody_may_do_anything() -> None:
    inv = inventory(prod={}, dev={})
    assert not configured(inv)
    for permission in Permission:
        decision = authorise(inv, "prod", "U0ANYONE", ["S0ANY"], permission)
        assert not decision.allowed and decision.reason == NOT_CONFIGURED
    assert "access:" in NOT_CONFIGURED and "docs/ACCESS.md" in NOT_CONFIGURED
    assert visible_environments(inv, "U0ANYONE", []) == []
    assert permissions(inv, "prod", "U0ANYONE", []) == set()
    # unknown environments get the same answer: configuration comes first
    assert authorise(inv, "nowhere", "U0A", [], Permission.VIEW).reason == NOT_CONFIGURED


def test_visible_environments() -> None:
    assert visible_environments(INV, "U0ADMIN", []) == ["dev", "prod", "staging"]
    assert visible_environments(INV, "U0X", ["S0VIEWERS"]) == ["dev", "prod", "staging"]
    assert visible_environments(INV, "U0OPS", []) == ["prod"]
    assert visible_environments(INV, "U0X", ["S0DEVS"]) == ["staging"]
    assert visible_environments(INV, "U0X", []) == []


def test_require_raises_with_the_decision() -> None:
    assert require(INV, "prod", "U0OPS", [], Permission.OPERATE).allowed
    with pytest.raises(AccessDenied, match="you need the approver role on prod") as info:
        require(INV, "prod", "U0OPS", [], Permission.APPROVE)
    assert info.value.code == "access.denied"
    assert info.value.decision.role is Role.OPERATOR


def test_approval_required_and_slack_channel() -> None:
    assert INV.environments["prod"].approval_required
    assert INV.environments["prod"].slack_channel == "C0PRODALRT"
    assert not INV.environments["staging"].approval_required
    assert INV.environments["staging"].slack_channel is None
    assert needs_approval(INV, "prod", destructive=True)
    assert not needs_approval(INV, "prod", destructive=False)
    assert not needs_approval(INV, "staging", destructive=True)
    assert inventory(dev={"slack_channel": "#ops-alerts"}).environments["dev"].slack_channel


def test_an_inventory_without_access_still_loads() -> None:
    inv = inventory(prod={})
    assert inv.access.empty and inv.environments["prod"].access.empty


@pytest.mark.parametrize(
    ("top", "env", "expected"),
    [
        (
            None,
            {"access": {"operator": ["bob"]}},
            "environments.prod.access.operator.0: not a Slack user or group id",
        ),
        (
            None,
            {"access": {"viewer": ["U0OK", "C0CHANNEL"]}},
            "environments.prod.access.viewer.1: not a Slack user or group id",
        ),
        (
            None,
            {"access": {"approver": ["u0lower"]}},
            "environments.prod.access.approver.0: not a Slack user or group id",
        ),
        ({"admin": ["@alice"]}, {}, "access.admin.0: not a Slack user or group id"),
        (None, {"access": {"operators": ["U0A"]}}, "environments.prod.access.operators: unknown"),
        ({"superuser": ["U0A"]}, {}, "access.superuser: unknown key"),
        (None, {"access": {"operator": "U0A"}}, "environments.prod.access.operator:"),
        (None, {"approval_required": "maybe"}, "environments.prod.approval_required:"),
        (
            None,
            {"slack_channel": "general"},
            "environments.prod.slack_channel: not a Slack channel",
        ),
    ],
)
def test_invalid_access_names_the_key(
    top: dict[str, Any] | None, env: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigInvalid) as info:
        inventory(top, prod=env)
    assert expected in str(info.value)
    assert any(line.startswith(expected.split(":")[0]) for line in info.value.problems)
