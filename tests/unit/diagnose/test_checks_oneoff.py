"""compose.run_leftover: containers `docker compose run` left behind."""

from __future__ import annotations

from datetime import timedelta

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Severity
from runbooks.diagnose.checks_oneoff import check_run_leftover
from tests.unit.diagnose.factories import NOW, container, facts, lab_stack


def run(name: str, state: str, started_hours: float) -> ContainerDetails:
    return container(
        name, project="shop", service="backend", oneoff=True, state=state,
        started=NOW - timedelta(hours=started_hours),
        finished=NOW - timedelta(hours=started_hours - 0.1) if state != "running" else None,
    )  # fmt: skip


def test_exited_leftovers_are_info_and_named_for_docker_rm() -> None:
    left = [run("shop-backend-run-1a2b", "exited", 5), run("shop-backend-run-3c4d", "exited", 2)]
    (finding,) = check_run_leftover(facts([*lab_stack(), *left]))
    assert finding.severity is Severity.INFO
    assert finding.subject.project == "shop" and finding.subject.service == "backend"
    assert "docker rm shop-backend-run-1a2b shop-backend-run-3c4d" in str(
        finding.evidence["advice"]
    )
    rows = finding.evidence["containers"]
    assert isinstance(rows, list) and len(rows) == 2 and "exited (exit 1)" in rows[0]


def test_one_running_for_hours_is_a_warning_and_a_short_one_is_not_judged() -> None:
    long = run("shop-backend-run-9f9f", "running", 3)
    (finding,) = check_run_leftover(facts([*lab_stack(), long]))
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "shop-backend-run-9f9f"
    assert "docker stop shop-backend-run-9f9f" in str(finding.evidence["advice"])
    short = run("shop-backend-run-0000", "running", 0.2)  # a migration under way
    assert check_run_leftover(facts([*lab_stack(), short])) == []
    assert check_run_leftover(facts(lab_stack())) == []
