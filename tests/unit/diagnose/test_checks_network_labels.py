"""network.label_mismatch: a network compose expects, without compose's labels."""

from __future__ import annotations

from bot.model.docker_objects import COMPOSE_NETWORK, COMPOSE_PROJECT
from bot.model.findings import Severity
from runbooks.diagnose.checks_network_labels import check_label_mismatch
from runbooks.diagnose.facts import ComposeServices
from tests.unit.diagnose.factories import container, facts, network


def read(expected: dict[str, str]) -> ComposeServices:
    return ComposeServices(
        project="shop", working_dir="/srv/shop", config_files=("/srv/shop/docker-compose.yml",),
        services=("app",), expected_networks=expected,
    )  # fmt: skip


APP = container("shop-app-1", project="shop", service="app", networks=["shop_default"])


def test_a_network_made_by_hand_fails_the_next_up() -> None:
    f = facts([APP], networks=[network("shop_default")],
              compose_services=(read({"shop_default": "default"}),))  # fmt: skip
    (finding,) = check_label_mismatch(f)
    assert finding.severity is Severity.WARNING
    assert (finding.subject.project, finding.subject.network) == ("shop", "shop_default")
    assert finding.evidence["network_label"] is None
    assert finding.evidence["compose_key"] == "default"
    assert finding.evidence["containers"] == ["shop-app-1"]
    assert "external: true" in str(finding.evidence["advice"])


def test_a_wrong_key_warns_and_only_the_project_label_is_info() -> None:
    wrong = network("shop_backend", labels={COMPOSE_NETWORK: "front", COMPOSE_PROJECT: "shop"})
    other = network("shop_default", labels={COMPOSE_NETWORK: "default", COMPOSE_PROJECT: "old"})
    expected = read({"shop_backend": "backend", "shop_default": "default"})
    f = facts([APP], networks=[wrong, other], compose_services=(expected,))
    found = {x.subject.network: x for x in check_label_mismatch(f)}
    assert found["shop_backend"].severity is Severity.WARNING
    assert found["shop_backend"].evidence["network_label"] == "front"
    assert found["shop_default"].severity is Severity.INFO


def test_compose_made_and_absent_networks_are_fine() -> None:
    expected = read({"shop_default": "default", "shop_cache": "cache"})
    made = [network("shop_default", project="shop")]
    f = facts([APP], networks=made, compose_services=(expected,))
    assert check_label_mismatch(f) == []
