"""sso-oidc (REST-JSON): RegisterClient, StartDeviceAuthorization, CreateToken.

Rules follow the service: public clients only; refresh tokens only for
clients registered with the refresh_token grant; refresh tokens rotate and a
used, revoked or expired one is InvalidGrantException; authorization codes are
single use, bound to the client and redirect URI, and checked against the PKCE
S256 challenge.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from keyrack_sh.sandbox.state import (
    GRANT_AUTH_CODE,
    GRANT_DEVICE,
    GRANT_REFRESH,
    GRANT_TYPES,
    ApiError,
    Client,
    State,
    s256,
)
from keyrack_sh.sandbox.wire import Request, Response

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


# -- who is calling (for the counters) --------------------------------------------

def who_register(state: State, req: Request) -> dict:
    body = _body(req)
    return {"client_name": body.get("clientName")}


def who_client(state: State, req: Request) -> dict:
    body = _body(req)
    return {"client_name": state.client_name_of(body.get("clientId"))}


def who_token(state: State, req: Request) -> dict:
    body = _body(req)
    return {"client_name": state.client_name_of(body.get("clientId")), "grant_type": body.get("grantType")}


def _body(req: Request) -> dict:
    try:
        return req.json()
    except ApiError:
        return {}


# -- RegisterClient -----------------------------------------------------------------

def register_client(state: State, req: Request) -> Response:
    body = req.json()
    name = body.get("clientName")
    client_type = body.get("clientType")
    if not name or not client_type:
        raise ApiError("InvalidRequestException", "clientName and clientType are required")
    if client_type != "public":
        raise ApiError("InvalidClientMetadataException", f"unsupported clientType {client_type!r}")
    scopes = tuple(body.get("scopes") or ())
    for scope in scopes:
        if not isinstance(scope, str) or ":" not in scope:
            raise ApiError("InvalidScopeException", f"invalid scope {scope!r}")
    grant_types = tuple(body.get("grantTypes") or ())
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise ApiError("UnsupportedGrantTypeException", f"unsupported grant type {grant!r}")
    redirect_uris = tuple(body.get("redirectUris") or ())
    for uri in redirect_uris:
        if not is_loopback_uri(uri):
            raise ApiError("InvalidRedirectUriException", f"redirect URI must be http on a loopback address: {uri!r}")
    if GRANT_AUTH_CODE in grant_types and not redirect_uris:
        raise ApiError("InvalidRedirectUriException", "authorization_code needs redirectUris")
    client = state.new_client(name=name, client_type=client_type, scopes=scopes, grant_types=grant_types,
                              redirect_uris=redirect_uris, issuer_url=body.get("issuerUrl"))
    out = {
        "clientId": client.client_id,
        "clientSecret": client.client_secret,
        "clientIdIssuedAt": int(client.issued_at),
        "clientSecretExpiresAt": int(client.expires_at),
    }
    if redirect_uris:
        out["authorizationEndpoint"] = f"{req.base_url}/authorize"
        out["tokenEndpoint"] = f"{req.base_url}/token"
    return Response.json(out)


def is_loopback_uri(uri: object) -> bool:
    if not isinstance(uri, str):
        return False
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS + ("::1",)


def redirect_uri_registered(client: Client, uri: str) -> bool:
    """RFC 8252 7.3: a loopback redirect URI matches whatever its port."""
    if not is_loopback_uri(uri):
        return False
    want = urlsplit(uri)
    for registered in client.redirect_uris:
        have = urlsplit(registered)
        if have.hostname == want.hostname and have.path == want.path:
            return True
    return False


def authenticate(state: State, client_id: str | None, client_secret: str | None) -> Client:
    with state.lock:
        client = state.clients.get(client_id or "")
        if client is None or not hmac.compare_digest(client.client_secret.encode(), (client_secret or "").encode()):
            raise ApiError("InvalidClientException", "Invalid client")
        if client.expires_at <= state.now():
            raise ApiError("InvalidClientException", "Client registration has expired")
        return client


def allowed_grants(client: Client) -> tuple[str, ...]:
    # A client registered without grantTypes is a legacy device-flow client.
    return client.grant_types or (GRANT_DEVICE,)


# -- StartDeviceAuthorization -------------------------------------------------------------

def start_device_authorization(state: State, req: Request) -> Response:
    body = req.json()
    client = authenticate(state, body.get("clientId"), body.get("clientSecret"))
    if GRANT_DEVICE not in allowed_grants(client):
        raise ApiError("UnauthorizedClientException", "client is not registered for the device code grant")
    start_url = body.get("startUrl")
    if start_url != state.config.start_url:
        raise ApiError("InvalidRequestException", f"unknown start URL {start_url!r}")
    device = state.new_device(client.client_id, start_url)
    verification = f"{req.base_url}/device"
    return Response.json({
        "deviceCode": device.device_code,
        "userCode": device.user_code,
        "verificationUri": verification,
        "verificationUriComplete": f"{verification}?user_code={device.user_code}",
        "expiresIn": int(round(device.expires_at - state.now())),
        "interval": state.config.device_interval,
    })


# -- CreateToken ------------------------------------------------------------------------

def create_token(state: State, req: Request) -> Response:
    body = req.json()
    client = authenticate(state, body.get("clientId"), body.get("clientSecret"))
    grant = body.get("grantType")
    if grant not in GRANT_TYPES:
        raise ApiError("UnsupportedGrantTypeException", f"unsupported grant type {grant!r}")
    if grant not in allowed_grants(client):
        raise ApiError("UnauthorizedClientException", f"client is not registered for {grant}")
    with state.lock:
        if grant == GRANT_DEVICE:
            sign_in = _redeem_device_code(state, client, body)
        elif grant == GRANT_AUTH_CODE:
            sign_in = _redeem_auth_code(state, client, body)
        else:
            sign_in = _redeem_refresh_token(state, client, body)
        access, refresh = state.issue_tokens(sign_in, with_refresh=GRANT_REFRESH in client.grant_types)
        out = {
            "accessToken": access.token,
            "tokenType": "Bearer",
            "expiresIn": max(0, int(round(access.expires_at - state.now()))),
        }
        if refresh:
            out["refreshToken"] = refresh.token
    return Response.json(out)


def _redeem_device_code(state: State, client: Client, body: dict):
    device = state.devices.get(body.get("deviceCode") or "")
    if device is None or device.client_id != client.client_id:
        raise ApiError("InvalidGrantException", "Invalid device code provided")
    now = state.now()
    if device.expires_at <= now:
        raise ApiError("ExpiredTokenException", "Device code has expired")
    if device.status == "redeemed":
        raise ApiError("InvalidGrantException", "Device code has already been used")
    if device.status == "denied":
        raise ApiError("AccessDeniedException", "The user denied the authorization request")
    if device.status == "pending":
        last, device.last_poll = device.last_poll, now
        if (state.config.slow_down_fast_polls and last is not None
                and now - last < state.config.device_interval / 2):
            raise ApiError("SlowDownException", "Client is polling too quickly")
        raise ApiError("AuthorizationPendingException", "Authorization is still pending")
    device.status = "redeemed"
    return state.start_sign_in(client, device.user or state.config.user, client.scopes)


def _redeem_auth_code(state: State, client: Client, body: dict):
    code = state.auth_codes.get(body.get("code") or "")
    if code is None or code.client_id != client.client_id or code.used:
        raise ApiError("InvalidGrantException", "Invalid authorization code")
    if code.expires_at <= state.now():
        raise ApiError("InvalidGrantException", "Authorization code has expired")
    if body.get("redirectUri") != code.redirect_uri:
        raise ApiError("InvalidGrantException", "redirectUri does not match the authorization request")
    verifier = body.get("codeVerifier")
    if not verifier or not hmac.compare_digest(s256(verifier).encode(), code.code_challenge.encode()):
        raise ApiError("InvalidGrantException", "codeVerifier does not match the code challenge")
    code.used = True
    return state.start_sign_in(client, code.user, code.scopes or client.scopes)


def _redeem_refresh_token(state: State, client: Client, body: dict):
    refresh = state.refresh_tokens.get(body.get("refreshToken") or "")
    if refresh is None or refresh.sign_in.client_id != client.client_id:
        raise ApiError("InvalidGrantException", "Invalid refresh token provided")
    if refresh.used or refresh.revoked or refresh.sign_in.revoked:
        raise ApiError("InvalidGrantException", "Refresh token has been used or revoked")
    if refresh.expires_at <= state.now():
        raise ApiError("InvalidGrantException", "Refresh token has expired")
    refresh.used = True
    return refresh.sign_in
