"""``stackbot``: the terminal front end over the same runbooks the Slack bot runs.

Exit statuses: 0 all well · 1 something critical was found, or a fix did not
clear its finding · 2 usage error (bad arguments, unknown environment) · 3
configuration error · 4 a host could not be reached or used · 5 a fix was
refused (not confirmed, the plan went stale, the environment is busy, the
target is gone) · 70 internal error (a bug: rerun with --debug).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.cli.libsearch import import_asyncssh
from bot.cli.parsers import build_parser, command_word
from bot.model.errors import StackbotError

if TYPE_CHECKING:
    from rich.console import Console

    from bot.framework.executor import Sessions
    from bot.inventory.config import Inventory
    from bot.inventory.probe import HostProbe
    from bot.operations import Operations, ReportSpec, Requester

EXIT_OK = 0
EXIT_CRITICAL = 1
EXIT_HOST_FAILED = 4
EXIT_INTERNAL = 70


def main(argv: Sequence[str] | None = None, *, transport: Sessions | None = None) -> int:
    """The ``stackbot`` command. ``transport``: the seam tests put fake hosts behind."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(command_word(argv)).parse_args(argv)
    from rich.console import Console  # after parsing: `--help` needs none of it

    err = Console(stderr=True, highlight=False)
    try:
        return asyncio.run(_dispatch(args, err, transport))
    except StackbotError as exc:
        if args.debug:
            raise
        err.print(f"stackbot: error: {exc.message}", markup=False, soft_wrap=True)
        return exc.exit_status
    except KeyboardInterrupt:
        err.print("stackbot: interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        err.print(
            f"stackbot: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            markup=False,
            soft_wrap=True,
        )
        return EXIT_INTERNAL


async def _dispatch(args: argparse.Namespace, err: Console, transport: Sessions | None) -> int:
    """Each command imports what it uses, when it runs (a terminal command starts cold)."""
    from bot.inventory.config import find_config, load_inventory

    inventory = load_inventory(find_config(args.config, os.environ))
    if args.command == "check-config":
        return await _check_config(inventory, args, err)
    if args.command == "serve":
        import_asyncssh()
        from bot.slack.serve import serve  # Slack's libraries load only for the bot

        await serve(inventory, http=args.http, host=args.host, port=args.port)
        return EXIT_OK
    if args.command == "audit":
        from bot.cli import audit

        return await audit.run_audit(inventory, args, _stdout())
    if args.command in ("oncall", "incidents"):
        from bot.cli import oncall

        run = oncall.run_oncall if args.command == "oncall" else oncall.run_incidents
        return await run(inventory, args, _stdout())
    import_asyncssh()
    from bot.framework.engine import environment_hosts
    from bot.operations import Operations
    from bot.operations.params import validated
    from bot.stores.audit.setup import open_trail
    from bot.transport import Transport
    from runbooks import load_runbook

    # Bad arguments and names fail before the audit trail opens.
    if args.command == "diagnose":
        validated(load_runbook("diagnose").params, {"stack": args.stack, "deadline": args.deadline})
        environment_hosts(inventory, args.env, args.host)
    elif args.command == "fix":
        environment_hosts(inventory, args.env)
    else:
        args.report.validate(_report_params(args))
        environment_hosts(inventory, args.env, args.host)
    # The audit store starts while the hosts are read: read-only rows written before it is
    # up go to the spool at once and into the database as soon as it is (never lost);
    # anything durable (a fix) still waits for it.
    async with open_trail(inventory, overlap=True) as trail, Transport(inventory.ssh) as own:
        operations = Operations(inventory, trail=trail, transport=transport or own)
        if args.command == "diagnose":
            return await _diagnose(operations, args, err)
        if args.command == "fix":
            from bot.cli import fix

            return await fix.run_fix(operations, args, err, _stdout(), _requester())
        return await _report(operations, args, err)


