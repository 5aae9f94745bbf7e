"""container.image_stale: the tag moved on, the container did not."""

from __future__ import annotations

from bot.model.findings import Severity
from runbooks.diagnose.checks_images import check_image_stale, normalize_ref
from tests.unit.diagnose.factories import container, facts, lab_stack, object_id

OLD_ID = "sha256:" + object_id("image:shop/app:1.4")
NEW_ID = "sha256:" + object_id("image:new")


def test_references_are_compared_as_docker_names_them() -> None:
    assert normalize_ref("nginx") == "nginx:latest"
    assert normalize_ref("docker.io/library/nginx:1.25") == "nginx:1.25"
    assert normalize_ref("registry.example.com:5000/shop/app") == (
        "registry.example.com:5000/shop/app:latest"
    )
    assert normalize_ref("shop/app@sha256:" + "0" * 64) is None
    assert normalize_ref("sha256:" + "0" * 64) is None


def test_a_tag_pulled_after_the_container_started_is_stale() -> None:
    app = container("shop-app-1", project="shop", service="app", image="shop/app:1.4")
    assert app.image_id == OLD_ID
    (finding,) = check_image_stale(facts([app], image_tags={"shop/app:1.4": NEW_ID}))
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "shop-app-1" and finding.subject.project == "shop"
    assert finding.evidence["running_image"] == OLD_ID[7:19]
    assert finding.evidence["tag_image"] == NEW_ID[7:19]
    assert "up -d --no-deps app" in str(finding.evidence["advice"])
    assert finding.fixes == ()  # container.recreate recreates for an env change only


def test_current_pinned_removed_and_stopped_are_not_judged() -> None:
    app = container("shop-app-1", project="shop", service="app", image="shop/app:1.4")
    assert check_image_stale(facts([app], image_tags={"shop/app:1.4": OLD_ID})) == []
    assert check_image_stale(facts([app], image_tags={"other:1": NEW_ID})) == []
    pinned = container("pinned", image="shop/app@sha256:" + "1" * 64)
    assert check_image_stale(facts([pinned], image_tags={"shop/app:latest": NEW_ID})) == []
    stopped = container("shop-app-1", project="shop", service="app", image="shop/app:1.4",
                        state="exited")  # fmt: skip
    assert check_image_stale(facts([stopped], image_tags={"shop/app:1.4": NEW_ID})) == []
    assert check_image_stale(facts(lab_stack())) == []


def test_an_implicit_latest_tag_matches() -> None:
    web = container("web", image="nginx")
    tags = {"nginx:latest": NEW_ID, "docker.io/library/redis:7": OLD_ID}
    (finding,) = check_image_stale(facts([web], image_tags=tags))
    assert finding.subject.container == "web" and "docker run" in str(finding.evidence["advice"])
