"""Network and name checks: splits, unresolvable names, container-name / loopback / IP
references, and a proxy's failed resolutions (seeds 000, 002, 003)."""

from __future__ import annotations

from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_network
from runbooks.diagnose.checks_network import (
    check_container_name_reference,
    check_ip_reference,
    check_localhost_reference,
    check_network_split,
    check_proxy_resolution,
    check_unresolvable_host,
)
from runbooks.diagnose.facts import HostFacts, Resolution
from tests.unit.diagnose.factories import HOST, container, facts, lab_stack, volume

SECRET = "pw-planted-4e1d"


def run_all(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_network.CHECKS for finding in check(f)]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def fix(finding: Finding, action: str) -> dict[str, object]:
    matches = [f for f in finding.fixes if f.action == action]
    assert len(matches) == 1, finding.fixes
    return dict(matches[0].params)


# --- seed 000: db only on internal_staging, backend elsewhere -------------------------


def seed_000(*, resolved: bool | None = False) -> HostFacts:
    containers = [
        container(
            "indexo_db_staging",
            project="indexo-staging",
            service="db",
            image="postgres:15-alpine",
            env={"POSTGRES_PASSWORD": SECRET, "POSTGRES_DB": "indexo"},
            networks={"internal_staging": ["db", "indexo_db_staging"]},
            volumes=["indexo-staging_postgres_data_staging"],
        ),
        container(
            "indexo_backend_staging",
            project="indexo-staging",
            service="backend",
            env={"DB_HOST": "db", "DB_PORT": "5432", "DB_PASSWORD": SECRET},
            networks={"docker-deploy_multivendor_network": ["backend"]},
        ),
    ]
    resolutions = (
        (Resolution(container="indexo_backend_staging", hostname="db", resolved=resolved),)
        if resolved is not None
        else ()
    )
    return facts(containers, resolutions=resolutions)


def test_seed_000_split_connects_backend_to_the_db_network() -> None:
    findings = run_all(seed_000())
    assert codes(findings) == ["network.split"]  # not also network.unresolvable_host
    (split,) = findings
    assert split.severity is Severity.CRITICAL
    assert split.subject.container == "indexo_backend_staging"
    assert split.subject.project == "indexo-staging"
    assert split.subject.network == "internal_staging"
    assert fix(split, "network.connect") == {
        "host": HOST,
        "container": "indexo_backend_staging",
        "network": "internal_staging",
    }
    assert not split.fixes[0].destructive
    assert split.evidence["hostnames"] == ["db"]
    assert split.evidence["keys"] == ["DB_HOST"]
    assert split.evidence["resolves_in_container"] is False
    assert "indexo_db_staging" in split.title


def test_no_split_when_the_name_resolves_inside_the_container() -> None:
    assert check_network_split(seed_000(resolved=True)) == []


def test_split_found_without_a_resolution_fact() -> None:
    (split,) = check_network_split(seed_000(resolved=None))
    assert "resolves_in_container" not in split.evidence


def test_no_split_when_backend_is_also_on_the_db_network() -> None:
    f = seed_000()
    backend = container(
        "indexo_backend_staging",
        project="indexo-staging",
        service="backend",
        env={"DB_HOST": "db"},
        networks={"docker-deploy_multivendor_network": ["backend"], "internal_staging": []},
    )
    fixed = facts([f.containers[0], backend])
    assert check_network_split(fixed) == []


# --- seed 002: app on app-test_default, db and redis on app-test_ventanas-test-network ---


def seed_002() -> HostFacts:
    net = "app-test_ventanas-test-network"
    return facts(
        [
            container(
                "ventanas-test-app",
                project="app-test",
                service="app",
                env={
                    "DATABASE_URL": f"postgresql://ventanas_user:{SECRET}@ventanas-test-db:5432/"
                    "ventanas_test_db",
                    "REDIS_URL": "redis://ventanas-test-redis:6379/0",
                },
                networks={"app-test_default": ["app"]},
            ),
            container(
                "ventanas-test-db",
                project="app-test",
                service="postgres",
                image="postgres:15",
                networks={net: ["postgres"]},
                volumes=["app-test_postgres_data"],
            ),
            container(
                "ventanas-test-redis",
                project="app-test",
                service="redis",
                image="redis:7",
                networks={net: ["redis"]},
            ),
        ]
    )


