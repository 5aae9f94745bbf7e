"""The redaction corpus: secret formats that must never come out, and look-alikes
that must come out unchanged, through every surface of ``bot.redaction.redact``.

Every secret is made here from a seeded generator (no real or well-known sample
credential is written down) so the values are fixed from run to run and nothing
in this file trips a secret scanner. Each case names the distinctive part of its
secret: the test asserts that part never appears in what a surface returns.

``test_corpus_counts`` is the one number to read: leaks must be 0, and false
masks at most 5 % of the look-alikes, each tolerated one named in
``TOLERATED_FALSE_MASKS``. SECURITY.md quotes these counts.
"""

from __future__ import annotations

import base64
import random
import re
import string
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from bot.redaction.patterns import TOKENS
from bot.redaction.redact import (
    JSONData,
    catalogue_rules,
    is_secret_key,
    redact_data,
    redact_env,
    redact_model,
    redact_text,
    redact_url,
)

_rng = random.Random(14)  # fixed fake values, not secrets

ALNUM = string.ascii_letters + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
CRYPT = ALNUM + "./"


def r(length: int, alphabet: str = ALNUM) -> str:
    """``length`` characters drawn from ``alphabet`` (seeded: the same every run)."""
    return "".join(_rng.choice(alphabet) for _ in range(length))


def uuid4() -> str:
    return f"{r(8, HEX)}-{r(4, HEX)}-4{r(3, HEX)}-a{r(3, HEX)}-{r(12, HEX)}"


@dataclass(frozen=True)
class Secret:
    name: str
    text: str  # the secret as it appears in evidence, a log line, a config file
    secret: str  # its distinctive part: must not appear in any redacted output


@dataclass(frozen=True)
class Harmless:
    name: str
    text: str  # must come out of every surface unchanged


def _s(name: str, template: str, secret: str) -> Secret:
    return Secret(name, template.replace("{}", secret), secret)


