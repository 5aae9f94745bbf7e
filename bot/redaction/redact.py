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
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel

from bot.redaction import patterns as catalogue

REDACTED = "***"
MIN_SECRET_LENGTH = 4

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def _words(name: str) -> list[str]:
    spaced = _CAMEL_BOUNDARY.sub("_", name)
    return [word.upper() for word in _WORD_SEPARATORS.split(spaced) if word]


@lru_cache(maxsize=4096)  # pure; the same few keys recur in every log and report
def is_secret_key(name: str) -> bool:
    """Whether a key name (env variable, label, config key) looks like it holds a secret.

    ``DB_PASSWORD``, ``apiKey``, ``GITHUB_TOKEN``, ``AWS_ACCESS_KEY_ID`` do;
    ``primary_key``, ``max_tokens``, ``token_count``, ``password_policy``,
    ``POSTGRES_PASSWORD_FILE``, ``KEYBOARD`` do not. The vocabulary, and the order
    in which it is consulted, is in ``bot.redaction.patterns``.
    """
    words = _words(name)
    if not words or name.upper() in catalogue.NOT_SECRET_NAMES:
        return False
    if any(tuple(words[-len(end) :]) == end for end in catalogue.SECRET_ENDINGS):
        return True
    if len(words) > 1 and words[-1] in catalogue.DESCRIPTOR_SUFFIXES:
        return False
    if words[0] in catalogue.NEGATING_FIRST_WORDS or any(
        word in catalogue.NEGATING_WORDS for word in words
    ):
        return False
    if "TOKENS" in words and any(word in catalogue.TOKEN_QUANTITY_WORDS for word in words):
        return False
    for index, word in enumerate(words):
        if word not in catalogue.FRAGMENT_EXCEPTIONS and any(
            fragment in word for fragment in catalogue.SECRET_FRAGMENTS
        ):
            return True
        if word in catalogue.SECRET_WORDS:
            qualified = word in {"KEY", "KEYS"} and index > 0
            if qualified and words[index - 1] in catalogue.KEY_QUALIFIERS:
                continue
            return True
    return False


def _is_secret_query_key(key: str) -> bool:
    return key.lower() in catalogue.SECRET_QUERY_KEYS or is_secret_key(key)


_AUTH_SCHEMES = frozenset(
    {"bearer", "basic", "token", "bot", "digest", "negotiate", "geniekey", "flyv1", "sso-key"}
)
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_BLOCK_INDICATOR = re.compile(r"[|>][-+0-9]{0,3}")


def _says_nothing(value: str) -> bool:
    """A value that holds no secret: empty, already masked, a boolean or null, an
    authentication scheme or a word of prose, a ``${VARIABLE}`` reference, or a
    YAML block-scalar indicator."""
    value = value.strip()
    word = value.rstrip(")]}.,;:!").lower()  # one word only: "wrong horse battery" is masked
    return (
        not value
        or value.endswith(REDACTED)  # "Bearer ***" after the header rule
        or word in catalogue.PLACEHOLDER_VALUES
        or word in _AUTH_SCHEMES  # "Authorization: Bearer" with the token elsewhere
        or word in catalogue.PROSE_WORDS  # "secret: not found", "password: incorrect"
        or _REFERENCE.fullmatch(value) is not None
        or _BLOCK_INDICATOR.fullmatch(value) is not None
    )


def _is_prose(value: str) -> bool:
    return value.lower().strip("\"'.,;:") in catalogue.PROSE_WORDS


# --- the rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One named redaction rule: ``apply`` returns its text with matches masked."""

    name: str
    family: str
    apply: Callable[[str], str]


def _sub(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> Callable[[str], str]:
    return lambda text: pattern.sub(replace, text)


def _mask_group(group: str = "value") -> Callable[[re.Match[str]], str]:
    """Mask group ``group`` of a match, keeping the rest."""

    def replace(match: re.Match[str]) -> str:
        start, end = match.span(group)
        if start < 0 or _says_nothing(match[group]):
            return match[0]
        offset = match.start()
        whole = match[0]
        return whole[: start - offset] + REDACTED + whole[end - offset :]

    return replace


# PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), masked whole; a
# block cut short is masked to the end of the text.
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----"
    r".*?(?:-----END (?P=kind)-----|\Z)",
    re.DOTALL,
)


