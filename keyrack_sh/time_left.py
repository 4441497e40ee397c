"""The one definition of a session's "time left" (README: "Time left"), for status, list and the prompt.

Time left is how long the session keeps working without a browser: the access token's expiry,
extended by a refresh token that still works, capped by the session's real end. The session's
end is its sign-in time plus the session duration (IAM Identity Center's default 8 h, or
KEYRACK_SESSION_DURATION), when keyrack knows the sign-in time; and the client registration's
expiry, after which no refresh works. Everything here is arithmetic on values the caller read
(stdlib only): `status`, `status --json`, `list` and the prompt state show the same numbers
because they all come from `session_end`.
"""
from __future__ import annotations

ACCESS_TOKEN_LIFETIME = 3600  # IAM Identity Center's default access token lifetime


def session_end(access_expires: float, *, refreshable: bool, session_duration: float,
                registration_expires: float | None = None, signed_in_at: float | None = None,
                known_end: float | None = None) -> int:
    """Epoch second at which the session stops working without a browser.

    `refreshable`: the token has a refresh token (and a client to spend it with).
    `signed_in_at`: when this sign-in happened, if keyrack saw it (its own sign-in).
    `known_end`: the end recorded for this same sign-in earlier (a refresh keeps the sign-in's end).
    Without either, the token was issued at sign-in with the default access lifetime (e.g. by
    `aws sso login`): stable across calls, never before the access token's own expiry.
    """
    if not refreshable:
        return int(access_expires)
    if signed_in_at is not None:
        end = signed_in_at + session_duration
    elif known_end is not None and known_end > access_expires:
        end = known_end
    else:
        end = access_expires - ACCESS_TOKEN_LIFETIME + session_duration
    if registration_expires is not None:
        end = min(end, registration_expires)
    return int(max(end, access_expires))


def seconds_left(end: float | None, now: float) -> int:
    """Whole seconds until `end` (0 once it has passed, or with no end)."""
    return max(0, int((end or 0) - now))


def render(seconds: float) -> str:
    """What the prompt shows for `seconds` left: `7h59m`, `42m`, `<1m` (the shell hooks' format)."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return "<1m"
