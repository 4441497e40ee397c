"""Silent renewal with the refresh token (no browser).

The server may rotate the refresh token, so the newest one is always kept; the
caller holds the session lock and has just re-read the token file. Only an
answer that says the refresh token (or its client) is dead returns None (then
a sign-in is needed); a broken answer is a ServiceError like a server error.
"""
from __future__ import annotations

import time
from typing import Any

from keyrack_sh import aws, cache
from keyrack_sh.flows import register
from keyrack_sh.profiles import SsoSession

# The refresh token (or its client) is dead: the session needs a browser.
DEAD = ("InvalidGrantException", "InvalidClientException", "UnauthorizedClientException",
        "ExpiredTokenException", "AccessDeniedException", "InvalidRequestException")


def renew(session: SsoSession, token: dict[str, Any]) -> dict[str, Any] | None:
    """A new token record, or None when the refresh token no longer works."""
    if not cache.token_might_work(token) or not token.get("refreshToken"):
        return None
    client = {"clientId": token["clientId"], "clientSecret": token["clientSecret"],
              "expiresAt": cache.registration_expiry(token) or time.time() + 86400}
    started = time.time()
    try:
        oidc = aws.oidc_client(token.get("region") or session.region)
        resp = oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                 grantType="refresh_token", refreshToken=token["refreshToken"])
    except Exception as exc:
        if aws.error_code(exc) == "InvalidClientException":
            # The registration is gone at the server too: the sign-in that follows registers anew.
            register.rejected(session, client["clientId"])
        if aws.error_code(exc) in DEAD:
            return None
        raise aws.translate(exc, "to renew the session") from None
    # A malformed answer (a captive portal's page, an empty 200) says nothing about the refresh
    # token: a transient fault (ServiceError), never a reason to open the browser.
    return cache.token_from_answer(aws.token_answer(resp, "to renew the session"), asked_at=started,
                                   start_url=token.get("startUrl") or session.start_url, region=token.get("region") or session.region, client=client,
                                   refresh_token=token["refreshToken"])
