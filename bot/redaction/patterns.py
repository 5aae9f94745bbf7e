"""The catalogue of secret formats that ``bot.redaction.redact`` recognises by their shape.

Two tables live here, both plain data:

- ``TOKENS``: credentials that carry their own recognisable shape (a vendor
  prefix such as ``ghp_`` or ``sk-ant-``, a fixed structure such as a JWT or a
  bcrypt hash). Each entry has a name, a family, a ``prefix`` (a regex for the
  non-secret lead shown before ``***``, so a reader still sees *which* kind of
  credential was there) and a ``body`` (the secret part). ``TokenScanner`` finds
  them all in one pass.
- the key-name vocabulary that ``bot.redaction.redact.is_secret_key`` uses to decide
  whether ``NAME=value`` holds a secret.

Every body is bounded or anchored by a literal prefix, and every match starts
only where no word character precedes it, so scanning stays linear in the
length of the text (no start position inside a long run is tried twice).

The context-dependent rules (``password=…``, ``--password …``, URLs, headers,
XML, YAML block scalars, ``.pgpass``/``.netrc`` lines, PEM blocks, …) need code
beside their regex and are in ``bot.redaction.redact._RULES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """One self-identifying credential format."""

    name: str
    family: str
    prefix: str  # regex of the lead that is kept (no capturing groups); may be ""
    body: str  # regex of the secret part (no capturing groups)
    starts: str = ""  # the characters a match can start with; "" for prefix's literal first

    def first_characters(self) -> str:
        """The characters a match can start with (``starts``, or the prefix's first)."""
        if self.starts:
            return self.starts
        lead = self.prefix[:2]
        if not lead or lead[0] in _REGEX_SPECIAL or lead[1:] in ("?", "*"):
            raise ValueError(f"token {self.name}: the prefix does not start with a literal")
        return lead[0]


_REGEX_SPECIAL = "\\[](){}.^$*+?|"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HEX = "0123456789abcdef"


_CRYPT = r"[./A-Za-z0-9]"
_D = r"\$\$?"  # a crypt "$", or "$$" as written in a Compose file

TOKENS: tuple[Token, ...] = (
    # --- source hosts ------------------------------------------------------------
    Token("github-classic-pat", "source-hosts", "ghp_", "[A-Za-z0-9]{36,251}"),
    Token("github-oauth-token", "source-hosts", "gho_", "[A-Za-z0-9]{36,251}"),
    Token("github-user-to-server", "source-hosts", "ghu_", "[A-Za-z0-9]{36,251}"),
    Token("github-server-to-server", "source-hosts", "ghs_", "[A-Za-z0-9]{36,251}"),
    Token("github-refresh-token", "source-hosts", "ghr_", "[A-Za-z0-9]{36,251}"),
    Token("github-fine-grained-pat", "source-hosts", "github_pat_", "[A-Za-z0-9_]{22,255}"),
    Token("gitlab-pat", "source-hosts", "glpat-", "[A-Za-z0-9_.-]{20,255}"),
    Token(
        "gitlab-other-token",
        "source-hosts",
        "gl(?:ptt|rt|dt|cbt|soat|ffct|imt|agent|oas|ft|wt)-",
        "[A-Za-z0-9_.-]{20,255}",
    ),
    Token("gitlab-runner-registration", "source-hosts", "GR1348941", "[A-Za-z0-9_-]{20,255}"),
    Token("bitbucket-app-password", "source-hosts", "ATBB", "[A-Za-z0-9_=.-]{28,255}"),
    Token("atlassian-api-token", "source-hosts", "ATATT3", "[A-Za-z0-9_=.-]{50,400}"),
    # --- payments ----------------------------------------------------------------
    Token(
        "stripe-style-secret-key",
        "payments",
        "(?:sk|rk)_(?:live|test)_",
        "[A-Za-z0-9]{10,255}",
        starts="sr",
    ),
    Token("stripe-webhook-secret", "payments", "whsec_", "[A-Za-z0-9+/=]{24,255}"),
    Token(
        "square-access-token", "payments", "(?:EAAA|sq0atp-)", "[A-Za-z0-9_-]{22,255}", starts="Es"
    ),
    Token("square-oauth-secret", "payments", "sq0csp-", "[A-Za-z0-9_-]{40,255}"),
    Token(
        "braintree-access-token",
        "payments",
        r"access_token\$(?:production|sandbox)\$",
        r"[a-z0-9]{16}\$[a-f0-9]{32}",
    ),
    Token("flutterwave-secret-key", "payments", "FLWSECK(?:_TEST)?-", "[A-Za-z0-9]{32}-X"),
    Token("shopify-token", "payments", "shp(?:at|ca|pa|ss)_", "[a-fA-F0-9]{32}"),
    Token(
        "plaid-access-token",
        "payments",
        "access-(?:sandbox|development|production)-",
        "[0-9a-f]{8}-[0-9a-f-]{27}",
    ),
    # --- AI providers --------------------------------------------------------------
    Token("anthropic-api-key", "ai-providers", "sk-ant-", "[A-Za-z0-9_-]{20,255}"),
    Token(
        "openai-project-key", "ai-providers", "sk-(?:proj|svcacct|admin)-", "[A-Za-z0-9_-]{20,255}"
    ),
    Token("openrouter-api-key", "ai-providers", "sk-or-v1-", "[a-f0-9]{32,255}"),
    Token("openai-style-key", "ai-providers", "sk-", "[A-Za-z0-9]{32,255}"),
    Token("huggingface-token", "ai-providers", "hf_", "[A-Za-z0-9]{30,255}"),
    Token("huggingface-org-token", "ai-providers", "api_org_", "[A-Za-z0-9]{30,255}"),
    Token("groq-api-key", "ai-providers", "gsk_", "[A-Za-z0-9]{40,255}"),
    Token("replicate-api-token", "ai-providers", "r8_", "[A-Za-z0-9]{30,255}"),
    Token("perplexity-api-key", "ai-providers", "pplx-", "[A-Za-z0-9]{40,255}"),
    Token("xai-api-key", "ai-providers", "xai-", "[A-Za-z0-9]{60,255}"),
    Token("langsmith-api-key", "ai-providers", "lsv2_(?:pt|sk)_", "[a-f0-9]{32}_[a-f0-9]{10}"),
    # --- secret stores and infrastructure-as-code ------------------------------------
    Token("vault-token", "secret-stores", r"hv[sbr]\.", "[A-Za-z0-9_-]{20,255}"),
    Token(
        "vault-legacy-token",
        "secret-stores",
        r"[sb]\.",
        # 24 base62 characters with all three classes: not an abbreviation or a host name
        "(?=[A-Za-z0-9]{0,23}[0-9])(?=[A-Za-z0-9]{0,23}[A-Z])(?=[A-Za-z0-9]{0,23}[a-z])"
        "[A-Za-z0-9]{24}(?![A-Za-z0-9])",
        starts="sb",
    ),
    Token(
        "doppler-token",
        "secret-stores",
        r"dp\.(?:pt|st|sa|scim|audit|ct)\.",
        "[A-Za-z0-9_.-]{30,255}",
    ),
    Token("1password-service-account", "secret-stores", "ops_", "eyJ[A-Za-z0-9+/=_-]{50,2000}"),
    Token("age-secret-key", "secret-stores", "AGE-SECRET-KEY-1", "[0-9A-Z]{58}"),
    Token("pulumi-access-token", "secret-stores", "pul-", "[a-f0-9]{40}"),
    Token(
        "terraform-cloud-token",
        "secret-stores",
        "",
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,120}",
        starts=_ALNUM,
    ),
    # --- package registries ----------------------------------------------------------
    Token("npm-token", "package-registries", "npm_", "[A-Za-z0-9]{36,255}"),
    Token("pypi-token", "package-registries", "pypi-", "AgE[A-Za-z0-9_-]{50,1000}"),
    Token("rubygems-api-key", "package-registries", "rubygems_", "[a-f0-9]{48}"),
    Token("nuget-api-key", "package-registries", "oy2", "[a-z0-9]{43}(?![a-z0-9])"),
    Token("docker-hub-token", "package-registries", "dckr_(?:pat|oat)_", "[A-Za-z0-9_-]{20,255}"),
    Token("jfrog-api-key", "package-registries", "AKCp", "[A-Za-z0-9]{60,255}"),
    Token("jfrog-reference-token", "package-registries", "cmVmdGtu", "OjAxOj[A-Za-z0-9]{40,255}"),
    Token("clojars-token", "package-registries", "CLOJARS_", "[a-z0-9]{60}"),
    Token("postman-api-key", "package-registries", "PMAK-", "[a-f0-9]{24}-[a-f0-9]{34}"),
    # --- chat, webhooks, e-mail and SaaS APIs -----------------------------------------
    Token(
        "slack-token", "chat-and-webhooks", r"xox(?:e\.xox[bp]|[abeoprs])-", "[A-Za-z0-9-]{10,255}"
    ),
    Token("slack-app-token", "chat-and-webhooks", "xapp-", "[A-Za-z0-9-]{10,255}"),
    Token(
        "slack-webhook",
        "chat-and-webhooks",
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/",
        "[A-Za-z0-9/_+-]{10,255}",
    ),
    Token(
        "discord-webhook",
        "chat-and-webhooks",
        r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/",
        "[0-9]{5,30}/[A-Za-z0-9_-]{20,255}",
    ),
    Token(
        "discord-bot-token",
        "chat-and-webhooks",
        "",
        "[MNO][A-Za-z0-9_-]{23,27}\\.[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27,40}",
        starts="MNO",
    ),
    Token(
        "telegram-bot-token",
        "chat-and-webhooks",
        "",
        "(?:bot)?[0-9]{6,12}:AA[A-Za-z0-9_-]{30,40}",
        starts="b0123456789",
    ),
    Token(
        "teams-webhook",
        "chat-and-webhooks",
        r"https?://[a-z0-9.-]{1,100}\.webhook\.office\.com/webhookb2/",
        "[^\\s\"'<>]{20,600}",
    ),
    Token(
        "outlook-webhook",
        "chat-and-webhooks",
        r"https?://outlook\.office(?:365)?\.com/webhook/",
        "[^\\s\"'<>]{20,600}",
    ),
    Token(
        "zapier-webhook",
        "chat-and-webhooks",
        r"https?://hooks\.zapier\.com/hooks/catch/",
        "[0-9]{1,20}/[A-Za-z0-9]{4,64}",
    ),
    Token("twilio-api-key", "chat-and-webhooks", "SK", "[0-9a-fA-F]{32}(?![0-9a-zA-Z])"),
    Token(
        "sendgrid-api-key",
        "chat-and-webhooks",
        r"SG\.",
        "[A-Za-z0-9_-]{16,32}\\.[A-Za-z0-9_-]{16,64}",
    ),
    Token("mailgun-api-key", "chat-and-webhooks", "key-", "[a-f0-9]{32}(?![a-zA-Z0-9])"),
    Token(
        "mailgun-private-key",
        "chat-and-webhooks",
        "",
        "[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8}(?![a-zA-Z0-9-])",
        starts=_HEX,
    ),
    Token(
        "mailchimp-api-key",
        "chat-and-webhooks",
        "",
        "[a-f0-9]{32}-us[0-9]{1,2}(?![0-9])",
        starts=_HEX,
    ),
    Token(
        "brevo-api-key", "chat-and-webhooks", "x(?:keysib|smtpsib)-", "[a-f0-9]{64}-[A-Za-z0-9]{16}"
    ),
    Token("newrelic-key", "chat-and-webhooks", "NR(?:AK|II|RA)-", "[A-Z0-9]{27}"),
    Token("sentry-token", "chat-and-webhooks", "sntry[su]_", "[A-Za-z0-9+/=_-]{40,1000}"),
    Token("grafana-cloud-token", "chat-and-webhooks", "glc_", "[A-Za-z0-9+/]{32,400}={0,2}"),
    Token(
        "grafana-service-account", "chat-and-webhooks", "glsa_", "[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"
    ),
    Token("linear-api-key", "chat-and-webhooks", "lin_(?:api|oauth)_", "[A-Za-z0-9]{40}"),
    Token(
        "notion-token",
        "chat-and-webhooks",
        "(?:secret_|ntn_)",
        "[A-Za-z0-9]{43,46}(?![A-Za-z0-9])",
        starts="sn",
    ),
    Token("airtable-pat", "chat-and-webhooks", "pat", "[A-Za-z0-9]{14}\\.[a-f0-9]{64}"),
    Token("figma-token", "chat-and-webhooks", "figd_", "[A-Za-z0-9_-]{40,255}"),
    Token("contentful-pat", "chat-and-webhooks", "CFPAT-", "[A-Za-z0-9_-]{43}"),
    Token(
        "databricks-token", "chat-and-webhooks", "dapi", "[a-f0-9]{32}(?:-[0-9])?(?![a-zA-Z0-9])"
    ),
    Token("buildkite-token", "chat-and-webhooks", "bkua_", "[a-f0-9]{40}"),
    Token(
        "tailscale-key",
        "chat-and-webhooks",
        "tskey-(?:auth|api|client|scim|webhook)-",
        "[A-Za-z0-9-]{20,255}",
    ),
    Token(
        "twitter-bearer-token",
        "chat-and-webhooks",
        "A{21}",
        "(?=[A-Za-z0-9%]{0,254}[a-z])(?=[A-Za-z0-9%]{0,254}[0-9%])[A-Za-z0-9%]{30,255}",
    ),
    Token("dropbox-token", "chat-and-webhooks", r"sl\.", "[A-Za-z0-9_.-]{130,1500}"),
    Token("facebook-access-token", "chat-and-webhooks", "EAA", "[A-Za-z0-9]{90,1000}"),
    Token(
        "mapbox-secret-token",
        "chat-and-webhooks",
        r"sk\.",
        "eyJ[A-Za-z0-9_-]{20,500}\\.[A-Za-z0-9_-]{20,100}",
    ),
    # --- cloud providers ---------------------------------------------------------------
    Token(
        # an access key id followed by its secret (CSV export, `aws configure list`, …)
        "aws-key-pair",
        "cloud",
        "(?:AKIA|ASIA)",
        "[A-Z0-9]{16}[\\s,:;|\"']{1,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        starts="A",
    ),
    Token(
        "aws-access-key-id",
        "cloud",
        "(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])",
        "[A-Z0-9]{16}(?![A-Za-z0-9])",
        starts="A",
    ),
    Token(
        "aws-session-token",
        "cloud",
        "",
        "(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+=]{100,4000}",
        starts="IF",
    ),
    Token("google-api-key", "cloud", "AIza", "[0-9A-Za-z_-]{35}"),
    Token("google-oauth-client-secret", "cloud", "GOCSPX-", "[A-Za-z0-9_-]{28}"),
    Token("google-oauth-access-token", "cloud", r"ya29\.", "[A-Za-z0-9_-]{20,2000}"),
    Token("google-refresh-token", "cloud", "1//0", "[A-Za-z0-9_-]{40,500}"),
    Token(
        "azure-ad-client-secret",
        "cloud",
        "",
        "[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
        starts=_ALNUM + "_~.",
    ),
    Token("digitalocean-token", "cloud", "do[opr]_v1_", "[a-f0-9]{64}"),
    Token("heroku-api-key", "cloud", "HRKU-", "[A-Za-z0-9_-]{20,255}"),
    Token("cloudflare-origin-ca-key", "cloud", r"v1\.0-", "[a-f0-9]{24}-[a-f0-9]{146}"),
    Token("alibaba-access-key-id", "cloud", "LTAI", "[A-Za-z0-9]{12,20}(?![A-Za-z0-9])"),
    Token("fly-token", "cloud", "(?:fo1_|fm[12][ar]?_)", "[A-Za-z0-9+/=_-]{30,4000}", starts="f"),
    Token("netlify-token", "cloud", "nfp_", "[A-Za-z0-9]{36,255}"),
    Token("supabase-token", "cloud", "(?:sbp_|sb_secret_)", "[A-Za-z0-9_-]{20,255}", starts="s"),
    Token("render-api-key", "cloud", "rnd_", "[A-Za-z0-9]{20,255}"),
    Token("planetscale-token", "cloud", "pscale_(?:tkn|pw|oauth)_", "[A-Za-z0-9_.-]{32,64}"),
    # --- signed tokens -----------------------------------------------------------------
    Token(
        "jwt",
        "signed-tokens",
        "",
        "eyJ[A-Za-z0-9_-]{5,4000}\\.eyJ[A-Za-z0-9_-]{2,8000}\\.[A-Za-z0-9_-]{0,2000}",
        starts="e",
    ),
    # --- password hashes (htpasswd, shadow, LDAP, PostgreSQL, MySQL) ------------------
    Token(
        "bcrypt-hash", "password-hashes", f"{_D}2[abxy]?{_D}[0-9]{{2}}{_D}", f"{_CRYPT}{{53}}", "$"
    ),
    Token(
        "md5-crypt-hash",
        "password-hashes",
        f"{_D}(?:apr1|1){_D}",
        f"{_CRYPT}{{1,8}}{_D}{_CRYPT}{{22}}",
        starts="$",
    ),
    Token(
        "sha-crypt-hash",
        "password-hashes",
        f"{_D}[56]{_D}",
        f"(?:rounds=[0-9]{{1,9}}{_D})?{_CRYPT}{{1,16}}{_D}{_CRYPT}{{43,86}}",
        starts="$",
    ),
    Token(
        "yescrypt-hash",
        "password-hashes",
        f"{_D}y{_D}",
        f"{_CRYPT}{{1,20}}{_D}{_CRYPT}{{1,40}}{_D}{_CRYPT}{{43}}",
        starts="$",
    ),
    Token(
        "argon2-hash",
        "password-hashes",
        f"{_D}argon2(?:id|i|d){_D}",
        f"v=[0-9]+{_D}m=[0-9]+,t=[0-9]+,p=[0-9]+{_D}[A-Za-z0-9+/]{{8,200}}{_D}[A-Za-z0-9+/]{{16,200}}",
        starts="$",
    ),
    Token(
        "ldap-sha-hash",
        "password-hashes",
        r"\{S?SHA(?:256|512)?\}",
        "[A-Za-z0-9+/]{20,200}={0,2}",
        "{",
    ),
    Token(
        "postgres-scram-hash",
        "password-hashes",
        r"SCRAM-SHA-256\$",
        r"[0-9]{1,9}:[A-Za-z0-9+/=]{8,100}\$[A-Za-z0-9+/=]{20,100}:[A-Za-z0-9+/=]{20,100}",
    ),
    Token("postgres-md5-hash", "password-hashes", "md5", "[a-f0-9]{32}(?![a-zA-Z0-9])"),
    Token("mysql-native-hash", "password-hashes", r"\*", "[A-F0-9]{40}(?![A-Za-z0-9])", "*"),
)

