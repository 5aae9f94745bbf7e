"""``stackbot fix``: show the plan, ask before anything destructive, apply, verify."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.text import Text

from bot.action import Action, ActionResult, Plan
from bot.audit.trail import AuditRequest, AuditTrail
from bot.config import Inventory
from bot.config.loader import describe_validation_error
from bot.diagnosis import build_report
from bot.engine import run_runbook
from bot.envlock import default_lock_dir
from bot.errors import HostError, StackbotError, TargetGone, UsageError
from bot.executor import execute, plan_action
from bot.findings import Finding
from bot.redact import redact_data, redact_model
from bot.render.json_output import render_json
from bot.render.terminal import render_terminal
from bot.session import HostSession
from bot.transport import Transport
from runbooks import load_actions, load_runbook
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge

# Read-only fixes of the catalogue are the report runbooks of the same purpose.
REPORT_FIXES = {"disk.check": "disk", "volumes.list": "volumes"}
EXIT_OK = 0
EXIT_NOT_FIXED = 1
EXIT_HOST_FAILED = 4
EXIT_REFUSED = 5


class NotConfirmed(StackbotError):
    code = "action.not_confirmed"
    exit_status = EXIT_REFUSED


def add_parser(sub: Any) -> None:
    fix = sub.add_parser(
        "fix",
        help="apply a fix: shows the plan, asks before anything destructive",
        description="stackbot fix ACTION ENV --param k=v …   or   stackbot fix --finding ID ENV",
    )
    fix.add_argument("action", metavar="ACTION", nargs="?", help="e.g. network.connect")
    fix.add_argument("env", metavar="ENV", help="environment from the inventory")
    fix.add_argument("--param", action="append", default=[], metavar="K=V", help="repeat")
    fix.add_argument("--finding", metavar="ID", help="apply the fix `diagnose` proposed")
    fix.add_argument("--yes", action="store_true", help="do not ask before destructive steps")
    fix.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    fix.add_argument("--format", choices=("table", "json"), default="table")
    fix.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for another action on the environment (default 10)",
    )


async def run_fix(
    inventory: Inventory,
    args: argparse.Namespace,
    err: Console,
    out: Console,
    trail: AuditTrail | None = None,
) -> int:
    """Plan, confirm, apply, verify; with a ``trail``, every step is an audit row.

    Rows before the apply are durable (written to the database, or the fix is
    refused); a dry run or a read-only report only spools when it must.
    """
    actions = load_actions()
    user = getpass.getuser()
    async with Transport(inventory.ssh) as transport:
        name, raw = await _resolve(transport, inventory, args, actions)
        audit = None
        if trail is not None:
            audit = trail.request(
                actor=user, surface="cli", environment=args.env, action=name, host=raw.get("host")
            )
        try:
            return await _run_audited(
                transport, inventory, args, err, out, actions, name, raw, audit, user
            )
        except HostError as exc:  # the host failed before or after the apply: say so
            if audit is not None and audit.last_kind not in (None, "finished", "denied"):
                failed = {"status": "failed", "error": exc.code, "message": exc.message}
                await _record(audit, "finished", failed)
            raise


async def _run_audited(
    transport: Transport,
    inventory: Inventory,
    args: argparse.Namespace,
    err: Console,
    out: Console,
    actions: dict[str, Any],
    name: str,
    raw: dict[str, str],
    audit: AuditRequest | None,
    user: str,
) -> int:
    """Everything after the action is resolved; every step an audit row."""
    if name in REPORT_FIXES:
        await _record(audit, "requested", {"params": raw, "read_only": True})
        status = await _report_fix(transport, inventory, args, name, raw, out)
        await _record(audit, "finished", {"status": "reported", "exit_status": status})
        return status
    if name not in actions:
        known = ", ".join(sorted([*actions, *REPORT_FIXES]))
        raise UsageError(f"unknown action {name!r} (actions: {known})")
    action = actions[name]
    params = _params(action.params, raw)
    applies = not args.dry_run  # rows before a change must be durable
    requested = {
        "params": raw,
        "finding": args.finding,
        "dry_run": args.dry_run,
        "destructive": action.destructive,
    }
    await _record(audit, "requested", requested, durable=applies)
    await _record(
        audit,
        "authorised",
        {"by": user, "rule": "cli: the OS user who can read the inventory and its keys"},
        durable=applies,
    )
    with err.status(f"Planning {name} on {args.env}…"):
        plan = await plan_action(transport, inventory, args.env, action, params, audit=audit)
    if audit is not None:
        audit.target = dict(plan.target)
    planned = {"plan": plan.model_dump(mode="json"), "fingerprint": plan.fingerprint}
    await _record(audit, "planned", planned, durable=applies)
    if args.format == "table":
        _print_plan(out, action, plan, args.env, params.host)
    if plan.refusal or plan.empty or args.dry_run:
        early, message = _early_status(plan)
        finished = {"status": early, "changed": False, "message": message}
        await _record(audit, "finished", finished)
        return _early_exit(out, plan, args, params.host)
    if action.destructive and not args.yes:
        try:
            _confirm(args.env, out)
        except NotConfirmed as exc:
            await _record(audit, "denied", {"by": user, "reason": exc.message})
            raise
        how = "typed the environment's name"
    else:
        how = "--yes" if action.destructive else "not asked: the action is not destructive"
    await _record(audit, "confirmed", {"by": user, "how": how}, durable=True)
    with err.status(f"Applying {name} on {args.env}…"):
        result = await execute(
            transport,
            inventory,
            args.env,
            action,
            params,
            confirmed=plan,
            actor=getpass.getuser(),
            lock_dir=inventory.data_dir / "locks" if inventory.data_dir else default_lock_dir(),
            diagnose=_diagnose_findings,
            lock_wait=args.wait,
            audit=audit,
        )
    if args.format == "json":
        out.print(_json(result), markup=False, highlight=False, soft_wrap=True)
    else:
        _print_result(out, result)
    if result.status == "failed" or (result.post_check and not result.post_check.cleared):
        return EXIT_NOT_FIXED
    return EXIT_OK if result.status != "refused" else EXIT_REFUSED


async def _report_fix(
    transport: Transport,
    inventory: Inventory,
    args: argparse.Namespace,
    name: str,
    raw: dict[str, str],
    out: Console,
) -> int:
    """``disk.check`` and ``volumes.list``: the read-only reports, for the fix's host."""
    runbook = load_runbook(REPORT_FIXES[name])
    host = raw.pop("host", None)
    params = _params(runbook.params, raw)
    outcome = await run_runbook(
        transport, inventory, args.env, runbook, params, only_hosts=[host] if host else []
    )
    if args.format == "json":
        out.print(render_json(outcome), markup=False, highlight=False, soft_wrap=True)
    else:
        render_terminal(outcome, out)
    return EXIT_OK if not outcome.failed else EXIT_HOST_FAILED


