"""``stackbot fix``: show the plan, ask before anything destructive, apply, verify."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from bot.framework.action import Action, ActionResult, Plan
from bot.model.errors import StackbotError, UsageError
from bot.operations import REPORT_FIXES, FixRequest, Operations, Requester, render_outcome
from bot.redaction.redact import redact_data, redact_model
from bot.render.json_output import render_json
from bot.render.report import fix_command

EXIT_OK = 0
EXIT_NOT_FIXED = 1
EXIT_HOST_FAILED = 4
EXIT_REFUSED = 5
CLI_RULE = "cli: the OS user who can read the inventory and its keys"


class NotConfirmed(StackbotError):
    code = "action.not_confirmed"
    exit_status = EXIT_REFUSED


async def run_fix(
    operations: Operations,
    args: argparse.Namespace,
    err: Console,
    out: Console,
    who: Requester,
) -> int:
    """Plan, confirm, apply, verify: ``operations`` writes every step's audit row."""
    given = dict(_split_param(p) for p in args.param)
    if args.finding is None:
        if not args.action:
            raise UsageError("name an ACTION (e.g. network.connect) or give --finding ID")
        name = args.action
    elif args.action:
        raise UsageError("give either ACTION with --param, or --finding ID, not both")
    else:
        name, proposed = await operations.find_fix(args.env, args.finding)
        given = {**proposed, **given}
    if name in REPORT_FIXES:
        return await _report_fix(operations, args, who, name, given, out)
    with err.status(f"Planning {name} on {args.env}…"):
        fix = await operations.propose_fix(
            who,
            args.env,
            name,
            given,
            authorised={"by": who.actor, "rule": CLI_RULE},
            dry_run=args.dry_run,
            context={"finding": args.finding},
        )
    if args.format == "table":
        _print_plan(out, fix.action, fix.plan, args.env, fix.host)
    if fix.settled:
        return _early_exit(out, fix, args)
    if fix.action.destructive and not args.yes:
        try:
            _confirm(args.env, out)
        except NotConfirmed as exc:
            await operations.decline(fix, by=who.actor, reason=exc.message)
            raise
        how = "typed the environment's name"
    else:
        how = "--yes" if fix.action.destructive else "not asked: the action is not destructive"
    with err.status(f"Applying {name} on {args.env}…"):
        result = await operations.apply_fix(fix, by=who.actor, how=how, lock_wait=args.wait)
    if args.format == "json":
        out.print(_json(result), markup=False, highlight=False, soft_wrap=True)
    else:
        _print_result(out, result)
    if result.status == "failed" or (result.post_check and not result.post_check.cleared):
        return EXIT_NOT_FIXED
    return EXIT_OK if result.status != "refused" else EXIT_REFUSED


async def _report_fix(
    operations: Operations,
    args: argparse.Namespace,
    who: Requester,
    name: str,
    given: dict[str, str],
    out: Console,
) -> int:
    """``disk.check`` and ``volumes.list``: the read-only reports, for the fix's host."""
    host = given.pop("host", None)
    outcome = await operations.report(
        who, REPORT_FIXES[name], args.env, given, hosts=[host] if host else []
    )
    if args.format == "json":
        out.print(render_json(outcome), markup=False, highlight=False, soft_wrap=True)
    else:
        render_outcome(outcome, out)
    return EXIT_OK if not outcome.failed else EXIT_HOST_FAILED


def _split_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--param takes KEY=VALUE, not {text!r}")
    return key.strip(), value


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


def _early_exit(out: Console, fix: FixRequest, args: argparse.Namespace) -> int:
    """Refused, nothing to do, or only a dry run: nothing was applied."""
    status, message = fix.early_status()
    if args.format == "json":
        result = ActionResult(
            action=fix.plan.action,
            environment=args.env,
            host=fix.host,
            target=fix.plan.target,
            changed=False,
            plan=fix.plan,
            status=status,
            message=message,
        )
        out.print(_json(result), markup=False, highlight=False, soft_wrap=True)
    elif status == "planned":
        out.print(Text(f"  {message}", style="yellow"))
    return EXIT_REFUSED if fix.plan.refusal else EXIT_OK


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
    for snapshot in result.snapshots:
        out.print(
            Text(
                f"  snapshot of {snapshot.volume}: {snapshot.path} (sha256 {snapshot.sha256}); "
                "to put it back:",
                style="cyan",
            )
        )
        out.print(
            Text(f"    $ {fix_command(result.environment, snapshot.restore_fix(result.host))}"),
            soft_wrap=True,
        )
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


__all__ = ["run_fix"]
