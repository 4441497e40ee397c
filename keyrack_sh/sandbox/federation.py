"""The sign-in federation endpoint and the console it leads to.

`GET /federation?Action=getSigninToken&Session=<json>` checks the session
credentials against what this sandbox minted (key, secret, token, not
expired) and answers `{"SigninToken": ...}` (valid 15 minutes, as at AWS).
`GET /federation?Action=login&SigninToken=..&Destination=..` is the browser
following the login URL: the console session starts and the browser is sent
to `/console?session=<id>`, the sandbox's stand-in for the destination, a
page that says which role and account it was opened as, the destination
and its region.
"""
from __future__ import annotations

import html
import json
import secrets
from urllib.parse import parse_qs, urlsplit

from keyrack_sh.sandbox.state import ApiError, ConsoleSession, SigninToken, State
from keyrack_sh.sandbox.wire import Request, Response

SIGNIN_TOKEN_LIFETIME = 15 * 60
CONSOLE_HOSTS = ("console.aws.amazon.com", "console.amazonaws.cn", "console.amazonaws-us-gov.com")
_OPERATIONS = {"getSigninToken": "GetSigninToken", "login": "Login"}


def who(state: State, req: Request) -> dict:
    return {"operation": _OPERATIONS.get(req.param("Action") or "", "Federation")}


def handle(state: State, req: Request) -> Response:
    action = req.param("Action")
    if action == "getSigninToken":
        return _get_signin_token(state, req)
    if action == "login":
        return _login(state, req)
    raise ApiError("InvalidAction", f"unknown federation action {action!r}", 400)


def _get_signin_token(state: State, req: Request) -> Response:
    try:
        session = json.loads(req.param("Session") or "")
        key, secret, token = session["sessionId"], session["sessionKey"], session["sessionToken"]
    except (ValueError, KeyError, TypeError):
        raise ApiError("InvalidSession", "Session must be JSON with sessionId, sessionKey, sessionToken", 400) from None
    with state.lock:
        creds = state.role_creds.get(key) if isinstance(key, str) else None
        if creds is None or creds.secret_access_key != secret or creds.session_token != token:
            raise ApiError("InvalidSession", "the session credentials are not valid", 400)
        if creds.expires_at <= state.now():
            raise ApiError("ExpiredSession", "the session credentials have expired", 400)
        signin = SigninToken(token=secrets.token_urlsafe(96), creds=creds,
                             expires_at=state.now() + SIGNIN_TOKEN_LIFETIME)
        state.signin_tokens[signin.token] = signin
        state.remember(signin.token)
    return Response.json({"SigninToken": signin.token})


def _login(state: State, req: Request) -> Response:
    destination = req.param("Destination") or ""
    parts = urlsplit(destination)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not any(host == h or host.endswith("." + h) for h in CONSOLE_HOSTS):
        raise ApiError("InvalidDestination", "Destination must be an https console URL", 400)
    with state.lock:
        signin = state.signin_tokens.get(req.param("SigninToken") or "")
        if signin is None or signin.expires_at <= state.now():
            raise ApiError("InvalidSigninToken", "the sign-in token is not valid or has expired", 400)
        region = (parse_qs(parts.query).get("region") or [None])[0]
        console = ConsoleSession(id=secrets.token_urlsafe(16), account_id=signin.creds.account_id,
                                 role_name=signin.creds.role_name, user=signin.creds.user,
                                 destination=destination, region=region, issuer=req.param("Issuer"))
        state.console_sessions.append(console)
    return Response.redirect(f"{req.base_url}/console?session={console.id}")


def console_page(state: State, req: Request) -> Response:
    with state.lock:
        console = next((c for c in state.console_sessions if c.id == req.param("session")), None)
    if console is None:
        raise ApiError("NotSignedIn", "no console session: open a login URL first", 403)
    rows = {"role": console.role_name, "account": console.account_id, "user": console.user,
            "destination": console.destination, "region": console.region or ""}
    cells = "".join(f'<dt>{name}</dt><dd id="{name}">{html.escape(value)}</dd>' for name, value in rows.items())
    return Response.html(
        "<!doctype html><html><head><title>AWS console (keyrack sandbox)</title></head><body>"
        f"<h1>AWS console as {html.escape(console.role_name)} in {console.account_id}</h1>"
        f"<dl>{cells}</dl></body></html>\n"
    )
