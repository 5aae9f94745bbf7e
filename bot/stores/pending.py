"""Pending actions: what a Slack button stands for, stored in Postgres, single use.

A button's value is only the id of a row here. The row holds the action, its
parameters, the plan the user was shown, who asked, and an expiry (15 minutes
by default). Every change of state is ONE atomic ``UPDATE … WHERE id = … AND
status IN (…) AND expires_at > now() RETURNING …``, so a double click, a Slack
retry or two replicas receiving the same payload can never claim it twice: the
row lock makes the second ``UPDATE`` see the first one's result and match
nothing. When nothing matches, the row is read again to say why (already
claimed by whom and when, expired when, awaiting approval, denied, unknown).

States::

    pending ──claim──────────────────────────────▶ claimed ──finish──▶ done | failed
       │  (only when no approval is needed)           ▲
       └─request_approval─▶ awaiting_approval ─approve─▶ approved
                               │                 └─deny─▶ denied
    pending / awaiting_approval / approved ──(expires_at passed)──▶ expired
    claimed ──(not finished within CLAIM_LIMIT: its process died)──▶ failed

A claim is never taken again, even when the process that took it was killed
(the action may have run half-way): the button says so, ``expire_old`` marks
the claim abandoned, and the command run again gives a fresh button. Nothing
else waits on a claim: the environment's locks die with the process.

All times are the database's (``now()``), so replicas agree. The table lives
in the audit database (migration step 2), reached through ``AuditStore``'s
pool: outages surface as ``AuditUnavailable``. This module checks no roles:
the Slack layer authorises the user who clicked (``bot.inventory.access``) first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from bot.framework.action import Plan
from bot.model.errors import StackbotError
from bot.redaction.redact import REDACTED, JSONData, is_secret_key, redact_data
from bot.stores.audit.store import AuditStore

DEFAULT_TTL = timedelta(minutes=15)
DEFAULT_APPROVAL_TTL = timedelta(minutes=15)
CLAIM_LIMIT = timedelta(hours=2)  # longer than any action runs (migrate, backup: 30 min each)
ABANDONED = "abandoned: never finished (the process running it stopped)"


class Status(StrEnum):
    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    DENIED = "denied"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


OPEN = (Status.PENDING, Status.AWAITING_APPROVAL, Status.APPROVED)  # may still expire
CLAIMED_OR_AFTER = (Status.CLAIMED, Status.DONE, Status.FAILED)

COLUMNS = (
    "id, created_at, expires_at, environment, host, action, params, plan, plan_fingerprint, "
    "destructive, needs_approval, finding_id, requester, channel, message_ts, status, "
    "approval_requested_by, approval_requested_at, approver, approved_at, denied_by, "
    "denied_at, claimed_by, claimed_at, finished_at, result, correlation_id"
)


class PendingAction(BaseModel):
    """One row of ``pending_actions``."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    environment: str
    host: str | None
    action: str
    params: dict[str, Any]
    plan: Plan
    plan_fingerprint: str
    destructive: bool
    needs_approval: bool
    finding_id: str | None
    requester: str
    channel: str | None
    message_ts: str | None
    status: Status
    approval_requested_by: str | None
    approval_requested_at: datetime | None
    approver: str | None
    approved_at: datetime | None
    denied_by: str | None
    denied_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    correlation_id: uuid.UUID


# ── errors ───────────────────────────────────────────────────────────────────


class PendingError(StackbotError):
    """A pending action cannot do what was asked; ``pending`` is the row (None: unknown)."""

    code: ClassVar[str] = "pending"

    def __init__(self, message: str, pending: PendingAction | None = None) -> None:
        super().__init__(message)
        self.pending = pending


class PendingNotFound(PendingError):
    code = "pending.unknown"


class PendingExpired(PendingError):
    code = "pending.expired"


class PendingAlreadyClaimed(PendingError):
    code = "pending.already_claimed"


class PendingNeedsApproval(PendingError):
    code = "pending.needs_approval"


class PendingAwaitingApproval(PendingError):
    code = "pending.awaiting_approval"


class PendingDenied(PendingError):
    code = "pending.denied"


