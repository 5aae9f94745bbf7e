"""env.file_missing: an env_file the compose file names is not on the host."""

from __future__ import annotations

from bot.model.findings import Severity
from runbooks.diagnose.checks_env_files import check_env_file_missing
from runbooks.diagnose.facts import ComposeServices
from tests.unit.diagnose.factories import container, env_file, facts, lab_stack

ERROR = (
    "`compose config --services` exited with status 1: env file /srv/shop/.env.prod not "
    "found: stat /srv/shop/.env.prod: no such file or directory"
)


def read(missing: dict[str, tuple[str, ...]]) -> ComposeServices:
    return ComposeServices(
        project="shop", working_dir="/srv/shop", config_files=("/srv/shop/docker-compose.yml",),
        services=None, error=ERROR, missing_env_files=missing,
    )  # fmt: skip


def test_a_running_service_warns_that_the_next_deploy_fails() -> None:
    f = facts(lab_stack(), compose_services=(read({"backend": ("/srv/shop/.env.prod",)}),))
    (finding,) = check_env_file_missing(f)
    assert finding.severity is Severity.WARNING
    assert (finding.subject.project, finding.subject.service) == ("shop", "backend")
    assert finding.subject.path == "/srv/shop/.env.prod"
    assert finding.evidence["paths"] == ["/srv/shop/.env.prod"]
    assert finding.evidence["compose_error"] == ERROR


def test_a_service_that_does_not_run_is_critical() -> None:
    down = container("shop-worker-1", project="shop", service="worker", state="exited")
    f = facts([down], compose_services=(read({"worker": ("/srv/shop/worker.env",)}),))
    (finding,) = check_env_file_missing(f)
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "shop-worker-1"
    assert check_env_file_missing(facts(lab_stack(), compose_services=(read({}),))) == []


def test_when_compose_lists_services_anyway_the_failed_read_tells() -> None:
    gone = "/srv/shop/.env.production"
    read = ComposeServices(
        project="shop", working_dir="/srv/shop", config_files=("/srv/shop/docker-compose.yml",),
        services=("backend", "db", "nginx"),
        service_env_files={"backend": ("/srv/shop/.env", gone), "db": ("/srv/shop/opt.env",)},
        optional_env_files=("/srv/shop/opt.env",),
    )  # fmt: skip
    why = f"cannot read {gone}: head: cannot open '{gone}' for reading: No such file or directory"
    files = {
        "/srv/shop/.env": env_file("/srv/shop/.env", {"A": "1"}),
        gone: env_file(gone, {}, error=why),
        "/srv/shop/opt.env": env_file("/srv/shop/opt.env", {}, error=why),
    }
    (finding,) = check_env_file_missing(
        facts(lab_stack(), env_files=files, compose_services=(read,))
    )
    assert finding.subject.service == "backend" and finding.evidence["paths"] == [gone]
    denied = {**files, gone: env_file(gone, {}, error="Permission denied")}
    assert (
        check_env_file_missing(facts(lab_stack(), env_files=denied, compose_services=(read,))) == []
    )
