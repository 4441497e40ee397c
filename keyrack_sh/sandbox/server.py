"""HTTP: routing, counting, fault injection and AWS-shaped errors.

One endpoint serves sso-oidc, the SSO portal, the browser pages, the sign-in
federation endpoint with its console page and (when no moto endpoint is
given) STS. Errors carry the HTTP status from the service
model, the `x-amzn-ErrorType` header and the body each protocol expects, so
botocore raises its modelled exception classes.
"""
from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from keyrack_sh.sandbox import browser, federation, oidc, portal, sts
from keyrack_sh.sandbox.state import ApiError, Fault, State
from keyrack_sh.sandbox.wire import Request, Response


@dataclass(frozen=True)
class Route:
    operation: str
    style: str  # oidc | portal | browser | sts: how errors are rendered
    handler: Callable[[State, Request], Response]
    who: Callable[[State, Request], dict]


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/client/register"): Route("RegisterClient", "oidc", oidc.register_client, oidc.who_register),
    ("POST", "/device_authorization"): Route("StartDeviceAuthorization", "oidc",
                                             oidc.start_device_authorization, oidc.who_client),
    ("POST", "/token"): Route("CreateToken", "oidc", oidc.create_token, oidc.who_token),
    ("GET", "/authorize"): Route("Authorize", "browser", browser.authorize, browser.who_authorize),
    ("GET", "/device"): Route("VerifyDevice", "browser", browser.verify_device, browser.who_device),
    ("GET", "/federation/credentials"): Route("GetRoleCredentials", "portal",
                                              portal.get_role_credentials, portal.who),
    ("GET", "/assignment/accounts"): Route("ListAccounts", "portal", portal.list_accounts, portal.who),
    ("GET", "/assignment/roles"): Route("ListAccountRoles", "portal", portal.list_account_roles, portal.who),
    ("POST", "/logout"): Route("Logout", "portal", portal.logout, portal.who),
    ("POST", "/"): Route("STS", "sts", sts.handle, sts.who),
    # the sign-in federation endpoint (AWS_ENDPOINT_URL_SIGNIN) and the console it leads to
    ("GET", "/federation"): Route("Federation", "browser", federation.handle, federation.who),
    ("GET", "/console"): Route("Console", "browser", federation.console_page, lambda state, req: {}),
}

# The error code each protocol speaks in its body ("error" for OAuth errors).
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def oauth_error_name(code: str) -> str:
    return _SNAKE.sub("_", code.removesuffix("Exception")).lower()


def render_error(style: str, err: ApiError) -> Response:
    request_id = str(uuid.uuid4())
    if style == "sts":
        resp = Response.xml(sts.error_xml(err.code, err.message), err.status)
        resp.headers["x-amzn-RequestId"] = request_id
        return resp
    if style == "browser":
        return Response.html(f"<!doctype html><h1>{err.code}</h1><p>{err.message}</p>\n", err.status)
    body = ({"error": oauth_error_name(err.code), "error_description": err.message} if style == "oidc"
            else {"message": err.message})
    return Response.json(body, err.status, {"x-amzn-ErrorType": err.code, "x-amzn-RequestId": request_id})


class Dispatcher:
    """Turns a Request into a Response: count, suffer faults, handle, render errors."""

    def __init__(self, state: State, serve_sts: bool) -> None:
        self.state = state
        self.serve_sts = serve_sts
        self.stopping = threading.Event()

    def __call__(self, req: Request) -> Response | None:
        route = ROUTES.get((req.method, req.path))
        if route is None or (route.style == "sts" and not self.serve_sts):
            if req.method == "GET" and req.path in ("/", "/start"):
                return self._index(req)
            return render_error("portal", ApiError("UnknownOperationException",
                                                   f"no route for {req.method} {req.path}", 404))
        who = route.who(self.state, req)
        operation = who.get("operation", route.operation)
        self.state.record(operation, who.get("client_name"), who.get("grant_type"))
        self.state.enter()
        try:
            latency = self.state.config.latency
            if latency > 0:
                self.state.hang_event().wait(latency)
            if self.state.throttles(operation):
                raise ApiError("TooManyRequestsException", "Rate exceeded", 429)
            fault = self.state.take_fault(operation, who.get("grant_type"))
            if fault is not None and fault.kind != "pass":
                broken = self._suffer_fault(fault)
                if broken is not None or self.stopping.is_set():
                    return broken  # a raw answer, or None: the server is stopping, drop the connection
            return route.handler(self.state, req)
        except ApiError as err:
            return render_error(route.style, err)
        finally:
            self.state.leave()

    def _suffer_fault(self, fault: Fault) -> Response | None:
        """The fault's own answer (error, raw answer), or None once a delay or hang is over."""
        if fault.kind == "call" and fault.action is not None:
            fault.action()  # in this request's thread: other requests are served meanwhile
            return None
        if fault.kind == "error":
            raise ApiError(fault.error_code, fault.message or f"injected {fault.error_code}", fault.status)
        if fault.kind == "answer":
            headers = {"Content-Type": fault.content_type} if fault.content_type else {}
            return Response(fault.status or 200, headers, fault.body)
        release = self.state.hang_event()
        if fault.kind == "delay":
            release.wait(fault.seconds)
        else:  # hang: until a test releases it, the sandbox resets, or the server stops
            release.wait()
        return None

    def _index(self, req: Request) -> Response:
        cfg = self.state.config
        return Response.html(
            "<!doctype html><title>keyrack sandbox</title><h1>keyrack sandbox: a local IAM Identity Center</h1>"
            f"<p>Start URL: {cfg.start_url}<br>Region: {cfg.region}<br>User: {cfg.user}<br>"
            f"Endpoint: {req.base_url}</p>\n"
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle the body waits for the client's delayed
    # ACK (40 ms on Linux), which made every sequential call cost 40 ms more than its work.
    disable_nagle_algorithm = True
    server_version = "keyrack-sandbox"

    def version_string(self) -> str:
        return self.server_version
    timeout = 60  # idle keep-alive connections end by themselves
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path.rstrip("/") or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=self.server.base_url,
            raw_target=self.path,
        )
        try:
            resp = self.server.dispatch(req)
        except Exception as exc:  # a sandbox bug: say so loudly, answer 500
            print(f"keyrack sandbox: {type(exc).__name__}: {exc}", file=sys.stderr)
            resp = render_error("portal", ApiError("InternalServerException", "sandbox error", 500))
        if resp is None:
            self.close_connection = True
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read counts, not logs
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # dozens of processes may connect at once (socketserver's default is 5)

    def __init__(self, address: tuple[str, int], dispatch: Dispatcher) -> None:
        super().__init__(address, _Handler)
        self.dispatch = dispatch
        host, port = self.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def handle_error(self, request, client_address) -> None:  # a client hung up: not our problem
        pass


class HttpServer:
    """The listening socket and its thread."""

    def __init__(self, host: str, port: int, dispatch: Dispatcher) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox binds to the loopback address only")
        self.dispatch = dispatch
        self._server = _Server((host, port), dispatch)
        self._thread = threading.Thread(target=self._server.serve_forever, name="keyrack-sandbox",
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.dispatch.stopping.set()
        self.dispatch.state.release_hangs()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
