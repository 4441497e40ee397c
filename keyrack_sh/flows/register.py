"""The OAuth client keyrack registers once per sso-session.

Named `keyrack-<session>` so the one-time consent screen says what is asking.
Cached in clients/<session>.json until it nears expiry; re-registered when
expired or when the server rejects it (InvalidClientException).
"""
from __future__ import annotations

import time
from typing import Any

from keyrack_sh import aws, cache
from keyrack_sh.profiles import SsoSession

# Re-register this long before the registration expires, so a token minted
# from it is not cut short.
MIN_LEFT = 3600
GRANT_TYPES = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]
REDIRECT_URI = "http://127.0.0.1/oauth/callback"


def client_name(session: SsoSession) -> str:
    return f"keyrack-{session.name}"


def client_for(session: SsoSession, *, client_name: str | None = None, flow: str = "pkce",
               force: bool = False) -> dict[str, Any]:
    """A registration usable for `session` (cached or new)."""
    name = client_name or globals()["client_name"](session)
    cached = None if force else cache.read_client(session.name)
    if (cached is not None and cached.get("clientName") == name and cached.get("startUrl") == session.start_url
            and cached.get("region") == session.region and cached.get("scopes") == list(session.scopes)
            and cached["expiresAt"] - time.time() > MIN_LEFT):
        return cached
    return register(session, name)


def register(session: SsoSession, name: str) -> dict[str, Any]:
    try:
        oidc = aws.oidc_client(session.region)
        resp = oidc.register_client(
            clientName=name, clientType="public", scopes=list(session.scopes),
            grantTypes=GRANT_TYPES, redirectUris=[REDIRECT_URI], issuerUrl=session.start_url,
        )
    except Exception as exc:
        raise aws.translate(exc, "to register keyrack's sign-in client") from None
    client = {
        "clientName": name,
        "clientId": resp["clientId"],
        "clientSecret": resp["clientSecret"],
        "expiresAt": int(resp.get("clientSecretExpiresAt") or time.time() + 90 * 86400),
        "scopes": list(session.scopes),
        "startUrl": session.start_url,
        "region": session.region,
    }
    cache.write_client(session.name, client)
    return client


class InvalidClient(Exception):
    """The server no longer knows the cached registration: register again."""


def is_invalid_client(exc: BaseException) -> bool:
    return aws.error_code(exc) in ("InvalidClientException", "UnauthorizedClientException")