def _requester() -> Requester:
    from bot.operations import Requester

    return Requester(actor=getpass.getuser(), surface="cli")


async def _diagnose(operations: Operations, args: argparse.Namespace, err: Console) -> int:
    from bot.framework.engine import environment_hosts
    from bot.render.report import render_report, report_json

    hosts = environment_hosts(operations.inventory, args.env, args.host)
    with err.status(f"Diagnosing {args.env} ({_plural(len(hosts), 'host')})…"):
        report = await operations.diagnose(
            _requester(), args.env, stack=args.stack, hosts=args.host, deadline=args.deadline
        )
    out = _stdout()
    if args.format == "json":
        out.print(report_json(report), markup=False, highlight=False, soft_wrap=True)
    else:
        render_report(report, out)
    return EXIT_CRITICAL if report.critical else EXIT_OK


def _report_params(args: argparse.Namespace) -> dict[str, Any]:
    spec: ReportSpec = args.report
    return {option.name: getattr(args, option.name, None) for option in spec.options}


async def _report(operations: Operations, args: argparse.Namespace, err: Console) -> int:
    """Any report runbook (disk, volumes, logs, ps…): the same code for each."""
    from bot.framework.engine import environment_hosts
    from bot.operations import render_outcome
    from bot.render.json_output import render_json

    spec: ReportSpec = args.report
    hosts = environment_hosts(operations.inventory, args.env, args.host)
    out = _stdout()
    with err.status(f"{spec.title} — {args.env} ({_plural(len(hosts), 'host')})…"):
        outcome = await operations.report(
            _requester(), spec.name, args.env, _report_params(args), hosts=args.host
        )
    if args.format == "json":
        out.print(render_json(outcome), markup=False, highlight=False, soft_wrap=True)
    else:
        render_outcome(outcome, out)
    if outcome.failed:
        return EXIT_HOST_FAILED
    critical = any(getattr(h.result, "level", None) == "critical" for h in outcome.hosts)
    return EXIT_CRITICAL if critical else EXIT_OK


async def _check_config(inventory: Inventory, args: argparse.Namespace, err: Console) -> int:
    from rich.console import Console

    from bot.framework.engine import environment_hosts
    from bot.inventory.ownership import shared_engine_warnings

    out = Console(highlight=False)
    envs = [args.env] if args.env else list(inventory.environments)
    hosts = [host for env in envs for host in environment_hosts(inventory, env)]
    out.print(
        f"inventory OK: {_plural(len(envs), 'environment')}, {_plural(len(hosts), 'host')}",
        markup=False,
    )
    for warning in shared_engine_warnings(inventory):
        if not args.env or f"{args.env}/" in warning:
            out.print(f"warning: {warning}", markup=False, soft_wrap=True)
    if not args.connect:
        return EXIT_OK
    import_asyncssh()
    from bot.inventory.probe import probe_hosts
    from bot.transport import Transport

    async with Transport(inventory.ssh) as transport:
        with err.status(f"Connecting to {_plural(len(hosts), 'host')}…"):
            probes = await probe_hosts(transport, hosts)
    for probe in probes:
        out.print(_probe_line(probe), markup=False, soft_wrap=True)
    return EXIT_OK if all(p.ok for p in probes) else EXIT_HOST_FAILED


def _probe_line(probe: HostProbe) -> str:
    key = probe.host_key + (f" ({probe.host_key_detail})" if probe.host_key_detail else "")
    docker: str = probe.docker
    if probe.docker_version:
        docker += f", Docker {probe.docker_version} (API {probe.api_version})"
    if probe.error:
        return f"FAILED {probe.error.message} [{probe.error.code}]"
    checks = f"host key {key} · authentication {probe.authentication} · docker {docker}"
    if probe.compose is not None:
        checks += f" · compose: {probe.compose}"
    return f"OK     {probe.label}: {checks}"


def _stdout() -> Console:
    """Tables at a readable width even when stdout is a pipe or a file."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