def _mask_pem(match: re.Match[str]) -> str:
    kind = match["kind"]
    return f"-----BEGIN {kind}-----\n{REDACTED}\n-----END {kind}-----"


_PUTTY_KEY = re.compile(
    r"Private-Lines:[ \t]*[0-9]{1,4}[ \t]*\r?\n(?P<value>(?:[A-Za-z0-9+/=]++\r?\n?)++)"
)

# ``private_key: |`` or ``password: >-`` followed by more-indented lines.
_YAML_BLOCK_HEAD = re.compile(
    r"^(?P<indent>[ \t]*(?:-[ \t]+)?)(?P<kq>[\"']?)(?P<key>[A-Za-z0-9_][A-Za-z0-9_.-]*+)(?P=kq)"
    r"[ \t]*:[ \t]*[|>][-+0-9]{0,3}[ \t]*(?:#[^\n]*)?$",
    re.MULTILINE,
)


def _mask_yaml_blocks(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for match in _YAML_BLOCK_HEAD.finditer(text):
        if match.start() < done or not is_secret_key(match["key"]):
            continue
        key_indent = len(match["indent"])
        body_end = scan = match.end()
        while scan < len(text) and text[scan] == "\n":
            newline = text.find("\n", scan + 1)
            line_end = len(text) if newline < 0 else newline
            line = text[scan + 1 : line_end]
            scan = line_end
            if not line.strip():
                continue
            if len(line) - len(line.lstrip(" \t")) <= key_indent:
                break
            body_end = line_end
        if body_end == match.end():
            continue
        pieces += [text[done : match.end()], "\n", " " * (key_indent + 2), REDACTED]
        done = body_end
    return "".join(pieces) + text[done:] if pieces else text


# <password>x</password>, <ns:client-secret attr="1">x</ns:client-secret>
_XML_ELEMENT = re.compile(
    r"<(?P<tag>[A-Za-z_][A-Za-z0-9_.:-]*+)(?:[ \t][^<>]*)?>(?P<value>[^<]+)</(?P=tag)[ \t]*>"
)


def _mask_xml_element(match: re.Match[str]) -> str:
    if not is_secret_key(match["tag"].rpartition(":")[2]):
        return match[0]
    return _mask_group()(match)


# <add key="DbPassword" value="x"/>, <property name="password" value="x"/>
_XML_NAME_VALUE = re.compile(
    r"\b(?:key|name)[ \t]*=[ \t]*(?P<q>[\"'])(?P<key>[^\"'<>\n]{1,128})(?P=q)[ \t]+"
    r"value[ \t]*=[ \t]*(?P<q2>[\"'])(?P<value>[^\"'\n]*)(?P=q2)"
)


def _mask_named_value(match: re.Match[str]) -> str:
    return _mask_group()(match) if is_secret_key(match["key"]) else match[0]


# Kubernetes, ECS and CloudFormation environments: a name, then its value.
_YAML_NAME_VALUE = re.compile(
    r"^[ \t]*(?:-[ \t]+)?name:[ \t]*[\"']?(?P<key>[A-Za-z0-9_.-]{1,128})[\"']?[ \t]*\r?\n"
    r"[ \t]*value:[ \t]*(?P<value>[^\r\n]+)",
    re.MULTILINE,
)
_JSON_NAME_VALUE = re.compile(
    r"\"name\"[ \t]*:[ \t]*\"(?P<key>[^\"\\\n]{1,128})\"[ \t]*,[ \t\r\n]*"
    r"\"value\"[ \t]*:[ \t]*\"(?P<value>(?:[^\"\\\n]|\\.)*+)\"",
    re.IGNORECASE,
)

_URL_USERINFO = re.compile(
    r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*+://[^\s/?#@:]*+):"
    r"(?P<password>[^\s/?#]*)@"
)


def _mask_userinfo(match: re.Match[str]) -> str:
    return f"{match['head']}:{REDACTED}@"


_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token|bot|digest|negotiate|geniekey|flyv1|sso-key)\s+)?)"
    r"(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)