# --- secret formats -------------------------------------------------------------------
SECRETS: list[Secret] = [
    # source hosts
    _s("github-classic-pat", "remote: Invalid username or token ghp_{}", r(36)),
    _s("github-oauth-token", "GH_OAUTH=gho_{}", r(36)),
    _s("github-user-to-server", '{"token": "ghu_{}"}', r(36)),
    _s("github-server-to-server", "https://x-access-token:ghs_{}@github.com/o/r.git", r(36)),
    _s("github-refresh-token", "refresh=ghr_{}", r(76)),
    _s("github-fine-grained-pat", "github_pat_11AB{}", r(18) + "_" + r(59)),
    _s("gitlab-pat", 'curl --header "PRIVATE-TOKEN: glpat-{}" https://gitlab', r(20, B64URL)),
    _s("gitlab-trigger-token", "trigger with glptt-{}", r(40, HEX)),
    _s("gitlab-runner-token", "runner token glrt-{} registered", r(20, ALNUM)),
    _s("gitlab-deploy-token", "deploy token gldt-{}", r(20, ALNUM)),
    _s("gitlab-runner-registration", "register GR1348941{}", r(20, ALNUM)),
    _s("bitbucket-app-password", "BB_APP=ATBB{}", r(32, ALNUM)),
    _s("atlassian-api-token", "jira token ATATT3xFfGF0{}", r(180, B64URL)),
    # payments
    _s("stripe-live-secret-key", "Stripe error with sk_live_{}", r(99)),
    _s("stripe-restricted-key", "STRIPE=rk_live_{}", r(99)),
    _s("stripe-test-secret-key", "using sk_test_{}", r(24)),
    _s("stripe-webhook-secret", "signing secret whsec_{}", r(32)),
    _s("square-access-token", "square EAAA{}", r(60, B64URL)),
    _s("square-oauth-secret", "sq0csp-{}", r(43, B64URL)),
    _s(
        "braintree-access-token",
        "access_token$production${}",
        r(16, LOWER_DIGITS) + "$" + r(32, HEX),
    ),
    _s("flutterwave-secret-key", "FLWSECK-{}-X", r(32, HEX)),
    _s("shopify-admin-token", "X-Shopify-Access-Token shpat_{}", r(32, HEX)),
    _s("shopify-shared-secret", "shpss_{}", r(32, HEX)),
    _s("plaid-access-token", "plaid access-production-{}", uuid4()),
    # AI providers
    _s(
        "openai-legacy-key", "OpenAI: Incorrect API key provided: sk-{}", r(20) + "T3BlbkFJ" + r(20)
    ),
    _s("openai-project-key", "OPENAI=sk-proj-{}", r(120, B64URL)),
    _s("openai-service-account-key", "sk-svcacct-{}", r(60, B64URL)),
    _s("anthropic-api-key", "x-api-key sk-ant-api03-{}", r(93, B64URL) + "AA"),
    _s("anthropic-admin-key", "admin sk-ant-admin01-{}", r(93, B64URL)),
    _s("openrouter-api-key", "sk-or-v1-{}", r(64, HEX)),
    _s("deepseek-style-key", "DEEPSEEK=sk-{}", r(32, HEX)),
    _s("huggingface-token", "huggingface-cli login --token hf_{}", r(34)),
    _s("huggingface-org-token", "HF=api_org_{}", r(34)),
    _s("groq-api-key", "gsk_{}", r(52)),
    _s("replicate-api-token", "r8_{}", r(37)),
    _s("perplexity-api-key", "pplx-{}", r(48)),
    _s("xai-api-key", "xai-{}", r(80)),
    _s("langsmith-api-key", "lsv2_pt_{}", r(32, HEX) + "_" + r(10, HEX)),
    # secret stores
    _s("vault-service-token", "X-Vault-Token: hvs.{}", r(90, B64URL)),
    _s("vault-batch-token", "batch hvb.{}", r(100, B64URL)),
    _s("vault-legacy-token", "vault login s.{}", "Ab3" + r(21)),
    _s("doppler-personal-token", "doppler dp.pt.{}", r(43)),
    _s("doppler-service-token", "DOPPLER=dp.st.prd.{}", r(40)),
    _s("1password-service-account", "OP=ops_eyJ{}", r(200, B64)),
    _s("age-secret-key", "AGE-SECRET-KEY-1{}", r(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")),
    _s("pulumi-access-token", "pul-{}", r(40, HEX)),
    _s("terraform-cloud-token", "credentials {}", r(14) + ".atlasv1." + r(67, B64URL)),
    # package registries
    _s("npm-token", "//registry.npmjs.org/:_authToken=npm_{}", r(36)),
    _s("pypi-token", "uploading with pypi-AgEIcHlwaS5vcmc{}", r(70, B64URL)),
    _s("rubygems-api-key", "rubygems_{}", r(48, HEX)),
    _s("nuget-api-key", "dotnet nuget push -k oy2{}", r(43, LOWER_DIGITS)),
    _s("docker-hub-token", "dckr_pat_{}", r(27, B64URL)),
    _s("jfrog-api-key", "X-JFrog-Art-Api AKCp{}", r(69)),
    _s("jfrog-reference-token", "Bearer-less cmVmdGtuOjAxOj{}", r(50)),
    _s("clojars-token", "CLOJARS_{}", r(60, LOWER_DIGITS)),
    _s("postman-api-key", "PMAK-{}", r(24, HEX) + "-" + r(34, HEX)),
    # chat, webhooks, e-mail and SaaS APIs
    _s(
        "slack-bot-token",
        "SLACK_BOT=xoxb-{}",
        f"{r(12, string.digits)}-{r(13, string.digits)}-{r(24)}",
    ),
    _s(
        "slack-user-token", "xoxp-{}", f"{r(12, string.digits)}-{r(12, string.digits)}-{r(32, HEX)}"
    ),
    _s("slack-refresh-token", "xoxe.xoxp-1-{}", r(150, B64URL.replace("_", ""))),
    _s("slack-xoxe-token", "xoxe-1-{}", r(140, ALNUM + "-")),
    _s(
        "slack-app-token",
        "xapp-1-{}",
        f"A0{r(9, UPPER_DIGITS)}-{r(13, string.digits)}-{r(64, HEX)}",
    ),
    _s(
        "slack-webhook",
        "https://hooks.slack.com/services/{}",
        f"T{r(8, UPPER_DIGITS)}/B{r(10, UPPER_DIGITS)}/{r(24)}",
    ),
    _s(
        "slack-workflow-webhook",
        "https://hooks.slack.com/triggers/{}",
        f"T{r(8, UPPER_DIGITS)}/{r(13, string.digits)}/{r(32, HEX)}",
    ),
    _s(
        "discord-webhook",
        "https://discord.com/api/webhooks/{}",
        f"{r(18, string.digits)}/{r(68, B64URL)}",
    ),
    _s("discord-bot-token", "Bot token MT{}", r(24) + "." + r(6) + "." + r(38, B64URL)),
    _s(
        "telegram-bot-token",
        "https://api.telegram.org/bot{}/sendMessage",
        f"{r(10, string.digits)}:AA{r(33, B64URL)}",
    ),
    _s(
        "teams-webhook",
        "https://contoso.webhook.office.com/webhookb2/{}",
        f"{uuid4()}@{uuid4()}/IncomingWebhook/{r(32, HEX)}/{uuid4()}",
    ),
    _s(
        "outlook-webhook",
        "https://outlook.office.com/webhook/{}",
        f"{uuid4()}@{uuid4()}/IncomingWebhook/{r(32, HEX)}/{uuid4()}",
    ),
    _s(
        "zapier-webhook",
        "https://hooks.zapier.com/hooks/catch/{}/",
        f"{r(7, string.digits)}/{r(6, LOWER_DIGITS)}",
    ),
    _s("twilio-api-key", "twilio SK{}", r(32, HEX)),
    _s("sendgrid-api-key", "SG.{}", r(22, B64URL) + "." + r(43, B64URL)),
    _s("mailgun-api-key", "api:key-{}", r(32, HEX)),
    _s("mailgun-private-key", "mailgun {}", f"{r(32, HEX)}-{r(8, HEX)}-{r(8, HEX)}"),
    _s("mailchimp-api-key", "mailchimp {}-us21", r(32, HEX)),
    _s("brevo-api-key", "xkeysib-{}", r(64, HEX) + "-" + r(16)),
    _s("newrelic-user-key", "NRAK-{}", r(27, UPPER_DIGITS)),
    _s("sentry-org-token", "sntrys_eyJ{}", r(100, B64)),
    _s("grafana-cloud-token", "glc_{}", r(100, B64)),
    _s("grafana-service-account", "glsa_{}", r(32) + "_" + r(8, HEX)),
    _s("linear-api-key", "lin_api_{}", r(40)),
    _s("notion-token", "ntn_{}", r(11, string.digits) + r(35)),
    _s("airtable-pat", "pat{}", r(14) + "." + r(64, HEX)),
    _s("figma-token", "figd_{}", r(40, B64URL)),
    _s("databricks-token", "dapi{}", r(32, HEX)),
    _s("buildkite-token", "bkua_{}", r(40, HEX)),
    _s("contentful-pat", "CFPAT-{}", r(43, B64URL)),
    _s("tailscale-auth-key", "tskey-auth-{}", f"{r(11)}CNTRL-{r(33)}"),
    _s("twitter-bearer-token", "AAAAAAAAAAAAAAAAAAAAA{}", f"{r(20)}%2B{r(40)}"),
    _s("dropbox-token", "sl.{}", r(140, B64URL)),
    _s("facebook-access-token", "fb EAAG{}", r(180)),
    _s("mapbox-secret-token", "sk.eyJ1Ijoi{}", r(40) + "." + r(22, B64URL)),
    # cloud providers
    _s("aws-access-key-id", "aws id AKIA{} used", r(16, UPPER_DIGITS)),
    _s("aws-sts-key-id", "ASIA{}", r(16, UPPER_DIGITS)),
    _s("aws-key-pair-csv", "AKIA" + r(16, UPPER_DIGITS) + ",{}", r(40, B64)),
    _s("aws-secret-ini", "aws_secret_access_key = {}", r(40, B64)),
    _s("aws-session-token", "sts returned FwoGZXIvYXdz{}", r(300, B64)),
    _s(
        "google-api-key",
        "https://maps.googleapis.com/maps/api/geocode/json?address=x&key=AIza{}",
        r(35, B64URL),
    ),
    _s("google-oauth-client-secret", "GOCSPX-{}", r(28, B64URL)),
    _s("google-oauth-access-token", "ya29.{}", r(150, B64URL)),
    _s("google-refresh-token", "refresh: 1//0{}", r(100, B64URL)),
    _s(
        "azure-storage-connection-string",
        '"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={}==;EndpointSuffix=core.windows.net"',
        r(86, B64),
    ),
    _s(
        "azure-sas-url",
        "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&se=2030-01-01&sig={}%3D",
        r(43, ALNUM),
    ),
    _s("azure-ad-client-secret", "client secret {}", r(3) + "8Q~" + r(34)),
    _s(
        "azure-service-bus",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={}=",
        r(43, B64),
    ),
    _s("digitalocean-token", "dop_v1_{}", r(64, HEX)),
    _s("heroku-api-key", "HRKU-AA{}", r(58, B64URL)),
    _s("heroku-legacy-key-env", "HEROKU_API_KEY={}", uuid4()),
    _s("cloudflare-origin-ca-key", "v1.0-{}", r(24, HEX) + "-" + r(146, HEX)),
    _s("cloudflare-api-token-env", "CLOUDFLARE_API_TOKEN={}", r(40, B64URL)),
    _s("alibaba-access-key-id", "LTAI{}", r(20)),
    _s("fly-token", "Authorization: FlyV1 fm2_{}", r(200, B64)),
    _s("netlify-token", "nfp_{}", r(36)),
    _s("supabase-token", "sbp_{}", r(40, HEX)),
    _s("render-api-key", "rnd_{}", r(32)),
    _s("planetscale-token", "pscale_tkn_{}", r(43)),
    _s("datadog-api-key-env", "DD_API_KEY={}", r(32, HEX)),
    _s("hetzner-token-env", "HCLOUD_TOKEN={}", r(64)),
    # signed tokens
    _s(
        "jwt-bare",
        "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}",
        r(60, B64URL) + "." + r(43, B64URL),
    ),
    _s(
        "jwt-in-json",
        '{"serviceAccountToken":"eyJhbGciOiJSUzI1NiJ9.eyJ{}"}',
        r(120, B64URL) + "." + r(86, B64URL),
    ),
    _s(
        "jwt-in-cookie",
        "Cookie: session={}; theme=dark",
        "eyJhbGciOiJIUzI1NiJ9.eyJ" + r(40, B64URL) + "." + r(43, B64URL),
    ),
    # password hashes
    _s("htpasswd-apr1", "admin:$apr1${}", r(8, CRYPT) + "$" + r(22, CRYPT)),
    _s("htpasswd-bcrypt", "admin:$2y$05${}", r(53, CRYPT)),
    _s("htpasswd-sha", "admin:{SHA}{}=", r(27, B64)),
    _s(
        "traefik-basicauth-label",
        "traefik.http.middlewares.auth.basicauth.users=admin:$$apr1$${}",
        r(8, CRYPT) + "$$" + r(22, CRYPT),
    ),
    _s("shadow-sha512", "app:$6${}:19700:0:99999:7:::", r(16, CRYPT) + "$" + r(86, CRYPT)),
    _s("shadow-yescrypt", "app:$y$j9T${}:19700:0:99999:7:::", r(22, CRYPT) + "$" + r(43, CRYPT)),
    _s("argon2-hash", "$argon2id$v=19$m=65536,t=3,p=4${}", r(22, B64) + "$" + r(43, B64)),
    _s(
        "postgres-scram-verifier",
        "SCRAM-SHA-256$4096:{}",
        f"{r(24, B64)}${r(44, B64)}:{r(44, B64)}",
    ),
    _s("postgres-md5-verifier", '"app" "md5{}"', r(32, HEX)),
    _s("mysql-native-hash", "authentication_string: *{}", r(40, "0123456789ABCDEF")),
    # private keys and key material
    _s(
        "pem-rsa-private-key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpA{}\n-----END RSA PRIVATE KEY-----",
        r(64, B64),
    ),
    _s(
        "pem-openssh-private-key",
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl{}\n"
        "-----END OPENSSH PRIVATE KEY-----\ndone",
        r(70, B64),
    ),
    _s(
        "pem-encrypted-pkcs8",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----",
        r(64, B64),
    ),
    _s(
        "pem-pgp-private-key-block",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQdG{}\n-----END PGP PRIVATE KEY BLOCK-----",
        r(64, B64),
    ),
    _s(
        "pem-escaped-in-json",
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE{}\\n-----END PRIVATE KEY-----\\n"}',
        r(64, B64),
    ),
    _s("pem-truncated", "-----BEGIN EC PRIVATE KEY-----\nMHcC{}", r(40, B64)),
    _s(
        "putty-private-key",
        "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\n{}\nPrivate-MAC: 00ff",
        r(44, B64),
    ),
    _s("jwk-private-exponent", '{"kty":"RSA","e":"AQAB","d":"{}"}', r(86, B64URL)),
    _s(
        "yaml-block-private-key",
        "tls:\n  private_key: |\n    {}\n    MIIB\n  cert_file: /etc/tls.crt",
        r(64, B64),
    ),
    _s("yaml-folded-password", "db:\n  password: >-\n    {}\n  host: db", r(16)),
    # command lines
    _s("cli-long-password-flag", "backup-tool login --password {} --user bob", r(14)),
    _s("cli-long-password-equals", "docker login --password={} registry.example.com", r(14)),
    _s("cli-token-flag", "kubectl --token {} get pods", r(40, B64URL)),
    _s("cli-quoted-client-secret", "az login --client-secret '{}' --tenant t", r(10) + " " + r(8)),
    _s("mysql-attached-p", "mysql -uroot -p{} shop", r(12)),
    _s("mysqldump-quoted-p", "mysqldump -u root -p'{}' --all-databases", r(12)),
    _s("docker-login-p", "docker login -u bob -p {} registry.example.com", r(16)),
    _s("redis-cli-a", "redis-cli -h cache -a {} ping", r(16)),
    _s("sshpass-p", "sshpass -p {} ssh deploy@host", r(12)),
    _s("curl-user-colon", "curl -u admin:{} https://api.example.com/", r(12)),
    _s("ldapsearch-w", "ldapsearch -x -D cn=admin,dc=example,dc=org -w {} -b dc=example", r(12)),
    _s("smbclient-user-percent", "smbclient //fs/share -U bob%{}", r(12)),
    _s("mongosh-p", "mongosh -u admin -p {} --authenticationDatabase admin", r(12)),
    _s("pgpassword-prefix", "PGPASSWORD={} psql -h db -U app", r(12)),
    _s("mysql-pwd-prefix", "MYSQL_PWD={} mysqldump app", r(12)),
    _s(
        "kubectl-from-literal", "kubectl create secret generic db --from-literal=password={}", r(12)
    ),
    _s("keytool-storepass", "keytool -list -keystore app.jks -storepass {}", r(12)),
    _s("openssl-passin", "openssl rsa -in key.pem -passin pass:{}", r(12)),
    _s("docker-run-env", "docker run -e POSTGRES_PASSWORD={} postgres:16", r(12)),
    # credential files
    _s("pgpass-line", "db.internal:5432:shop:app:{}", r(16)),
    _s("pgpass-wildcards", "*:*:*:replicator:{}", r(16)),
    _s("netrc-one-line", "machine api.github.com login bob password {}", r(16)),
    _s("netrc-multiline", "machine registry.example.com\n  login deploy\n  password {}\n", r(16)),
    _s("sql-create-user", "CREATE USER app WITH PASSWORD '{}';", r(16)),
    _s("sql-identified-by", "ALTER USER 'app'@'%' IDENTIFIED BY '{}';", r(16)),
    _s("redis-conf-requirepass", "requirepass {}", r(16)),
    # structured config
    _s("xml-password-element", "<password>{}</password>", r(16)),
    _s("xml-namespaced-secret", "<ns:clientSecret>{}</ns:clientSecret>", r(16)),
    _s(
        "maven-settings-server",
        "<server><id>nexus</id><username>deploy</username><password>{}</password></server>",
        r(16),
    ),
    _s("dotnet-add-key-value", '<add key="DbPassword" value="{}" />', r(16)),
    _s("spring-properties", "spring.datasource.password={}", r(16)),
    _s("ini-spaced-value", "password = {}", "correct horse " + r(12)),
    _s("yaml-plain-value", "  password: {}", r(16)),
    _s("yaml-quoted-value", 'password: "{}"', r(16)),
    _s("yaml-spaced-value", "smtp_password: {} # prod", "two words " + r(8)),
    _s("passphrase-of-prose-words", "passphrase: {}", "wrong horse " + r(8)),
    _s("json-password", '{"user": "app", "password": "{}"}', r(16)),
    _s("json-escaped-in-log", '{"log":"{\\"db_password\\":\\"{}\\"}"}', r(16)),
    _s("python-repr", "{'api_key': '{}'}", r(16)),
    _s("php-array", "'password' => '{}',", r(16)),
    _s("toml-token", 'token = "{}"', r(16)),
    _s("makefile-assign", "API_TOKEN := {}", r(16)),
    _s("dockerfile-env-space", "ENV DB_PASSWORD {}", r(16)),
    _s("compose-environment-list", "    environment:\n      - POSTGRES_PASSWORD={}", r(16)),
    _s("k8s-env-name-value", 'env:\n  - name: DB_PASSWORD\n    value: "{}"', r(16)),
    _s("ecs-json-name-value", '[{"name": "API_SECRET", "value": "{}"}]', r(16)),
    _s("docker-inspect-env", '"Env": ["PATH=/usr/bin", "POSTGRES_PASSWORD={}"]', r(16)),
    _s(
        "docker-config-auth",
        '{"auths": {"ghcr.io": {"auth": "{}"}}}',
        base64.b64encode(r(20).encode()).decode(),
    ),
    _s("npmrc-auth", "_auth={}", base64.b64encode(r(20).encode()).decode()),
    _s("env-secret-key-base", "SECRET_KEY_BASE={}", r(128, HEX)),
    _s("env-client-secret", "OAUTH2_PROXY_CLIENT_SECRET={}", r(32)),
    _s("env-encryption-key", "ENCRYPTION_KEY={}", r(44, B64)),
    _s("label-secret", "com.example.backup.s3-secret={}", r(24)),
    _s("webhook-secret-env", "GITHUB_WEBHOOK_SECRET={}", r(32)),
    # URLs
    _s("url-basic-auth", "https://deploy:{}@registry.example.com/v2/", r(16)),
    _s(
        "url-mongodb-srv",
        "mongodb+srv://app:{}@cluster0.abcde.mongodb.net/?retryWrites=true",
        r(16),
    ),
    _s("url-amqp", "amqp://guest:{}@rabbit:5672/", r(16)),
    _s("url-redis-env", "REDIS_URL=redis://:{}@cache:6379/0", r(16)),
    _s("url-sentry-dsn-env", "SENTRY_DSN=https://{}@o1.ingest.sentry.io/1", r(32, HEX)),
    _s(
        "s3-presigned-url",
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={}",
        r(64, HEX),
    ),
    _s(
        "s3-presigned-session-token",
        "https://b.s3.amazonaws.com/k?X-Amz-Security-Token={}&X-Amz-Date=1",
        r(200, ALNUM),
    ),
    _s(
        "gcs-signed-url",
        "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={}",
        r(512, HEX),
    ),
    _s("query-token", "https://grafana.example.com/d/abc?orgId=1&token={}", r(24)),
    _s("query-access-token", "GET /callback?access_token={}&state=xyz HTTP/1.1", r(24)),
    _s("query-sig", "https://cdn.example.com/f.mp4?expires=1700000000&sig={}", r(32, HEX)),
    # HTTP headers
    _s("authorization-bearer", "Authorization: Bearer {}", r(40, B64URL)),
    _s(
        "authorization-basic",
        "Authorization: Basic {}",
        base64.b64encode(f"bob:{r(12)}".encode()).decode(),
    ),
    _s("authorization-in-json", '"Authorization": "Bearer {}"', r(40)),
    _s(
        "authorization-in-curl",
        "curl -H 'Authorization: Bearer {}' https://api",
        r(24) + "." + r(8),
    ),
    _s(
        "proxy-authorization",
        "Proxy-Authorization: Basic {}",
        base64.b64encode(f"p:{r(12)}".encode()).decode(),
    ),
    _s("bearer-in-log", "retrying request with bearer {}", r(32)),
    _s("x-api-key-header", "X-API-Key: {}", r(32)),
    _s("cookie-header", "Cookie: sessionid={}; csrftoken=abc", r(32)),
    _s("set-cookie-header", "Set-Cookie: session={}; Path=/; HttpOnly", r(32)),
]

# --- harmless look-alikes ---------------------------------------------------------------
HARMLESS: list[Harmless] = [
    # key names with a secret-looking word
    Harmless("primary-key", "primary_key: id"),
    Harmless("token-count", "token_count: 1532"),
    Harmless("max-tokens", "max_tokens: 4096"),
    Harmless("cache-key", "cache_key: user:42:profile"),
    Harmless("public-key", "public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx bob@host"),
    Harmless("password-policy", "password_policy: strict"),
    Harmless("sort-key", "sort_key: created_at"),
    Harmless("key-id", "key_id: 1234abcd-12ab-34cd-56ef-1234567890ab"),
    Harmless("foreign-key", "foreign_key: orders.customer_id"),
    Harmless("partition-key", "partition_key: tenant_id"),
    Harmless(
        "llm-usage", '"usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}'
    ),
    Harmless("input-output-tokens", "input_tokens=1200 output_tokens=350"),
    Harmless("max-completion-tokens", "maxCompletionTokens: 800"),
    Harmless("tokens-used", "tokens_used=5321"),
    Harmless("oauth-token-type", '{"token_type": "Bearer", "expires_in": 3600}'),
    Harmless("password-file", "POSTGRES_PASSWORD_FILE=/run/secrets/db_password"),
    Harmless("allow-empty-password", "MYSQL_ALLOW_EMPTY_PASSWORD=yes"),
    Harmless("random-root-password", "MYSQL_RANDOM_ROOT_PASSWORD=yes"),
    Harmless("compose-interpolation", "password: ${POSTGRES_PASSWORD}"),
    Harmless("tokenizer", "tokenizer: cl100k_base"),
    Harmless("secret-name", "secret_name: prod/db"),
    Harmless("keyboard", "KEYBOARD=us"),
    Harmless("author", "author: Jane Doe"),
    Harmless("private-ip", "private_ip: 10.0.0.5"),
    Harmless("package-json-private", '"private": true'),
    Harmless("token-expiry", "token_expiry: 2024-06-01T00:00:00Z"),
    Harmless("auth-method", "auth_method: password"),
    Harmless("idempotency-key", "idempotency_key: 7f3c"),
    Harmless("routing-key", "routing_key: orders.created"),
    Harmless("cookie-domain", "cookie_domain: .example.com"),
    Harmless("signature-version", "signature_version: v4"),
    Harmless("salt-rounds", "salt_rounds: 12"),
    Harmless("password-reset-url", "password_reset_url: https://example.com/reset"),
    Harmless("token-file-flag", "--token-file /run/secrets/token"),
    Harmless("k8s-secret-key-ref", "valueFrom:\n  secretKeyRef:\n    name: db\n    key: password"),
    Harmless("compose-secrets-list", "secrets:\n  - db_password"),
    Harmless("k8s-kind-secret", "kind: Secret\ntype: Opaque"),
    # prose
    Harmless("bearer-prose", "Bearer authentication required"),
    Harmless("password-rejected-prose", "authentication failed: the password was rejected"),
    Harmless("token-expired-prose", "token expired; please log in again"),
    Harmless("postgres-auth-failure", 'FATAL:  password authentication failed for user "app"'),
    Harmless(
        "mysql-access-denied",
        "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",
    ),
    Harmless(
        "www-authenticate",
        'WWW-Authenticate: Bearer realm="api", error="invalid_token", '
        'error_description="The access token expired"',
    ),
    Harmless("password-stdin-prose", "Use --password-stdin to pass the password"),
    Harmless("psql-password-prompt", "psql --password -h db -U app"),
    Harmless("env-var-prose", "Set the POSTGRES_PASSWORD environment variable"),
    Harmless("secret-store-prose", "the secret store is unreachable"),
    Harmless("missing-authorization", "401 Unauthorized: missing Authorization header"),
    Harmless("redis-noauth", "NOAUTH Authentication required."),
    Harmless("bearer-token-prose", "Send the Bearer token in the header"),
    Harmless("default-password-prose", "the default password is documented in the runbook"),
    Harmless("akia-prose", "AWS access key ids start with AKIA"),
    Harmless("authorization-failed", "Authorization failed"),
    Harmless("secret-not-found", "Error: secret: not found"),
    Harmless("password-incorrect", "login rejected, password: incorrect"),
    Harmless("auth-scheme-value", "auth: basic"),
    # identifiers that look random
    Harmless("libpq-conninfo", "host=db port=5432 user=app dbname=shop sslmode=require"),
    Harmless("git-sha", "commit 3f786850e387550fdab836ed7e6dc881de23001b"),
    Harmless("uuid", "request 123e4567-e89b-12d3-a456-426614174000 failed"),
    Harmless(
        "image-digest",
        "postgres@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ),
    Harmless("container-id", "container f2a1b3c4d5e6 exited (137)"),
    Harmless("md5sum-output", "d41d8cd98f00b204e9800998ecf8427e  backup.tar"),
    Harmless("jwt-header-only", "alg header eyJhbGciOiJIUzI1NiJ9"),
    Harmless("git-describe", "v1.2.3-14-gdeadbee"),
    Harmless("ipv6-full", "fe80:0:0:0:0:0:0:1"),
    Harmless("mac-address", "02:42:ac:11:00:02"),
    Harmless("clock-time", "12:30:45.123"),
    Harmless("etc-passwd-line", "postgres:x:999:999::/var/lib/postgresql:/bin/bash"),
    Harmless("pgpass-doc-line", "hostname:port:database:username:password"),
    Harmless("docker-ports", "0.0.0.0:5432->5432/tcp"),
    Harmless("dollar-vars", "$HOME:$PATH"),
    Harmless("price", "$2.50 per GB-month"),
    # commands and URLs
    Harmless("ssh-port", "ssh -p 2222 deploy@host"),
    Harmless("docker-run-port", "docker run -p 8080:80 nginx"),
    Harmless("psql-port", "psql -h db -p 5432 -U app shop"),
    Harmless("mysql-prompt", "mysql -h db -P 3306 -u app -p shop"),
    Harmless("buildkit-secret", "docker build --secret id=npmrc,src=.npmrc ."),
    Harmless("ask-vault-pass", "ansible-playbook site.yml --ask-vault-pass"),
    Harmless("grafana-url", "https://grafana.example.com/d/abc?orgId=1&from=now-6h"),
    Harmless("url-user-only", "postgres://app@db:5432/shop"),
    Harmless("slack-archive-link", "https://example.slack.com/archives/C0123456789"),
    Harmless("github-pr-url", "https://github.com/org/repo/pull/14"),
    Harmless("scikit-learn", "pip install scikit-learn"),
    Harmless("compose-env-file", "env_file: .env"),
    Harmless("healthcheck", 'test: ["CMD", "pg_isready", "-U", "app"]'),
]

# Look-alikes that are masked on purpose, each with the reason; at most 5 % of HARMLESS.
TOLERATED_FALSE_MASKS: dict[str, str] = {
    # ``key: password`` is a reference inside secretKeyRef, but ``key:`` alone is also
    # how YAML configs hold API keys; masking a name costs less than leaking a key.
    "k8s-secret-key-ref": "a lone `key:` holds a key as often as it names one",
}


class Evidence(BaseModel):
    text: str
    lines: list[str]
    labels: dict[str, str]


_ENV_FORM = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>[^\n]*)")


def _env_form(text: str) -> tuple[str, str] | None:
    match = _ENV_FORM.fullmatch(text)
    return (match["key"], match["value"]) if match else None


def _strings(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item)]
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    return []


def _outputs(text: str) -> list[tuple[str, str]]:
    """(what went in, what came out) for every surface given ``text`` (and its
    ``KEY=value`` or URL form)."""
    data: JSONData = {"evidence": text, "lines": [text, [text]], "env": {"EVIDENCE": text}}
    model = Evidence(text=text, lines=[text], labels={"evidence": text})
    outputs = [redact_text(text), *_strings(redact_data(data))]
    outputs += _strings(redact_model(model).model_dump())
    outputs += redact_env({"EVIDENCE": text}).values()
    pairs = [(text, out) for out in outputs]
    env = _env_form(text)
    if env is not None:
        key, value = env
        pairs += [(value, out) for out in redact_env({key: value}).values()]
        pairs += [(value, out) for out in _strings(redact_data({"labels": {key: value}}))]
    if re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", text):
        pairs.append((text, redact_url(text)))
    return pairs


def _leaks(case: Secret) -> bool:
    return any(case.secret in out for _, out in _outputs(case.text))


def _false_mask(case: Harmless) -> bool:
    return any(out != original for original, out in _outputs(case.text))


def test_the_corpus_is_large_enough_and_well_formed() -> None:
    assert len(SECRETS) >= 120
    assert len(HARMLESS) >= 60
    names = [case.name for case in SECRETS] + [case.name for case in HARMLESS]
    assert len(names) == len(set(names))
    for case in SECRETS:
        assert case.secret in case.text, case.name
        assert len(case.secret) >= 8, case.name
    assert set(TOLERATED_FALSE_MASKS) <= {case.name for case in HARMLESS}


@pytest.mark.parametrize("case", SECRETS, ids=[case.name for case in SECRETS])
def test_secret_never_comes_out(case: Secret) -> None:
    assert redact_text(case.text) != case.text
    for _, out in _outputs(case.text):
        assert case.secret not in out


@pytest.mark.parametrize("case", HARMLESS, ids=[case.name for case in HARMLESS])
def test_look_alike_comes_out_unchanged(case: Harmless) -> None:
    if case.name in TOLERATED_FALSE_MASKS:
        pytest.skip(f"tolerated false mask: {TOLERATED_FALSE_MASKS[case.name]}")
    for original, out in _outputs(case.text):
        assert out == original
    env = _env_form(case.text)
    if env is not None:
        assert redact_env({env[0]: env[1]}) == {env[0]: env[1]}


def test_corpus_counts() -> None:
    leaks = [case.name for case in SECRETS if _leaks(case)]
    false_masks = [case.name for case in HARMLESS if _false_mask(case)]

    assert leaks == []
    assert sorted(false_masks) == sorted(TOLERATED_FALSE_MASKS)
    assert len(false_masks) <= 0.05 * len(HARMLESS)


@pytest.mark.parametrize(
    "name",
    [
        "primary_key", "token_count", "max_tokens", "cache_key", "public_key",
        "password_policy", "sort_key", "key_id", "foreign_key", "maxTokens",
        "tokenizer", "secret_name", "TOKEN_URL", "password-stdin", "no-password",
        "ask-vault-pass", "MYSQL_ALLOW_EMPTY_PASSWORD", "secretKeyRef", "private_ip",
    ],
)  # fmt: skip
def test_descriptive_key_names_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "AWS_ACCESS_KEY_ID", "vault_secret_id", "SharedAccessKey", "AccountKey",
        "x-api-key", "storepass", "SECRET_KEY_BASE", "tokens", "ENCRYPTION_KEY",
        "private_key", "client_secret", "HCLOUD_TOKEN",
    ],
)  # fmt: skip
def test_secret_key_names(name: str) -> None:
    assert is_secret_key(name)