def test_seed_002_one_split_one_fix_for_db_and_redis() -> None:
    f = seed_002()
    (split,) = check_network_split(f)
    assert split.severity is Severity.CRITICAL
    assert split.subject.container == "ventanas-test-app"
    assert fix(split, "network.connect") == {
        "host": HOST,
        "container": "ventanas-test-app",
        "network": "app-test_ventanas-test-network",
    }
    assert split.evidence["hostnames"] == ["ventanas-test-db", "ventanas-test-redis"]
    assert split.evidence["keys"] == ["DATABASE_URL", "REDIS_URL"]
    assert split.evidence["container_networks"] == ["app-test_default"]


def test_seed_002_container_name_reference() -> None:
    (finding,) = check_container_name_reference(seed_002())
    assert finding.code == "network.container_name_reference"
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "ventanas-test-app"
    assert finding.evidence["container_names"] == ["ventanas-test-db", "ventanas-test-redis"]
    assert finding.evidence["service_names"] == ["postgres", "redis"]
    assert "service postgres" in finding.title


def test_container_name_equal_to_service_name_is_fine() -> None:
    f = facts(
        [
            container("app", project="p", env={"DB_HOST": "db"}, networks={"p_default": ["app"]}),
            container("db", project="p", image="postgres:16", networks={"p_default": ["db"]}),
        ]
    )
    assert run_all(f) == []


def test_container_name_across_projects_with_an_ambiguous_service_is_left_alone() -> None:
    shared = "shared"
    f = facts(
        [
            container(
                "a-app", project="a", service="app", env={"DB_HOST": "b-db"}, networks=[shared]
            ),
            container("b-db", project="b", service="db", networks={shared: ["db"]}),
            container("c-db", project="c", service="db", networks={"c_default": ["db"]}),
        ]
    )
    assert check_container_name_reference(f) == []


def test_service_without_alias_gets_the_alias_on_the_apps_network() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={"DB_HOST": "db"},
                networks={"p_front": ["app"]},
            ),
            container("p-db-1", project="p", service="db", networks={"p_back": ["postgres"]}),
        ]
    )
    (split,) = check_network_split(f)
    assert fix(split, "network.connect") == {
        "host": HOST,
        "container": "p-db-1",
        "network": "p_front",
        "alias": "db",
    }


def test_split_to_a_stopped_db_also_starts_it() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={"DB_HOST": "db"},
                networks={"p_front": ["app"]},
            ),
            container(
                "p-db-1", project="p", service="db", state="exited", networks={"p_back": ["db"]}
            ),
        ]
    )
    (split,) = check_network_split(f)
    assert [x.action for x in split.fixes] == ["network.connect", "container.restart"]
    assert fix(split, "container.restart") == {"host": HOST, "container": "p-db-1"}
    assert [x.destructive for x in split.fixes] == [False, True]


def test_external_hosts_are_not_judged() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={"DATABASE_URL": f"postgresql://u:{SECRET}@mydb.rds.amazonaws.com:5432/x"},
                networks=["p_default"],
            )
        ]
    )
    assert run_all(f) == []


def test_extra_hosts_name_is_not_a_split() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={"DB_HOST": "db"},
                networks=["p_front"],
                host_config={"ExtraHosts": ["db:10.0.0.5"]},
            ),
            container("p-db-1", project="p", service="db", networks={"p_back": ["db"]}),
        ]
    )
    assert check_network_split(f) == []


# --- network.unresolvable_host ---------------------------------------------------------


def stopped_db(resolved: bool | None) -> HostFacts:
    return facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={"DATABASE_URL": f"postgresql://u:{SECRET}@db:5432/p"},
                networks={"p_default": ["app"]},
            ),
            container(
                "p-db-1",
                project="p",
                service="db",
                image="postgres:16",
                state="exited",
                networks={"p_default": ["db"]},
            ),
        ],
        resolutions=(Resolution(container="p-app-1", hostname="db", resolved=resolved),),
    )


