"""The container credentials protocol over http.server, with its checks and bounds.

A request is answered only when, in this order: its head fits the bounds, it
is a GET, its Host is the loopback address and port served (DNS rebinding),
it carries no Origin (a web page), and its Authorization is the server's
token (constant-time compare). Refusals say what was wrong with the request,
never anything about credentials or profiles. Nothing is logged.
"""
from __future__ import annotations

import hmac
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from keyrack_sh.errors import KeyrackError, ServiceError

PATH_PREFIX = "/creds/"
HEAD_LIMIT = 16 * 1024  # request line plus headers; SDKs send a few hundred bytes
MAX_HEADERS = 32
RECV_TIMEOUT = 5.0  # one read; the reaper bounds a whole request head the same way (lifetime.py)
RATE_PER_S = 2000.0  # per connection, a token bucket: far above any SDK (it asks once per renewal)
RATE_BURST = 4000.0


class _HeadTooLarge(Exception):
    pass


class _HeadReader:
    """rfile for one request head: refuses to read more than HEAD_LIMIT bytes in all."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.left = HEAD_LIMIT

    def readline(self, size: int = -1) -> bytes:
        want = self.left + 1 if size < 0 else min(size, self.left + 1)
        line = self.raw.readline(want)
        self.left -= len(line)
        if self.left < 0:
            raise _HeadTooLarge()
        return line

    def read(self, size: int = -1) -> bytes:  # http.server never reads a GET body; be safe anyway
        return b""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDKs pool their connection
    server: Any  # lifetime.CredentialServer (not imported: the layers call downward only)
    timeout = RECV_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._raw_rfile = self.rfile
        self._tokens = RATE_BURST
        self._last = time.monotonic()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def version_string(self) -> str:
        return "keyrack"

    def log_message(self, format: str, *args: object) -> None:
        pass  # nothing about requests is ever written anywhere

    def handle_one_request(self) -> None:
        self.server.waiting(self.connection)  # the reaper may close us until the head is in
        self.rfile = _HeadReader(self._raw_rfile)
        try:
            super().handle_one_request()
        except _HeadTooLarge:
            self._refuse(431, "RequestHeaderFieldsTooLarge", "request head too large")
            self.close_connection = True
        except (OSError, ValueError):
            self.close_connection = True

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.server.busy(self.connection)
        if len(self.headers) > MAX_HEADERS:
            self._refuse(431, "RequestHeaderFieldsTooLarge", "too many headers")
            return False
        if not self._within_rate():
            self._refuse(429, "TooManyRequests", "too many requests on this connection")
            return False
        return True

    def _within_rate(self) -> bool:
        now = time.monotonic()
        self._tokens = min(RATE_BURST, self._tokens + (now - self._last) * RATE_PER_S)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    # -- methods --------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(*refusal)
            return
        name = self._profile_name()
        if name is None:
            self._refuse(404, "NotFound", "no such path")
            return
        try:
            body = self.server.source.answer(name)
        except KeyrackError as exc:
            status = 503 if isinstance(exc, ServiceError) else 403
            self._send(status, {"code": "CredentialsUnavailable", "message": exc.render()})
            return
        except Exception as exc:  # noqa: BLE001 (the server outlives one bad answer; no traceback with secrets)
            self._send(500, {"code": "InternalError", "message": f"keyrack: unexpected error ({type(exc).__name__})"})
            return
        encoded = self.server.encoded.get(name)
        if encoded is None or encoded[0] is not body:  # the source's memo hands back the same object
            encoded = (body, json.dumps(body).encode("utf-8"))
            self.server.encoded[name] = encoded
        self._send(200, encoded[1])

    def _not_allowed(self) -> None:
        self._refuse(405, "MethodNotAllowed", "only GET is served")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

    def _refusal(self) -> tuple[int, str, str] | None:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in self.server.allowed_hosts:
            return 403, "Forbidden", "wrong Host header"
        if self.headers.get("Origin") is not None:
            return 403, "Forbidden", "requests from web pages are refused"
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return 400, "BadRequest", "a GET has no body"
        sent = self.headers.get_all("Authorization") or []
        if not sent:
            return 401, "Unauthorized", "missing Authorization header"
        given = sent[0].encode("latin-1", "replace")
        if len(sent) != 1 or not hmac.compare_digest(given, self.server.token_bytes):
            return 403, "Forbidden", "wrong authorization token"
        return None

    def _profile_name(self) -> str | None:
        path = urlsplit(self.path).path
        if not path.startswith(PATH_PREFIX):
            return None
        name = unquote(path[len(PATH_PREFIX):])
        return name if name in self.server.source.names else None

    # -- answers ----------------------------------------------------------------

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._send(status, {"code": code, "message": f"keyrack: {message}"})

    def _send(self, status: int, body: dict[str, Any] | bytes) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if status >= 400 and status != 403 and status != 404:
                self.close_connection = True
            if self.close_connection:
                self.send_header("Connection", "close")
            # Head and body in one write: two small writes meet Nagle and delayed ACK (40 ms).
            self._headers_buffer.append(b"\r\n" + data)
            self.flush_headers()
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, 414, 431, 505) in our JSON, never HTML.
        self.close_connection = True
        self._refuse(code, "BadRequest", (message or "bad request")[:80])


def shut(conn: socket.socket) -> None:
    """End a connection from another thread: its blocked read returns at once."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