# Where a token may start: not inside a run of word characters, dashes or dots, so
# a long run is scanned from its start only (linear time).
_TOKEN_START = r"(?<![A-Za-z0-9_.-])"  # noqa: S105 - a regex, not a password


class TokenScanner:
    """Finds ``TOKENS`` in text in one pass, linear in its length.

    Candidate starts are found first (a character that some token starts with,
    not preceded by a word character, dash or dot); at each, only the tokens that
    can start with that character are tried, in catalogue order.
    """

    def __init__(self, tokens: tuple[Token, ...] = TOKENS) -> None:
        by_first: dict[str, list[tuple[int, Token]]] = {}
        for index, token in enumerate(tokens):
            for char in token.first_characters():
                by_first.setdefault(char, []).append((index, token))
        self._tokens = tokens
        self._candidates = re.compile(
            _TOKEN_START + "[" + re.escape("".join(sorted(by_first))) + "]"
        )
        self._at: dict[str, re.Pattern[str]] = {
            char: re.compile(
                "|".join(f"(?P<t{i}>(?P<t{i}p>{t.prefix}){t.body})" for i, t in entries)
            )
            for char, entries in by_first.items()
        }

    def spans(self, text: str) -> list[tuple[int, int, int, Token]]:
        """(start, end of the kept prefix, end, token) of each token, left to right."""
        found: list[tuple[int, int, int, Token]] = []
        done = 0
        for candidate in self._candidates.finditer(text):
            start = candidate.start()
            if start < done:
                continue
            match = self._at[text[start]].match(text, start)
            if match is None or match.lastgroup is None:
                continue
            index = int(match.lastgroup[1:])
            found.append(
                (start, match.end(match.lastgroup + "p"), match.end(), self._tokens[index])
            )
            done = match.end()
        return found

    def mask(self, text: str, mask: str) -> str:
        """``text`` with each token's secret part replaced by ``mask``."""
        pieces: list[str] = []
        done = 0
        for _, kept, end, _ in self.spans(text):
            pieces += [text[done:kept], mask]
            done = end
        return "".join(pieces) + text[done:] if pieces else text


