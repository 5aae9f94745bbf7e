"""Volume checks: orphaned database data (seeds 000, 001), project-prefixed and ephemeral
data volumes, unused volumes."""

from __future__ import annotations

from bot.inventory.config.models import StackConfig
from bot.model.docker_objects import Volume
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_volumes
from runbooks.diagnose.checks_volumes import (
    check_ephemeral_data,
    check_orphaned_data,
    check_project_prefixed,
    check_unused_volumes,
)
from runbooks.diagnose.facts import HostFacts
from tests.unit.diagnose.factories import (
    HOST,
    ago,
    anonymous_mount,
    bind_mount,
    container,
    facts,
    lab_stack,
    volume,
    volume_mount,
)

SECRET = "pw-planted-4e1d"
MB = 1000**2


def run_all(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_volumes.CHECKS for finding in check(f)]


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is not Severity.INFO]


# --- seed 000: indexo_db_staging on a new empty volume, the data left behind ------------


def seed_000(old_size: int = 900 * MB, *, old_labels: bool = True) -> HostFacts:
    current = "indexo-staging_postgres_data_staging"
    old = "multivendor_postgres_data_staging"
    return facts(
        [
            container(
                "indexo_db_staging",
                project="indexo-staging",
                service="db",
                image="postgres:15-alpine",
                # the database keeps the old app's name, as in the lab's S1
                env={"POSTGRES_PASSWORD": SECRET, "POSTGRES_DB": "multivendor"},
                networks={"indexo-staging_internal_staging": ["db"]},
                volumes=[current],
                created=ago(hours=2),
            ),
            container(
                "indexo_backend_staging",
                project="indexo-staging",
                service="backend",
                env={"DATABASE_URL": f"postgresql://app:{SECRET}@db:5432/indexo"},
                networks={"indexo-staging_internal_staging": ["backend"]},
            ),
        ],
        volumes=[
            volume(
                current,
                project="indexo-staging",
                compose_volume="postgres_data_staging",
                size=48 * MB,
                created=ago(hours=2),
            ),
            volume(
                old,
                project="multivendor" if old_labels else None,
                compose_volume="postgres_data_staging",
                size=old_size,
                created=ago(days=40),
            ),
        ],
    )


def test_seed_000_orphaned_data() -> None:
    f = seed_000()
    (finding,) = check_orphaned_data(f)
    assert finding.code == "volume.orphaned_data"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "indexo_db_staging"
    assert finding.subject.project == "indexo-staging"
    assert finding.subject.volume == "multivendor_postgres_data_staging"
    assert finding.evidence["current_volume"] == "indexo-staging_postgres_data_staging"
    assert finding.evidence["orphaned_volume"] == "multivendor_postgres_data_staging"
    assert finding.evidence["current_volume_size"] == 48 * MB
    assert finding.evidence["orphaned_volume_size"] == 900 * MB
    assert finding.evidence["db_container"] == "indexo_db_staging"
    assert str(finding.evidence["orphaned_volume_created"]).startswith("2025-08-31")
    assert "modification time" in str(finding.evidence["created_note"])
    assert "indexo-staging_postgres_data_staging" in finding.title
    assert "multivendor_postgres_data_staging" in finding.title
    (fix,) = finding.fixes
    assert fix.action == "volume.backup"
    assert fix.params == {"host": HOST, "volume": "multivendor_postgres_data_staging"}
    assert not fix.destructive
    assert "external" in fix.summary
    assert "mention multivendor" in str(finding.evidence["match"])


def test_seed_000_unlabelled_old_volume_matches_by_name() -> None:
    (finding,) = check_orphaned_data(seed_000(old_labels=False))
    assert finding.evidence["orphaned_volume"] == "multivendor_postgres_data_staging"
    assert "postgres_data_staging" in str(finding.evidence["match"])


def test_same_volume_key_of_an_unrelated_app_is_not_orphaned_data() -> None:
    f = facts(
        [
            container(
                "shop-db-1",
                project="shop",
                service="db",
                image="postgres:16",
                env={"POSTGRES_DB": "shop"},
                volumes=["shop_postgres_data"],
            )
        ],
        volumes=[
            volume("shop_postgres_data", project="shop", size=40 * MB),
            volume("blog_postgres_data", project="blog", size=900 * MB),
        ],
    )
    assert check_orphaned_data(f) == []
    (unused,) = check_unused_volumes(f)
    assert unused.evidence["volumes"] == ["blog_postgres_data (900.0 MB, project blog)"]


