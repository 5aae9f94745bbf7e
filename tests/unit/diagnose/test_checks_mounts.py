"""container.bind_source_missing: Docker made the bind source, empty."""

from __future__ import annotations

from datetime import timedelta

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Severity
from runbooks.diagnose.checks_mounts import check_bind_source_missing
from runbooks.diagnose.facts import PathFacts
from tests.unit.diagnose.factories import NOW, bind_mount, container, facts

CREATED = NOW - timedelta(hours=2)


def proxy(destination: str, state: str = "running", error: str = "") -> ContainerDetails:
    return container(
        "web-nginx-1", project="web", service="nginx", created=CREATED, state=state,
        error=error, mounts=[bind_mount("/srv/web/nginx.conf", destination)],
    )  # fmt: skip


def made(delta: timedelta, empty: bool = True) -> dict[str, PathFacts]:
    return {
        "/srv/web/nginx.conf": PathFacts(
            path="/srv/web/nginx.conf", kind="dir", empty=empty, modified=CREATED + delta
        )
    }


def test_an_empty_directory_made_with_the_container_where_a_file_belongs() -> None:
    c = proxy("/etc/nginx/nginx.conf")
    (finding,) = check_bind_source_missing(facts([c], paths=made(timedelta(milliseconds=60))))
    assert finding.severity is Severity.WARNING
    assert (
        finding.subject.container == "web-nginx-1" and finding.subject.path == "/srv/web/nginx.conf"
    )
    assert finding.evidence["destination"] == "/etc/nginx/nginx.conf"
    assert finding.evidence["file_expected"] is True


def test_a_container_that_cannot_start_for_it_is_critical() -> None:
    error = (
        'error mounting "/srv/web/nginx.conf" to rootfs at "/etc/nginx/nginx.conf": not a '
        "directory: Are you trying to mount a directory onto a file (or vice-versa)?"
    )
    c = proxy("/etc/nginx/nginx.conf", state="created", error=error)
    (finding,) = check_bind_source_missing(facts([c], paths=made(timedelta(0))))
    assert finding.severity is Severity.CRITICAL and "not a directory" in str(
        finding.evidence["error"]
    )


def test_a_directory_destination_is_info_and_older_or_filled_ones_are_not_judged() -> None:
    c = proxy("/var/www/uploads")
    (info,) = check_bind_source_missing(facts([c], paths=made(timedelta(seconds=1))))
    assert info.severity is Severity.INFO
    before = made(-timedelta(seconds=5))  # made by somebody before the container
    assert check_bind_source_missing(facts([c], paths=before)) == []
    filled = made(timedelta(seconds=1), empty=False)
    assert check_bind_source_missing(facts([c], paths=filled)) == []
    assert check_bind_source_missing(facts([c])) == []  # not read
