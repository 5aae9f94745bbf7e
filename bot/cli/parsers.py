"""The ``stackbot`` command line: every command's arguments, and nothing they run.

Light on purpose: building the parser for a command imports none of what the
commands use (asyncssh, docker, psycopg, the runbooks). The report commands
(``disk``, ``volumes``, ``ps``, ``logs``…) are generated from the report
runbooks' ``Params``, which loads every runbook and the operations layer: that
happens only when the command asked for is not one of the fixed commands below
(a report, ``--help`` of the whole program, or a mistyped command, whose error
lists them all).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.operations import ReportSpec

FIXED_COMMANDS = frozenset(
    {"check-config", "diagnose", "fix", "serve", "audit", "oncall", "incidents"}
)
OPTIONS_WITH_VALUE = frozenset({"--config"})


def command_word(argv: Sequence[str]) -> str | None:
    """The command name in ``argv`` (the first word that is not a global option)."""
    rest = iter(argv)
    for arg in rest:
        if arg in OPTIONS_WITH_VALUE:
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command`` one of ``FIXED_COMMANDS``, without the
    report commands (they would load every runbook just to be listed)."""
    parser = argparse.ArgumentParser(
        prog="stackbot",
        description="Diagnose and fix Docker Compose stacks on your hosts, over SSH.",
    )
    parser.add_argument("--config", metavar="PATH", help="inventory file (else $STACKBOT_CONFIG)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check-config", help="validate the inventory; --connect tries hosts")
    check.add_argument("--connect", action="store_true", help="also connect to every host")
    check.add_argument("--env", help="only this environment's hosts")

    diagnose = sub.add_parser("diagnose", help="what is wrong, the evidence, and the fix")
    diagnose.add_argument("env", metavar="ENV", help="environment from the inventory")
    diagnose.add_argument("stack", metavar="STACK", nargs="?", help="only this stack")
    diagnose.add_argument("--host", action="append", default=[], help="only this host (repeat)")
    diagnose.add_argument("--format", choices=("table", "json"), default="table")
    diagnose.add_argument(
        "--deadline", type=float, default=60.0, help="seconds for reading each host (default 60)"
    )

    add_fix_parser(sub)

    serve = sub.add_parser("serve", help="run the Slack bot (Socket Mode; --http for HTTP mode)")
    serve.add_argument("--http", action="store_true", help="HTTP mode (events at /slack/events)")
    serve.add_argument(
        "--port", type=int, default=3000,
        help="port for Slack events (--http) and alerts (/alerts/ENV) (default 3000)",
    )  # fmt: skip
    serve.add_argument(
        "--host", default="0.0.0.0",  # noqa: S104
        help="address to listen on for events and alerts (default all)",
    )  # fmt: skip
    add_audit_parser(sub)
    add_oncall_parsers(sub)

    if command not in FIXED_COMMANDS:
        from bot.operations import report_specs  # every runbook: only when reports are wanted

        for spec in report_specs().values():
            add_report_parser(sub, spec)
    return parser


def add_report_parser(sub: Any, spec: ReportSpec) -> None:
    """``stackbot NAME ENV [WORD…] [--option VALUE…]``, from the report's ``Params``."""
    cmd = sub.add_parser(spec.name, help=spec.title, description=spec.runbook.summary)
    cmd.set_defaults(report=spec)
    cmd.add_argument("env", metavar="ENV", help="environment from the inventory")
    for option in spec.options:
        kind: dict[str, Any] = {"help": option.help}
        if option.kind == "int":
            kind["type"] = int
        elif option.kind == "float":
            kind["type"] = float
        if option.choices:
            kind["choices"] = option.choices
        if option.positional:
            cmd.add_argument(option.name, metavar=option.metavar, **kind)
        elif option.kind == "flag":
            cmd.add_argument(option.flag, dest=option.name, action="store_true", help=option.help)
        elif option.kind == "list":
            cmd.add_argument(option.flag, dest=option.name, action="append", **kind)
        else:
            cmd.add_argument(option.flag, dest=option.name, metavar=option.metavar, **kind)
    cmd.add_argument("--host", action="append", default=[], help="only this host (repeat)")
    cmd.add_argument("--format", choices=("table", "json"), default="table")


def add_fix_parser(sub: Any) -> None:
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


def add_audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="read the audit trail; verify it was not changed")
    cmds = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    listing = cmds.add_parser("list", help="rows, oldest first (filters combine)")
    export = cmds.add_parser("export", help="every row (or the filtered ones), JSON lines or CSV")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    for cmd in (listing, export):
        cmd.add_argument("--env", help="only this environment")
        cmd.add_argument("--actor", help="only this actor (Slack user id/name, or OS user)")
        cmd.add_argument("--since", help="ISO date/time, or an age such as 2h or 7d")
        cmd.add_argument("--action", help="only this action (e.g. container.restart, diagnose)")
    listing.add_argument("--limit", type=int, default=200, help="the last N rows (default 200)")
    show = cmds.add_parser("show", help="the whole story of one request")
    show.add_argument("id", metavar="ID", help="a correlation id, or the id of any of its rows")
    cmds.add_parser("verify", help="walk the hash chain; name the first changed/deleted row")


def add_oncall_parsers(sub: Any) -> None:
    who = sub.add_parser("oncall", help="who is on call now and next, per environment")
    who.add_argument("env", metavar="ENV", nargs="?", help="only this environment")
    listing = sub.add_parser("incidents", help="the open incidents (exit 1 when there are any)")
    listing.add_argument("env", metavar="ENV", nargs="?", help="only this environment")