def test_unresolvable_because_the_db_is_stopped() -> None:
    findings = run_all(stopped_db(False))
    assert codes(findings) == ["network.unresolvable_host"]
    (finding,) = findings
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "p-app-1"
    assert "stopped" in finding.title and "p-db-1" in finding.title
    assert fix(finding, "container.restart") == {"host": HOST, "container": "p-db-1"}
    assert finding.fixes[0].destructive
    assert finding.evidence["keys"] == ["DATABASE_URL"]


def test_unknown_resolution_says_nothing() -> None:
    assert check_unresolvable_host(stopped_db(None)) == []
    assert check_unresolvable_host(stopped_db(True)) == []


def test_unresolvable_name_of_nothing_on_the_host() -> None:
    f = facts(
        [container("p-app-1", project="p", env={"CACHE_HOST": "cache"}, networks=["p_default"])],
        resolutions=(Resolution(container="p-app-1", hostname="cache", resolved=False),),
    )
    (finding,) = check_unresolvable_host(f)
    assert finding.fixes == ()
    assert finding.evidence["not_on_host"] == ["cache"]


# --- loopback and IP references -------------------------------------------------------


def test_localhost_database_url() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                service="app",
                env={
                    "DATABASE_URL": f"postgresql://u:{SECRET}@localhost:5432/p",
                    "REDIS_HOST": "127.0.0.1",
                    "SITE_URL": "http://localhost:8000",  # browser-facing: left alone
                    "SERVER_HOST": "127.0.0.1",  # its own listen address: left alone
                },
                networks=["p_default"],
            )
        ]
    )
    (finding,) = check_localhost_reference(f)
    assert finding.code == "network.localhost_reference"
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "p-app-1"
    assert finding.evidence["keys"] == ["DATABASE_URL", "REDIS_HOST"]
    assert finding.evidence["references"] == [
        "DATABASE_URL: postgresql://localhost:5432",
        "REDIS_HOST: 127.0.0.1",
    ]


def test_localhost_is_fine_on_the_host_network_and_for_the_container_itself() -> None:
    f = facts(
        [
            container(
                "p-app-1",
                project="p",
                env={"DB_HOST": "localhost"},
                host_config={"NetworkMode": "host"},
            ),
            container(
                "p-db-1",
                project="p",
                image="postgres:16",
                env={"PGHOST": "127.0.0.1", "PGPORT": "5432"},
                exposed_ports=["5432"],
                networks=["p_default"],
            ),
        ]
    )
    assert check_localhost_reference(f) == []


def test_ip_of_another_container() -> None:
    db = container(
        "p-db-1",
        project="p",
        service="db",
        image="postgres:16",
        networks={"p_default": ["db"]},
        ips={"p_default": "172.20.0.3"},
    )
    app = container(
        "p-app-1",
        project="p",
        service="app",
        networks=["p_default"],
        env={
            "DATABASE_URL": f"postgresql://u:{SECRET}@172.20.0.3:5432/p",
            "API_URL": "http://203.0.113.7/",
        },
    )
    (finding,) = check_ip_reference(facts([db, app]))
    assert finding.code == "network.ip_reference"
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "p-app-1"
    assert finding.evidence["targets"] == ["p-db-1"]
    assert finding.evidence["target_services"] == ["db"]
    assert "172.20.0.3" in finding.title


# --- seed 003: nginx could not resolve backend / frontend -----------------------------

SEED_003_LOG = """\
2025/11/21 11:10:00 [notice] 1#1: start worker processes
2025/11/21 11:12:43 [error] 22#22: *42 backend could not be resolved (3: Host not found)
2025/11/21 11:12:48 [error] 22#22: *41 hanna-management-frontend could not be resolved (3: Host not found)
10.0.0.9 - - [21/Nov/2025:11:13:00 +0000] "GET / HTTP/1.1" 502 157
2025/11/21 11:14:13 [error] 22#22: *45 backend could not be resolved (3: Host not found), client: 10.0.0.9, request: "GET /api/?session=pw-planted-4e1d HTTP/1.1"
"""  # noqa: E501


