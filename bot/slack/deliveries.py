"""Each Slack delivery runs once: a replay or a retry is acknowledged and dropped.

Slack may send one request more than once (an Events API retry, carrying
``X-Slack-Retry-Num``), and anyone who captured a signed request can send it
again within the five minutes its signature stays valid. Either copy lands on
any replica.

The bolt middleware ``Deliveries.middleware`` (run after the signature check,
before any listener) claims the delivery's key, but the ack does not wait for
the claim: a round trip to the database, which under a burst of requests took
most of the ack's time. The middleware starts the claim as a task, puts it in
bolt's context (``CLAIM``) and lets the listener answer at once. What the
listener acks with is only the parse of the request (a refusal's text, a usage
line, an empty 200), so a replay may get the same answer as its first delivery
did, and nothing else: everything a delivery *does* (its work, its audit rows,
even a refusal's row) is handed to ``bot.slack.background``, which waits for
the claim (``claimed``) and drops the work when the key was claimed before.
A copy this process already knows (``Deliveries.seen``) is answered an empty
200 without running its listener, as is every copy when there is no database
(the in-memory claim is decided on the spot); Slack shows nothing.

The key of a delivery (``delivery_key``):

- Events API: its ``event_id`` (a retry carries the same id, with a fresh
  signature);
- slash commands and interactive payloads: the SHA-256 of the raw body. An
  exact replay has the same body, signature and timestamp; a re-signed copy has
  a new timestamp and signature but still the same body, and two real
  deliveries never share a body (each carries its own ``trigger_id``, a click
  its ``action_ts``). So the body is what a replay and a retry have in common,
  and the headers are not.

Claims are rows of ``slack_deliveries`` (migration step 5) in stackbot's
Postgres, shared by every replica: ``INSERT … ON CONFLICT DO NOTHING`` lets
exactly one replica win a key. Rows older than ``TTL`` are deleted now and
then (bolt refuses signatures older than five minutes; Slack retries an event
within minutes). With no database (``store`` is None), or while it cannot be
reached (or a claim fails in any other way), claims fall back to an in-memory
LRU of this process only: replays reaching the same replica are still dropped,
those reaching another are not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.store import AuditStore

_log = logging.getLogger("stackbot.slack")
TTL = timedelta(hours=1)
SWEEP_EVERY = 60.0  # seconds between opportunistic deletes of expired rows
MEMORY_SIZE = 10_000  # keys the in-memory fallback remembers
RETRY_HEADER = "x-slack-retry-num"
RETRY_NUM = re.compile(r"[0-9]{1,4}", re.ASCII)
CLAIM = "stackbot_delivery_claim"  # bolt context key: the claim (a task) of this delivery
# claims asking the database at once; the others queue here, in this process, rather than
# for a connection of the pool, whose wait times out (5 s) and would leave a flood's
# claims to this process's memory alone (the ack no longer paces them)
CLAIMS_AT_ONCE = 4


@dataclass(frozen=True)
class DeliveryKey:
    """What identifies one delivery; ``digest`` is what is stored."""

    digest: str
    kind: str  # "event" or "body"
    retry: int | None = None  # X-Slack-Retry-Num, when Slack says it is a retry

    @property
    def short(self) -> str:
        return f"{self.kind}:{self.digest[:12]}"


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name) or ()
    return str(values[0]) if values else None


def delivery_key(
    headers: Mapping[str, Sequence[str]], raw_body: str, body: Mapping[str, Any]
) -> DeliveryKey | None:
    """The key of a request from Slack; None for one that runs nothing (``url_verification``,
    ``ssl_check``) or carries nothing to tell it apart (an empty body). In Socket Mode
    (no raw body, no signature) the key is the hash of the payload's canonical JSON."""
    if body.get("type") == "url_verification" or body.get("ssl_check"):
        return None
    retry_text = _first(headers, RETRY_HEADER)
    retry = int(retry_text) if retry_text and RETRY_NUM.fullmatch(retry_text) else None
    event_id = body.get("event_id")
    if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
        digest = hashlib.sha256(f"event:{event_id}".encode()).hexdigest()
        return DeliveryKey(digest, "event", retry)
    if not raw_body:  # Socket Mode: bolt hands over the payload, parsed
        if not body:
            return None
        raw_body = json.dumps(body, sort_keys=True, default=str)
    digest = hashlib.sha256(b"body:" + raw_body.encode("utf-8", "surrogatepass")).hexdigest()
    return DeliveryKey(digest, "body", retry)