class SelfApproval(PendingError):
    code = "pending.self_approval"


class PendingWrongState(PendingError):
    code = "pending.wrong_state"


# ── the store ────────────────────────────────────────────────────────────────


class PendingActions:
    """``pending_actions`` in the audit database, through ``store``'s pool."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def create(
        self,
        *,
        environment: str,
        action: str,
        plan: Plan,
        requester: str,
        params: Mapping[str, Any] | BaseModel | None = None,
        host: str | None = None,
        finding_id: str | None = None,
        channel: str | None = None,
        message_ts: str | None = None,
        needs_approval: bool = False,
        correlation_id: uuid.UUID | None = None,
        ttl: timedelta = DEFAULT_TTL,
        id: uuid.UUID | None = None,
    ) -> PendingAction:
        """Store a new pending action; its ``id`` is the button's value.

        ``needs_approval`` (``bot.inventory.access.needs_approval``) makes ``claim`` refuse
        until a second person approved. ``plan`` is stored redacted; its
        fingerprint is taken first, from the plan as planned. ``params`` are
        stored as given (they are what runs: names, never secrets).
        """
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if isinstance(params, BaseModel):
            params_data: dict[str, Any] = params.model_dump(mode="json")
        else:
            params_data = dict(params or {})
        plan_data = _stored(plan.model_dump(mode="json"))
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO pending_actions (id, expires_at, environment, host, action, params, "  # noqa: S608 (constant columns)
                "plan, plan_fingerprint, destructive, needs_approval, finding_id, requester, "
                "channel, message_ts, correlation_id) "
                "VALUES (%s, now() + %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {COLUMNS}",
                (
                    id or uuid.uuid4(),
                    ttl,
                    environment,
                    host,
                    action,
                    Jsonb(params_data),
                    Jsonb(plan_data),
                    plan.fingerprint,
                    plan.destructive,
                    needs_approval,
                    finding_id,
                    requester,
                    channel,
                    message_ts,
                    correlation_id or uuid.uuid4(),
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return PendingAction.model_validate(row)

    async def get(self, pending_id: uuid.UUID | str) -> PendingAction:
        """The row as it is now; ``PendingNotFound`` when there is none."""
        found, _ = await self._read(pending_id)
        if found is None:
            raise _unknown(pending_id)
        return found

    async def claim(self, pending_id: uuid.UUID | str, user: str) -> PendingAction:
        """Take the action to run it: succeeds exactly once, for one caller.

        Claimable: ``approved``, or ``pending`` when no approval is needed, and
        not expired. Otherwise raises the ``PendingError`` that says why.
        """
        row = await self._update(
            pending_id,
            "status = 'claimed', claimed_by = %(user)s, claimed_at = now()",
            "(status = 'approved' OR (status = 'pending' AND NOT needs_approval))",
            {"user": user},
        )
        if row is None:
            raise await self._refusal(pending_id, "claim", user)
        return row

    async def request_approval(
        self,
        pending_id: uuid.UUID | str,
        requester: str,
        *,
        ttl: timedelta = DEFAULT_APPROVAL_TTL,
    ) -> PendingAction:
        """``requester`` (the user who clicked) asks for a second person's approval.

        Only for a pending action that needs approval; the approval window
        (``ttl``) starts now and replaces the button's expiry.
        """
        row = await self._update(
            pending_id,
            "status = 'awaiting_approval', approval_requested_by = %(user)s, "
            "approval_requested_at = now(), expires_at = now() + %(ttl)s",
            "status = 'pending' AND needs_approval",
            {"user": requester, "ttl": ttl},
        )
        if row is None:
            raise await self._refusal(pending_id, "request_approval", requester)
        return row

    async def approve(self, pending_id: uuid.UUID | str, approver: str) -> PendingAction:
        """A second person approves; refused for the requester, when expired or not awaiting."""
        row = await self._update(
            pending_id,
            "status = 'approved', approver = %(user)s, approved_at = now()",
            "status = 'awaiting_approval' AND approval_requested_by IS DISTINCT FROM %(user)s",
            {"user": approver},
        )
        if row is None:
            raise await self._refusal(pending_id, "approve", approver)
        return row

    async def deny(self, pending_id: uuid.UUID | str, user: str) -> PendingAction:
        """Deny (or withdraw) an action that has not been claimed, approved or expired."""
        row = await self._update(
            pending_id,
            "status = 'denied', denied_by = %(user)s, denied_at = now()",
            "status IN ('pending', 'awaiting_approval')",
            {"user": user},
        )
        if row is None:
            raise await self._refusal(pending_id, "deny", user)
        return row

    async def finish(
        self,
        pending_id: uuid.UUID | str,
        status: Literal["done", "failed"],
        result: Mapping[str, Any] | None = None,
    ) -> PendingAction:
        """Record how a claimed action ended (``result`` is stored redacted)."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish takes 'done' or 'failed', not {status!r}")
        data = _stored(dict(result or {}))
        row = await self._update(
            pending_id,
            "status = %(status)s, result = %(result)s, finished_at = now()",
            "status = 'claimed'",
            {"status": status, "result": Jsonb(data)},
            check_expiry=False,  # a run that outlives the button still ends
        )
        if row is None:
            raise await self._refusal(pending_id, "finish", None)
        return row

    async def attach_message(
        self, pending_id: uuid.UUID | str, channel: str, message_ts: str
    ) -> PendingAction:
        """Where the button was posted (known only after posting), to edit it later."""
        row = await self._update(
            pending_id,
            "channel = %(channel)s, message_ts = %(ts)s",
            "TRUE",
            {"channel": channel, "ts": message_ts},
            check_expiry=False,
        )
        if row is None:
            raise _unknown(pending_id)
        return row

    async def on_message(self, channel: str, message_ts: str) -> list[PendingAction]:
        """Every pending action behind the buttons of one message, oldest first."""
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM pending_actions "  # noqa: S608 (constant columns)
                "WHERE channel = %s AND message_ts = %s ORDER BY created_at, id",
                (channel, message_ts),
            )
            rows = await cur.fetchall()
        return [PendingAction.model_validate(r) for r in rows]

    async def expire_old(self) -> list[PendingAction]:
        """Mark every open action past its expiry ``expired``, and every claim older than
        ``CLAIM_LIMIT`` ``failed`` (abandoned); return them (to edit buttons)."""
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE pending_actions SET status = 'expired' "  # noqa: S608 (constant columns)
                "WHERE status IN ('pending', 'awaiting_approval', 'approved') "
                f"AND expires_at <= now() RETURNING {COLUMNS}"
            )
            rows = await cur.fetchall()
            await cur.execute(
                "UPDATE pending_actions SET status = 'failed', finished_at = now(), "  # noqa: S608
                "result = %s WHERE status = 'claimed' AND claimed_at <= now() - %s "
                f"RETURNING {COLUMNS}",
                (Jsonb({"error": ABANDONED}), CLAIM_LIMIT),
            )
            rows += await cur.fetchall()
        return [PendingAction.model_validate(r) for r in rows]

    # ── internals ────────────────────────────────────────────────────────────

    async def _update(
        self,
        pending_id: uuid.UUID | str,
        assignments: str,
        condition: str,
        values: dict[str, Any],
        *,
        check_expiry: bool = True,
    ) -> PendingAction | None:
        """ONE atomic ``UPDATE … WHERE id AND <condition> [AND not expired] RETURNING``."""
        ident = _parse_id(pending_id)
        if ident is None:
            return None
        expiry = " AND expires_at > now()" if check_expiry else ""
        query = (
            f"UPDATE pending_actions SET {assignments} "  # noqa: S608 (constant SQL fragments)
            f"WHERE id = %(id)s AND {condition}{expiry} RETURNING {COLUMNS}"
        )
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.encode(), {**values, "id": ident})
            row = await cur.fetchone()
        return PendingAction.model_validate(row) if row else None

    async def _read(self, pending_id: uuid.UUID | str) -> tuple[PendingAction | None, datetime]:
        ident = _parse_id(pending_id)
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {COLUMNS}, now() AS db_now FROM pending_actions "  # noqa: S608
                "WHERE id = %s",
                (ident,),
            )
            row = await cur.fetchone()
            if row is None:
                await cur.execute("SELECT now() AS db_now")
                clock = await cur.fetchone()
                assert clock is not None
                return None, clock["db_now"]
        now = row.pop("db_now")
        return PendingAction.model_validate(row), now

    async def _refusal(
        self, pending_id: uuid.UUID | str, attempt: str, user: str | None
    ) -> PendingError:
        """Why the atomic update matched nothing, read back from the row."""
        if _parse_id(pending_id) is None:
            return _unknown(pending_id)
        row, now = await self._read(pending_id)
        return explain(row, attempt, user, now, pending_id)