def seed_003(logs: str = SEED_003_LOG) -> HostFacts:
    return facts(
        [
            container(
                "hanna-nginx-1",
                project="hanna",
                service="nginx",
                image="nginx:1.25",
                networks={"hanna_default": ["nginx"]},
            ),
            container(
                "hanna-backend-1",
                project="hanna",
                service="backend",
                state="exited",
                env={"DATABASE_URL": f"postgresql://u:{SECRET}@db:5432/hanna"},
                networks={"hanna_default": ["backend"]},
            ),
            container(
                "hanna-db-1",
                project="hanna",
                service="db",
                image="postgres:16",
                networks={"hanna_default": ["db"]},
            ),
            container(
                "hanna-management-frontend-1",
                project="hanna",
                service="hanna-management-frontend",
                networks={"hanna_frontend": ["hanna-management-frontend"]},
            ),
        ],
        proxy_logs={"hanna-nginx-1": logs},
    )


def test_seed_003_dns_resolution_failed() -> None:
    (finding,) = check_proxy_resolution(seed_003())
    assert finding.code == "dns.resolution_failed"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "hanna-nginx-1"
    assert finding.subject.project == "hanna"
    assert finding.evidence["count"] == 3
    assert finding.evidence["names"] == ["backend", "hanna-management-frontend"]
    newest = str(finding.evidence["newest_line"])
    assert newest.startswith("2025/11/21 11:14:13 [error] 22#22: *45 backend could not be")
    assert SECRET not in newest
    assert fix(finding, "container.restart") == {"host": HOST, "container": "hanna-backend-1"}
    assert fix(finding, "network.connect") == {
        "host": HOST,
        "container": "hanna-nginx-1",
        "network": "hanna_frontend",
    }


def test_host_not_found_in_upstream_line() -> None:
    line = (
        '2025/11/21 11:00:00 [emerg] 1#1: host not found in upstream "backend:8000" in '
        "/etc/nginx/conf.d/default.conf:12\n"
    )
    (finding,) = check_proxy_resolution(seed_003(line))
    assert finding.evidence["names"] == ["backend"]
    assert finding.evidence["count"] == 1


def test_quiet_proxy_logs() -> None:
    assert check_proxy_resolution(seed_003('10.0.0.9 - - "GET / HTTP/1.1" 200 12\n')) == []


# --- the healthy stack and secrets ------------------------------------------------------


def healthy() -> HostFacts:
    net = "shop_default"
    return facts(
        [
            container(
                "shop-db-1",
                project="shop",
                service="db",
                image="postgres:16",
                env={"POSTGRES_PASSWORD": SECRET, "POSTGRES_USER": "shop"},
                networks={net: ["db"]},
                volumes=["shop-pgdata"],
                exposed_ports=["5432"],
            ),
            container(
                "shop-backend-1",
                project="shop",
                service="backend",
                env={"DATABASE_URL": f"postgresql://shop:{SECRET}@db:5432/shop"},
                networks={net: ["backend"]},
            ),
            container(
                "shop-nginx-1",
                project="shop",
                service="nginx",
                image="nginx:1.25",
                networks={net: ["nginx"]},
            ),
        ],
        volumes=[volume("shop-pgdata", project="shop", compose_volume="pgdata", size=10**8)],
        resolutions=(Resolution(container="shop-backend-1", hostname="db", resolved=True),),
        proxy_logs={"shop-nginx-1": '172.18.0.1 - - "GET / HTTP/1.1" 200 612\n'},
    )


def test_healthy_stack_is_quiet() -> None:
    assert run_all(healthy()) == []


def test_lab_stack_is_quiet() -> None:
    assert run_all(facts(lab_stack())) == []


def test_planted_secret_never_in_findings() -> None:
    findings = [
        *run_all(seed_000()),
        *run_all(seed_002()),
        *run_all(seed_003()),
        *run_all(stopped_db(False)),
    ]
    assert len(findings) >= 5
    for finding in findings:
        assert SECRET not in finding.model_dump_json()
