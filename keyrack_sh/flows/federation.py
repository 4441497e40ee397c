"""The AWS console from role credentials: the federation endpoint and its URLs.

    token = signin_token(signin_base(partition), creds)
    url = login_url(signin_base(partition), token, destination(partition, region, service="s3"))

No boto3 client exists for the sign-in federation endpoint: it is a documented
public HTTP endpoint (`<signin host>/federation`, `Action=getSigninToken` with
the session credentials as a JSON `Session` parameter), not an AWS API with a
service model. So this module speaks it with the standard library's urllib,
which also keeps `keyrack console` as light to start as `keyrack export`.

The credentials travel only over https, or over plain http to a loopback
address (the sandbox on 127.0.0.1 in tests and the demo). The login URL is a
bearer credential: nothing here ever puts it, or the sign-in token, in an
error message.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keyrack_sh.errors import ServiceError, UserError

SIGNIN_ENV = "AWS_ENDPOINT_URL_SIGNIN"  # the SDKs' per-service endpoint convention
ISSUER = "keyrack"
TIMEOUT = 15.0

# partition -> (sign-in host, console host)
PARTITIONS: dict[str, tuple[str, str]] = {
    "aws": ("signin.aws.amazon.com", "console.aws.amazon.com"),
    "aws-cn": ("signin.amazonaws.cn", "console.amazonaws.cn"),
    "aws-us-gov": ("signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"),
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]{0,40}", re.ASCII)


def partition_of(region: str | None) -> str:
    """The partition a region belongs to (no region: the commercial one)."""
    from keyrack_sh import partitions

    partition = partitions.of_region(region)
    if partition not in PARTITIONS:
        raise UserError(f"keyrack console knows the sign-in hosts of {', '.join(PARTITIONS)}, not of {partition}",
                        hint="open the console from your partition's own sign-in page")
    return partition


def signin_base(partition: str) -> str:
    """`https://<the partition's sign-in host>`, or AWS_ENDPOINT_URL_SIGNIN when set."""
    override = os.environ.get(SIGNIN_ENV)
    if not override:
        return f"https://{PARTITIONS[partition][0]}"
    parts = urlsplit(override)
    # The request carries the session's secret key: never in the clear to another host.
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)) \
            or not parts.hostname or parts.query or parts.fragment:
        raise UserError(f"{SIGNIN_ENV} must be an https URL (plain http only to 127.0.0.1)",
                        hint=f"unset {SIGNIN_ENV}")
    return override.rstrip("/")


def destination(partition: str, region: str | None, *, service: str | None = None,
                url: str | None = None, keep_url_region: bool = False) -> str:
    """The console page to land on: the home, a service by name, or any console URL of the partition.

    `region` becomes the page's `region` parameter; with `keep_url_region`
    (the region is only the profile's default) a URL that names its own keeps it.
    """
    console = PARTITIONS[partition][1]
    if url is not None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not (host == console or host.endswith("." + console)):
            raise UserError(f"--destination must be an https URL on {console} (the console of partition {partition})",
                            hint=f"keyrack console PROFILE --destination https://{console}/s3/home")
    else:
        if service is not None and not _SERVICE.fullmatch(service):
            raise UserError("--service must be a console service name such as s3, ec2 or iam",
                            hint="keyrack console PROFILE --service s3")
        path = f"/{service}/home" if service else "/console/home"
        parts = urlsplit(f"https://{console}{path}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if region and not (keep_url_region and any(k == "region" for k, _ in query)):
        query = [(k, v) for k, v in query if k != "region"]
        parts = parts._replace(query=urlencode([*query, ("region", region)]))
    return urlunsplit(parts)


def signin_token(base: str, creds: dict[str, Any], *, hint: str | None = None, timeout: float = TIMEOUT) -> str:
    """Trade role credentials for a sign-in token (valid 15 minutes) at `<base>/federation`.

    GET with the `Session` parameter, as AWS documents it; the console session
    then lasts as long as the role credentials do (no SessionDuration: it is
    refused for role credentials). `hint` is the command to try again with.
    """
    import urllib.error
    import urllib.request

    session = json.dumps({"sessionId": creds["AccessKeyId"], "sessionKey": creds["SecretAccessKey"],
                          "sessionToken": creds["SessionToken"]})
    request = f"{base}/federation?" + urlencode({"Action": "getSigninToken", "Session": session})
    # A proxy must never see the credentials of a loopback sandbox; real hosts honour the user's proxy.
    handlers = [urllib.request.ProxyHandler({})] if urlsplit(base).hostname in _LOOPBACK else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ServiceError(f"the sign-in endpoint {base} refused the role credentials (HTTP {exc.code})",
                           hint=hint) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceError(f"cannot reach the sign-in endpoint {base}: {type(reason).__name__}",
                           hint=hint) from None
    try:
        token = json.loads(body)["SigninToken"]
    except (ValueError, KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise ServiceError(f"the sign-in endpoint {base} answered without a sign-in token",
                           hint=hint) from None
    return token


def login_url(base: str, token: str, destination_url: str) -> str:
    """The URL that signs a browser in and lands on `destination_url` (a bearer credential)."""
    return f"{base}/federation?" + urlencode({"Action": "login", "Issuer": ISSUER,
                                              "Destination": destination_url, "SigninToken": token})