async def _diagnose_findings(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


async def _resolve(
    transport: Transport, inventory: Inventory, args: argparse.Namespace, actions: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    given = dict(_split_param(p) for p in args.param)
    if args.finding is None:
        if not args.action:
            raise UsageError("name an ACTION (e.g. network.connect) or give --finding ID")
        return args.action, given
    if args.action:
        raise UsageError("give either ACTION with --param, or --finding ID, not both")
    runbook = load_runbook("diagnose")
    outcome = await run_runbook(transport, inventory, args.env, runbook, runbook.params())
    report = build_report(outcome)
    finding = next((f for f in report.findings if f.id == args.finding), None)
    if finding is None:
        raise TargetGone(
            f"no finding {args.finding} in {args.env} now (it may be fixed already); "
            f"run `stackbot diagnose {args.env}` for the current ids"
        )
    fix = next((f for f in finding.fixes if f.action in actions or f.action in REPORT_FIXES), None)
    if fix is None:
        raise UsageError(f"finding {args.finding} ({finding.code}) has no fix stackbot can apply")
    params = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in fix.params.items()}
    return fix.action, {**params, **given}


def _split_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--param takes KEY=VALUE, not {text!r}")
    return key.strip(), value


def _params(model: type[BaseModel], raw: dict[str, str]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise UsageError("; ".join(describe_validation_error(exc))) from exc


def _confirm(env: str, out: Console) -> None:
    if not sys.stdin.isatty():
        raise NotConfirmed(
            "this action is destructive: rerun with --yes to confirm (no terminal to ask)"
        )
    out.print(
        Text(f"This is destructive. Type the environment's name ({env}) to apply: ", style="bold"),
        end="",
    )
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip() != env:
        raise NotConfirmed("not confirmed: nothing was changed")


async def _record(
    audit: AuditRequest | None, kind: Any, details: dict[str, Any], *, durable: bool = False
) -> None:
    if audit is not None:
        await audit.record(kind, details, durable=durable)


def _early_status(plan: Plan) -> tuple[Literal["refused", "nothing to do", "planned"], str]:
    if plan.refusal:
        return "refused", plan.refusal
    if plan.empty:
        return "nothing to do", "already in the wanted state"
    return "planned", "dry run: nothing was changed"


def _early_exit(out: Console, plan: Plan, args: argparse.Namespace, host: str) -> int:
    """Refused, nothing to do, or only a dry run: nothing was applied."""
    status, message = _early_status(plan)
    if args.format == "json":
        result = ActionResult(
            action=plan.action,
            environment=args.env,
            host=host,
            target=plan.target,
            changed=False,
            plan=plan,
            status=status,
            message=message,
        )
        out.print(_json(result), markup=False, highlight=False, soft_wrap=True)
    elif status == "planned":
        out.print(Text(f"  {message}", style="yellow"))
    return EXIT_REFUSED if plan.refusal else EXIT_OK


def _print_plan(out: Console, action: Action[Any], plan: Plan, env: str, host: str) -> None:
    plan = redact_model(plan)
    risk = "destructive" if action.destructive else "not destructive"
    out.print(
        Text.assemble((f"{action.name}", "bold"), f" on {env}/{host} — {action.title} ({risk})")
    )
    if plan.before:
        out.print(Text("  before: " + _state(plan.before), style="dim"))
    if plan.refusal:
        out.print(Text(f"  refused: {plan.refusal}", style="bold red"))
        return
    if plan.empty:
        out.print(Text("  nothing to do: already in the wanted state", style="green"))
        return
    for number, step in enumerate(plan.steps, 1):
        out.print(Text(f"  {number}. {step.description}"))
        out.print(Text(f"     {step.call}", style="dim"))
    if plan.after:
        out.print(Text("  after:  " + _state(plan.after), style="dim"))
    for note in plan.notes:
        out.print(Text(f"  note: {note}", style="yellow"))


def _state(values: dict[str, Any]) -> str:
    return " · ".join(
        f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items()
    )


def _print_result(out: Console, result: ActionResult) -> None:
    result = redact_model(result)
    ok = result.status in ("applied", "nothing to do")
    mark, style = ("✔", "green") if ok else ("✘", "bold red")
    out.print(Text(f"{mark} {result.status} in {result.duration:.1f} s", style=style))
    for outcome in result.outcomes:
        line = f"  {'ok' if outcome.ok else 'FAILED'}: {outcome.step}"
        out.print(Text(line + (f" — {outcome.detail}" if outcome.detail else "")))
    if result.message and not result.outcomes:
        out.print(Text(f"  {result.message}"))
    if result.status == "failed":
        out.print(
            Text(
                f"✘ not fixed: a step failed, so no cure is claimed; run `stackbot diagnose "
                f"{result.environment}` to see the state it left",
                style="bold red",
            )
        )
    post = result.post_check
    if post is not None:
        if post.cleared:
            out.print(Text(f"✔ post-check: no {', '.join(post.checked)} left", style="green"))
        else:
            out.print(Text("✘ post-check: still found:", style="bold red"))
            for finding in post.remaining:
                out.print(Text(f"  {finding.code}  {finding.title}  [{finding.id}]"))


def _json(result: ActionResult) -> str:
    return json.dumps(redact_data(result.model_dump(mode="json")), indent=2, ensure_ascii=False)


__all__ = ["add_parser", "run_fix"]
