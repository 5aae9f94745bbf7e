from __future__ import annotations

import pytest
from pydantic import BaseModel

from bot.redaction.redact import (
    REDACTED,
    JSONData,
    is_secret_key,
    redact_data,
    redact_env,
    redact_model,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    "name",
    [
        "POSTGRES_PASSWORD",
        "PGPASSWORD",
        "MYSQL_ROOT_PASSWD",
        "SECRET_KEY_BASE",
        "GITHUB_TOKEN",
        "api_key",
        "apiKey",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AUTH",
        "BASIC_AUTH",
        "HTTP_AUTHORIZATION",
        "SSH_PRIVATE_KEY",
        "SENTRY_DSN",
        "DB_PASS",
        "backup.s3-secret",
        "com.example.token",
    ],
)
def test_secret_keys(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEYBOARD_LAYOUT",
        "MONKEY",
        "AUTHOR",
        "DATABASE_URL",
        "DATABASE_HOST",
        "POSTGRES_USER",
        "PWD",
        "POSTGRES_PASSWORD_FILE",
        "KEYCLOAK_URL",
        "com.docker.compose.project",
        "",
    ],
)
def test_ordinary_keys(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://app:s3cret@db:5432/app",
            "postgres://app:***@db:5432/app",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://app:p%40ss@db/app", "postgresql://app:***@db/app"),
        ("mysql://root:pa@ss@db/x", "mysql://root:***@db/x"),
        (
            "https://api.example.com/v1?user=bob&password=hunter2&page=2",
            "https://api.example.com/v1?user=bob&password=***&page=2",
        ),
        (
            "postgres://db/app?sslmode=require&sslpassword=k3y",
            "postgres://db/app?sslmode=require&sslpassword=***",
        ),
        ("https://example.com/a?token=abc#top", "https://example.com/a?token=***#top"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["postgres://app@db:5432/app", "http://db:8080/health?verbose=1", "not a url", ""],
)
def test_redact_url_leaves_urls_without_secrets_alone(url: str) -> None:
    assert redact_url(url) == url


def test_redact_env() -> None:
    env = {
        "POSTGRES_PASSWORD": "hunter2",
        "EMPTY_SECRET": "",
        "DATABASE_URL": "postgres://app:hunter2@db:5432/app",
        "DATABASE_HOST": "db",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db",
    }

    assert redact_env(env) == {
        "POSTGRES_PASSWORD": REDACTED,
        "EMPTY_SECRET": "",
        "DATABASE_URL": "postgres://app:***@db:5432/app",
        "DATABASE_HOST": "db",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db",
    }


def test_known_secrets_are_masked_everywhere_they_appear() -> None:
    text = "login as app with Tr0ub4dor&3 (url-encoded Tr0ub4dor%263); pin 123 stays"

    out = redact_text(text, known_secrets=["Tr0ub4dor&3", "123"])

    assert "Tr0ub4dor" not in out
    assert out.count(REDACTED) == 2
    assert "pin 123 stays" in out  # shorter than 4 characters: not treated as a secret


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting to postgres://app:hunter2@db:5432/app", "hunter2"),
        ("GET /?a=1&access_token=abcdef123 HTTP/1.1", "abcdef123"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("curl -H 'Authorization: token ghp_abc123def456'", "ghp_abc123def456"),
        ("sending with Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("SLACK_BOT=xoxb-1234-5678-AbCdEfGh posted", "xoxb-1234-5678-AbCdEfGh"),
        ("aws id AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        ("POSTGRES_PASSWORD=hunter2 started", "hunter2"),
        ("export API_KEY='sk live 123'", "sk live 123"),
        ('{"password": "p\\"w1", "user": "app"}', 'p\\"w1'),
        ("Password: correct-horse", "correct-horse"),
        ("db.secret : s3cr3t-value", "s3cr3t-value"),
    ],
)
def test_secret_patterns(text: str, secret: str) -> None:
    out = redact_text(text)

    assert secret not in out
    assert REDACTED in out


def test_private_key_blocks_are_masked_whole() -> None:
    text = (
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmUAAAAE\n"
        "-----END OPENSSH PRIVATE KEY-----\ndone"
    )

    out = redact_text(text)

    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in out
    assert "AAAABG5vbmUAAAAE" not in out
    assert "-----BEGIN OPENSSH PRIVATE KEY-----" in out
    assert out.endswith("done")


def test_a_truncated_private_key_is_masked_to_the_end() -> None:
    out = redact_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA")

    assert "MIIEpAIBAAKCAQEA" not in out


def test_ordinary_text_is_unchanged() -> None:
    text = (
        "db-1  | LOG:  database system is ready to accept connections\n"
        "KEYBOARD=us host=db port=5432 http://db:8080/health?verbose=1 Authorization failed"
    )

    assert redact_text(text) == text


def test_redact_data_walks_lists_and_maps_and_masks_secret_labels() -> None:
    data: JSONData = {
        "labels": {"backup.s3_secret": "hunter22x", "com.docker.compose.project": "shop"},
        "hosts": [{"message": "postgres://a:hunter22x@db/x", "count": 3, "ok": True}],
        "password": 5,
    }

    out = redact_data(data, known_secrets=["neverthere"])

    assert out == {
        "labels": {"backup.s3_secret": REDACTED, "com.docker.compose.project": "shop"},
        "hosts": [{"message": "postgres://a:***@db/x", "count": 3, "ok": True}],
        "password": 5,
    }


class Sample(BaseModel):
    name: str
    labels: dict[str, str]


def test_redact_model_returns_the_same_type_redacted() -> None:
    model = Sample(name="uses hunter22x", labels={"API_TOKEN": "abc", "tier": "db"})

    out = redact_model(model, known_secrets=["hunter22x"])

    assert isinstance(out, Sample)
    assert out == Sample(name="uses ***", labels={"API_TOKEN": REDACTED, "tier": "db"})
    assert model.name == "uses hunter22x"  # the original is left alone


def test_a_secret_key_after_a_long_run_of_word_characters_is_still_masked() -> None:
    # a key is only looked for where no key character precedes it, so a long run is
    # scanned once from its start (linear time) and a long key still matches whole
    long_key = "A" * 300 + "_PASSWORD=hunter22"
    assert redact_text(long_key) == "A" * 300 + "_PASSWORD=***"
    token = "a1" * 25_000
    assert redact_text(f"{token} DB_PASSWORD: 'x y'") == f"{token} DB_PASSWORD: '***'"
    assert redact_text("9PASSWORD=hunter22") == "9PASSWORD=***"
