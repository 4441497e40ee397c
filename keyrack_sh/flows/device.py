"""Device-code sign-in, for hosts without a local browser (SSH, containers)."""
from __future__ import annotations

import time
from typing import Any

from keyrack_sh import aws, cache, tty
from keyrack_sh.errors import UserError
from keyrack_sh.flows import browser, register
from keyrack_sh.profiles import SsoSession

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5


def sign_in(session: SsoSession, client: dict[str, Any], *, no_browser: bool, timeout: float,
            sleep: Any = None) -> dict[str, Any]:
    """Start a device authorization, show the code, poll until approved, denied or timed out.

    Between polls the terminal shows one line counting down (tty.LiveLine); `sleep`
    (tests) replaces that wait.
    """
    with tty.LiveLine() as line:
        return _sign_in(session, client, no_browser=no_browser, timeout=timeout, sleep=sleep, line=line)


def _sign_in(session: SsoSession, client: dict[str, Any], *, no_browser: bool, timeout: float,
             sleep: Any, line: tty.LiveLine) -> dict[str, Any]:
    try:
        oidc = aws.oidc_client(session.region)
        auth = oidc.start_device_authorization(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                               startUrl=session.start_url)
    except Exception as exc:
        if register.is_invalid_client(exc):
            raise register.InvalidClient() from None
        raise aws.translate(exc, "to start a device sign-in") from None
    what = "to start a device sign-in"
    device_code = aws.text_field(auth, "deviceCode", what)
    url = (aws.text_field(auth, "verificationUriComplete", what, optional=True)
           or aws.text_field(auth, "verificationUri", what))
    user_code = aws.text_field(auth, "userCode", what, optional=True)
    browser.open_url(url, no_browser=no_browser, what=f"sso-session {session.name!r}", code=user_code,
                     command=session.browser)
    interval = aws.number_field(auth, "interval", what, optional=True) or 5.0
    code_life = aws.number_field(auth, "expiresIn", what, optional=True) or timeout
    # Whichever ends first: our own timeout, or the device code's life at the server.
    code_expires_first = code_life < timeout
    deadline = time.monotonic() + min(timeout, code_life)
    waiting_for = (f"code {user_code} in your browser" if user_code
                   else "the sign-in in your browser")
    while True:
        started = time.time()
        try:
            resp = oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                     grantType=GRANT, deviceCode=device_code)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "AuthorizationPendingException":
                pass
            elif code == "SlowDownException":
                interval += SLOW_DOWN_STEP
            elif code == "ExpiredTokenException":
                raise _code_expired(session) from None
            elif register.is_invalid_client(exc):
                raise register.InvalidClient() from None
            elif code in ("AccessDeniedException", "InvalidGrantException"):
                raise UserError(f"sign-in to sso-session {session.name!r} was denied",
                                hint="run the command again and approve the code") from None
            else:
                raise aws.translate(exc, "to issue a token") from None
        else:
            return cache.token_from_answer(aws.token_answer(resp, "to issue a token"), asked_at=started,
                                           start_url=session.start_url, region=session.region, client=client)
        if time.monotonic() + interval > deadline:
            raise _code_expired(session) if code_expires_first else _timed_out(session, timeout)
        if sleep is None:
            line.count_down(waiting_for, deadline, seconds=interval)
        else:
            sleep(interval)


def _code_expired(session: SsoSession) -> UserError:
    return UserError(f"the sign-in code for sso-session {session.name!r} expired before it was approved",
                     hint="run the command again and approve the new code in the browser")


def _timed_out(session: SsoSession, timeout: float) -> UserError:
    return UserError(f"sign-in to sso-session {session.name!r} timed out after {timeout:g} s",
                     hint="run the command again and approve the code in the browser")