# --- key names ---------------------------------------------------------------------
# ``is_secret_key`` splits a name into upper-case words (``dbPassword`` → DB PASSWORD,
# ``backup.s3-secret`` → BACKUP S3 SECRET) and then asks, in this order:

# 1. Does it end like a name that is a secret although its last word describes?
#    (``AWS_ACCESS_KEY_ID`` by convention; Vault AppRole's ``secret_id`` is one.)
SECRET_ENDINGS: tuple[tuple[str, ...], ...] = (("ACCESS", "KEY", "ID"), ("SECRET", "ID"))

# 2. Is the last word one that describes the secret rather than holds it?
#    (``POSTGRES_PASSWORD_FILE``, ``token_count``, ``password_policy``, ``key_id``)
DESCRIPTOR_SUFFIXES = frozenset(
    {
        "FILE", "FILES", "PATH", "DIR", "NAME", "NAMES", "ID", "IDS", "REF", "ARN", "URL",
        "URI", "ENDPOINT", "HOST", "PORT", "COUNT", "COUNTS", "NUM", "TYPE", "TYPES", "KIND",
        "SIZE", "LENGTH", "LEN", "BITS", "ROUNDS", "POLICY", "POLICIES", "RULES", "TTL",
        "EXPIRY", "EXPIRES", "EXPIRATION", "EXPIRED", "AGE", "LIFETIME", "TIMEOUT", "ALGORITHM",
        "ALG", "FORMAT", "ENCODING", "VERSION", "ENABLED", "DISABLED", "REQUIRED", "STDIN",
        "FINGERPRINT", "PROMPT", "HINT", "FIELD", "PARAM", "LIMIT", "MIN", "MAX", "USED",
        "REMAINING", "BUDGET", "MODE", "METHOD", "SCHEME", "STRATEGY", "PROVIDER", "BACKEND",
        "STORE", "ENGINE", "MANAGER", "MOUNT", "SCOPE", "SCOPES", "AUDIENCE", "ISSUER",
        "PREFIX", "SUFFIX", "DOMAIN", "SECURE", "SAMESITE", "HTTPONLY", "LOCATION", "AT",
        "CREATED", "UPDATED", "ROTATED", "ROTATION", "STRENGTH", "COMPLEXITY", "LABEL",
    }
)  # fmt: skip