def test_old_project_run_from_the_same_directory_is_related() -> None:
    f = facts(
        [
            container(
                "new-db-1",
                project="new",
                service="db",
                image="postgres:16",
                volumes=["new_pgdata"],
                working_dir="/srv/shop",
            ),
            container(
                "old-worker-1",
                project="old-name",
                service="worker",
                state="exited",
                working_dir="/srv/shop",
            ),
        ],
        volumes=[
            volume("new_pgdata", project="new", size=40 * MB),
            volume("old-name_pgdata", project="old-name", size=900 * MB),
        ],
    )
    (finding,) = check_orphaned_data(f)
    assert "same compose directory" in str(finding.evidence["match"])


def test_smaller_or_unknown_old_volume_is_not_orphaned_data() -> None:
    assert check_orphaned_data(seed_000(old_size=10 * MB)) == []
    assert check_orphaned_data(seed_000(old_size=-1)) == []


def test_old_volume_mounted_by_a_stopped_container_is_not_orphaned() -> None:
    f = seed_000()
    keeper = container(
        "multivendor_db_staging",
        project="multivendor",
        service="db",
        image="postgres:15-alpine",
        state="exited",
        volumes=["multivendor_postgres_data_staging"],
    )
    g = facts([*f.containers, keeper], volumes=f.volumes)
    assert check_orphaned_data(g) == []
    assert check_unused_volumes(g) == []


def test_another_declared_environment_is_not_a_leftover() -> None:
    f = seed_000()
    g = facts(
        f.containers,
        volumes=f.volumes,
        declared={"indexo-staging": StackConfig(), "multivendor": StackConfig()},
    )
    assert check_orphaned_data(g) == []


def test_generic_names_alone_do_not_match() -> None:
    f = facts(
        [container("a-db-1", project="a", service="db", image="postgres:16", volumes=["a_data"])],
        volumes=[
            volume("a_data", project="a", size=MB),
            volume("uploads_data", size=500 * MB),  # unlabelled, only "data" in common
        ],
    )
    assert check_orphaned_data(f) == []
    (unused,) = check_unused_volumes(f)
    assert unused.evidence["volumes"] == ["uploads_data (500.0 MB)"]


# --- seed 001: the project was renamed simfab → simfab-facelift ---------------------------


def seed_001() -> HostFacts:
    return facts(
        [
            container(
                "simfab-db",
                project="simfab-facelift",
                service="postgres",
                image="postgres:16",
                volumes=["simfab-facelift_postgres_data"],
                created=ago(hours=10),
            ),
            container(
                "simfab-server",
                project="simfab-facelift",
                service="server",
                env={"DATABASE_URL": f"postgresql://simfab:{SECRET}@postgres/simfab_dev"},
                networks=["simfab-facelift_default"],
            ),
        ],
        volumes=[
            volume("simfab-facelift_postgres_data", project="simfab-facelift", size=41 * MB),
            volume("simfab_postgres_data", project="simfab", size=310 * MB),
            volume("0123456789abcdef" * 4, size=2 * MB),  # anonymous, unrelated, unused
        ],
    )


def test_seed_001_orphaned_data_and_project_prefixed_volume() -> None:
    f = seed_001()
    findings = run_all(f)
    by_code = {x.code: x for x in findings}
    assert sorted(by_code) == [
        "volume.orphaned_data",
        "volume.project_prefixed",
        "volume.unused",
    ]
    orphan = by_code["volume.orphaned_data"]
    assert orphan.evidence["current_volume"] == "simfab-facelift_postgres_data"
    assert orphan.evidence["orphaned_volume"] == "simfab_postgres_data"
    assert orphan.fixes[0].params == {"host": HOST, "volume": "simfab_postgres_data"}
    prefixed = by_code["volume.project_prefixed"]
    assert prefixed.severity is Severity.WARNING
    assert prefixed.subject.volume == "simfab-facelift_postgres_data"
    assert prefixed.evidence["compose_project"] == "simfab-facelift"
    unused = by_code["volume.unused"]
    assert unused.severity is Severity.INFO
    # the orphan is reported once, by volume.orphaned_data
    assert unused.evidence["volumes"] == [f"{'0123456789abcdef' * 4} (2.0 MB, anonymous)"]
    assert unused.fixes[0].action == "volumes.list"
    assert unused.fixes[0].params == {"host": HOST}


