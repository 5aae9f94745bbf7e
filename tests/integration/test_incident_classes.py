"""The incident classes beyond the seeds, each built on the lab (tests/lab/incident_builders.py)
and diagnosed over SSH: the code, its subject and the evidence a person acts on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bot.framework.engine import run_runbook
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import DiagnosisReport, build_report
from bot.model.findings import Finding, Severity
from bot.transport import Transport
from runbooks import load_runbook
from tests.integration.inventories import lab_host, write_inventory
from tests.lab import incident_builders as builders
from tests.lab.config import PLANTED_PASSWORD, PLANTED_SECRET
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def inventory(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("incidents") / "inv.yaml"
    return load_inventory(
        write_inventory(path, lab, {"lab": {"hosts": {"h1": lab_host(lab, "h1")}}})
    )


@pytest.fixture(scope="module")
def declared_loop(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """Stack ``loop`` declared with the key its worker cannot start without."""
    path = tmp_path_factory.mktemp("incidents-loop") / "inv.yaml"
    env = {
        "hosts": {"h1": lab_host(lab, "h1")},
        # required_env is judged on the stack's app service
        "stacks": {
            "loop": {
                "compose_project": "loop",
                "required_env": ["API_TOKEN"],
                "services": {"app": "worker"},
            }
        },
    }
    return load_inventory(write_inventory(path, lab, {"lab": env}))


@pytest.fixture
def clean_memory(lab: Lab) -> Iterator[None]:
    yield
    builders.clear_memory_pressure(lab)


def diagnose(inventory: Inventory, **params: Any) -> DiagnosisReport:
    runbook = load_runbook("diagnose")

    async def go() -> DiagnosisReport:
        async with Transport(inventory.ssh) as transport:
            outcome = await run_runbook(
                transport, inventory, "lab", runbook, runbook.params(**params)
            )
        return build_report(outcome)

    return asyncio.run(go())


def describe(report: DiagnosisReport) -> str:
    return "\n".join(f"{f.severity} {f.code} {f.subject}: {f.title}" for f in report.findings)


def only(report: DiagnosisReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, f"{len(found)} x {code} in\n{describe(report)}"
    return found[0]


def criticals(report: DiagnosisReport) -> set[str]:
    return {f.code for f in report.findings if f.severity is Severity.CRITICAL}


def no_secrets(report: DiagnosisReport) -> None:
    text = report.model_dump_json()
    assert PLANTED_SECRET not in text and PLANTED_PASSWORD not in text


def test_port_allocated_after_a_recreate_names_the_holder(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_port_allocated(lab)
    report = diagnose(inventory)
    finding = only(report, "container.port_allocated")
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == info.facts["container"]
    assert finding.subject.service == "nginx"
    assert finding.evidence["port"] == "8080/tcp"
    assert finding.evidence["held_by"] == ["squatter (docker run, running)"]
    collision = only(report, "compose.port_collision")  # a compose service and a docker run
    assert collision.subject.container == info.facts["container"]
    assert collision.evidence["other_container"] == "squatter"
    assert criticals(report) == {
        "container.port_allocated", "compose.port_collision", "container.down",
    }, describe(report)  # fmt: skip
    no_secrets(report)


def test_two_projects_on_one_port(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_port_collision(lab)
    report = diagnose(inventory)
    finding = only(report, "compose.port_collision")
    assert finding.subject.project == "blog"
    assert finding.subject.container == info.facts["container"]
    assert finding.evidence["other_project"] == "shop"
    assert finding.evidence["other_container"] == info.facts["other_container"]
    assert finding.evidence["ports"] == ["8080/tcp"]
    allocated = only(report, "container.port_allocated")
    assert allocated.subject.container == info.facts["container"]
    assert allocated.evidence["held_by"] == [
        f"{info.facts['other_container']} (project shop, service nginx, running)"
    ]


def test_a_pulled_image_never_applied(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_image_stale(lab)
    report = diagnose(inventory)
    finding = only(report, "container.image_stale")
    assert finding.subject.container == info.facts["container"]
    assert finding.subject.project == "stale" and finding.subject.service == "app"
    assert finding.evidence["running_image"] == info.facts["old_id"].removeprefix("sha256:")[:12]
    assert finding.evidence["tag_image"] == info.facts["new_id"].removeprefix("sha256:")[:12]
    assert criticals(report) == set(), describe(report)


def test_a_bind_source_docker_created_empty(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_bind_source_missing(lab)
    report = diagnose(inventory)
    finding = only(report, "container.bind_source_missing")
    assert finding.severity is Severity.WARNING  # a file was expected at the destination
    assert finding.subject.container == info.facts["container"]
    assert finding.subject.path == info.facts["path"]
    assert finding.evidence["destination"] == "/etc/app/app.conf"
    assert criticals(report) == set(), describe(report)


def test_a_missing_env_file(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_env_file_missing(lab)
    report = diagnose(inventory)
    finding = only(report, "env.file_missing")
    assert (finding.subject.project, finding.subject.service) == ("shop", "backend")
    assert finding.evidence["paths"] == [info.facts["path"]]
    assert finding.severity is Severity.WARNING  # it still runs from before
    assert criticals(report) == set(), describe(report)
    no_secrets(report)


def test_json_logs_without_rotation(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_logs_unrotated(lab)
    report = diagnose(inventory)
    finding = only(report, "disk.logs_unrotated")
    assert finding.subject.container == info.facts["container"]
    largest = finding.evidence["largest_logs"]
    assert isinstance(largest, list) and largest[0].startswith(f"{info.facts['container']}: ")
    assert "MiB" in largest[0]
    assert finding.evidence["log_paths"] == [info.facts["log_path"]]


def test_leftover_compose_run_containers(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_run_leftover(lab)
    report = diagnose(inventory)
    finding = only(report, "compose.run_leftover")
    assert finding.severity is Severity.INFO
    assert (finding.subject.project, finding.subject.service) == ("shop", "backend")
    for name in info.facts["leftovers"].split(","):
        assert name in str(finding.evidence["advice"])
    assert [f for f in report.findings if f.severity is not Severity.INFO] == [], describe(report)


def test_a_network_with_the_wrong_labels(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_network_label_mismatch(lab)
    report = diagnose(inventory)
    finding = only(report, "network.label_mismatch")
    assert finding.severity is Severity.WARNING
    assert finding.subject.network == info.facts["network"] and finding.subject.project == "shop"
    assert finding.evidence["network_label"] is None
    assert finding.evidence["compose_key"] == "internal"
    assert criticals(report) == set(), describe(report)


def test_host_memory_pressure(lab: Lab, inventory: Inventory, clean_memory: None) -> None:
    builders.build_memory_pressure(lab)
    report = diagnose(inventory)
    finding = only(report, "host.memory_pressure")
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.host == "h1" and finding.subject.container is None
    assert finding.evidence["swap_percent"] == 90.0
    builders.clear_memory_pressure(lab)
    assert "host.memory_pressure" not in {f.code for f in diagnose(inventory).findings}


def test_a_proxy_dialling_the_old_upstream_address(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_stale_upstream(lab)
    report = diagnose(inventory)
    finding = only(report, "network.stale_upstream")
    assert finding.subject.container == info.facts["proxy"]
    assert finding.evidence["upstream"] == info.facts["upstream"]
    assert finding.evidence["old_address"] == f"{info.facts['old_address']}:8000"
    assert finding.evidence["current_address"] == f"{info.facts['new_address']}:8000"
    (fix,) = finding.fixes
    assert fix.action == "container.restart" and fix.params["container"] == info.facts["proxy"]
    no_secrets(report)
    lab.docker("h1").containers.get(info.facts["proxy"]).restart(timeout=5)  # the cure
    after = diagnose(inventory)
    assert "network.stale_upstream" not in {f.code for f in after.findings}, describe(after)


def test_a_restart_loop_from_a_missing_env_var(lab: Lab, declared_loop: Inventory) -> None:
    info = builders.build_restart_loop_missing_env(lab)
    report = diagnose(declared_loop)
    loop = only(report, "container.restarting")
    assert loop.subject.container == info.facts["container"]
    lines = loop.evidence["last_log_lines"]
    assert isinstance(lines, list) and any("API_TOKEN is not set" in line for line in lines)
    missing = only(report, "env.missing_required")
    assert "API_TOKEN" in str(missing.evidence)


def test_an_oom_killed_worker(lab: Lab, inventory: Inventory) -> None:
    info = builders.build_oom_killed_worker(lab)
    report = diagnose(inventory)
    oom = only(report, "container.oom_killed")
    assert oom.subject.container == info.facts["container"]
    down = only(report, "container.down")
    assert down.subject.container == info.facts["container"] and down.evidence["oom_killed"]


def test_an_unhealthy_dependency_keeps_its_dependant_from_starting(
    lab: Lab, inventory: Inventory
) -> None:
    info = builders.build_dependency_unhealthy(lab)
    report = diagnose(inventory)
    assert only(report, "container.unhealthy").subject.container == info.facts["dependency"]
    if info.facts["dependant_state"] == "absent":  # Compose v1 never created it: no container
        assert "container.down" not in {f.code for f in report.findings}, describe(report)
        return
    down = only(report, "container.down")
    assert down.subject.container == info.facts["dependant"]
    assert "never started" in down.title, down.title