# 3. Does it start with (or contain) a word that makes it a switch about a secret?
#    (``NO_PASSWORD``, ``ask-vault-pass``, ``ALLOW_EMPTY_PASSWORD``)
NEGATING_FIRST_WORDS = frozenset({"NO", "ASK", "SKIP", "REQUIRE", "REQUIRES", "ENABLE", "DISABLE"})
NEGATING_WORDS = frozenset({"ALLOW", "ASK"})

# 4. Is it a count of language-model tokens? (``max_tokens``, ``input_tokens``)
TOKEN_QUANTITY_WORDS = frozenset(
    {
        "MAX", "MIN", "NUM", "TOTAL", "INPUT", "OUTPUT", "PROMPT", "COMPLETION", "USED",
        "REMAINING", "LIMIT", "COUNT", "BUDGET", "CACHED", "REASONING", "NEW",
    }
)  # fmt: skip

# 5. Does a word contain one of these? (``PGPASSWORD``, ``MYSECRET``, ``GITHUB_TOKEN``)
SECRET_FRAGMENTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PASSPHRASE")
# … unless the word is one of these.
FRAGMENT_EXCEPTIONS = frozenset(
    {
        "TOKENIZER", "TOKENIZERS", "TOKENIZE", "TOKENIZED", "TOKENIZATION", "TOKENISER",
        "TOKENISE", "SECRETARY", "SECRETARIES", "PASSWORDLESS", "TOKENS",
    }
)  # fmt: skip

