"""container.port_allocated and compose.port_collision over hand-built facts."""

from __future__ import annotations

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Severity
from runbooks.diagnose.checks_ports import (
    check_port_allocated,
    check_port_collision,
    port_conflict,
)
from runbooks.diagnose.facts import PortHolder
from tests.unit.diagnose.factories import container, facts, lab_stack

ALLOCATED = (
    "driver failed programming external connectivity on endpoint web-app-1 (abc): "
    "Bind for 0.0.0.0:8080 failed: port is already allocated"
)
IN_USE = "Error starting userland proxy: listen tcp4 0.0.0.0:8081: bind: address already in use"


def blocked(
    name: str = "web-app-1", port: str = "8080", error: str = ALLOCATED
) -> ContainerDetails:
    return container(
        name, project="web", service="app", state="created", error=error,
        port_bindings={"80/tcp": port},
    )  # fmt: skip


def test_the_port_is_read_from_either_wording_of_the_error() -> None:
    a = port_conflict(blocked())
    b = port_conflict(blocked(error=IN_USE, port="8081"))
    assert a is not None and (a.host_port, a.proto) == ("8080", "tcp")
    assert b is not None and (b.host_port, b.proto) == ("8081", "tcp")
    assert port_conflict(container("x", error="OCI runtime create failed")) is None


def test_a_container_holding_the_port_is_named() -> None:
    holder = container(
        "squatter", state="running", port_bindings={"80/tcp": "8080"}, image="nginx:1.25"
    )
    f = facts([blocked(), container("web-db-1", project="web", service="db"), holder])
    (finding,) = check_port_allocated(f)
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "web-app-1" and finding.subject.service == "app"
    assert finding.evidence["port"] == "8080/tcp"
    assert finding.evidence["held_by"] == ["squatter (docker run, running)"]
    assert finding.fixes == ()  # a restart would fail the same way
    assert "stop squatter" in str(finding.evidence["advice"])


def test_another_environments_container_is_named_by_project_only() -> None:
    holder = PortHolder(project="prod-shop", host_ip="", host_port="8080", proto="tcp",
                        running=True)  # fmt: skip
    (finding,) = check_port_allocated(facts([blocked()], foreign_ports=(holder,)))
    assert finding.evidence["held_by"] == [
        "a container of project prod-shop (not this environment's)"
    ]


def test_a_free_port_offers_a_start_and_a_host_process_does_not() -> None:
    (free,) = check_port_allocated(facts([blocked()], listening=(":22/tcp",)))
    assert [fix.action for fix in free.fixes] == ["container.restart"]
    assert free.fixes[0].params["container"] == "web-app-1"
    (taken,) = check_port_allocated(facts([blocked()], listening=(":8080/tcp",)))
    assert taken.fixes == ()
    assert taken.evidence["held_by"] == [
        "a process on the host listening on :8080/tcp (not a container)"
    ]
    (unknown,) = check_port_allocated(facts([blocked()]))  # ss not read: no promise
    assert unknown.fixes == ()


def test_an_old_container_beside_a_running_one_is_not_judged() -> None:
    old = container("web-app-old", project="web", service="app", state="exited",
                    error=ALLOCATED, created="2025-09-01T00:00:00Z")  # fmt: skip
    new = container("web-app-1", project="web", service="app", state="running")
    assert check_port_allocated(facts([old, new])) == []


def test_two_projects_publishing_one_port_name_both() -> None:
    running = container("blog-web-1", project="blog", service="web",
                        port_bindings={"80/tcp": "8080"})  # fmt: skip
    f = facts([running, blocked()])
    (finding,) = check_port_collision(f)
    assert finding.code == "compose.port_collision" and finding.severity is Severity.CRITICAL
    assert finding.subject.project == "web" and finding.subject.container == "web-app-1"
    assert finding.evidence["projects"] == ["project web", "project blog"]
    assert finding.evidence["other_container"] == "blog-web-1"
    assert finding.evidence["other_project"] == "blog"
    assert finding.evidence["ports"] == ["8080/tcp"]


def test_different_addresses_or_a_project_stopped_on_purpose_do_not_collide() -> None:
    local = container("blog-web-1", project="blog", service="web",
                      port_bindings={"80/tcp": "127.0.0.1:8080"})  # fmt: skip
    other = container("web-app-1", project="web", service="app",
                      port_bindings={"80/tcp": "10.0.0.5:8080"})  # fmt: skip
    assert check_port_collision(facts([local, other])) == []
    stopped = container("old-web-1", project="old", service="web", state="exited",
                        exit_code=0, port_bindings={"80/tcp": "8080"})  # fmt: skip
    assert check_port_collision(facts([stopped, other.model_copy()])) == []
    assert check_port_collision(facts([*lab_stack()])) == []


def test_two_environments_of_one_app_are_left_to_env_collision() -> None:
    prod = container("shop-production-app-1", project="shop-production", service="app",
                     port_bindings={"80/tcp": "8080"})  # fmt: skip
    staging = container("shop-staging-app-1", project="shop-staging", service="app",
                        state="created", error=ALLOCATED,
                        port_bindings={"80/tcp": "8080"})  # fmt: skip
    assert check_port_collision(facts([prod, staging])) == []
