"""``stackbot audit``: read the audit trail (list, show, export) and prove it intact (verify).

    stackbot audit list [--env ENV] [--actor WHO] [--since WHEN] [--action NAME] [--limit N]
    stackbot audit show ID          every row of one request (a correlation id or a row id)
    stackbot audit export [--format jsonl|csv] [filters]
    stackbot audit verify           exit 0: intact; exit 1: names the first bad row

``--since`` takes an ISO date or time (UTC unless it says otherwise) or an age:
``30m``, ``12h``, ``7d``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

from rich.console import Console

from bot.inventory.config import Inventory
from bot.model.errors import UsageError
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.record import AuditRow
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter

EXIT_OK = 0
EXIT_BROKEN = 1
CSV_FIELDS = (
    *("seq", "id", "correlation_id", "at", "recorded_at", "kind", "actor", "surface"),
    *("environment", "host", "stack", "action", "target", "details", "prev_hash", "row_hash"),
)
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    if text is None:
        return None
    age = _AGE.match(text.strip())
    if age:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"--since takes an ISO date/time or an age like 12h, not {text!r}"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def run_audit(inventory: Inventory, args: argparse.Namespace, out: Console) -> int:
    async with open_trail(inventory) as trail:
        if trail.store is None:
            raise AuditUnavailable(f"the audit trail cannot be read: {trail.unavailable}")
        store = trail.store
        if args.audit_command == "verify":
            report = await store.verify()
            if report.broken is not None:
                _print(out, f"BROKEN after {report.rows} intact rows: {report.broken}")
                return EXIT_BROKEN
            _print(out, f"intact: {report.rows} rows, head {report.head[:16]}")
            return EXIT_OK
        if args.audit_command == "show":
            rows = await store.story(args.id)
            if not rows:
                raise UsageError(f"no audit row or request with id {args.id}")
            for row in rows:
                _print(out, _line(row))
                _print(out, "    " + json.dumps(row.details, ensure_ascii=False, sort_keys=True))
            return EXIT_OK
        where = RowFilter(
            environment=args.env,
            actor=args.actor,
            action=args.action,
            since=parse_since(args.since),
            limit=getattr(args, "limit", None),
        )
        rows = await store.rows(where)
        if args.audit_command == "list":
            for row in rows:
                _print(out, _line(row))
            if not rows:
                _print(out, "no audit rows match")
        elif args.format == "csv":
            _print(out, to_csv(rows).rstrip("\n"))
        else:
            for row in rows:
                _print(out, json.dumps(row.model_dump(mode="json"), ensure_ascii=False))
    return EXIT_OK


def _line(row: AuditRow) -> str:
    where = "/".join(p for p in (row.environment, row.host, row.stack) if p)
    target = ",".join(f"{k}={v}" for k, v in row.target.items())
    return (
        f"{row.seq:>6} {row.at:%Y-%m-%d %H:%M:%S}Z {row.kind:<12} {row.actor} ({row.surface}) "
        f"{where or '-'} {row.action or '-'} {target}  [{str(row.correlation_id)[:8]}]"
    ).rstrip()


def to_csv(rows: list[AuditRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        data = row.model_dump(mode="json")
        data["target"] = json.dumps(data["target"], sort_keys=True, ensure_ascii=False)
        data["details"] = json.dumps(data["details"], sort_keys=True, ensure_ascii=False)
        writer.writerow({k: data[k] for k in CSV_FIELDS})
    return buffer.getvalue()


def _print(out: Console, text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


__all__ = ["parse_since", "run_audit", "to_csv"]
