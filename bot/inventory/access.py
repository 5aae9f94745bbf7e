"""Who may do what in Slack: roles per environment, from the inventory's ``access``.

Roles are ordered and each includes the ones before it::

    viewer < operator < approver < admin

    viewer    view:    /stack diagnose, volumes, disk, audit, help, envs
    operator  operate: run fixes (non-destructive and destructive)
    approver  approve: approve (or deny) someone else's destructive fix; may also operate
    admin     everything; named in denials as the people to ask for a role

A user holds the highest role granted to their user id or to any Slack user
group they are in, on the top-level ``access`` (every environment) merged with
the environment's own. The safe default: while no access rules are configured
anywhere in the inventory, nobody may do anything in Slack, and the reason says
how to configure them. Everything here is pure: the Slack layer resolves the
user's groups and audits the denials (``Decision.audit_details``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.inventory.config.models import AccessRules, Inventory
from bot.model.errors import StackbotError

DOCS = "docs/ACCESS.md"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_ORDER.index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_ORDER: tuple[Role, ...] = (Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN)


class Permission(StrEnum):
    VIEW = "view"  # diagnose, volumes, disk, audit, help, envs
    OPERATE = "operate"  # run a fix, destructive or not
    APPROVE = "approve"  # approve or deny another person's destructive fix

    @property
    def required_role(self) -> Role:
        return _REQUIRED_ROLE[self]


_REQUIRED_ROLE: dict[Permission, Role] = {
    Permission.VIEW: Role.VIEWER,
    Permission.OPERATE: Role.OPERATOR,
    Permission.APPROVE: Role.APPROVER,
}

# What each /stack verb and button that is no runbook needs. A runbook's permission follows
# from its declared risk (bot.operations.PERMISSION_OF_RISK): a report (disk, volumes, ps,
# logs…) the viewer's, a fix (its button) the operator's. help and envs answer anyone,
# naming only the environments the person may see.
COMMAND_PERMISSIONS: dict[str, Permission] = {
    "diagnose": Permission.VIEW,
    "audit": Permission.VIEW,
    "oncall": Permission.VIEW,
    "incidents": Permission.VIEW,
    "override": Permission.OPERATE,  # /stack oncall override: who gets paged changes
    "incident": Permission.VIEW,  # Acknowledge / Diagnose / Resolve on an incident
    "approve": Permission.APPROVE,
    "deny": Permission.APPROVE,
}

NOT_CONFIGURED = (
    "nobody may use stackbot in Slack yet: no access rules are configured. "
    "Add `access:` to the inventory (top level for every environment, or per environment) "
    "with roles viewer, operator, approver and admin, each a list of Slack user ids (U…/W…) "
    f"or user group ids (S…); see {DOCS}"
)


class Decision(BaseModel):
    """The answer to "may this user do this here?", with a sentence for the user."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    environment: str
    user_id: str
    permission: Permission
    role: Role | None = None  # the highest role the user holds on the environment
    granted_by: str | None = None  # the user or group id that granted ``role``
    reason: str
    contacts: tuple[str, ...] = ()  # the environment's admins (ids), whom to ask for a role

    def audit_details(self) -> dict[str, Any]:
        """What an ``authorised``/``denied`` audit row records about this decision."""
        return {
            "allowed": self.allowed,
            "permission": self.permission.value,
            "role": self.role.value if self.role else None,
            "granted_by": self.granted_by,
            "reason": self.reason,
        }


class AccessDenied(StackbotError):
    """Raised by ``require``: the user may not do this; ``decision`` says why."""

    code = "access.denied"

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def configured(inventory: Inventory) -> bool:
    """Whether any access rule exists anywhere in the inventory."""
    return not inventory.access.empty or any(
        not env.access.empty for env in inventory.environments.values()
    )


def role_of(
    inventory: Inventory, env: str, user_id: str, user_groups: Iterable[str] = ()
) -> tuple[Role | None, str | None]:
    """The highest role the user holds on ``env`` and the id that grants it."""
    if env not in inventory.environments:
        return None, None
    rules = inventory.access_for(env)
    principals = [user_id, *user_groups]
    for role in reversed(_ROLE_ORDER):
        granted = _members(rules, role)
        for principal in principals:
            if principal in granted:
                return role, principal
    return None, None


def authorise(
    inventory: Inventory,
    env: str,
    user_id: str,
    user_groups: Iterable[str],
    permission: Permission,
) -> Decision:
    """May ``user_id`` (in ``user_groups``) do ``permission`` on ``env``? Never raises."""
    groups = tuple(user_groups)

    def decide(allowed: bool, reason: str, **extra: Any) -> Decision:
        return Decision(
            allowed=allowed,
            environment=env,
            user_id=user_id,
            permission=permission,
            reason=reason,
            **extra,
        )

    if not configured(inventory):
        return decide(False, NOT_CONFIGURED)
    if env not in inventory.environments:
        visible = visible_environments(inventory, user_id, groups)
        known = ", ".join(visible) or "none you may see"
        return decide(False, f"there is no environment {env!r} (yours: {known})")
    role, granted_by = role_of(inventory, env, user_id, groups)
    needed = permission.required_role
    contacts = _members(inventory.access_for(env), Role.ADMIN)
    if role is not None and role.includes(needed):
        return decide(
            True,
            f"you hold the {role.value} role on {env}",
            role=role,
            granted_by=granted_by,
            contacts=contacts,
        )
    held = f"you are {_article(role.value)} {role.value} there" if role else "you have no role"
    return decide(
        False,
        f"you need the {needed.value} role on {env} to {_verb(permission)} "
        f"({held}); {_ask(contacts)}",
        role=role,
        granted_by=granted_by,
        contacts=contacts,
    )


def require(
    inventory: Inventory,
    env: str,
    user_id: str,
    user_groups: Iterable[str],
    permission: Permission,
) -> Decision:
    """``authorise``, raising ``AccessDenied`` when the answer is no."""
    decision = authorise(inventory, env, user_id, user_groups, permission)
    if not decision.allowed:
        raise AccessDenied(decision)
    return decision


def visible_environments(
    inventory: Inventory, user_id: str, user_groups: Iterable[str]
) -> list[str]:
    """The environments the user may view, sorted (``/stack envs``, ``/stack help``)."""
    groups = tuple(user_groups)
    return sorted(
        env for env in inventory.environments if role_of(inventory, env, user_id, groups)[0]
    )


def permissions(
    inventory: Inventory, env: str, user_id: str, user_groups: Iterable[str]
) -> frozenset[Permission]:
    """Everything the user may do on ``env`` (``/stack help`` lists only these)."""
    if not configured(inventory):
        return frozenset()
    role, _ = role_of(inventory, env, user_id, user_groups)
    if role is None:
        return frozenset()
    return frozenset(p for p in Permission if role.includes(p.required_role))


def needs_approval(inventory: Inventory, env: str, *, destructive: bool) -> bool:
    """Whether a fix on ``env`` needs a second person's approval before it runs."""
    return destructive and inventory.environments[env].approval_required


def _members(rules: AccessRules, role: Role) -> tuple[str, ...]:
    members: tuple[str, ...] = getattr(rules, role.value)
    return members


def _verb(permission: Permission) -> str:
    return {
        Permission.VIEW: "look at it",
        Permission.OPERATE: "run fixes",
        Permission.APPROVE: "approve fixes",
    }[permission]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _ask(contacts: tuple[str, ...]) -> str:
    if contacts:
        return f"ask an admin ({', '.join(contacts)})"
    return f"ask whoever maintains the stackbot inventory to grant it ({DOCS})"
