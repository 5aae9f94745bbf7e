"""Where an app's Postgres database is: from its environment, however it is configured.

A pure function over two environments (the app container's and the database
service's), no I/O. The app may say where its database is in three ways, each a
*candidate*:

- a Postgres URL: the declared key (``database.from_env``, ``DATABASE_URL`` by
  default), ``DATABASE_URL``, or any other key whose value is a ``postgres://`` /
  ``postgresql://`` URL (``SHOP_DB_URL``, ``POSTGRES_DSN``); other schemes
  (``mysql://``, ``redis://``, ``sqlite:///``) are ignored;
- libpq's variables ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
  ``PGPASSWORD`` (source ``PG*``);
- split variables sharing a prefix that ends in ``DB_``, ``DATABASE_``,
  ``POSTGRES_``, ``POSTGRESQL_``, ``PG_`` or ``PSQL_`` (``DB_HOST``,
  ``POSTGRES_HOST``, ``MYAPP_DB_HOST``, ``DATABASE_HOST`` …), with the fields
  ``HOST``/``HOSTNAME``, ``PORT``, ``NAME``/``DATABASE``/``DB``,
  ``USER``/``USERNAME``, ``PASSWORD``/``PASS``/``PASSWD``/``PWD`` (source
  ``DB_* (prefix MYAPP_DB_)``).

A URL or libpq candidate may lack pieces; what it lacks is taken, as libpq does,
from the app's ``PG*`` variables, then from the database service's own
``POSTGRES_DB``/``POSTGRES_USER``/``POSTGRES_PASSWORD`` (the official image's
rules: the database defaults to the user, the user to ``postgres``). Split and
``PG*`` candidates need a host or a database name; one with no host is dialled
at the database service.

Of several candidates, the one whose host is a name (or address) of the stack's
database service wins; then one with a host over one without; then by kind: the
declared key, ``DATABASE_URL``, other URLs, ``PG*``, split variables (by prefix).

The result names the keys it used (``keys`` in the app, ``db_keys`` in the
database service), never a value; the password is a ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from bot.inventory.discovery import parse_database_url

__all__ = [
    "DbTarget",
    "database_candidates",
    "locate_database",
    "no_target_reason",
]

POSTGRES_PORT = 5432
_PG_KEYS = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")
_PG_PASSWORD = "PGPASSWORD"  # noqa: S105 - a key name
_SPLIT = re.compile(
    r"^(?P<prefix>(?:[A-Z0-9]+_)*?(?:DB|DATABASE|POSTGRES|POSTGRESQL|PG|PSQL)_)"
    r"(?P<field>HOST|HOSTNAME|PORT|NAME|DATABASE|DB|USER|USERNAME|PASSWORD|PASS|PASSWD|PWD)$"
)
_FIELDS = {
    "HOST": "host",
    "HOSTNAME": "host",
    "PORT": "port",
    "NAME": "dbname",
    "DATABASE": "dbname",
    "DB": "dbname",
    "USER": "user",
    "USERNAME": "user",
    "PASSWORD": "password",
    "PASS": "password",
    "PASSWD": "password",
    "PWD": "password",
}
_URL_VALUE = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", re.IGNORECASE)
_HOSTPORT = re.compile(
    r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d{1,5}))?$"
)
# kinds, in the order they win a tie
_DECLARED, _DATABASE_URL, _OTHER_URL, _LIBPQ, _SPLIT_KIND = range(5)
_URL_KINDS = (_DECLARED, _DATABASE_URL, _OTHER_URL)
# split variables of another engine, or that say they are for one
_OTHER_ENGINE = re.compile(
    r"(?:^|_)(?:MYSQL|MARIADB|MONGO|MONGODB|REDIS|MSSQL|SQLSERVER|ORACLE|CLICKHOUSE|INFLUX"
    r"|COUCH|COUCHDB|CASSANDRA|ELASTIC|NEO4J)(?:_|$)"
)
_ENGINE_FIELDS = ("CONNECTION", "ENGINE", "DRIVER", "DIALECT", "TYPE", "ADAPTER")
_POSTGRES_WORD = re.compile(r"postgres|postgis|timescale|pgsql|psycopg|\bpg\b", re.IGNORECASE)
_OTHER_PORTS = {3306, 27017, 6379, 1433, 1521}  # MySQL, MongoDB, Redis, SQL Server, Oracle


class DbTarget(BaseModel):
    """Where to connect to the app's database, and which keys said so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None  # None: not given, dial the stack's database service
    port: int = POSTGRES_PORT
    dbname: str
    user: str
    password: SecretStr | None = None
    source: str  # "DATABASE_URL", "PG*", "DB_* (prefix MYAPP_DB_)"
    keys: tuple[str, ...] = ()  # the app's keys used, in the order read
    db_keys: tuple[str, ...] = ()  # the database service's keys used (fallbacks)


