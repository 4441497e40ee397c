"""Authorization code + PKCE with a loopback listener on 127.0.0.1 (the AWS CLI v2 default)."""
from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
import time
import urllib.parse
from typing import Any

from keyrack_sh import aws, cache, tty
from keyrack_sh.errors import UserError
from keyrack_sh.flows import browser, register
from keyrack_sh.profiles import SsoSession

CALLBACK_PATH = "/oauth/callback"
_PAGE = (b"<!doctype html><title>keyrack</title><p>%s</p><p>You can close this tab.</p>")


def challenge_for(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Callback:
    """The one redirect we wait for: its query, once, with the state checked."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.result: dict[str, str] | None = None
        self.done = threading.Event()

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path != CALLBACK_PATH or query.get("state") != outer.state or outer.done.is_set():
                    # Not our redirect (wrong path, forged or replayed state): ignore it.
                    self._reply(400, b"This is not the sign-in keyrack is waiting for.")
                    return
                outer.result = query
                outer.done.set()
                ok = "code" in query
                # CreateToken has not run yet: the terminal says whether the unlock worked.
                self._reply(200, b"Sign-in approved. Return to your terminal." if ok
                            else b"Sign-in was not approved.")

            def _reply(self, status: int, text: bytes) -> None:
                body = _PAGE % text
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries the code: never log it

        return Handler


def sign_in(session: SsoSession, client: dict[str, Any], *, no_browser: bool, timeout: float) -> dict[str, Any]:
    """Run the browser sign-in and return a token record in the AWS CLI v2 format."""
    try:
        oidc = aws.oidc_client(session.region)
        endpoint = oidc.meta.endpoint_url
    except Exception as exc:
        raise aws.translate(exc, "to start a browser sign-in") from None
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(24)
    callback = _Callback(state)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), callback.handler())
    server.daemon_threads = True
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="keyrack-pkce", daemon=True)
    thread.start()
    try:
        query = urllib.parse.urlencode({
            "response_type": "code",
            "client_id": client["clientId"],
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge_method": "S256",
            "scopes": " ".join(session.scopes),
            "code_challenge": challenge_for(verifier),
        }, quote_via=urllib.parse.quote)
        url = f"{endpoint.rstrip('/')}/authorize?{query}"
        browser.open_url(url, no_browser=no_browser, what=f"sso-session {session.name!r}", command=session.browser)
        with tty.LiveLine() as line:
            approved = line.count_down("the sign-in in your browser", time.monotonic() + timeout,
                                       until=callback.done)
        if not approved:
            raise UserError(f"sign-in to sso-session {session.name!r} timed out after {timeout:g} s",
                            hint="run the command again and approve the sign-in in the browser")
    finally:
        server.shutdown()
        server.server_close()
    result = callback.result or {}
    if "code" not in result:
        error = result.get("error", "no code")
        if error in ("invalid_client", "unauthorized_client"):
            raise register.InvalidClient(error)
        if error == "access_denied":
            raise UserError(f"sign-in to sso-session {session.name!r} was denied in the browser",
                            hint="run the command again and choose Allow")
        raise UserError(f"sign-in to sso-session {session.name!r} failed ({error[:60]})",
                        hint="run the command again")
    started = time.time()
    try:
        resp = oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                 grantType="authorization_code", code=result["code"],
                                 redirectUri=redirect_uri, codeVerifier=verifier)
    except Exception as exc:
        if register.is_invalid_client(exc):
            raise register.InvalidClient() from None
        code = aws.error_code(exc)
        if code in ("AccessDeniedException", "InvalidGrantException"):
            raise UserError(f"sign-in to sso-session {session.name!r} was refused ({code})",
                            hint="run the command again") from None
        raise aws.translate(exc, "to issue a token") from None
    return cache.token_from_answer(aws.token_answer(resp, "to issue a token"), asked_at=started,
                                   start_url=session.start_url, region=session.region, client=client)
