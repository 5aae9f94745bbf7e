"""network.stale_upstream: nginx dialling the address its upstream had before a recreate."""

from __future__ import annotations

from datetime import timedelta

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Severity
from runbooks.diagnose.checks_upstream import check_stale_upstream
from tests.unit.diagnose.factories import NOW, PLANTED_SECRET, container, facts

LINE = (
    "2025/10/10 11:59:01 [error] 29#29: *7 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 127.0.0.1, server: , request: "GET /api/orders?token='
    f'{PLANTED_SECRET} HTTP/1.1", upstream: "http://172.20.0.3:8000/api/orders", host: "x"'
)


def stack(backend_created: timedelta, backend_ip: str = "172.20.0.5") -> list[ContainerDetails]:
    nginx = container(
        "web-nginx-1", project="web", service="nginx", image="nginx:1.25",
        networks=["web_default"], ips={"web_default": "172.20.0.4"},
        created=NOW - timedelta(days=2), started=NOW - timedelta(days=2),
    )  # fmt: skip
    backend = container(
        "web-backend-1", project="web", service="backend", image="web/backend:1",
        networks=["web_default"], ips={"web_default": backend_ip}, exposed_ports=["8000"],
        created=NOW - backend_created, env={"SECRET_KEY": PLANTED_SECRET},
    )  # fmt: skip
    return [nginx, backend]


def test_a_proxy_started_before_its_upstream_was_recreated() -> None:
    f = facts(stack(timedelta(hours=1)), proxy_logs={"web-nginx-1": LINE + "\n" + LINE})
    (finding,) = check_stale_upstream(f)
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "web-nginx-1"
    assert finding.evidence["upstream"] == "web-backend-1"
    assert finding.evidence["old_address"] == "172.20.0.3:8000"
    assert finding.evidence["current_address"] == "172.20.0.5:8000"
    assert finding.evidence["count"] == 2
    assert PLANTED_SECRET not in finding.model_dump_json()
    (fix,) = finding.fixes
    assert (fix.action, fix.params["container"], fix.params["force"]) == (
        "container.restart", "web-nginx-1", True,
    )  # fmt: skip


def test_no_recreate_same_address_or_no_errors_is_not_judged() -> None:
    logs = {"web-nginx-1": LINE}
    older = stack(timedelta(days=3))  # the backend predates the proxy's start
    assert check_stale_upstream(facts(older, proxy_logs=logs)) == []
    same = stack(timedelta(hours=1), backend_ip="172.20.0.3")  # down for another reason
    assert check_stale_upstream(facts(same, proxy_logs=logs)) == []
    quiet = stack(timedelta(hours=1))
    assert check_stale_upstream(facts(quiet, proxy_logs={"web-nginx-1": "GET / 200"})) == []