def _mask_authorization(match: re.Match[str]) -> str:
    value = match["value"]
    if value.lower() in _AUTH_SCHEMES or _is_prose(value):
        return match[0]
    return _mask_group()(match)


_COOKIE_HEADER = re.compile(
    r"(?<![A-Za-z0-9_-])(?:set-)?cookie[ \t]*:[ \t]*(?P<value>[^\r\n\"']+)", re.IGNORECASE
)
_BEARER = re.compile(r"\bbearer\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)


def _mask_bearer(match: re.Match[str]) -> str:
    return match[0] if _is_prose(match["value"]) else _mask_group()(match)


_TOKENS = catalogue.TokenScanner()


def _mask_tokens(text: str) -> str:
    return _TOKENS.mask(text, REDACTED)


# host:port:database:user:password, a whole line (database and user are "*" or have a letter)
_PGPASS_LINE = re.compile(
    r"^[ \t]*[^\s:#][^\s:]*+:(?:[0-9]{1,5}|\*):(?:\*|(?=[^\s:]*[A-Za-z_])[^\s:]++):"
    r"(?:\*|(?=[^\s:]*[A-Za-z_])[^\s:]++):(?P<value>\S+)[ \t]*$",
    re.MULTILINE,
)
# machine host login user password secret (one line or several)
_NETRC = re.compile(
    r"\b(?:machine[ \t\r\n]+\S+|default(?=[ \t\r\n]+(?:login|account)\b))"
    r"(?:[ \t\r\n]+(?:login|account|port)[ \t\r\n]+\S+)*[ \t\r\n]+password[ \t\r\n]+(?P<value>\S+)"
)
# CREATE USER … PASSWORD 'x', IDENTIFIED BY 'x', IDENTIFIED WITH plugin BY 'x'
_SQL_PASSWORD = re.compile(
    r"\b(?:password|identified(?:[ \t]+with[ \t]+\w+)?[ \t]+by)[ \t]+"
    r"(?:'(?P<sq>(?:[^'\n]|'')*+)'|\"(?P<dq>[^\"\n]*+)\")",
    re.IGNORECASE,
)


def _mask_sql_password(match: re.Match[str]) -> str:
    return _mask_group("sq" if match["sq"] is not None else "dq")(match)


# redis.conf, keepalived, bitcoind: a directive followed by the secret
_CONFIG_DIRECTIVE = re.compile(
    r"^[ \t]*(?:requirepass|masterauth|masterpass|auth_pass|rpcpassword)[ \t]+(?P<value>\S+)",
    re.MULTILINE,
)
# Dockerfile's legacy ``ENV NAME value`` form
_DOCKERFILE_ENV = re.compile(
    r"(?<![A-Za-z0-9_.-])ENV[ \t]+(?P<key>[A-Za-z_][A-Za-z0-9_]*+)[ \t]+(?P<value>[^\r\n=]+)"
)


def _mask_dockerfile_env(match: re.Match[str]) -> str:
    return _mask_group()(match) if is_secret_key(match["key"]) else match[0]


# A private JSON Web Key's members: {"kty":"RSA",…,"d":"…","p":"…"}
_JWK_PRIVATE = re.compile(r"\"(?:d|p|q|dp|dq|qi|k)\"[ \t]*:[ \t]*\"(?P<value>[A-Za-z0-9_-]{16,})\"")

_QUERY_PAIR = re.compile(r"[?&;](?P<key>[A-Za-z0-9_.\-\[\]]++)=(?P<value>[^&;#\s\"']*)")


def _mask_query_pair(match: re.Match[str]) -> str:
    return _mask_group()(match) if _is_secret_query_key(match["key"]) else match[0]


# --password X, --password=X, -storepass X, --client-secret "x y"
_FLAG = re.compile(
    r"(?<![A-Za-z0-9_.-])--?(?P<key>[A-Za-z][A-Za-z0-9_-]*+)(?:[ \t]+|=)"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'-][^\s\"']*)"
)
_FLAG_STOPWORDS = frozenset(
    {"to", "or", "and", "is", "the", "a", "instead", "with", "for", "flag", "option", "was"}
)
_BUILDKIT_SECRET_SPEC = re.compile(r"[\"']?(?:id|src|source|type|env|required)=")


