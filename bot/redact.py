"""Secret redaction: the one place every output surface goes through.

Slack messages, the terminal, JSON output, logs and the audit trail show what
these functions return, never the raw text. All of them are pure: they take
text or data and return a redacted copy.

- ``is_secret_key(name)``: does an environment variable, label or config key
  name look like it holds a secret (``DB_PASSWORD``, ``apiKey``, ``SLACK_TOKEN``)?
- ``redact_url(url)``: the URL with its password (and secret query values) masked.
- ``redact_env(mapping)``: a copy of an environment or label map, secrets masked.
- ``redact_text(text, known_secrets)``: free text (logs, command output, error
  messages) with known secret values and secret-looking patterns masked.
- ``redact_data(data)`` / ``redact_model(model)``: the same applied to every
  string of JSON-shaped data or of a pydantic model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel

REDACTED = "***"
MIN_SECRET_LENGTH = 4

# Words that mark a key as secret wherever they appear inside a word
# (``PGPASSWORD``, ``MYSECRET``, ``GITHUB_TOKEN``).
_SECRET_FRAGMENTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PASSPHRASE")
# Words that mark a key as secret only as a whole word (``API_KEY`` but not
# ``KEYBOARD`` or ``MONKEY``; ``AUTH_HEADER`` but not ``AUTHOR``).
_SECRET_WORDS = frozenset(
    {
        "KEY",
        "KEYS",
        "APIKEY",
        "ACCESSKEY",
        "PRIVATEKEY",
        "AUTH",
        "OAUTH",
        "AUTHORIZATION",
        "PRIVATE",
        "DSN",
        "PASS",
        "PWD",
        "CREDS",
        "COOKIE",
        "SALT",
        "SIGNATURE",
    }
)
# A key whose last word is one of these names where a secret is, not the secret
# itself (``POSTGRES_PASSWORD_FILE=/run/secrets/db``): showing it helps diagnosis.
_REFERENCE_SUFFIXES = frozenset({"FILE", "PATH", "DIR", "NAME"})
# ``PWD`` alone is the shell's working directory, not a password.
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END (?P=kind)-----|\Z)",
    re.DOTALL,
)
_URL_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*):(?P<password>[^\s/?#]*)@"
)
_QUERY_PAIR = re.compile(r"(?P<head>[?&;](?P<key>[A-Za-z0-9_.\-\[\]]+)=)(?P<value>[^&;#\s\"']*)")
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token|bot|digest|negotiate)\s+)?)(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_SLACK_TOKEN = re.compile(r"\bxox[baprs]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# The key is at most 128 characters: unbounded, every position of a long run of word
# characters (a token, a base64 blob) would scan to the run's end (quadratic; 50,000
# characters took 30 s). A longer key still matches by its last 128 characters.
_KEY_VALUE = re.compile(
    r"(?P<head>(?P<kq>[\"']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,127})(?P=kq)[ \t]*[=:][ \t]*)"
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\.)*)\"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,;&\"']+))"
)
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "bot", "digest", "negotiate"})


def _words(name: str) -> list[str]:
    spaced = _CAMEL_BOUNDARY.sub("_", name)
    return [word.upper() for word in _WORD_SEPARATORS.split(spaced) if word]


def is_secret_key(name: str) -> bool:
    """Whether a key name (env variable, label, config key) looks like it holds a secret."""
    words = _words(name)
    if not words or name.upper() in _NOT_SECRET:
        return False
    if len(words) > 1 and words[-1] in _REFERENCE_SUFFIXES:
        return False
    joined = "".join(words)
    if any(fragment in joined for fragment in _SECRET_FRAGMENTS):
        return True
    return any(word in _SECRET_WORDS for word in words)


def _redact_query(query: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["value"] and is_secret_key(match["key"]):
            return match["head"] + REDACTED
        return match[0]

    return _QUERY_PAIR.sub(replace, "&" + query)[1:] if query else query


def redact_url(url: str) -> str:
    """``url`` with its password and the values of secret-looking query keys masked.

    ``postgres://app:s3cret@db:5432/app?sslpassword=x`` becomes
    ``postgres://app:***@db:5432/app?sslpassword=***``. Text that is not a URL is
    returned unchanged.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. a malformed IPv6 host: fall back to patterns
        return _URL_USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}"
    query = _redact_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_env(mapping: Mapping[str, str]) -> dict[str, str]:
    """A copy of an environment or label map with secrets masked.

    Values of secret-looking keys become ``***`` (empty values stay empty, which
    is itself worth knowing); every other value goes through ``redact_text``, so
    a ``DATABASE_URL`` keeps its host but loses its password.
    """
    return {
        key: (REDACTED if value else value) if is_secret_key(key) else redact_text(value)
        for key, value in mapping.items()
    }


