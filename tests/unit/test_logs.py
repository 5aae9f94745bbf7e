"""``logs``: one service's lines, owned containers only, tail-limited, filtered, redacted;
and the front ends it gets from its Params alone."""

from __future__ import annotations

import pytest

from bot.cli.parsers import build_parser
from bot.framework.session import CommandResult
from bot.model.docker_objects import ContainerDetails, ContainerSummary
from bot.operations import Textual, report_spec
from bot.slack.commands import USAGE, CommandError, Report, parse
from runbooks.logs import Params, by_time, run, select
from tests.unit.diagnose.factories import container, lab_stack
from tests.unit.fakes import (
    CallLog,
    FakeDocker,
    FakeHostSession,
    Handler,
    completed,
    no_commands,
    shared_engine_host,
)

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a GitHub token's shape


def engine() -> list[ContainerDetails]:
    return [
        *lab_stack("shop"),
        container("crm-backend-1", project="crm", service="backend"),  # staging's
    ]


def session(
    text: dict[str, str], handler: Handler = no_commands
) -> tuple[FakeHostSession, list[ContainerDetails]]:
    containers = engine()
    docker = FakeDocker(
        log=CallLog(),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={c.id: c for c in containers},
        log_text={c.id: text.get(c.name, "") for c in containers},
    )
    session = FakeHostSession(handler=handler, docker=docker, host=shared_engine_host("prod"))
    return session, containers


def test_select_keeps_the_last_lines_that_match_and_redacts_them() -> None:
    text = "\n".join(f"line {i} {'ERROR' if i % 2 else 'ok'}" for i in range(10))
    text += f"\nerror: auth failed with token {TOKEN}\n\n"
    lines, scanned, more = select(text, Params(service="b", tail=3, grep="error"))
    assert scanned == 11 and more is True
    assert lines[:2] == ["line 7 ERROR", "line 9 ERROR"]
    assert TOKEN not in lines[2] and "***" in lines[2]
    assert select("x" * 5000, Params(service="b"))[0] == ["x" * 2000]


def test_by_time_merges_the_two_streams() -> None:
    out = "2025-01-01T10:00:01.000000000Z started\n2025-01-01T10:00:03.000000000Z ready\n"
    err = "2025-01-01T10:00:02.500000000Z warning: slow disk\n"
    assert by_time(out, err).splitlines() == [
        "2025-01-01T10:00:01Z started",
        "2025-01-01T10:00:02Z warning: slow disk",
        "2025-01-01T10:00:03Z ready",
    ]


async def test_the_tail_of_the_service_through_the_engine_api() -> None:
    fake, _ = session({"shop-backend-1": f"boot\nDATABASE_URL=postgres://u:{TOKEN}@db/x\n"})
    result = await run(fake, Params(service="backend"))
    (logs,) = result.containers
    assert (logs.container, logs.service, logs.state) == ("shop-backend-1", "backend", "running")
    assert logs.lines[0] == "boot" and TOKEN not in str(result.model_dump())
    assert fake.commands == []  # no --since: the Engine API only
    assert isinstance(result, Textual) and result.lines()[0].startswith("== shop-backend-1")


async def test_another_environments_container_is_never_read() -> None:
    fake, _ = session({"crm-backend-1": "staging secret business"})
    result = await run(fake, Params(service="crm-backend-1"))
    assert result.containers == [] and result.notes == [
        "no container of service crm-backend-1 here"
    ]


async def test_since_asks_the_hosts_docker_cli_with_an_argv() -> None:
    def handler(argv: tuple[str, ...]) -> CommandResult:
        return completed(
            argv,
            "2025-01-01T10:00:01.000000000Z up\n",
            "2025-01-01T10:00:00.000000000Z warming\n",
        )

    fake, containers = session({}, handler)
    result = await run(fake, Params(service="db", since="10m", tail=50))
    db = next(c for c in containers if c.name == "shop-db-1")
    assert fake.commands == [
        (
            "env", "DOCKER_HOST=unix:///var/run/docker.sock", "docker", "logs", "--timestamps",
            "--since", "600s", "--tail", "50", db.id,
        )
    ]  # fmt: skip
    assert result.containers[0].lines == [
        "2025-01-01T10:00:00Z warming",
        "2025-01-01T10:00:01Z up",
    ]


async def test_since_without_a_docker_cli_falls_back_to_the_tail_and_says_so() -> None:
    fake, _ = session(
        {"shop-db-1": "ready"}, lambda argv: completed(argv, "", "docker: not found", 127)
    )
    result = await run(fake, Params(service="db", since="1h"))
    assert result.containers[0].lines == ["ready"]
    assert result.notes == ["no docker CLI on this host: --since not applied, the last lines shown"]


def test_params_are_checked() -> None:
    for bad in ({"service": "a;b"}, {"service": "b", "since": "soon"}, {"service": "b", "tail": 0}):
        with pytest.raises(ValueError):
            Params.model_validate(bad)


def test_the_front_ends_come_from_the_params() -> None:
    spec = report_spec("logs")
    assert USAGE["logs"] == "/stack logs ENV SERVICE [--since SINCE] [--grep GREP] [--tail TAIL]"
    assert parse("logs prod backend --since 10m --grep timeout", ["prod"]) == Report(
        verb="logs",
        env="prod",
        params={"service": "backend", "since": "10m", "grep": "timeout"},
    )
    for text, answer in (
        ("logs prod", "Usage: `/stack logs ENV SERVICE"),
        ("logs prod backend --since", "`--since` needs a value"),
        ("logs prod backend --follow", "`--follow` is not an option here"),
        ("logs prod backend --since soon", "since"),
        ("logs prod backend extra", "I did not understand `extra`"),
    ):
        with pytest.raises(CommandError) as info:
            parse(text, ["prod"])
        assert answer in info.value.answer, (text, info.value.answer)
    args = build_parser().parse_args(["logs", "prod", "backend", "--tail", "5", "--grep", "x"])
    assert (args.service, args.tail, args.grep, args.since, args.report) == (
        "backend", 5, "x", None, spec,
    )  # fmt: skip