def _mask_flag(match: re.Match[str]) -> str:
    key, value = match["key"], match["value"]
    if not is_secret_key(key) or value.lower() in _FLAG_STOPWORDS:
        return match[0]
    if key.lower() == "secret" and _BUILDKIT_SECRET_SPEC.match(value):
        return match[0]  # docker build --secret id=npmrc,src=.npmrc: a spec, not the secret
    return _mask_group()(match)


# Short password flags, only after the commands that mean a password by them
# (``-p`` is a port for ssh, docker run and psql).
_SHORT_FLAGS: tuple[tuple[str, str], ...] = (
    (r"mysql[a-z_-]*+|mariadb[a-z_-]*+", r"(?<=\s)-p(?P<value>[^\s-]\S*)"),
    (r"mongo(?:sh|dump|restore|import|export)?", r"(?<=\s)-p[ \t]*(?P<value>[^\s-]\S*)"),
    (
        r"(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane)[ \t]+(?:registry[ \t]+)?login",
        r"(?<=\s)-p[ \t]*(?P<value>[^\s-]\S*)",
    ),
    (r"sshpass", r"(?<=\s)-p[ \t]*(?P<value>[^\s-]\S*)"),
    (r"redis-cli", r"(?<=\s)-a[ \t]*(?P<value>[^\s-]\S*)"),
    (r"ldap(?:search|add|modify|delete|whoami|passwd)", r"(?<=\s)-w[ \t]*(?P<value>[^\s-]\S*)"),
    (r"curl", r"(?:(?<=\s)-u[ \t]*|--user[ \t=]+)[\"']?[^\s:\"']*:(?P<value>[^\s\"']+)"),
    (r"smbclient|rpcclient", r"(?<=\s)-U[ \t]*[^\s%]+%(?P<value>\S+)"),
)
_COMMAND = re.compile(
    r"(?<![A-Za-z0-9_.-])(?:"
    + "|".join(f"(?P<c{i}>{command})" for i, (command, _) in enumerate(_SHORT_FLAGS))
    + r")(?![A-Za-z0-9_-])"
)
_COMMAND_FLAGS = {f"c{i}": re.compile(flag) for i, (_, flag) in enumerate(_SHORT_FLAGS)}


def _mask_short_flags(text: str) -> str:
    commands = list(_COMMAND.finditer(text))
    if not commands:
        return text
    pieces: list[str] = []
    done = 0
    for index, match in enumerate(commands):
        stop = commands[index + 1].start() if index + 1 < len(commands) else len(text)
        newline = text.find("\n", match.end(), stop)
        stop = stop if newline < 0 else newline
        flags = _COMMAND_FLAGS[match.lastgroup or ""]
        segment = flags.sub(_mask_group(), text[match.end() : stop])
        pieces += [text[done : match.end()], segment]
        done = stop
    return "".join(pieces) + text[done:]