def _known_variants(known_secrets: Iterable[str]) -> list[str]:
    variants: set[str] = set()
    for secret in known_secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        variants.add(secret)
        variants.add(quote(secret, safe=""))  # as it appears inside a URL
    return sorted(variants, key=len, reverse=True)


def _mask_value(match: re.Match[str]) -> str:
    return match["head"] + REDACTED


def _mask_key_value(match: re.Match[str]) -> str:
    if not is_secret_key(match["key"]):
        return match[0]
    value = next((v for v in (match["dq"], match["sq"], match["bare"]) if v is not None), "")
    if not value or value == REDACTED or value.lower() in _AUTH_SCHEMES:
        return match[0]
    if match["dq"] is not None:
        return f'{match["head"]}"{REDACTED}"'
    if match["sq"] is not None:
        return f"{match['head']}'{REDACTED}'"
    return match["head"] + REDACTED


def _mask_pem(match: re.Match[str]) -> str:
    kind = match["kind"]
    return f"-----BEGIN {kind}-----\n{REDACTED}\n-----END {kind}-----"


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_PEM_BLOCK, _mask_pem),
    (_URL_USERINFO, lambda m: f"{m['head']}:{REDACTED}@"),
    (_AUTHORIZATION, _mask_value),
    (_BEARER, _mask_value),
    (_SLACK_TOKEN, lambda _m: REDACTED),
    (_AWS_KEY_ID, lambda _m: REDACTED),
    (_QUERY_PAIR, lambda m: _mask_value(m) if is_secret_key(m["key"]) and m["value"] else m[0]),
    (_KEY_VALUE, _mask_key_value),
)


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets masked as ``***``.

    Masks every occurrence of each known secret value (at least four characters;
    shorter ones would mask ordinary words), URL passwords, ``Authorization``
    headers and ``Bearer`` tokens, Slack tokens, AWS access key ids, PEM private
    key blocks, and ``key=value`` / ``KEY: value`` pairs whose key looks secret.
    """
    for secret in _known_variants(known_secrets):
        text = text.replace(secret, REDACTED)
    for pattern, replace in _PATTERNS:
        text = pattern.sub(replace, text)
    return text


JSONData: TypeAlias = bool | int | float | str | list["JSONData"] | dict[str, "JSONData"] | None

# Mappings under these keys are key → value maps of the outside world (labels,
# environments): a secret-looking key masks its value.
_KEYED_MAPS = frozenset({"labels", "env", "environment"})


def redact_data(data: JSONData, known_secrets: Iterable[str] = ()) -> JSONData:
    """JSON-shaped ``data`` with every string passed through ``redact_text``.

    Inside a mapping held under ``labels``, ``env`` or ``environment``, the
    string value of a secret-looking key is masked whole.
    """
    secrets = tuple(known_secrets)
    return _walk(data, secrets, keyed=False)


def _walk(data: JSONData, secrets: tuple[str, ...], *, keyed: bool) -> JSONData:
    if isinstance(data, str):
        return redact_text(data, secrets)
    if isinstance(data, list):
        return [_walk(item, secrets, keyed=False) for item in data]
    if isinstance(data, dict):
        out: dict[str, JSONData] = {}
        for key, value in data.items():
            if keyed and isinstance(value, str) and value and is_secret_key(key):
                out[key] = REDACTED
            else:
                out[key] = _walk(value, secrets, keyed=key in _KEYED_MAPS)
        return out
    return data


M = TypeVar("M", bound=BaseModel)


def redact_model(model: M, known_secrets: Iterable[str] = ()) -> M:
    """A copy of ``model`` (validated again) with every string redacted."""
    data = redact_data(model.model_dump(mode="json", exclude_computed_fields=True), known_secrets)
    return type(model).model_validate(data)
