"""A custom (vanity) start URL: learn, once at `set`, the AWS access portal it redirects to.

A vanity domain (https://sso.example.com) is only a redirect, at the organisation's DNS and
load balancer, to one of AWS's portal URLs (portal_url.py). IAM Identity Center knows only
that URL: RegisterClient's issuer, StartDeviceAuthorization's startUrl and the token cache's
startUrl must all be it, and the AWS CLI v2 2.9 and the SDKs read it from the same
`sso_start_url`. So `keyrack set` asks the vanity URL once, writes the AWS URL it leads to
(and the region that URL names), and says so; nothing at sign-in time depends on the
organisation's redirect. This is what the AWS CLI v2's and the AWS SDK for .NET's resolvers do.

Bounded and blind: https only, one hop (HEAD, or GET when HEAD is refused, reading no body),
10 s, no cookies, no credentials, nothing of the user's sent; the target must be https and one
of AWS's portal forms, or the answer is refused. Standard library urllib: this is a plain web
request to the organisation's host, not an AWS API.
"""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from keyrack_sh import portal_url
from keyrack_sh.errors import ServiceError, UserError

TIMEOUT = 10.0
_REDIRECTS = (301, 302, 303, 307, 308)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class _Stop(urllib.request.HTTPRedirectHandler):
    """Never follow: the Location is read, not visited."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None


def _location(url: str, method: str, timeout: float) -> tuple[int, str | None]:
    host = urllib.parse.urlsplit(url).hostname or ""
    # A proxy never sees a loopback request (tests); real hosts honour the user's proxy settings.
    handlers: list[urllib.request.BaseHandler] = [_Stop()]
    if host in _LOOPBACK:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, method=method, headers={"User-Agent": "keyrack"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return resp.status, None
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if exc.headers is not None else None
        exc.close()
        return exc.code, location


def resolve(url: str, *, timeout: float = TIMEOUT) -> portal_url.Portal:
    """The AWS portal the vanity start URL `url` redirects to (one hop), or one clear error.

    UserError (exit 2) when the answer is not a redirect to an https AWS portal URL;
    ServiceError (exit 1) when the host cannot be reached.
    """
    hint = "give --start-url the AWS access portal URL itself (IAM Identity Center console, Settings)"
    try:
        status, location = _location(url, "HEAD", timeout)
        if status in (405, 501):  # some load balancers refuse HEAD
            status, location = _location(url, "GET", timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceError(f"cannot reach the start URL {url} to learn its AWS access portal: "
                           f"{type(reason).__name__}", hint=hint) from None
    if status not in _REDIRECTS or not location:
        raise UserError(f"the start URL {url} is not an AWS access portal and does not redirect to one "
                        f"(HTTP {status})", hint=hint)
    target = urllib.parse.urljoin(url, location.strip())
    parts = urllib.parse.urlsplit(target)
    # What the portal's address bar would carry after the redirect (a query, a #/ route) is not the start URL.
    bare = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    try:
        portal = portal_url.parse(bare)
    except UserError:
        portal = None
    if parts.scheme != "https" or portal is None or portal.vanity:
        shown = bare if len(bare) <= 80 else bare[:80] + "…"
        raise UserError(f"the start URL {url} redirects to {shown!r}, which is not an https AWS access portal URL",
                        hint=hint)
    return portal


def settle(start_url: str, sso_region: str | None) -> tuple[str, str | None, str | None]:
    """(start URL to write, SSO region, the vanity URL it came from or None) for what the user gave.

    An AWS portal URL stays as given; a vanity one becomes the portal it redirects to. The
    region comes from the host where AWS encodes it, and must agree with `sso_region` if both.
    """
    portal = portal_url.parse(start_url)
    came_from = None
    if portal.vanity:
        portal, came_from = resolve(start_url), start_url
    return portal.url, portal_url.sso_region(portal, sso_region), came_from
