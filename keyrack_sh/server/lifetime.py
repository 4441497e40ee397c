"""A credential server's lifetime: bind 127.0.0.1, serve in threads, stop.

`keyrack exec` runs one for its child and stops it when the child exits;
`keyrack serve` runs one in the foreground. Bounds that keep one client from
blocking the others: a connection has HEAD_DEADLINE seconds to deliver each
request head (or to send the next one on a kept-alive connection), enforced
by a reaper thread, so a slowloris or half-open client only costs a socket
until then; at most MAX_CONNECTIONS are open, and a new one evicts the
oldest that has not sent a whole request yet (idle ones never lock out a
good client).
"""
from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from urllib.parse import quote

from keyrack_sh.server.handler import PATH_PREFIX, Handler, shut
from keyrack_sh.server.source import CredentialSource

LOOPBACK = "127.0.0.1"
HEAD_DEADLINE = 5.0
MAX_CONNECTIONS = 128
_REAP_EVERY = 0.25


class CredentialServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False
    request_queue_size = 256

    def __init__(self, source: CredentialSource, port: int = 0) -> None:
        super().__init__((LOOPBACK, port), Handler)
        self.source = source
        self.token = secrets.token_urlsafe(32)  # 256 random bits
        self.token_bytes = self.token.encode("ascii")
        self.port = self.server_address[1]
        self.allowed_hosts = frozenset({f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"})
        self._conns: OrderedDict[socket.socket, float | None] = OrderedDict()  # socket -> head deadline
        self._conns_lock = threading.Lock()
        self._stopped = threading.Event()
        self._own_threads: list[threading.Thread] = []
        self.encoded: dict[str, tuple[object, bytes]] = {}  # profile -> (answer, its JSON): encoded once

    # -- where -------------------------------------------------------------------

    def url(self, profile: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{PATH_PREFIX}{quote(profile, safe='')}"

    def env(self, profile: str) -> dict[str, str]:
        """What a client needs: the URL and the token (only ever for the child that asked)."""
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url(profile),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.token}

    # -- connections (called by the handler threads) --------------------------------

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._conns_lock:
            if len(self._conns) >= MAX_CONNECTIONS:
                idle = next((c for c, deadline in self._conns.items() if deadline is not None), None)
                if idle is None:  # every slot is busy answering: refuse this one rather than queue it
                    self.shutdown_request(request)
                    return
                del self._conns[idle]
                shut(idle)
            self._conns[request] = time.monotonic() + HEAD_DEADLINE
        super().process_request(request, client_address)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.setdefault(conn, time.monotonic() + HEAD_DEADLINE)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.pop(conn, None)

    def waiting(self, conn: socket.socket) -> None:
        with self._conns_lock:
            if conn in self._conns:
                self._conns[conn] = time.monotonic() + HEAD_DEADLINE
                self._conns.move_to_end(conn)

    def busy(self, conn: socket.socket) -> None:
        with self._conns_lock:
            if conn in self._conns:
                self._conns[conn] = None  # answering (maybe signing in): never reaped

    def _reap(self) -> None:
        while not self._stopped.wait(_REAP_EVERY):
            now = time.monotonic()
            with self._conns_lock:
                late = [c for c, deadline in self._conns.items() if deadline is not None and deadline <= now]
                for conn in late:
                    del self._conns[conn]
            for conn in late:
                shut(conn)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up is not worth a traceback on the user's terminal

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> CredentialServer:
        for target in (self.serve_forever, self._reap):
            thread = threading.Thread(target=target, name=f"keyrack-server-{target.__name__}", daemon=True)
            thread.start()
            self._own_threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            conns, self._conns = list(self._conns), OrderedDict()
        for conn in conns:
            shut(conn)

    def __enter__(self) -> CredentialServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Variables that would make an SDK in the child find other credentials before the server's
# (botocore's chain puts environment keys, profiles and web identity ahead of the container provider).
CHILD_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME")


def child_env(server: CredentialServer, profile: str, region: str | None, account_id: str,
              base: dict[str, str]) -> dict[str, str]:
    """`base` with the server's two variables in place of any other credential source."""
    env = {k: v for k, v in base.items() if k not in CHILD_CLEARED}
    env.update(server.env(profile))
    env["AWS_ACCOUNT_ID"] = account_id
    if region:
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region
    return env