def explain(
    row: PendingAction | None,
    attempt: str,
    user: str | None,
    now: datetime,
    pending_id: uuid.UUID | str = "",
) -> PendingError:
    """The error for ``attempt`` (claim, request_approval, approve, deny, finish) on ``row``."""
    if row is None:
        return _unknown(pending_id)
    status = row.status
    if attempt == "finish" and status in (Status.DONE, Status.FAILED):
        return PendingWrongState(f"already finished ({status}) at {_at(row.finished_at)}", row)
    if status in CLAIMED_OR_AFTER:
        ended = f"; it has finished: {status.value}" if status is not Status.CLAIMED else ""
        if status is Status.CLAIMED and row.claimed_at and row.claimed_at <= now - CLAIM_LIMIT:
            ended = f"; it {ABANDONED.removeprefix('abandoned: ')}: run the command again"
        return PendingAlreadyClaimed(
            f"already claimed by {row.claimed_by} at {_at(row.claimed_at)}{ended}", row
        )
    if status is Status.DENIED:
        return PendingDenied(f"denied by {row.denied_by} at {_at(row.denied_at)}", row)
    if attempt == "finish":
        return PendingWrongState(f"cannot finish: it was never claimed (it is {status})", row)
    if status is Status.EXPIRED or (status in OPEN and row.expires_at <= now):
        return PendingExpired(
            f"expired at {_at(row.expires_at)}; run the command again for a fresh button", row
        )
    if status is Status.AWAITING_APPROVAL:
        requested = f"requested by {row.approval_requested_by} at {_at(row.approval_requested_at)}"
        if attempt == "approve" and user == row.approval_requested_by:
            return SelfApproval(
                f"you cannot approve your own request ({requested}); another approver must",
                row,
            )
        return PendingAwaitingApproval(f"awaiting approval ({requested})", row)
    if status is Status.APPROVED:
        return PendingWrongState(
            f"already approved by {row.approver} at {_at(row.approved_at)}", row
        )
    # pending
    if attempt == "claim":
        return PendingNeedsApproval(
            "needs a second person's approval first: request it, then an approver approves",
            row,
        )
    if attempt == "request_approval":
        return PendingWrongState("needs no approval: it can run now", row)
    return PendingWrongState(
        f"nothing to approve: approval was not requested (it is {status})", row
    )


