"""A local stand-in for the Slack Web API, served on 127.0.0.1 from a thread.

Like bolt-python's ``tests/mock_web_api_server``: point slack_sdk at it with
``AsyncWebClient(token=stub.token, base_url=stub.api_url)`` (the bot's
``SLACK_API_URL``). It answers the methods the bot uses the way Slack does,
checks the bearer token, validates message blocks (a violation is answered
``invalid_blocks`` *and* kept in ``violations`` so a test can assert there were
none), records every call, keeps the channel history as Slack would show it
(updates applied, deletions removed), and can answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.slackstub.validation import message_errors

DEFAULT_TOKEN = "xoxb-test-token"
BOT_USER = "UBOT"
# Form fields Slack reads as JSON.
_JSON_FIELDS = frozenset({"blocks", "attachments", "files", "payload", "view", "metadata"})
_VALIDATED = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})

Json = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request the stand-in received, and what it answered."""

    method: str
    body: Json
    headers: dict[str, str]
    time: float
    status: int
    response: Json


@dataclass
class Message:
    """A message as the channel shows it now (``edits`` counts chat.update calls)."""

    channel: str
    ts: str
    text: str
    blocks: list[Json]
    thread_ts: str | None = None
    user: str = BOT_USER
    ephemeral_to: str | None = None
    edits: int = 0
    reactions: list[str] = field(default_factory=list)


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    content: bytes = b""
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass(frozen=True)
class Violation:
    method: str
    errors: list[str]
    body: Json


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: SlackStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self.server.stub._serve(self)

    def do_GET(self) -> None:
        self.server.stub._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass


class SlackStub:
    """The stand-in; use as a context manager (or ``start()`` / ``stop()``)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host  # a lab address on this machine when containers must reach it
        self.users: dict[str, Json] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.violations: list[Violation] = []
        self._calls: list[Call] = []
        self._messages: list[Message] = []
        self._files: dict[str, UploadedFile] = {}
        self._rate_limits: dict[str, tuple[int, int]] = {}
        self._counter = itertools.count(1)
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[Json], Json]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "views.open": self._views_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroup_users,
            "conversations.info": self._conversations_info,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "reactions.add": self._reactions_add,
        }

    # ------------------------------------------------------------ lifecycle

    def start(self) -> SlackStub:
        server = _Server((self.host, 0), _Handler)
        server.stub = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="slack-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the Slack stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The base URL for slack_sdk (``SLACK_API_URL``): ``…/api/``."""
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        """A ``response_url`` served here; posts to it are recorded as ``response_url``."""
        return f"{self.url}/response/{name}"

    # ------------------------------------------------------------ test controls

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._cond:
            self._rate_limits[method] = (times, retry_after)

    # ------------------------------------------------------------ what happened

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> Call:
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method} call was made")
        return found[-1]

    def messages(self, channel: str | None = None) -> list[Message]:
        """The channel's messages as Slack would show them now (not ephemeral ones)."""
        with self._cond:
            return copy.deepcopy(
                [
                    m
                    for m in self._messages
                    if m.ephemeral_to is None and (channel is None or m.channel == channel)
                ]
            )

    def ephemerals(self, user: str | None = None) -> list[Message]:
        with self._cond:
            return copy.deepcopy(
                [
                    m
                    for m in self._messages
                    if m.ephemeral_to is not None and (user is None or m.ephemeral_to == user)
                ]
            )

    def files(self, channel: str | None = None) -> list[UploadedFile]:
        """Files shared by files.completeUploadExternal."""
        with self._cond:
            return copy.deepcopy(
                [
                    f
                    for f in self._files.values()
                    if f.channel is not None and (channel is None or f.channel == channel)
                ]
            )

    def _match(self, method: str, predicate: Callable[[Call], bool] | None) -> Call | None:
        for call in self._calls:
            if call.method == method and (predicate is None or predicate(call)):
                return call
        return None

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """The first call of ``method`` matching ``predicate``, waiting up to ``timeout`` s.

        Blocks the calling thread: from async tests, use ``wait_for_async``.
        """
        with self._cond:
            found = self._cond.wait_for(lambda: self._match(method, predicate), timeout)
        if found is None:
            raise AssertionError(f"no matching {method} call within {timeout} s")
        return found

    async def wait_for_async(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """``wait_for`` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._match(method, predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"no matching {method} call within {timeout} s")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------ HTTP

    def _serve(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k: v for k, v in request.headers.items()}
        path = parts.path
        if path.startswith("/upload/"):
            status, data, extra = self._serve_upload(path.removeprefix("/upload/"), raw)
            self._record("upload", {"file_id": path.removeprefix("/upload/")}, headers, status, {})
            self._reply(request, status, data, "text/plain", extra)
            return
        body = self._parse(raw, headers.get("Content-Type", ""), parts.query)
        if path.startswith("/response/"):
            body["_response_url"] = path.removeprefix("/response/")
            self._record("response_url", body, headers, 200, {"ok": True})
            self._reply(request, 200, b"ok", "text/plain", {})
            return
        method = path.removeprefix("/api/") if path.startswith("/api/") else ""
        status, answer, extra = self._answer(method or path, body, headers)
        self._record(method or path, body, headers, status, answer)
        data = json.dumps(answer).encode()
        self._reply(request, status, data, "application/json; charset=utf-8", extra)

    @staticmethod
    def _reply(
        request: _Handler, status: int, data: bytes, content_type: str, extra: dict[str, str]
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)

    @staticmethod
    def _parse(raw: bytes, content_type: str, query: str) -> Json:
        body: Json = dict(parse_qsl(query, keep_blank_values=True))
        if "json" in content_type:
            loaded = json.loads(raw or b"{}")
            if isinstance(loaded, dict):
                body.update(loaded)
        elif raw:
            body.update(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in _JSON_FIELDS & body.keys():
            if isinstance(body[key], str):
                with contextlib.suppress(ValueError):  # else left as sent
                    body[key] = json.loads(body[key])
        return body

    def _record(
        self, method: str, body: Json, headers: dict[str, str], status: int, answer: Json
    ) -> None:
        with self._cond:
            self._calls.append(Call(method, body, headers, time.time(), status, answer))
            self._cond.notify_all()

    def _answer(
        self, method: str, body: Json, headers: dict[str, str]
    ) -> tuple[int, Json, dict[str, str]]:
        with self._cond:
            times, retry_after = self._rate_limits.get(method, (0, 0))
            if times > 0:
                self._rate_limits[method] = (times - 1, retry_after)
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        auth = headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ").strip()
            if auth.startswith("Bearer ")
            else body.get("token")
        )
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if method in _VALIDATED:
            errors = message_errors(body)
            if errors:
                with self._cond:
                    self.violations.append(Violation(method, errors, body))
                return (
                    200,
                    {
                        "ok": False,
                        "error": "invalid_blocks",
                        "errors": errors,
                        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                    },
                    {},
                )
        with self._cond:
            return 200, handler(body), {}

    def _serve_upload(self, file_id: str, raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        with self._cond:
            upload = self._files.get(file_id)
            if upload is None:
                return 404, b"no such upload", {}
            upload.content = raw
            return 200, f"OK - {len(raw)}".encode(), {}

    # ------------------------------------------------------------ Web API methods
    # (called with the lock held)

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._counter):06d}"

    def _find(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self._messages if m.channel == channel and m.ts == ts), None)

    @staticmethod
    def _as_message(m: Message) -> Json:
        data: Json = {"type": "message", "user": m.user, "ts": m.ts, "text": m.text}
        if m.blocks:
            data["blocks"] = m.blocks
        if m.thread_ts:
            data["thread_ts"] = m.thread_ts
        return data

    def _auth_test(self, body: Json) -> Json:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "acme",
            "user": "stackbot",
            "team_id": "T1",
            "user_id": BOT_USER,
            "bot_id": "B1",
            "is_enterprise_install": False,
        }

    def _post_message(self, body: Json) -> Json:
        channel = body.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        thread_ts = body.get("thread_ts") or None
        if thread_ts and self._find(channel, thread_ts) is None:
            return {"ok": False, "error": "thread_not_found"}
        message = Message(
            channel=channel,
            ts=self._ts(),
            text=body.get("text") or "",
            blocks=body.get("blocks") or [],
            thread_ts=thread_ts,
        )
        self._messages.append(message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "message": self._as_message(message),
        }

    def _update(self, body: Json) -> Json:
        channel, ts = body.get("channel", ""), body.get("ts", "")
        message = self._find(channel, ts)
        if message is None or message.ephemeral_to is not None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in body:
            message.text = body["text"] or ""
        if "blocks" in body:
            message.blocks = body["blocks"] or []
        message.edits += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": self._as_message(message),
        }

    def _post_ephemeral(self, body: Json) -> Json:
        channel, user = body.get("channel"), body.get("user")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        message = Message(
            channel=channel,
            ts=self._ts(),
            text=body.get("text") or "",
            blocks=body.get("blocks") or [],
            thread_ts=body.get("thread_ts") or None,
            ephemeral_to=user,
        )
        self._messages.append(message)
        return {"ok": True, "message_ts": message.ts}

    def _delete(self, body: Json) -> Json:
        channel, ts = body.get("channel", ""), body.get("ts", "")
        message = self._find(channel, ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        self._messages.remove(message)
        return {"ok": True, "channel": channel, "ts": ts}

    def _views_open(self, body: Json) -> Json:
        if not body.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        view = body.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {"id": f"V{next(self._counter):08d}", **view}}

    def _users_info(self, body: Json) -> Json:
        user = body.get("user", "")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        default = {
            "id": user,
            "team_id": "T1",
            "name": user.lower(),
            "real_name": f"User {user}",
            "deleted": False,
            "is_bot": user == BOT_USER,
            "tz": "UTC",
            "profile": {"display_name": user.lower(), "real_name": f"User {user}"},
        }
        return {"ok": True, "user": self.users.get(user, default)}

    def _usergroup_users(self, body: Json) -> Json:
        group = body.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _conversations_info(self, body: Json) -> Json:
        channel = body.get("channel", "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": True,
                "is_private": False,
                "is_member": True,
            },
        }

    def _upload_url(self, body: Json) -> Json:
        filename, length = body.get("filename"), body.get("length")
        if not filename or length is None:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._counter):08d}"
        self._files[file_id] = UploadedFile(id=file_id, filename=filename, length=int(length))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, body: Json) -> Json:
        entries = body.get("files")
        if not isinstance(entries, list) or not entries:
            return {"ok": False, "error": "invalid_arguments"}
        done = []
        for entry in entries:
            upload = self._files.get(str(entry.get("id")))
            if upload is None:
                return {"ok": False, "error": "file_not_found"}
            upload.title = entry.get("title") or upload.filename
            upload.channel = body.get("channel_id") or None
            upload.thread_ts = body.get("thread_ts") or None
            upload.initial_comment = body.get("initial_comment") or None
            done.append(
                {
                    "id": upload.id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": len(upload.content),
                }
            )
        return {"ok": True, "files": done}

    def _reactions_add(self, body: Json) -> Json:
        message = self._find(body.get("channel", ""), body.get("timestamp", ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        name = body.get("name", "")
        if name in message.reactions:
            return {"ok": False, "error": "already_reacted"}
        message.reactions.append(name)
        return {"ok": True}