# 6. Is a word one of these whole words? (``API_KEY`` but not ``KEYBOARD`` or ``MONKEY``;
#    ``AUTH_HEADER`` but not ``AUTHOR``)
SECRET_WORDS = frozenset(
    {
        "KEY", "KEYS", "APIKEY", "ACCESSKEY", "PRIVATEKEY", "SECRETKEY", "AUTHKEY", "MASTERKEY",
        "LICENSEKEY", "CLIENTKEY", "SIGNINGKEY", "ENCRYPTIONKEY", "AUTH", "OAUTH",
        "AUTHORIZATION", "DSN", "PASS", "PWD", "CREDS", "COOKIE", "SALT", "SIGNATURE",
        "STOREPASS", "KEYPASS", "SRCSTOREPASS", "DESTSTOREPASS", "SRCKEYPASS", "DESTKEYPASS",
        "PASSIN", "PASSOUT", "TOKENS",
    }
)  # fmt: skip
# … but ``KEY`` after one of these names a database or cache key, or a public one.
KEY_QUALIFIERS = frozenset(
    {
        "PUBLIC", "PRIMARY", "FOREIGN", "SORT", "CACHE", "PARTITION", "HASH", "RANGE", "SHARD",
        "ROW", "INDEX", "UNIQUE", "COMPOSITE", "COMPOUND", "LOOKUP", "IDEMPOTENCY", "DEDUP",
        "DEDUPE", "DEDUPLICATION", "GROUP", "MAP", "DICT", "OBJECT", "LOCK", "CONFIG",
        "SETTING", "SETTINGS", "TRANSLATION", "MESSAGE", "LABEL", "TAG", "HOT", "SHORTCUT",
        "NATURAL", "SURROGATE", "CANDIDATE", "ENTRY", "RECORD", "ITEM", "FIELD", "ROUTING",
        "DISTRIBUTION", "CLUSTERING", "SEARCH", "REDIS", "S3", "BUCKET", "CONTEXT", "DICTIONARY",
    }
)  # fmt: skip

# Names that are never secret whatever their words say.
NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories

# Query-string keys that hold signatures although they are no secret-looking word.
SECRET_QUERY_KEYS = frozenset({"sig", "signature", "hmac", "sas"})

# After ``Bearer``, in an ``Authorization:`` value, or as the first word of a secret
# key's value, these are prose, not a secret: "Bearer authentication required",
# "secret: not found", "password: incorrect".
PROSE_WORDS = frozenset(
    {
        "authentication", "authorization", "authorisation", "authenticate", "authenticated",
        "credentials", "credential", "required", "realm", "scheme", "schemes", "token",
        "tokens", "header", "headers", "challenge", "missing", "invalid", "expired", "format",
        "failed", "rejected", "denied", "error", "none", "null", "undefined", "redacted",
        "not", "is", "was", "must", "unset", "empty", "incorrect", "wrong",
    }
)  # fmt: skip

# Values that say nothing secret: booleans, nulls, block-scalar indicators handled elsewhere.
PLACEHOLDER_VALUES = frozenset(
    {
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "none",
        "nil",
        "~",
        "<redacted>",
        "redacted",
    }
)
