"""``ps``: the environment's own containers, with state, health, uptime, restarts and ports;
and the front ends it gets from its Params alone."""

from __future__ import annotations

import types
from datetime import timedelta
from pathlib import Path

from bot.cli.parsers import build_parser
from bot.inventory.discovery import discover_stacks
from bot.model.docker_objects import ContainerDetails, ContainerSummary
from bot.operations import Tabular, report_spec
from bot.operations.reports import spec_of
from bot.slack.commands import USAGE, Report, parse
from runbooks.ps import Params, PsReport, ps_report, run
from tests.unit.diagnose.factories import NOW, ago, container, lab_stack
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, shared_engine_host


def engine() -> list[ContainerDetails]:
    """The shop stack (prod's), a worker that keeps restarting, and staging's crm."""
    return [
        *lab_stack("shop"),
        container(
            "shop-worker-1", project="shop", service="worker", state="exited",
            exit_code=137, restart_count=4,
        ),
        *(container(f"crm-{s}-1", project="crm", service=s) for s in ("app", "db")),
    ]  # fmt: skip


def report(env: str = "prod", **params: str) -> PsReport:
    containers = engine()
    stacks = discover_stacks(containers, shared_engine_host(env).stacks, shared_engine_host(env))
    return ps_report(containers, stacks, NOW, Params.model_validate(params))


def test_only_what_the_environment_owns_with_a_note_for_the_rest() -> None:
    prod = report()
    assert [r.container for r in prod.containers] == [
        "shop-backend-1", "shop-db-1", "shop-nginx-1", "shop-worker-1",
    ]  # fmt: skip
    assert prod.notes == ["2 other containers here (of staging): not shown"]
    staging = report("staging")
    assert [r.container for r in staging.containers] == ["crm-app-1", "crm-db-1"]
    assert staging.notes == ["4 other containers here (of prod): not shown"]
    assert [r.container for r in report(project="nope").containers] == []


def test_state_health_uptime_restarts_and_ports() -> None:
    rows = {r.container: r for r in report().containers}
    nginx, backend, worker = rows["shop-nginx-1"], rows["shop-backend-1"], rows["shop-worker-1"]
    assert nginx.ports == ["8080->80/tcp"] and backend.ports == ["8000/tcp"]
    assert backend.health == "healthy" and nginx.health is None
    assert backend.uptime_seconds is not None and backend.uptime_seconds > 0
    assert (worker.state, worker.exit_code, worker.restarts) == ("exited", 137, 4)
    assert worker.uptime_seconds is None
    table = dict(zip(report().columns(), report().rows()[3], strict=True))
    assert table == {
        "Project": "shop", "Service": "worker", "Container": "shop-worker-1",
        "State": "exited (137)", "Health": "—", "Up": "—", "Restarts": "4", "Ports": "—",
    }  # fmt: skip
    assert isinstance(report(), Tabular)  # what the front ends render as a table


def test_uptime_is_counted_from_the_start() -> None:
    started = container("solo", state="running", started=ago(hours=3))
    stacks = discover_stacks([started], {}, None)
    (row,) = ps_report([started], stacks, NOW, Params()).containers
    assert row.uptime_seconds == timedelta(hours=3).total_seconds()
    assert report().rows()[0][5] != "—"


async def test_one_list_and_one_inspect_per_container() -> None:
    containers = engine()
    docker = FakeDocker(
        log=CallLog(),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={c.id: c for c in containers},
    )
    result = await run(FakeHostSession(docker=docker, host=shared_engine_host("prod")), Params())
    assert len(result.containers) == 4
    assert docker.log.count("containers") == 1
    assert docker.log.count("inspect_container") == len(containers)


def test_the_front_ends_come_from_the_params() -> None:
    spec = report_spec("ps")
    assert spec.usage("/stack") == "/stack ps ENV [--project PROJECT]" == USAGE["ps"]
    assert parse("ps prod --project shop", ["prod"]) == Report(
        verb="ps", env="prod", params={"project": "shop"}
    )
    args = build_parser().parse_args(["ps", "prod", "--project", "shop", "--format", "json"])
    assert (args.env, args.project, args.format, args.report) == ("prod", "shop", "json", spec)


async def test_the_contributing_example_is_a_working_report() -> None:
    """CONTRIBUTING.md's example runbook, run as written: its front ends come from its
    Params, and it runs on a host."""
    text = (Path(__file__).parents[2] / "CONTRIBUTING.md").read_text()
    source = text.split("```python\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("runbooks_example_uptime")
    exec(compile(source, "CONTRIBUTING.md", "exec"), module.__dict__)  # noqa: S102 - our own doc
    spec = spec_of(module.RUNBOOK)
    assert spec.usage("/stack") == "/stack uptime ENV [--precise]"
    assert spec.title == "Uptime: how long each host of the environment has been up."
    session = FakeHostSession(files={"/proc/uptime": b"93784.50 1.0\n"})
    result = await module.RUNBOOK.run(session, spec.validate({"precise": True}))
    assert isinstance(result, Tabular) and result.rows() == [("93784 s",)]
    assert module.UptimeReport(seconds=93784.5).rows() == [("1 d 2 h",)]
