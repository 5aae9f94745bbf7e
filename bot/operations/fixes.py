"""A fix as one request: proposed (planned, with its rows), then applied or declined.

The rows, in order, whatever the surface: ``requested → authorised →
planned`` when proposed (then ``finished`` at once for a refusal, nothing to
do or a dry run); ``denied`` when the person declines; ``confirmed`` and the
executor's ``started → finished → post_checked`` when applied. Rows before a
change are durable: a fix is refused when they cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.framework.action import Action, Plan
from bot.framework.session import HostSession
from bot.model.findings import Finding
from bot.stores.audit.trail import AuditRequest
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge

# Read-only fixes of the findings catalogue are the reports of the same purpose.
REPORT_FIXES = {"disk.check": "disk", "volumes.list": "volumes"}
POST_CHECK_DEADLINE = 60.0
EarlyStatus = Literal["refused", "nothing to do", "planned"]


async def post_check_findings(session: HostSession) -> list[Finding]:
    """The post-check: the host diagnosed again, on the session the fix ran on."""
    return judge(await gather_facts(session, deadline=POST_CHECK_DEADLINE)).findings


@dataclass
class FixRequest:
    """A planned fix waiting for the person's word: what ``apply_fix`` runs."""

    action: Action[Any]
    params: Any  # the action's Params (a bot.framework.action.HostParams)
    environment: str
    plan: Plan
    actor: str
    audit: AuditRequest | None
    dry_run: bool = False

    @property
    def host(self) -> str:
        return str(self.params.host)

    @property
    def settled(self) -> bool:
        """Nothing to apply: refused, nothing to do, or only a dry run."""
        return bool(self.plan.refusal or self.plan.empty or self.dry_run)

    def early_status(self) -> tuple[EarlyStatus, str]:
        if self.plan.refusal:
            return "refused", self.plan.refusal
        if self.plan.empty:
            return "nothing to do", "already in the wanted state"
        return "planned", "dry run: nothing was changed"


async def record(
    audit: AuditRequest | None, kind: Any, details: dict[str, Any], *, durable: bool = False
) -> None:
    if audit is not None:
        await audit.record(kind, details, durable=durable)


__all__ = ["REPORT_FIXES", "FixRequest", "post_check_findings", "record"]