def test_data_in_the_container_layer_points_at_the_projects_unmounted_volume() -> None:
    f = facts(
        [container("simfab-db", project="simfab", service="postgres", image="postgres:16")],
        volumes=[volume("simfab_postgres_data", project="simfab", size=310 * MB)],
    )
    codes = sorted(x.code for x in run_all(f))
    assert codes == ["volume.ephemeral_data", "volume.orphaned_data"]
    (orphan,) = check_orphaned_data(f)
    assert orphan.evidence["current_volume"] is None
    assert "container layer" in orphan.title


# --- volume.project_prefixed ---------------------------------------------------------------


def test_explicit_volume_name_is_not_project_prefixed() -> None:
    f = facts(
        [
            container(
                "p-db-1",
                project="p",
                service="db",
                image="postgres:16",
                volumes=["shop_pgdata_prod"],
            )
        ],
        volumes=[volume("shop_pgdata_prod", project="p", compose_volume="pgdata", size=MB)],
    )
    assert run_all(f) == []


def test_only_database_volumes_are_judged_for_their_prefix() -> None:
    f = facts(
        [
            container(
                "p-web-1",
                project="p",
                service="web",
                mounts=[volume_mount("p_static", "/srv/static")],
            )
        ],
        volumes=[volume("p_static", project="p", size=MB)],
    )
    assert check_project_prefixed(f) == []


# --- volume.ephemeral_data -----------------------------------------------------------------


def test_anonymous_data_volume() -> None:
    anon = anonymous_mount(seed="p-db-1")
    f = facts(
        [container("p-db-1", project="p", service="db", image="postgres:16", mounts=[anon])],
        volumes=[Volume.model_validate({"Name": anon["Name"], "UsageData": {"Size": 5 * MB}})],
    )
    (finding,) = check_ephemeral_data(f)
    assert finding.code == "volume.ephemeral_data"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "p-db-1"
    assert finding.evidence["storage"] == "anonymous volume"
    assert finding.evidence["volume"] == anon["Name"]
    assert finding.fixes[0].action == "volume.backup"
    assert finding.fixes[0].params == {"host": HOST, "volume": anon["Name"]}


def test_no_mount_at_the_data_dir() -> None:
    f = facts(
        [
            container(
                "p-db-1",
                project="p",
                service="db",
                image="postgres:16",
                env={"PGDATA": "/var/lib/postgresql/data/pgdata"},
                mounts=[volume_mount("p_backups", "/backups")],
            ),
        ]
    )
    (finding,) = check_ephemeral_data(f)
    assert finding.evidence["storage"] == "container layer"
    assert finding.evidence["data_dir"] == "/var/lib/postgresql/data/pgdata"
    assert finding.fixes == ()


def test_persistent_data_dirs() -> None:
    f = facts(
        [
            container(
                "a-db-1",
                project="a",
                service="db",
                image="postgres:16",
                mounts=[bind_mount("/srv/pg", "/var/lib/postgresql/data")],
            ),
            # postgres 18: PGDATA below the mounted /var/lib/postgresql
            container(
                "b-db-1",
                project="b",
                service="db",
                image="postgres:18",
                env={"PGDATA": "/var/lib/postgresql/18/docker"},
                mounts=[volume_mount("b-pg", "/var/lib/postgresql")],
            ),
        ],
        volumes=[volume("b-pg", size=MB)],
    )
    assert check_ephemeral_data(f) == []


# --- healthy stack, lab stack, secrets -----------------------------------------------------


def healthy() -> HostFacts:
    net = "shop_default"
    return facts(
        [
            container(
                "shop-db-1",
                project="shop",
                service="db",
                image="postgres:16",
                env={"POSTGRES_PASSWORD": SECRET},
                networks={net: ["db"]},
                volumes=["shop-pgdata"],
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
    )


def test_healthy_stack_is_quiet() -> None:
    assert run_all(healthy()) == []


def test_lab_stack_warns_only_about_its_project_prefixed_volume() -> None:
    # The lab's compose file names its data volume without `name:` → <project>_pgdata:
    # a real warning; the lab's healthy baseline must give it an explicit name.
    findings = serious(run_all(facts(lab_stack())))
    assert {f.code for f in findings} <= {"volume.project_prefixed"}


def test_planted_secret_never_in_findings() -> None:
    findings = [*run_all(seed_000()), *run_all(seed_001())]
    assert len(findings) >= 4
    for finding in findings:
        assert SECRET not in finding.model_dump_json()