# key=value, KEY: value, "key": "value", 'key' => 'value', {\"key\":\"value\"}: the
# head is found first; the value is read only when the key looks secret, so the value
# of an ordinary key is still searched for keys (``--from-literal=password=x``,
# ``"DefaultEndpointsProtocol=https;AccountKey=…"``).
_KEY_HEAD = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<kq>\\?[\"']?)(?P<key>[A-Za-z0-9_][A-Za-z0-9_.-]*+)(?P=kq)"
    r"(?P<sep>[ \t]*(?:=>|:=|\?=|\+=|[=:])[ \t]*)"
)
_VALUE = re.compile(
    r"\"(?P<dq>(?:[^\"\\\n]|\\.)*+)\""
    r"|'(?P<sq>[^'\n]*+)'"
    r"|\\\"(?P<edq>[^\"\\\n]*+)\\\""
    r"|[\"'](?P<open>[^\"'\n]++)$"
    r"|(?P<bare>[^\s,;&\"']++)",
    re.MULTILINE,
)
_LINE_REST = re.compile(r"[^\r\n]*")
_TRAILING_COMMENT = re.compile(r"\s+#.*$|\s+$")
_LINE_LEAD = re.compile(r"[ \t]*(?:-[ \t]+|export[ \t]+)?")


def _at_line_start(text: str, start: int) -> bool:
    window = text[max(0, start - 64) : start]
    newline = window.rfind("\n")
    if newline < 0 and start > 64:
        return False
    return _LINE_LEAD.fullmatch(window[newline + 1 :]) is not None