def _parse_id(pending_id: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(pending_id, uuid.UUID):
        return pending_id
    try:
        return uuid.UUID(str(pending_id))
    except ValueError:
        return None


def _unknown(pending_id: uuid.UUID | str) -> PendingNotFound:
    shown = str(pending_id)[:64]
    return PendingNotFound(
        f"unknown action {shown!r} (purged, or not from this stackbot); "
        "run the command again for a fresh button"
    )


def _at(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else "an unknown time"


def _stored(data: Mapping[str, Any]) -> JSONData:
    """JSON for a display column: ``bot.redaction.redact`` on every string, secret-looking keys
    masked."""
    return _mask(redact_data(_json(data)))


def _json(data: Any) -> JSONData:
    if isinstance(data, Mapping):
        return {str(k): _json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_json(v) for v in data]
    if data is None or isinstance(data, bool | int | float | str):
        return data
    return str(data)


def _mask(data: JSONData) -> JSONData:
    if isinstance(data, dict):
        return {
            k.replace("\x00", "\ufffd"): REDACTED
            if isinstance(v, str) and v and is_secret_key(k)
            else _mask(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_mask(v) for v in data]
    if isinstance(data, str):
        return data.replace("\x00", "\ufffd")  # jsonb cannot hold NUL
    return data