class _Raw(BaseModel):
    """One candidate before its gaps are filled: only what its own keys say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: int
    order: str
    source: str
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    keys: tuple[str, ...] = ()


def _host_port(text: str) -> tuple[str | None, int | None]:
    """``db``, ``db:5433``, ``[::1]:5433``, a socket dir ``/run/postgresql``; libpq's
    list ``a,b`` keeps the first host. Unparseable: (None, None)."""
    first = text.strip().split(",")[0].strip()
    if first.startswith("/"):
        return first, None
    match = _HOSTPORT.match(first)
    if match is None:
        return None, None
    port = _port(match["port"]) if match["port"] else None
    return match["v6"] or match["host"], port


def _port(text: str | None) -> int | None:
    text = (text or "").strip().split(",")[0].strip()
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _url_kind(key: str, url_key: str) -> int:
    if key == url_key:
        return _DECLARED
    return _DATABASE_URL if key.upper() == "DATABASE_URL" else _OTHER_URL


def _url_candidates(env: Mapping[str, str], url_key: str) -> list[_Raw]:
    out: list[_Raw] = []
    for key, value in env.items():
        if not _URL_VALUE.match(value.strip()):
            continue
        try:
            url = parse_database_url(value)
        except ValueError:
            continue
        kind = _url_kind(key, url_key)
        out.append(
            _Raw(
                kind=kind,
                order=key,
                source=key,
                host=url.host,
                port=url.port,
                dbname=url.dbname,
                user=url.user,
                password=url.password,
                keys=(key,),
            )
        )
    return out


def _libpq_candidate(env: Mapping[str, str]) -> _Raw | None:
    host, port = _host_port(env.get("PGHOST", ""))
    if host is None and not env.get("PGDATABASE", "").strip():
        return None
    if port is None:
        port = _port(env.get("PGPORT"))
    password = env.get(_PG_PASSWORD)
    keys = [k for k in (*_PG_KEYS, _PG_PASSWORD) if env.get(k, "").strip()]
    return _Raw(
        kind=_LIBPQ,
        order="PG",
        source="PG*",
        host=host,
        port=port,
        dbname=env.get("PGDATABASE", "").strip() or None,
        user=env.get("PGUSER", "").strip() or None,
        password=SecretStr(password) if password else None,
        keys=tuple(keys),
    )


def _other_engine(prefix: str, port: int | None, env: Mapping[str, str]) -> bool:
    """Split variables of another database: ``MYSQL_DB_HOST``, ``DB_PORT=3306``, or
    ``DB_CONNECTION=mysql`` beside them (Laravel, Rails, Django-environ)."""
    if _OTHER_ENGINE.search(prefix.rstrip("_")) or port in _OTHER_PORTS:
        return True
    said = [env[prefix + f] for f in _ENGINE_FIELDS if env.get(prefix + f, "").strip()]
    return any(not _POSTGRES_WORD.search(value) for value in said)


def _split_candidates(env: Mapping[str, str]) -> list[_Raw]:
    groups: dict[str, dict[str, tuple[str, str]]] = {}
    for key, value in sorted(env.items()):
        match = _SPLIT.match(key.upper())
        if match is None or not value.strip():
            continue
        field = _FIELDS[match["field"]]
        # the first key (by name) of a field wins: DB_NAME over DB_DATABASE is arbitrary
        groups.setdefault(match["prefix"], {}).setdefault(field, (key, value))
    upper = {k.upper(): v for k, v in env.items()}
    out: list[_Raw] = []
    for prefix, fields in sorted(groups.items()):
        host, port = _host_port(fields["host"][1]) if "host" in fields else (None, None)
        if host is None and "dbname" not in fields:
            continue
        if "port" in fields:
            port = port or _port(fields["port"][1])
        if _other_engine(prefix, port, upper):
            continue
        password = fields.get("password", ("", ""))[1]
        out.append(
            _Raw(
                kind=_SPLIT_KIND,
                order=prefix,
                source=f"DB_* (prefix {prefix})",
                host=host,
                port=port,
                dbname=fields["dbname"][1].strip() if "dbname" in fields else None,
                user=fields["user"][1].strip() if "user" in fields else None,
                password=SecretStr(password) if password else None,
                keys=tuple(fields[f][0] for f in ("host", "port", "dbname", "user", "password")
                           if f in fields),
            )
        )  # fmt: skip
    return out


def _complete(raw: _Raw, app: Mapping[str, str], db: Mapping[str, str]) -> DbTarget:
    """Fill what ``raw`` lacks: from the app's ``PG*`` (libpq's defaults), then from the
    database service's ``POSTGRES_*`` (the official image's defaults)."""
    keys, db_keys = list(raw.keys), []
    from_pg = raw.kind != _LIBPQ  # the PG* candidate read them already

    def app_key(key: str) -> str | None:
        value = app.get(key, "").strip() if from_pg else ""
        if value and key not in keys:
            keys.append(key)
        return value or None

    def db_key(name: str) -> str | None:
        value = db.get(name, "").strip()
        if value and name not in db_keys:
            db_keys.append(name)
        return value or None

    port = raw.port
    if port is None and from_pg and (port := _port(app.get("PGPORT"))) is not None:
        keys.append("PGPORT")
    app_user = raw.user or app_key("PGUSER")
    user = app_user or db_key("POSTGRES_USER")
    password = raw.password
    if password is None:
        secret = app_key(_PG_PASSWORD) or db_key("POSTGRES_PASSWORD")
        password = SecretStr(secret) if secret else None
    dbname = raw.dbname or app_key("PGDATABASE")
    if dbname is None and raw.kind in _URL_KINDS:
        dbname = app_user  # libpq: a URL without a database means the user's
    if dbname is None:
        dbname = db_key("POSTGRES_DB") or user  # the image: POSTGRES_DB, else the user
    return DbTarget(
        host=raw.host,
        port=port or POSTGRES_PORT,
        dbname=dbname or "postgres",
        user=user or "postgres",
        password=password,
        source=raw.source,
        keys=tuple(keys),
        db_keys=tuple(db_keys),
    )


def _rank(raw: _Raw, db_names: Collection[str]) -> tuple[int, int, int, str]:
    names = {n.lower() for n in db_names}
    at_db = raw.host is not None and raw.host.lower() in names
    return (0 if at_db else 1, 0 if raw.host else 1, raw.kind, raw.order)


def database_candidates(
    app_env: Mapping[str, str],
    db_env: Mapping[str, str] | None = None,
    *,
    db_names: Collection[str] = (),
    url_key: str = "DATABASE_URL",
) -> list[DbTarget]:
    """Every place ``app_env`` says its database is, the most likely first (see the
    module docstring); gaps filled from ``PG*`` and ``db_env``."""
    raws = [*_url_candidates(app_env, url_key), *_split_candidates(app_env)]
    libpq = _libpq_candidate(app_env)
    if libpq is not None:
        raws.append(libpq)
    raws.sort(key=lambda r: _rank(r, db_names))
    return [_complete(r, app_env, db_env or {}) for r in raws]


def locate_database(
    app_env: Mapping[str, str],
    db_env: Mapping[str, str] | None = None,
    *,
    db_names: Collection[str] = (),
    url_key: str = "DATABASE_URL",
) -> DbTarget | None:
    """The app's database: the best of ``database_candidates``, or None."""
    found = database_candidates(app_env, db_env, db_names=db_names, url_key=url_key)
    return found[0] if found else None


def no_target_reason(app_env: Mapping[str, str], *, url_key: str = "DATABASE_URL") -> str:
    """Why ``locate_database`` found nothing, in words safe to show (key names and
    URL parse errors, which never carry the password)."""
    value = app_env.get(url_key)
    if value:
        try:
            parse_database_url(value)
        except ValueError as exc:
            return f"{url_key}: {exc}"
    keys = "" if url_key == "DATABASE_URL" else f"{url_key}, "
    return (
        f"the app's environment has no {keys}DATABASE_URL, other Postgres URL, "
        "PGHOST/PGDATABASE, or *DB_HOST/*DB_NAME-style variables"
    )
