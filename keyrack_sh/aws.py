"""boto3/botocore clients for IAM Identity Center, isolated from the user's profile.

AWS_PROFILE usually names the very keyrack profile being resolved: a client
built from it would run credential_process again and wait on our own lock.
So the session's profile and region variables are blanked (as aws-sso-util
does) and the clients are unsigned (the SSO APIs take a bearer token, not
SigV4), so botocore never looks for credentials at all. Endpoint overrides
(AWS_ENDPOINT_URL_SSO_OIDC / _SSO) still apply.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from keyrack_sh.errors import KeyrackError, ServiceError, UserError

_BLANK = (None, None, None, None)


CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30  # a 40-s answer times out once and the retry gets it
ATTEMPTS = 3
# The longest one call can take before botocore gives up: every attempt's connect and read
# timeouts plus the standard retry mode's backoff (at most 20 s before each retry). A process
# waiting for another's call (lock.doing) waits this long, so a slow answer serves it too.
CALL_BOUND = ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + (ATTEMPTS - 1) * 20.0


@lru_cache(maxsize=1)
def _session() -> Any:
    import botocore.session

    return botocore.session.Session(session_vars={"profile": _BLANK, "region": _BLANK})


# The most threads that share one listing client (flows/organisation.py): its connection pool.
LISTING_POOL = 32


def _config(listing: bool = False) -> Any:
    from botocore import UNSIGNED
    from botocore.config import Config

    # Bounded: a hung server becomes a ServiceError, not a hung SDK call.
    if listing:
        # The listing retries page by page itself (one bound, not two stacked) and shares
        # the client across its threads: no botocore retries, a pool for every thread.
        return Config(signature_version=UNSIGNED, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                      retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=LISTING_POOL)
    return Config(signature_version=UNSIGNED, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                  retries={"mode": "standard", "total_max_attempts": ATTEMPTS})


_REGION_HINT = "set sso_region in the [sso-session] section to a region such as us-east-1"


def _client(service: str, region: str, listing: bool = False) -> Any:
    """A client of `service` in `region`; a missing or malformed region is the user's to fix.

    Callers create clients inside their `try`, so this UserError passes
    through `translate` (exit 2) instead of surfacing as an unexpected error.
    """
    from botocore.exceptions import InvalidRegionError, NoRegionError

    if not region:
        raise UserError("no IAM Identity Center region (sso_region) is set", hint=_REGION_HINT)
    try:
        return _cached_client(service, region, listing)
    except (InvalidRegionError, NoRegionError, ValueError):
        raise UserError(f"invalid IAM Identity Center region {str(region)[:40]!r}", hint=_REGION_HINT) from None


# One session and one client per (service, region) per process: a sign-in
# makes several calls, and each new client re-reads its service model.
@lru_cache(maxsize=None)
def _cached_client(service: str, region: str, listing: bool = False) -> Any:
    return _session().create_client(service, region_name=region, config=_config(listing))


def oidc_client(region: str) -> Any:
    return _client("sso-oidc", region)


def portal_client(region: str) -> Any:
    return _client("sso", region)


def listing_client(region: str) -> Any:
    """The portal client for many concurrent list calls that the caller retries itself."""
    return _client("sso", region, listing=True)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _headers(resp: Any) -> dict[str, str]:
    meta = resp.get("ResponseMetadata") if isinstance(resp, dict) else None
    headers = (meta or {}).get("HTTPHeaders") or {}
    return {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}


def _stand_in(headers: dict[str, str]) -> str:
    """What answered instead of IAM Identity Center, judged from the answer's headers ("" when unsure)."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if "html" in kind:
        return "an HTML page: a captive portal or proxy may be answering for it"
    if kind and "json" not in kind:
        return f"not JSON but {kind[:40]}"
    if headers.get("content-length") == "0":
        return "an empty answer"
    return ""


def service_error(exc: BaseException, what: str) -> ServiceError:
    """A transient or server-side failure of `what`, without echoing request data."""
    code = error_code(exc) or type(exc).__name__
    status = http_status(exc)
    detail = f"{code}, HTTP {status}" if status and code != str(status) else (f"HTTP {status}" if status else code)
    stand_in = _stand_in(_headers(getattr(exc, "response", None) or {}))
    if stand_in and not code.endswith("Exception"):  # no modelled error: something else answered
        detail += f", {stand_in}"
    return ServiceError(f"IAM Identity Center failed {what} ({detail})", hint="try again in a moment")