class _Memory:
    """The keys this process has seen in the last ``TTL``, at most ``MEMORY_SIZE`` of them
    (the least recently first seen makes room)."""

    def __init__(self, size: int = MEMORY_SIZE, ttl: float = TTL.total_seconds()) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._size = size
        self._ttl = ttl

    def _expire(self, now: float) -> None:
        while self._seen:  # the oldest first: drop the expired
            oldest, at = next(iter(self._seen.items()))
            if now - at <= self._ttl:
                break
            del self._seen[oldest]

    def seen(self, digest: str) -> bool:
        """Whether ``digest`` was seen in the last ``TTL`` (without remembering it)."""
        self._expire(time.monotonic())
        return digest in self._seen

    def first(self, digest: str) -> bool:
        now = time.monotonic()
        self._expire(now)
        if digest in self._seen:
            return False
        if len(self._seen) >= self._size:
            self._seen.popitem(last=False)
        self._seen[digest] = now
        return True


class Deliveries:
    """Claims of deliveries: in ``store`` (shared by the replicas), else in this process."""

    def __init__(self, store: AuditStore | None) -> None:
        self.store = store
        self._memory = _Memory()
        self._swept = float("-inf")
        self.claims: set[asyncio.Task[bool]] = set()  # claims in flight (kept, awaited on stop)
        self._at_once = asyncio.Semaphore(CLAIMS_AT_ONCE)

    def seen(self, key: DeliveryKey) -> bool:
        """Whether this process knows ``key`` was claimed already (by itself or, as the
        database told it, by another replica): a copy, dropped without asking anyone."""
        return self._memory.seen(key.digest)

    async def first(self, key: DeliveryKey) -> bool:
        """Whether this is the first time any replica sees ``key`` (and claim it if so).
        Never raises: a claim that fails is decided by this process alone."""
        if self.store is None:
            return self._memory.first(key.digest)
        try:
            async with self._at_once:
                return await self._claim(self.store, key.digest)
        except AuditUnavailable as exc:
            _log.warning("deliveries: %s; this process alone drops replays for now", exc.message)
        except Exception:  # a claim must decide: a bug here must not run a delivery twice
            _log.exception("deliveries: claim of %s failed; this process alone decides", key.short)
        return self._memory.first(key.digest)

    def claim(self, key: DeliveryKey) -> asyncio.Task[bool]:
        """Start claiming ``key`` (``first``) without waiting for it."""
        task = asyncio.ensure_future(self.first(key))
        self.claims.add(task)
        task.add_done_callback(self.claims.discard)
        return task

    async def _claim(self, store: AuditStore, digest: str) -> bool:
        async with store.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO slack_deliveries (key) VALUES (%s) "
                "ON CONFLICT (key) DO NOTHING RETURNING 1",
                (digest,),
            )
            first = await cur.fetchone() is not None
        self._memory.first(digest)  # so that during an outage this process still knows it
        if time.monotonic() - self._swept > SWEEP_EVERY:
            self._swept = time.monotonic()
            await self._sweep(store)
        return first

    async def _sweep(self, store: AuditStore) -> None:
        """Forget claims older than ``TTL`` (needs DELETE on the table; without it, rows stay)."""
        try:
            async with store.connection() as conn:
                await conn.execute(
                    "DELETE FROM slack_deliveries WHERE seen_at < now() - %s", (TTL,)
                )
        except AuditUnavailable as exc:
            _log.warning("deliveries: old claims not deleted: %s", exc.message)

    async def middleware(
        self,
        request: AsyncBoltRequest,
        response: BoltResponse,
        next_: Callable[[], Awaitable[None]],
    ) -> BoltResponse:
        """Bolt global middleware (arguments injected by name): a delivery known to be a copy
        gets an empty 200 and goes no further; any other goes on at once, its claim (a task)
        in ``request.context[CLAIM]`` for the work to wait for (``claimed``)."""
        key = delivery_key(request.headers, request.raw_body, request.body)
        if key is not None:
            if self.store is None:  # claims in memory: decided now, nothing to wait for
                copy = not self._memory.first(key.digest)
            else:
                copy = self.seen(key)
                if not copy:
                    request.context[CLAIM] = self.claim(key)
            if copy:
                _log.info("delivery %s (retry %s) seen before: acknowledged, not run", key.short,
                          key.retry)  # fmt: skip
                return BoltResponse(status=200, body="")
        await next_()
        return response

    async def drain(self) -> None:
        """Wait for the claims in flight (a graceful stop)."""
        while self.claims:
            await asyncio.gather(*list(self.claims), return_exceptions=True)


Claim = Awaitable[bool]


def claim_of(context: Mapping[str, Any]) -> Claim | None:
    """The claim the middleware started for this delivery (None: nothing to wait for)."""
    claim = context.get(CLAIM)
    return claim if isinstance(claim, asyncio.Future) else None


async def claimed(claim: Claim | None) -> bool:
    """Whether the delivery that ``claim`` is of runs here: it was first, or had no claim."""
    if claim is None or await claim:
        return True
    _log.info("delivery seen before (claimed elsewhere or earlier): its work is dropped")
    return False