def _secret_value_span(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """Where the value after a secret key's head is, or None if it says nothing."""
    start = match.end()
    value = _VALUE.match(text, start)
    if value is None:
        return None
    group = value.lastgroup or "bare"
    span = value.span(group)
    if group == "bare":
        if value[group][0] in "{[(":
            return None  # a nested structure: its own keys are searched
        # At the start of a line, "Password: x y" (YAML, headers) and "password = x y"
        # (INI) run to the end of the line (less a " # comment"); "PGPASSWORD=x cmd"
        # and "token=x more" keep shell meaning: the value ends at the first blank.
        sep = match["sep"]
        spaced = sep.strip() != sep
        if (":" in sep or spaced) and _at_line_start(text, match.start()):
            rest = _LINE_REST.match(text, start)
            end = start + len(_TRAILING_COMMENT.sub("", rest[0] if rest else ""))
            span = (start, max(end, span[1]))
    if _says_nothing(text[span[0] : span[1]]):
        return None
    return span


def _mask_key_values(text: str) -> str:
    pieces: list[str] = []
    done = 0
    pos = 0
    while True:
        match = _KEY_HEAD.search(text, pos)
        if match is None:
            break
        pos = match.end()
        if not is_secret_key(match["key"]):
            continue
        span = _secret_value_span(text, match)
        if span is None:
            continue
        pieces += [text[done : span[0]], REDACTED]
        done = pos = span[1]
    return "".join(pieces) + text[done:] if pieces else text


_RULES: tuple[Rule, ...] = (
    Rule("private-key-block", "private-keys", _sub(_PEM_BLOCK, _mask_pem)),
    Rule("putty-private-key", "private-keys", _sub(_PUTTY_KEY, _mask_group())),
    Rule("yaml-block-scalar", "structured-config", _mask_yaml_blocks),
    Rule("xml-element", "structured-config", _sub(_XML_ELEMENT, _mask_xml_element)),
    Rule("xml-name-value", "structured-config", _sub(_XML_NAME_VALUE, _mask_named_value)),
    Rule("yaml-name-value", "structured-config", _sub(_YAML_NAME_VALUE, _mask_named_value)),
    Rule("json-name-value", "structured-config", _sub(_JSON_NAME_VALUE, _mask_named_value)),
    Rule("url-userinfo", "urls", _sub(_URL_USERINFO, _mask_userinfo)),
    Rule("authorization-header", "http-headers", _sub(_AUTHORIZATION, _mask_authorization)),
    Rule("cookie-header", "http-headers", _sub(_COOKIE_HEADER, _mask_group())),
    Rule("bearer-token", "http-headers", _sub(_BEARER, _mask_bearer)),
    Rule("provider-tokens", "tokens (see redact_patterns.TOKENS)", _mask_tokens),
    Rule("pgpass-line", "credential-files", _sub(_PGPASS_LINE, _mask_group())),
    Rule("netrc-entry", "credential-files", _sub(_NETRC, _mask_group())),
    Rule("sql-password", "credential-files", _sub(_SQL_PASSWORD, _mask_sql_password)),
    Rule("config-directive", "credential-files", _sub(_CONFIG_DIRECTIVE, _mask_group())),
    Rule("dockerfile-env", "structured-config", _sub(_DOCKERFILE_ENV, _mask_dockerfile_env)),
    Rule("jwk-private-member", "private-keys", _sub(_JWK_PRIVATE, _mask_group())),
    Rule("query-secret", "urls", _sub(_QUERY_PAIR, _mask_query_pair)),
    Rule("command-flag", "command-lines", _sub(_FLAG, _mask_flag)),
    Rule("command-short-flag", "command-lines", _mask_short_flags),
    Rule("key-value", "structured-config", _mask_key_values),
)


def catalogue_rules() -> list[tuple[str, str]]:
    """(name, family) of every rule, tokens included, in the order they are applied."""
    rules = [(rule.name, rule.family) for rule in _RULES if rule.name != "provider-tokens"]
    return rules + [(token.name, token.family) for token in catalogue.TOKENS]


def _redact_query(query: str) -> str:
    return _QUERY_PAIR.sub(_mask_query_pair, "&" + query)[1:] if query else query


def redact_url(url: str) -> str:
    """``url`` with its password, secret query values and tokens in its path masked.

    ``postgres://app:s3cret@db:5432/app?sslpassword=x`` becomes
    ``postgres://app:***@db:5432/app?sslpassword=***``;
    ``https://hooks.slack.com/services/T0/B0/XXXX`` becomes
    ``https://hooks.slack.com/services/***``. Text that is not a URL is returned
    unchanged.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. a malformed IPv6 host: fall back to patterns
        return _mask_tokens(_URL_USERINFO.sub(_mask_userinfo, url))
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}"
    query = _redact_query(parts.query)
    if netloc != parts.netloc or query != parts.query:
        url = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return _mask_tokens(url)


def redact_env(mapping: Mapping[str, str]) -> dict[str, str]:
    """A copy of an environment or label map with secrets masked.

    Values of secret-looking keys become ``***`` (empty values stay empty, which
    is itself worth knowing, as do booleans and ``${VARIABLE}`` references); every
    other value goes through ``redact_text``, so a ``DATABASE_URL`` keeps its host
    but loses its password.
    """
    return {key: _redact_env_value(key, value) for key, value in mapping.items()}


def _is_secret_entry(key: str, value: str) -> bool:
    return is_secret_key(key) and not _says_nothing(value)


def _redact_env_value(key: str, value: str) -> str:
    return REDACTED if _is_secret_entry(key, value) else redact_text(value)


def _known_variants(known_secrets: Iterable[str]) -> list[str]:
    variants: set[str] = set()
    for secret in known_secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        variants.add(secret)
        variants.add(quote(secret, safe=""))  # as it appears inside a URL
    return sorted(variants, key=len, reverse=True)


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets masked as ``***``.

    Masks every occurrence of each known secret value (at least four characters;
    shorter ones would mask ordinary words), then applies each rule of the
    catalogue in turn (``catalogue_rules()``): private key blocks, YAML block
    scalars and XML elements under secret keys, URL passwords and secret query
    values, ``Authorization``/``Cookie`` headers and ``Bearer`` tokens, about a
    hundred self-identifying token formats (``bot.redaction.patterns.TOKENS``),
    ``.pgpass``/``.netrc``/SQL/config-file passwords, command-line password flags,
    and ``key=value`` / ``KEY: value`` pairs whose key looks secret. Self-identifying
    tokens keep their prefix (``ghp_***``) so a reader still sees what was there.
    """
    for secret in _known_variants(known_secrets):
        text = text.replace(secret, REDACTED)
    for rule in _RULES:
        text = rule.apply(text)
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
            if keyed and isinstance(value, str) and _is_secret_entry(key, value):
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
