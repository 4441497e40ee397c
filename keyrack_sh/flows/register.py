"""The OAuth client keyrack registers once per sso-session.

Named `keyrack-<session>` so the one-time consent screen says what is asking.
Cached in clients/<session>.json until it nears expiry; registered again, once,
when the server no longer knows it (InvalidClientException: an administrator
revoked it, or it expired at the server before our record says). Such a
registration is new to the user's browser, so its consent screen comes again:
the terminal says so. A cached registration is checked with the server before
a browser sign-in: an authorize page for a client the server forgot shows an
error and never redirects back, so the sign-in would only time out.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from keyrack_sh import aws, cache, tty
from keyrack_sh.errors import ServiceError
from keyrack_sh.profiles import SsoSession

# Re-register this long before the registration expires, so a token minted
# from it is not cut short.
MIN_LEFT = 3600
GRANT_TYPES = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]
REDIRECT_URI = "http://127.0.0.1/oauth/callback"
# Written into the cached registration when the server rejected it (a refresh that met
# InvalidClientException): the next sign-in registers anew instead of trying it again.
REJECTED = "rejectedByServer"

T = TypeVar("T")


def client_name(session: SsoSession) -> str:
    return f"keyrack-{session.name}"


def _cached(session: SsoSession, name: str) -> dict[str, Any] | None:
    cached = cache.read_client(session.name)
    if (cached is not None and cached.get("clientName") == name and cached.get("startUrl") == session.start_url
            and cached.get("region") == session.region and cached.get("scopes") == list(session.scopes)
            and cached["expiresAt"] - time.time() > MIN_LEFT and not cached.get(REJECTED)):
        return cached
    return None


def client_for(session: SsoSession, *, client_name: str | None = None, flow: str = "pkce",
               force: bool = False) -> dict[str, Any]:
    """A registration usable for `session` (cached or new)."""
    name = client_name or globals()["client_name"](session)
    cached = None if force else _cached(session, name)
    return cached if cached is not None else register(session, name)


def register(session: SsoSession, name: str) -> dict[str, Any]:
    try:
        oidc = aws.oidc_client(session.region)
        resp = oidc.register_client(
            clientName=name, clientType="public", scopes=list(session.scopes),
            grantTypes=GRANT_TYPES, redirectUris=[REDIRECT_URI], issuerUrl=session.start_url,
        )
    except Exception as exc:
        raise aws.translate(exc, "to register keyrack's sign-in client") from None
    what = "to register keyrack's sign-in client"
    client = {
        "clientName": name,
        "clientId": aws.text_field(resp, "clientId", what),
        "clientSecret": aws.text_field(resp, "clientSecret", what),
        "expiresAt": int(aws.number_field(resp, "clientSecretExpiresAt", what, optional=True)
                         or time.time() + 90 * 86400),
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


def rejected(session: SsoSession, client_id: str) -> None:
    """The server refused `client_id` (a refresh met InvalidClientException): if it is keyrack's
    cached registration, the next sign-in registers a new one instead of trying it again."""
    cached = cache.read_client(session.name)
    if cached is not None and cached.get("clientId") == client_id and not cached.get(REJECTED):
        cache.write_client(session.name, {**cached, REJECTED: True})


def check(session: SsoSession, client: dict[str, Any]) -> None:
    """Raise InvalidClient if the server no longer knows `client`, before a browser is opened for it.

    StartDeviceAuthorization authenticates the client (id and secret) and has no lasting effect:
    the device code it returns is never shown and expires unused. Any other failure is left to
    the sign-in itself.
    """
    try:
        oidc = aws.oidc_client(session.region)
        oidc.start_device_authorization(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                        startUrl=session.start_url)
    except Exception as exc:
        if aws.error_code(exc) == "InvalidClientException":
            raise InvalidClient() from None


def signed_in(session: SsoSession, run: Callable[[dict[str, Any]], T], *, client_name: str | None = None,
              check_first: bool = False) -> T:
    """`run(client)` with a registration the server accepts: the cached one or, once, a new one.

    With `check_first` (a browser sign-in, whose authorize page cannot tell us about a forgotten
    client) a cached registration is checked before `run`. A new registration the server rejects
    too is a ServiceError (exit 1): registering yet again would not help.
    """
    name = client_name or globals()["client_name"](session)
    previous = cache.read_client(session.name)
    client = _cached(session, name)
    fresh = client is None
    if fresh:
        client = register(session, name)
        if previous is not None and previous.get(REJECTED) and previous.get("clientName") == name:
            _consent_again(session, name)
    try:
        if check_first and not fresh:
            check(session, client)
        return run(client)
    except InvalidClient:
        if fresh:
            raise _rejected_again(session, name) from None
    _consent_again(session, name)
    client = register(session, name)
    try:
        return run(client)
    except InvalidClient:
        raise _rejected_again(session, name) from None


def _consent_again(session: SsoSession, name: str) -> None:
    # The terminal only: without one nobody is at the browser to be surprised.
    tty.say(f"IAM Identity Center no longer accepts keyrack's sign-in client for sso-session {session.name!r} "
            f"(revoked or expired there): registered a new one, so the browser asks once more to allow "
            f"access to {name!r}", or_stderr=False)


def _rejected_again(session: SsoSession, name: str) -> ServiceError:
    return ServiceError(f"IAM Identity Center rejected keyrack's newly registered sign-in client {name!r} of "
                        f"sso-session {session.name!r} too (InvalidClientException)",
                        hint="try again in a moment; if it persists, ask your administrator whether "
                             "IAM Identity Center allows new client registrations")
