"""The user's side, in the browser: the authorize page (PKCE) and the device page.

The user is `config.user` and does `config.behaviour`: approve (redirect with a
code / approve the device code), deny (redirect with error=access_denied /
deny the device code) or ignore (a page that never moves on). The first
approval of a client name by a user is the one-time consent screen.
"""
from __future__ import annotations

import html
from urllib.parse import urlencode

from keyrack_sh.sandbox.oidc import allowed_grants, redirect_uri_registered
from keyrack_sh.sandbox.state import GRANT_AUTH_CODE, State
from keyrack_sh.sandbox.wire import Request, Response


def who_authorize(state: State, req: Request) -> dict:
    return {"client_name": state.client_name_of(req.param("client_id"))}


def who_device(state: State, req: Request) -> dict:
    with state.lock:
        device = state.devices.get(state.user_codes.get((req.param("user_code") or "").upper(), ""))
        return {"client_name": state.client_name_of(device.client_id) if device else None}


def _page(title: str, text: str, status: int = 200) -> Response:
    return Response.html(
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n",
        status,
    )


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def authorize(state: State, req: Request) -> Response:
    with state.lock:
        client = state.clients.get(req.param("client_id") or "")
        if client is None or client.expires_at <= state.now():
            return _page("Error", "unknown or expired client_id", 400)
        redirect_uri = req.param("redirect_uri") or ""
        if not redirect_uri_registered(client, redirect_uri):
            # Never redirect to a URI the client did not register.
            return _page("Error", "redirect_uri is not registered for this client", 400)
        oauth_state = req.param("state")
        problem = None
        if req.param("response_type") != "code":
            problem = "unsupported_response_type"
        elif GRANT_AUTH_CODE not in allowed_grants(client):
            problem = "unauthorized_client"
        elif req.param("code_challenge_method") != "S256" or not req.param("code_challenge"):
            problem = "invalid_request"
        if problem:
            params = {"error": problem}
            if oauth_state is not None:
                params["state"] = oauth_state
            return Response.redirect(_with_query(redirect_uri, params))
        behaviour = state.config.behaviour
        user = state.config.user
        if behaviour == "ignore":
            return _page("Sign in", f"Waiting for {user} to sign in to {client.name}...")
        if behaviour == "deny":
            params = {"error": "access_denied", "error_description": "The user denied the request"}
            if oauth_state is not None:
                params["state"] = oauth_state
            return Response.redirect(_with_query(redirect_uri, params))
        scopes = tuple(s for s in (req.param("scopes") or "").replace(",", " ").split() if s)
        code = state.new_auth_code(client.client_id, redirect_uri, req.param("code_challenge") or "",
                                   scopes, user)
        state.approve("pkce", user, client.name)
        params = {"code": code.code}
        if oauth_state is not None:
            params["state"] = oauth_state
        return Response.redirect(_with_query(redirect_uri, params))


def verify_device(state: State, req: Request) -> Response:
    user_code = (req.param("user_code") or "").upper()
    if not user_code:
        return _page("Authorize request", "Enter the code shown by your application (add ?user_code=XXXX-XXXX).")
    with state.lock:
        device = state.devices.get(state.user_codes.get(user_code, ""))
        if device is None:
            return _page("Error", "unknown code", 404)
        if device.expires_at <= state.now():
            return _page("Error", "this code has expired", 400)
        if device.status != "pending":
            return _page("Done", "this code was already used")
        behaviour = state.config.behaviour
        user = state.config.user
        name = state.client_name_of(device.client_id) or ""
        if behaviour == "ignore":
            return _page("Authorize request", f"Waiting for {user} to approve {user_code}...")
        if behaviour == "deny":
            device.status = "denied"
            return _page("Request denied", f"{user} denied access to {name}.")
        device.status = "approved"
        device.user = user
        state.approve("device", user, name)
        return _page("Request approved", f"{name} has been given access. You can close this window.")
