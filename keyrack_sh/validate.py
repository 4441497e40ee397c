"""Input rules, checked before anything is written or any call is made.

Names must be safe as an INI section word, a shell word and a file name all
at once, so they are a plain ASCII set with no leading dash.
"""
from __future__ import annotations

import re

from keyrack_sh.errors import UserError

# re.ASCII: \d and \w must not accept Unicode digits and letters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}", re.ASCII)
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
# IAM role names: 1-64 of [\w+=,.@-] (ASCII word characters); a leading dash
# is refused too, so a role name can never read as an option anywhere.
_ROLE = re.compile(r"[A-Za-z0-9_+=,.@][A-Za-z0-9_+=,.@-]{0,63}")

_SHOWN = 40


def _show(value: str) -> str:
    """A value as it may appear in a one-line error: escaped and cut short."""
    text = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def _check(pattern: re.Pattern[str], value: str, what: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UserError(f"invalid {what} {_show(value)}: {rule}")
    return value


def is_name(value: str) -> bool:
    """True for a valid profile or sso-session name."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def profile_name(value: str) -> str:
    return _check(_NAME, value, "profile name",
                  "use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")


def session_name(value: str) -> str:
    return _check(_NAME, value, "sso-session name",
                  "use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")


def region(value: str, what: str = "region") -> str:
    return _check(_REGION, value, what, "expected an AWS region such as us-east-1")


def account_id(value: str) -> str:
    return _check(_ACCOUNT, value, "account id", "expected 12 digits")


def role_name(value: str) -> str:
    return _check(_ROLE, value, "role name", "IAM role names are 1-64 of A-Z a-z 0-9 + = , . @ _ -, not starting with -")


def start_url(value: str) -> str:
    """A start URL of one of AWS's portal forms or a custom domain, in its one spelling (portal_url.parse)."""
    from keyrack_sh import portal_url

    return portal_url.parse(value).url


# A week: longer than any sign-in or lock wait anyone means; nan, inf and 1e300 are typos.
MAX_SECONDS = 7 * 24 * 3600.0


def seconds_setting(name: str, default: float, maximum: float = MAX_SECONDS) -> float:
    """The environment setting `name` as seconds: a finite number from 0 to `maximum`, else `default`
    when unset; anything else is one UserError naming the setting."""
    import math
    import os

    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= maximum:
        raise UserError(f"{name}={_show(raw)} is not a number of seconds from 0 to {maximum:g}",
                        hint=f"export {name}={default:g}")
    return value
