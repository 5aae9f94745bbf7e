"""Discovery: containers (Engine API JSON) → typed stacks, roles, URLs, host references."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.inventory.config.models import DatabaseRef, ServiceRoles, StackConfig
from bot.inventory.discovery import (
    HostReference,
    discover_stacks,
    parse_database_url,
    referenced_hosts,
)
from bot.model.docker_objects import ContainerDetails


def container(
    name: str,
    *,
    project: str | None = None,
    service: str | None = None,
    image: str = "busybox:latest",
    env: dict[str, str] | None = None,
    networks: dict[str, list[str]] | None = None,
    volumes: Sequence[str] = (),
    cmd: list[str] | None = None,
    exposed: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    working_dir: str = "/srv/app",
    config_files: str = "/srv/app/docker-compose.yml",
    running: bool = True,
    created: str = "2025-10-10T12:00:00.123456789Z",
) -> ContainerDetails:
    """A ``GET /containers/{id}/json`` answer, as the Engine sends it."""
    all_labels: dict[str, str] = {}
    if project is not None:
        all_labels = {
            "com.docker.compose.project": project,
            "com.docker.compose.service": service or name,
            "com.docker.compose.project.working_dir": working_dir,
            "com.docker.compose.project.config_files": config_files,
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.container-number": "1",
        }
    all_labels.update(labels or {})
    payload: dict[str, Any] = {
        "Id": f"{abs(hash(name)):064x}"[:64],
        "Name": f"/{name}",
        "Created": created,
        "Image": "sha256:" + "ab" * 32,
        "RestartCount": 0,
        "State": {
            "Status": "running" if running else "exited",
            "Running": running,
            "ExitCode": 0 if running else 1,
            "StartedAt": created,
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Config": {
            "Image": image,
            "Env": [f"{k}={v}" for k, v in (env or {}).items()] + ["PATH=/usr/bin"],
            "Labels": all_labels,
            "Cmd": cmd,
            "Entrypoint": None,
            "ExposedPorts": {p: {} for p in exposed} or None,
        },
        "HostConfig": {"NetworkMode": "default"},
        "Mounts": [
            {
                "Type": "volume",
                "Name": v,
                "Source": f"/var/lib/docker/volumes/{v}/_data",
                "Destination": "/var/lib/postgresql/data",
                "Driver": "local",
                "RW": True,
            }
            for v in volumes
        ],
        "NetworkSettings": {
            "Networks": {
                net: {"NetworkID": net * 2, "IPAddress": "172.18.0.2", "Aliases": aliases}
                for net, aliases in (networks or {}).items()
            }
        },
    }
    return ContainerDetails.model_validate(payload)


# --- seed 000: multivendor_db_staging beside indexo_db_staging, compose v1 ----------


def seed_000() -> list[ContainerDetails]:
    v1: dict[str, Any] = {
        "working_dir": "/home/deploy/docker-deploy",
        "config_files": "docker-compose.staging.yml",
    }
    return [
        container(
            "multivendor_db_staging",
            project="docker-deploy",
            service="db",
            image="postgres:15-alpine",
            networks={"docker-deploy_internal_staging": ["db", "multivendor_db_staging"]},
            volumes=["docker-deploy_postgres_data_staging"],
            created="2025-09-01T08:00:00Z",
            **v1,
        ),
        container(
            "multivendor_backend_staging",
            project="docker-deploy",
            service="backend",
            image="multivendor-backend:staging",
            env={"DB_HOST": "db", "DB_PORT": "5432", "DB_PASSWORD": "hunter2-staging"},
            cmd=["sh", "-c", "python manage.py migrate && gunicorn app.wsgi"],
            networks={
                "docker-deploy_multivendor_network": ["backend"],
                "docker-deploy_internal_staging": ["backend"],
            },
            **v1,
        ),
        container(
            "indexo_db_staging",
            project="indexo-staging",
            service="db",
            image="postgres:15-alpine",
            networks={"indexo-staging_internal_staging": ["db"]},
            volumes=["indexo-staging_postgres_data_staging", "f" * 64],
            working_dir="/home/deploy/docker-deploy",
            config_files="docker-compose.staging.yml,./overrides/../docker-compose.ci.yml",
        ),
    ]


def test_seed_000_groups_by_project_and_normalises_v1_relative_config_files() -> None:
    declared = {"indexo-staging": StackConfig()}
    result = discover_stacks(seed_000(), declared)

    assert [s.name for s in result.stacks] == ["indexo-staging", "docker-deploy"]
    assert result.unmanaged == ()
    indexo = result.get("indexo-staging")
    old = result.get("docker-deploy")
    assert indexo is not None and old is not None
    assert indexo.declared and indexo.found
    assert not old.declared and old.found
    assert indexo.config_files == (
        "/home/deploy/docker-deploy/docker-compose.staging.yml",
        "/home/deploy/docker-deploy/docker-compose.ci.yml",
    )
    assert old.config_files == ("/home/deploy/docker-deploy/docker-compose.staging.yml",)
    # no env file label: compose read <working_dir>/.env
    assert indexo.env_file == "/home/deploy/docker-deploy/.env"
    assert indexo.env_file_source == "implied"
    # the anonymous volume is not a named volume
    assert indexo.volumes == ("indexo-staging_postgres_data_staging",)
    assert old.volumes == ("docker-deploy_postgres_data_staging",)
    assert old.networks == ("docker-deploy_internal_staging", "docker-deploy_multivendor_network")
    assert [c.name for c in indexo.services["db"].containers] == ["indexo_db_staging"]
    assert old.services["db"].running
    assert old.services["db"].states == ("running",)


def test_seed_000_roles_are_inferred_from_image_and_db_host() -> None:
    result = discover_stacks(seed_000(), {})
    old = result.get("docker-deploy")
    assert old is not None
    assert old.roles.database == "db"
    assert old.roles.reasons["database"] == "inferred: image postgres:15-alpine"
    assert old.roles.app == "backend"
    assert old.roles.reasons["app"] == "inferred: DB_HOST points at db (db)"
    assert old.roles.proxy is None
    assert old.roles.reasons["proxy"].startswith("not found")
    indexo = result.get("indexo-staging")
    assert indexo is not None
    assert indexo.roles.app is None  # a lone database: nobody refers to it
    assert indexo.roles.reasons["app"] == "not found: no service refers to the database"
    assert "hunter2-staging" not in repr(result.stacks)


# --- seed 002: the app refers to the database by its container name ----------------


def seed_002() -> list[ContainerDetails]:
    return [
        container(
            "ventanas-test-app",
            project="app-test",
            service="app",
            image="ventanas-app:test",
            env={
                "DATABASE_URL": "postgresql://ventanas_user:simple123@ventanas-test-db:5432/vdb",
                "REDIS_URL": "redis://ventanas-test-redis:6379/0",
            },
            networks={"app-test_default": ["app"]},
        ),
        container(
            "ventanas-test-db",
            project="app-test",
            service="postgres",
            image="postgres:15",
            networks={"app-test_ventanas-test-network": ["postgres"]},
        ),
        container(
            "ventanas-test-redis",
            project="app-test",
            service="redis",
            image="redis:7-alpine",
            exposed=["6379/tcp"],
            networks={"app-test_ventanas-test-network": ["redis"]},
        ),
    ]


def test_seed_002_app_found_through_the_database_container_name() -> None:
    stack = discover_stacks(seed_002(), {}).stacks[0]
    assert stack.project == "app-test"
    assert stack.roles.database == "postgres"
    assert stack.roles.app == "app"
    assert stack.roles.apps == ("app",)
    assert stack.roles.reasons["app"] == (
        "inferred: DATABASE_URL points at ventanas-test-db (postgres)"
    )
    assert "simple123" not in repr(stack.roles)
    assert stack.config_files == ("/srv/app/docker-compose.yml",)


def test_several_apps_are_kept_and_the_first_by_name_is_the_app() -> None:
    extra = container(
        "ventanas-test-worker",
        project="app-test",
        service="worker",
        env={"PGHOST": "postgres"},
    )
    early = container(
        "ventanas-test-api",
        project="app-test",
        service="api",
        env={"DB_URL": "postgres://u@ventanas-test-db/vdb"},
    )
    stack = discover_stacks([*seed_002(), extra, early], {}).stacks[0]
    assert stack.roles.apps == ("api", "app", "worker")
    assert stack.roles.app == "api"


# --- seed 004: two projects from one working dir, and a `docker run` container -----


def seed_004() -> list[ContainerDetails]:
    common: dict[str, Any] = {
        "working_dir": "/opt/filter-ical",
        "config_files": "/opt/filter-ical/compose.yml",
    }
    return [
        container(
            "filter-ical-backend-staging",
            project="filter-ical-staging",
            service="backend",
            env={"DATABASE_URL": "postgresql://fi:pw-staging@db:5432/filter_ical"},
            **common,
        ),
        container(
            "filter-ical-db-staging",
            project="filter-ical-staging",
            service="db",
            image="postgres:16",
            **common,
        ),
        container(
            "filter-ical-frontend-production",
            project="filter-ical-production",
            service="frontend",
            image="nginx:1.27-alpine",
            labels={"com.docker.compose.project.environment_file": ".env.production"},
            **common,
        ),
        container(
            "filter-ical-backend-production",
            image="filter-ical-backend",
            env={"DATABASE_URL": "postgresql://fi:pw-prod@db:5432/filter_ical"},
            networks={"platform": []},
        ),
    ]


def test_seed_004_two_projects_one_dir_and_an_unmanaged_container() -> None:
    result = discover_stacks(seed_004(), {})
    assert [s.project for s in result.stacks] == ["filter-ical-production", "filter-ical-staging"]
    assert [c.name for c in result.unmanaged] == ["filter-ical-backend-production"]
    prod, staging = result.stacks
    assert prod.working_dir == staging.working_dir == "/opt/filter-ical"
    assert staging.env_files == ("/opt/filter-ical/.env",)
    assert prod.env_files == ("/opt/filter-ical/.env.production",)
    assert prod.env_file_source == "label"
    assert prod.roles.proxy == "frontend"
    assert prod.roles.reasons["proxy"] == "inferred: image nginx:1.27-alpine"
    assert staging.roles.app == "backend" and staging.roles.database == "db"
    managed = {c.name for s in result.stacks for c in s.containers}
    assert "filter-ical-backend-production" not in managed
    assert "filter-ical-frontend-production" in managed


def test_one_project_name_from_two_working_dirs_is_visible() -> None:
    a = container("app-web-1", project="app", working_dir="/srv/a", created="2025-01-01T00:00:00Z")
    b = container("app-db-1", project="app", working_dir="/srv/b", created="2025-06-01T00:00:00Z")
    stack = discover_stacks([a, b], {}).stacks[0]
    assert stack.working_dir == "/srv/b"  # the newest container's labels
    assert stack.working_dirs == ("/srv/b", "/srv/a")


# --- declared stacks --------------------------------------------------------------


def test_declared_roles_override_inferred_ones_and_config_is_carried() -> None:
    cfg = StackConfig(
        compose_project="app-test",
        services=ServiceRoles(app="redis", proxy="app"),
        migrate_command=("python", "manage.py", "migrate"),
        migration_check_command=("python", "manage.py", "migrate", "--check"),
        required_env=("DATABASE_URL", "SECRET_KEY"),
        database=DatabaseRef(name="vdb"),
    )
    result = discover_stacks(seed_002(), {"ventanas-test": cfg})
    assert len(result.stacks) == 1
    stack = result.stacks[0]
    assert stack.name == "ventanas-test" and stack.project == "app-test"
    assert stack.declared and stack.found
    assert stack.roles.app == "redis"
    assert stack.roles.apps == ("redis", "app")
    assert stack.roles.proxy == "app"
    assert stack.roles.reasons == {
        "app": "declared",
        "proxy": "declared",
        "database": "inferred: image postgres:15",
    }
    assert stack.migrate_command == ("python", "manage.py", "migrate")
    assert stack.migration_check_command[-1] == "--check"
    assert stack.required_env == ("DATABASE_URL", "SECRET_KEY")
    assert stack.database.name == "vdb"


def test_undeclared_stack_gets_default_config() -> None:
    stack = discover_stacks(seed_002(), {}).stacks[0]
    assert stack.migrate_command == ()
    assert stack.database == DatabaseRef()
    assert stack.database.from_env == "DATABASE_URL"


def test_declared_stack_not_running_is_returned_as_not_found() -> None:
    cfg = StackConfig(
        working_dir="/home/ventanas/app",
        compose_files=("docker-compose.beta.yml",),
        env_file=".env.beta",
        services=ServiceRoles(database="postgres"),
    )
    result = discover_stacks(seed_002(), {"ventanas-beta": cfg})
    beta = result.get("ventanas-beta")
    assert beta is not None
    assert beta.declared and not beta.found
    assert beta.project == "ventanas-beta"
    assert beta.services == {}
    assert beta.config_files == ("/home/ventanas/app/docker-compose.beta.yml",)
    assert beta.env_file == "/home/ventanas/app/.env.beta"
    assert beta.env_file_source == "declared"
    assert beta.roles.database == "postgres"
    assert beta.roles.reasons["app"] == "not found: stack not running"
    # the running, undeclared project is still reported
    assert [s.name for s in result.stacks] == ["ventanas-beta", "app-test"]


def test_declared_project_matches_compose_normalised_name() -> None:
    result = discover_stacks(seed_002(), {"App-Test": StackConfig()})
    assert [(s.name, s.project, s.found) for s in result.stacks] == [("App-Test", "app-test", True)]
    # compose drops dots: "app.test" is the project "apptest", not "app-test"
    other = discover_stacks(seed_002(), {"app.test": StackConfig()})
    assert [(s.name, s.found) for s in other.stacks] == [("app.test", False), ("app-test", True)]


def test_oneoff_containers_are_kept_apart_from_services() -> None:
    run = container(
        "app-test-app-run-3f2a",
        project="app-test",
        service="app",
        labels={"com.docker.compose.oneoff": "True"},
        running=False,
    )
    stack = discover_stacks([*seed_002(), run], {}).stacks[0]
    assert [c.name for c in stack.services["app"].containers] == ["ventanas-test-app"]
    assert [c.name for c in stack.oneoff] == ["app-test-app-run-3f2a"]


# --- role inference ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"image": "postgres:16"}, "image postgres:16"),
        ({"image": "bitnami/postgresql:16.2.0"}, "image bitnami/postgresql:16.2.0"),
        ({"image": "postgis/postgis:15-3.4"}, "image postgis/postgis:15-3.4"),
        ({"image": "timescale/timescaledb-ha:pg16"}, "image timescale/timescaledb-ha:pg16"),
        (
            {"image": "registry.local:5000/acme/db:1", "cmd": ["postgres", "-c", "fsync=off"]},
            "command postgres",
        ),
        ({"image": "pgvector/pgvector:pg16", "exposed": ["5432/tcp"]}, "exposes 5432"),
    ],
)
def test_database_inference(kwargs: dict[str, Any], reason: str) -> None:
    db = container("s-store-1", project="s", service="store", **kwargs)
    web = container("s-web-1", project="s", service="web", env={"DB_HOST": "store"})
    stack = discover_stacks([db, web], {}).stacks[0]
    assert stack.roles.database == "store"
    assert stack.roles.reasons["database"] == f"inferred: {reason}"
    assert stack.roles.app == "web"


@pytest.mark.parametrize(
    "image",
    ["prometheuscommunity/postgres-exporter", "redis:7", "edoburu/pgbouncer", "dpage/pgadmin4"],
)
def test_not_a_database(image: str) -> None:
    stack = discover_stacks([container("s-x-1", project="s", service="x", image=image)], {})
    assert stack.stacks[0].roles.database is None


def test_image_beats_port_when_choosing_the_database() -> None:
    bouncer = container(
        "s-a-1", project="s", service="a", image="acme/pool:1", exposed=["5432/tcp"]
    )
    pg = container("s-z-1", project="s", service="z", image="postgres:16", exposed=["5432/tcp"])
    other = container("s-b-1", project="s", service="b", image="acme/b", exposed=["5432/tcp"])
    assert discover_stacks([bouncer, pg, other], {}).stacks[0].roles.database == "z"


@pytest.mark.parametrize(
    ("service", "image", "reason"),
    [
        ("web", "nginx:1.27", "image nginx:1.27"),
        ("edge", "traefik:v3.1", "image traefik:v3.1"),
        ("site", "caddy:2-alpine", "image caddy:2-alpine"),
        ("lb", "haproxy:2.9", "image haproxy:2.9"),
        ("mesh", "envoyproxy/envoy:v1.30-latest", "image envoyproxy/envoy:v1.30-latest"),
        ("nginx", "acme/custom-gateway:3", "service name nginx"),
    ],
)
def test_proxy_inference(service: str, image: str, reason: str) -> None:
    proxy = container(f"p-{service}-1", project="p", service=service, image=image)
    app = container("p-app-1", project="p", service="app", image="acme/app:1")
    roles = discover_stacks([proxy, app], {}).stacks[0].roles
    assert roles.proxy == service
    assert roles.reasons["proxy"] == f"inferred: {reason}"


def test_proxy_named_and_built_from_nginx_beats_an_nginx_based_frontend() -> None:
    front = container("h-frontend-1", project="h", service="frontend", image="nginx:alpine")
    proxy = container("h-nginx-1", project="h", service="nginx", image="nginx:1.25")
    assert discover_stacks([front, proxy], {}).stacks[0].roles.proxy == "nginx"


def test_app_found_through_a_network_alias_of_the_database() -> None:
    db = container(
        "q-db-1",
        project="q",
        service="db",
        image="postgres:16",
        networks={"q_back": ["db", "primary.db.internal"]},
    )
    uri = "postgresql+psycopg2://a:b@primary.db.internal/q"
    app = container("q-api-1", project="q", service="api", env={"SQLALCHEMY_DATABASE_URI": uri})
    roles = discover_stacks([db, app], {}).stacks[0].roles
    assert roles.app == "api"
    assert "SQLALCHEMY_DATABASE_URI" in roles.reasons["app"]


# --- parse_database_url -----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_parse_database_url_schemes(scheme: str) -> None:
    url = parse_database_url(f"{scheme}://app:s3cret@db.internal:6432/appdb?sslmode=require")
    assert url.scheme == scheme
    assert (url.user, url.host, url.port, url.dbname) == ("app", "db.internal", 6432, "appdb")
    assert url.password is not None and url.password.get_secret_value() == "s3cret"
    assert url.options == {"sslmode": "require"}
    assert url.redacted() == f"{scheme}://app:***@db.internal:6432/appdb?sslmode=require"


def test_percent_encoded_password_is_decoded_and_never_shown() -> None:
    url = parse_database_url("postgresql://ventanas_user:p%40ss%2Fw0rd%3A@postgres/ventanas")
    assert url.password is not None
    assert url.password.get_secret_value() == "p@ss/w0rd:"
    assert url.port == 5432
    for text in (str(url), repr(url), url.redacted(), url.model_dump_json()):
        assert "p@ss" not in text and "p%40ss" not in text
    assert url.redacted() == "postgresql://ventanas_user:***@postgres:5432/ventanas"


def test_missing_parts() -> None:
    url = parse_database_url("postgres://db")
    assert (url.user, url.password, url.host, url.port, url.dbname) == (
        None,
        None,
        "db",
        5432,
        None,
    )
    assert url.redacted() == "postgres://db:5432"
    socket = parse_database_url("postgresql:///simfab_dev?host=/var/run/postgresql")
    assert socket.host == "/var/run/postgresql" and socket.dbname == "simfab_dev"
    user_only = parse_database_url("postgresql://simfab@localhost/simfab_dev")
    assert user_only.password is None
    assert user_only.redacted() == "postgresql://simfab@localhost:5432/simfab_dev"


def test_password_in_query_is_treated_as_the_password() -> None:
    url = parse_database_url("postgresql://app@db/app?password=qsecret&application_name=x")
    assert url.password is not None and url.password.get_secret_value() == "qsecret"
    assert url.options == {"application_name": "x"}
    assert "qsecret" not in url.redacted()


def test_ipv6_host() -> None:
    url = parse_database_url("postgresql://u:pw@[fd00::5]:5433/d")
    assert url.host == "fd00::5" and url.port == 5433
    assert url.redacted() == "postgresql://u:***@[fd00::5]:5433/d"


@pytest.mark.parametrize(
    "text",
    [
        "mysql://root:topsecret-pw@db/app",
        "postgresql://root:topsecret-pw@db:99999/app",
        "postgresql://root:topsecret-pw@db:port/app",
        "postgresql://root:topsecret-pw@h1:5432,h2:5432/app",
        "postgresql://root:top/secret-pw@db/app",
        "postgresql://root:topsecret-pw#x@db/app",
        "topsecret-pw",
        "",
    ],
)
def test_invalid_urls_raise_without_the_password(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_database_url(text)
    assert "secret" not in str(info.value)
    assert str(info.value)  # says something


# --- referenced_hosts -------------------------------------------------------------


def test_referenced_hosts_kinds() -> None:
    env = {
        "DATABASE_URL": "postgresql://u:dbpass@ventanas-test-db/vdb",
        "DB_HOST": "db",
        "DB_PORT": "6432",
        "CACHE_HOST": "redis:6380",
        "CELERY_BROKER": "amqp://guest:guest@rabbit//",
        "API_URL": "http://backend:8000/api",
        "SENTRY_DSN": "https://key@o1.ingest.sentry.io/2",
        "MONGO_URI": "mongodb://m1:27017,m2/app",
        "PGHOST": "127.0.0.1",
        "BIND_HOST": "0.0.0.0",
        "NEXT_PUBLIC_API_URL": "/api",
        "SECRET_KEY": "not-a-host",
        "HOSTNAME": "a1b2c3d4e5f6",
        "TEMPLATE_HOST": "${DB_HOST}",
    }
    refs = {(r.key, r.host, r.port, r.scheme) for r in referenced_hosts(env)}
    assert refs == {
        ("DATABASE_URL", "ventanas-test-db", 5432, "postgresql"),
        ("DB_HOST", "db", 6432, None),
        ("CACHE_HOST", "redis", 6380, None),
        ("CELERY_BROKER", "rabbit", 5672, "amqp"),
        ("API_URL", "backend", 8000, "http"),
        ("SENTRY_DSN", "o1.ingest.sentry.io", 443, "https"),
        ("MONGO_URI", "m1", 27017, "mongodb"),
        ("MONGO_URI", "m2", 27017, "mongodb"),
        ("PGHOST", "127.0.0.1", None, None),
    }
    text = repr(referenced_hosts(env))
    assert "dbpass" not in text and "guest" not in text and "key@" not in text


def test_reference_classification() -> None:
    assert HostReference(key="A_HOST", host="localhost").is_loopback
    assert HostReference(key="A_HOST", host="127.0.0.5").is_loopback
    assert HostReference(key="A_HOST", host="::1").is_loopback
    db = HostReference(key="A_HOST", host="db")
    assert not db.is_loopback and db.ip is None
    ip = HostReference(key="A_HOST", host="172.20.0.3")
    assert ip.ip is not None and not ip.is_loopback


def test_hostname_keys_and_libpq_host_lists() -> None:
    env = {
        "DB_HOSTNAME": "db",
        "DB_PORT": "6432",
        "PGHOST": "pg1,pg2:5433",
        "PGPORT": "5432",
        "HOSTNAME": "a1b2c3d4e5f6",
    }
    refs = {(r.key, r.host, r.port) for r in referenced_hosts(env)}
    assert refs == {
        ("DB_HOSTNAME", "db", 6432),
        ("PGHOST", "pg1", 5432),
        ("PGHOST", "pg2", 5433),
    }


@pytest.mark.parametrize(
    "env",
    [
        {"PGHOST": "db", "PGDATABASE": "shop"},
        {"SHOP_DB_HOST": "db", "SHOP_DB_NAME": "shop"},
        {"POSTGRES_HOST": "shop-db-1"},
        {"DATABASE_HOSTNAME": "db"},
    ],
)
def test_app_found_through_libpq_and_split_variables(env: dict[str, str]) -> None:
    net = {"shop_default": ["db"]}
    stacks = discover_stacks(
        [
            container("shop-db-1", project="shop", service="db", image="postgres:16", networks=net),
            container("shop-app-1", project="shop", service="app", env=env),
        ],
        {},
    )
    roles = stacks.stacks[0].roles
    assert (roles.app, roles.database) == ("app", "db")
    assert roles.reasons["app"].startswith(f"inferred: {next(k for k in env if 'HOST' in k)}")


def test_lower_case_keys_are_understood() -> None:
    refs = referenced_hosts({"database_url": "postgres://x@pg/d", "redis_host": "cache"})
    assert [(r.key, r.host) for r in refs] == [("database_url", "pg"), ("redis_host", "cache")]
