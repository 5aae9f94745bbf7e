"""``POST /alerts/{env}``: alerts over HTTP, checked, parsed, then handed to the store.

Checks, in order (the first that fails answers; docs/ALERTS.md):

1. ``Authorization: Bearer <token>`` (compared in constant time) → 401;
2. a known environment → 404;
3. a body of at most 1 MiB → 413;
4. JSON in a form ``bot.oncall.alerts.parse_payload`` reads, every alert of it → 400;
5. the sink stores the alerts; the incident database unavailable → 503.

Nothing reaches the sink unless every check passed and every alert parsed.
One log line per request (logger ``stackbot.alerts``), never the token or a body.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.model.errors import UnknownEnvironment
from bot.oncall.alerts import AlertPayloadError, parse_payload
from bot.oncall.models import Alert
from bot.stores.audit.errors import AuditUnavailable

MAX_BODY = 1024 * 1024  # bytes
RETRY_AFTER = 30  # seconds, suggested to a sender when the database is unavailable
_CHUNK = 64 * 1024

log = logging.getLogger("stackbot.alerts")


class IntakeResult(BaseModel):
    """What the sink did with one request's alerts."""

    model_config = ConfigDict(frozen=True)

    opened: int = 0  # new incidents
    repeated: int = 0  # alerts for an incident already open (same fingerprint)
    resolved: int = 0  # incidents closed by a resolved alert
    ignored: int = 0  # resolved alerts with no open incident
    incidents: list[str] = Field(default_factory=list)  # short ids of the incidents touched


AlertSink = Callable[[str, list[Alert]], Awaitable[IntakeResult]]
"""Stores one request's alerts: ``(environment name, parsed alerts) -> IntakeResult``."""


class _Refused(Exception):
    """A check failed: answer ``status`` with ``{"ok": false, "error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def add_intake_routes(
    app: web.Application, *, token: str, environments: Collection[str], sink: AlertSink
) -> None:
    """Add ``POST /alerts/{env}`` to ``app``.

    ``token`` is the shared secret senders present as ``Authorization: Bearer``;
    it must not be empty (whether intake is enabled at all is the caller's call).
    """
    if not token:
        raise ValueError("alert intake needs a non-empty token")
    intake = _Intake(token.encode(), sorted(environments), sink)
    app.router.add_post("/alerts/{env}", intake.handle)


class _Intake:
    def __init__(self, token: bytes, environments: list[str], sink: AlertSink) -> None:
        self._token = token
        self._environments = environments
        self._sink = sink

    async def handle(self, request: web.Request) -> web.Response:
        env = request.match_info["env"]
        where = f"POST /alerts/{_printable(env)} from {request.remote or '?'}"
        try:
            alerts = await self._checked(request, env)
            try:
                result = await self._sink(env, alerts)
            except AuditUnavailable:
                raise _Refused(
                    503,
                    "the incident database is unavailable; nothing was stored, retry later",
                    {"Retry-After": str(RETRY_AFTER)},
                ) from None
        except _Refused as refused:
            log.warning("%s: %d %s", where, refused.status, refused.message)
            return _answer(refused.status, {"ok": False, "error": refused.message}, refused.headers)
        log.info(
            "%s: 200 alerts=%d opened=%d repeated=%d resolved=%d ignored=%d",
            where,
            len(alerts),
            result.opened,
            result.repeated,
            result.resolved,
            result.ignored,
        )
        return _answer(200, {"ok": True, **result.model_dump(mode="json")})

    async def _checked(self, request: web.Request, env: str) -> list[Alert]:
        """The request's alerts once every check passed; else ``_Refused``."""
        self._authorise(request.headers.get("Authorization"))
        if env not in self._environments:
            raise _Refused(404, UnknownEnvironment(env, self._environments).message)
        body = await _read_body(request)
        # Parsing redacts every alert's text: CPU work, kept off the event loop.
        return await asyncio.to_thread(_alerts_of, body)

    def _authorise(self, header: str | None) -> None:
        challenge = {"WWW-Authenticate": "Bearer"}
        if header is None:
            raise _Refused(
                401, "missing Authorization header (expected: Bearer <token>)", challenge
            )
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise _Refused(
                401,
                "the Authorization header is not a Bearer token (expected: Bearer <token>)",
                challenge,
            )
        given = presented.strip().encode("utf-8", errors="surrogateescape")
        if not hmac.compare_digest(given, self._token):
            raise _Refused(401, "wrong token", challenge)


def _alerts_of(body: bytes) -> list[Alert]:
    """The alerts of a JSON body; ``_Refused(400)`` saying what is wrong otherwise."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Refused(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _Refused(400, f"the body is not JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise _Refused(400, "the body is not usable JSON: nested too deeply") from None
    try:
        return parse_payload(data)
    except AlertPayloadError as exc:
        raise _Refused(400, exc.message) from None


async def _read_body(request: web.Request) -> bytes:
    """The body, or ``_Refused(413)`` as soon as it is known to exceed ``MAX_BODY``."""
    too_large = _Refused(413, f"the body is larger than {MAX_BODY} bytes (1 MiB)")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large
    return bytes(body)


def _answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _printable(text: str, limit: int = 64) -> str:
    """``text`` safe for one log line: no control characters, at most ``limit`` characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