# -- answers that are not what the service model promises ------------------------
# botocore returns whatever members it found: an HTML page from a captive portal, an empty
# 200 or JSON of another shape all parse to a dict without the fields keyrack needs. Each
# flow takes its fields through these, so such an answer is one ServiceError (exit 1)
# naming IAM Identity Center, never a KeyError or a token with garbage in it.


def malformed(resp: Any, what: str, field: str) -> ServiceError:
    stand_in = _stand_in(_headers(resp)) or f"no valid {field}"
    return ServiceError(f"IAM Identity Center sent a malformed answer {what} ({stand_in})",
                        hint="try again in a moment; if the network needs a sign-in page (a captive portal), "
                             "open it in the browser first")


def text_field(holder: Any, name: str, what: str, *, resp: Any = None, optional: bool = False) -> str | None:
    """holder[name], a non-empty string of at most 64 kB, else ServiceError (None if `optional` and absent)."""
    value = holder.get(name) if isinstance(holder, dict) else None
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 65536 or any(c in value for c in "\r\n\0"):
        raise malformed(resp if resp is not None else holder, what, name)
    return value


def number_field(holder: Any, name: str, what: str, *, resp: Any = None, optional: bool = False) -> float | None:
    """holder[name], a finite non-negative number, else ServiceError (None if `optional` and absent)."""
    value = holder.get(name) if isinstance(holder, dict) else None
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e16:
        raise malformed(resp if resp is not None else holder, what, name)
    return float(value)


def token_answer(resp: Any, what: str) -> dict[str, Any]:
    """The fields keyrack keeps of a CreateToken answer, checked (cache.token_from_answer reads them)."""
    answer: dict[str, Any] = {"accessToken": text_field(resp, "accessToken", what)}
    expires_in = number_field(resp, "expiresIn", what, optional=True)
    if expires_in is not None:
        answer["expiresIn"] = expires_in
    refresh_token = text_field(resp, "refreshToken", what, optional=True)
    if refresh_token is not None:
        answer["refreshToken"] = refresh_token
    return answer


def object_field(holder: Any, name: str, what: str) -> dict[str, Any]:
    value = holder.get(name) if isinstance(holder, dict) else None
    if not isinstance(value, dict):
        raise malformed(holder, what, name)
    return value


def is_transport_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError)


def translate(exc: BaseException, what: str) -> Exception:
    """Map a botocore failure of `what` ("to log out", ...) to keyrack's errors (exit 1 vs 2).

    keyrack's own errors (a bad region from `_client`) pass through unchanged.
    """
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        InvalidRegionError,
        NoRegionError,
        ReadTimeoutError,
    )

    if isinstance(exc, KeyrackError):
        return exc
    if isinstance(exc, NoRegionError):
        return UserError(f"no IAM Identity Center region is set, needed {what}", hint=_REGION_HINT)
    if isinstance(exc, InvalidRegionError):
        return UserError(f"the IAM Identity Center region is not valid, needed {what}", hint=_REGION_HINT)
    if isinstance(exc, ReadTimeoutError):
        return ServiceError(f"IAM Identity Center is slow: no answer {what} within {READ_TIMEOUT} s, "
                            f"{ATTEMPTS} tries", hint="try again in a moment")
    if isinstance(exc, ConnectTimeoutError):
        return ServiceError(f"cannot reach IAM Identity Center {what} (no connection within {CONNECT_TIMEOUT} s)",
                            hint="check the network, then try again")
    if isinstance(exc, EndpointConnectionError):
        return ServiceError(f"cannot reach IAM Identity Center {what}", hint="check the network, then try again")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in ("InvalidRequestException", "InvalidScopeException", "UnsupportedGrantTypeException"):
            return UserError(f"IAM Identity Center refused {what} ({code})",
                             hint="check sso_start_url, sso_region and sso_registration_scopes")
        return service_error(exc, what)
    return service_error(exc, what)


def sts_caller_arn(region: str, creds: dict[str, Any]) -> str | None:
    """STS GetCallerIdentity's ARN for role credentials (credential_process JSON), or None.

    Best effort and quick (one attempt, short timeouts): it only names who signed in, so a
    failure here must never fail or slow down the credentials it is asked about.
    """
    from botocore.config import Config

    try:
        client = _session().create_client(
            "sts", region_name=region or "us-east-1", aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
            config=Config(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1}))
        return str(client.get_caller_identity()["Arn"])
    except Exception:  # noqa: BLE001 (best effort: any failure means "not known")
        return None