def test_tokens_and_schemes_stay_readable() -> None:
    body = r(36)
    assert redact_text(f"token ghp_{body} rejected") == "token ghp_*** rejected"
    assert redact_text(f"curl -H 'Authorization: Bearer {body}'") == (
        "curl -H 'Authorization: Bearer ***'"
    )
    assert redact_url(f"https://hooks.slack.com/services/T0/B0/{r(24)}") == (
        "https://hooks.slack.com/services/***"
    )


def test_every_catalogue_token_has_a_corpus_case() -> None:
    """Each TOKENS entry is exercised: some secret case is masked by it."""
    from bot.redaction.patterns import TokenScanner

    scanner = TokenScanner()
    hit = {token.name for case in SECRETS for *_, token in scanner.spans(case.text)}
    untested = {token.name for token in TOKENS} - hit
    assert untested == set()


def test_catalogue_names_are_unique_and_families_named() -> None:
    rules = catalogue_rules()
    names = [name for name, _ in rules]
    assert len(names) == len(set(names))
    assert all(family for _, family in rules)


# 50,000 characters of input built to defeat each rule (long runs, repeated openers with
# no closer): every one must redact in well under a second (the patterns are linear).
ADVERSARIAL = {
    "word-run": "a1" * 25_000,
    "dashed-run": "a-" * 25_000,
    "dotted-run": "a." * 25_000,
    "equals-chain": "a=" * 25_000,
    "colon-chain": "a:" * 25_000,
    "spaces": " " * 50_000,
    "quotes": '"' * 50_000,
    "escaped-quotes": '\\"' * 25_000,
    "xml-openers": "<a " * 16_666,
    "crypt-dollars": "$2y$" * 12_500,
    "jwt-openers": "eyJ-" * 12_500,
    "jwt-dots": "eyJ." * 12_500,
    "url-schemes": "a://b:" * 8_333,
    "pem-openers": "-----BEGIN RSA PRIVATE KEY-----" * 1_600,
    "mysql-flags": "mysql -p" * 6_250,
    "long-flags": "--password " * 4_545,
    "yaml-blocks": "password: |\n" * 4_166,
    "netrc-machines": "machine x " * 5_000,
    "pgpass-fields": "a:1:b:c:" * 6_250,
    "query-pairs": "?a=&" * 12_500,
    "provider-prefixes": "ghp_sk-xoxb-AKIA" * 3_125,
    "newlines": "a\n" * 25_000,
    "name-value": "name: a\n" * 6_250,
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_adversarial_input_is_redacted_without_growing(text: str) -> None:
    """Every adversarial input comes back, never longer than it went in (masks are
    shorter than what they hide). How long each takes is `scripts/bench`'s to say
    (the slowest of these: about 0.1 s); a test never times."""
    out = redact_text(text)
    assert isinstance(out, str) and len(out) <= len(text)
