"""Start URLs: the forms AWS gives its access portals, and what a host says of region and partition.

AWS's own forms (as the AWS CLI v2's and the AWS SDK for .NET's start-URL resolvers know them):

    https://<alias or d-id>.awsapps.com/start          aws, or aws-us-gov (no region in it)
    https://<alias or d-id>.awsapps.cn/start           aws-cn
    https://start.us-gov-home.awsapps.com/directory/<id>        aws-us-gov
    https://start.<region>.us-gov-home.awsapps.com/directory/<id>
    https://start.home.awsapps.cn/directory/<id>                aws-cn
    https://<ssoins-id>.portal.<region>.app.aws        the dual-stack portal: the region is in the host
    https://<ssoins-id>.<region>.portal.amazonaws.com  the regional portal (multi-Region replicas too)
    https://<ssoins-id>.portal.<region>.app.amazonwebservices.com.cn, https://<ssoins-id>.<region>.portal.amazonaws.com.cn
    https://identitycenter.amazonaws.com/ssoins-<16>   the issuer URL (also .com.cn)

`/start`, a trailing `/`, and an empty `#` or `#/` fragment (what a browser's address bar shows)
are accepted where AWS uses them. Any other https host is a custom (vanity) domain, which only
redirects to one of these: `keyrack set` follows that redirect once (flows/vanity.py). Strict
otherwise: https only, no user info, no query, no port on AWS's hosts, no spaces or control
characters, and a host under an AWS domain that is none of the forms above is a typo, not a vanity
domain. Stdlib `re` only; validate.py and set use it before anything is written or sent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from keyrack_sh import partitions
from keyrack_sh.errors import UserError

_URL = re.compile(r"https://(?P<host>[A-Za-z0-9.-]{1,253})(?::(?P<port>\d{1,5}))?"
                  r"(?P<path>/[A-Za-z0-9._~/%-]*)?(?P<fragment>#/?)?", re.ASCII)
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_REGION = r"(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})"
_ID = r"[a-z0-9][a-z0-9-]{0,62}"
_START = ("/start", "/start/")
_PORTAL_PATHS = ("", "/", "/start", "/start/")
_DIRECTORY = re.compile(r"/directory/[A-Za-z0-9._-]{1,64}/?")
_ISSUER = re.compile(r"/ssoins-[A-Za-z0-9]{16}/?")
_SHOWN_PATHS = {_DIRECTORY.pattern: "/directory/<id>", _ISSUER.pattern: "/ssoins-<16 letters or digits>"}

# (host pattern, partition the host implies or None, accepted paths or a path pattern)
_FORMS: tuple[tuple[re.Pattern[str], str | None, tuple[str, ...] | re.Pattern[str]], ...] = (
    (re.compile(rf"{_ID}\.portal\.{_REGION}\.app\.aws"), None, _PORTAL_PATHS),
    (re.compile(rf"{_ID}\.{_REGION}\.portal\.amazonaws\.com"), None, _PORTAL_PATHS),
    (re.compile(rf"{_ID}\.portal\.{_REGION}\.app\.amazonwebservices\.com\.cn"), partitions.CHINA, _PORTAL_PATHS),
    (re.compile(rf"{_ID}\.{_REGION}\.portal\.amazonaws\.com\.cn"), partitions.CHINA, _PORTAL_PATHS),
    (re.compile(rf"start\.(?:{_REGION}\.)?us-gov-home\.awsapps\.com"), partitions.GOVCLOUD,
     _DIRECTORY),
    (re.compile(rf"start\.(?:{_REGION}\.)?home\.awsapps\.cn"), partitions.CHINA,
     _DIRECTORY),
    (re.compile(r"identitycenter\.amazonaws\.com"), None, _ISSUER),
    (re.compile(r"identitycenter\.amazonaws\.com\.cn"), partitions.CHINA, _ISSUER),
    (re.compile(rf"{_ID}\.awsapps\.com"), None, _START),
    (re.compile(rf"{_ID}\.awsapps\.cn"), partitions.CHINA, _START),
)
# A host under one of these is AWS's: it must be one of the forms above.
AWS_DOMAINS = ("app.aws", "amazonaws.com", "awsapps.com", "awsapps.cn", "amazonaws.com.cn",
               "amazonwebservices.com.cn", "aws")
EXAMPLE = "https://<your-org>.awsapps.com/start"
_SHOWN = 60


@dataclass(frozen=True)
class Portal:
    """What a valid start URL says about where it signs in."""

    url: str
    host: str  # lower case
    aws_owned: bool  # False: a custom domain that redirects to an AWS portal
    region: str | None = None  # the SSO region, when the host names it
    partition: str | None = None  # when the host (or its region) implies one

    @property
    def vanity(self) -> bool:
        return not self.aws_owned


def _show(value: object) -> str:
    text = str(value).encode("unicode_escape", "backslashreplace").decode("ascii")
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def _bad(value: object, why: str) -> UserError:
    return UserError(f"invalid start URL {_show(value)}: {why}",
                     hint=f"--start-url {EXAMPLE} (your AWS access portal URL)")


def is_aws_domain(host: str) -> bool:
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in AWS_DOMAINS)


def parse(value: str) -> Portal:
    """The start URL's portal, or one UserError (exit 2) saying what is wrong with it."""
    if not isinstance(value, str) or not value:
        raise _bad(value, f"expected {EXAMPLE}")
    match = _URL.fullmatch(value)
    if match is None:
        if not value.startswith("https://"):
            raise _bad(value, "it must start with https://")
        raise _bad(value, f"expected {EXAMPLE}: https, a host name and a path only "
                          f"(no user@, query, spaces or other characters)")
    host = match.group("host").lower()
    path = match.group("path") or ""
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels) or (len(labels) < 2 and host != "localhost"):
        raise _bad(value, f"{host!r} is not a host name")
    if "//" in path:
        raise _bad(value, "the path has an empty segment")
    for pattern, partition, paths in _FORMS:
        found = pattern.fullmatch(host)
        if found is None:
            continue
        if match.group("port") is not None:
            raise _bad(value, f"AWS's portal {host} takes no port")
        ok = path in paths if isinstance(paths, tuple) else paths.fullmatch(path) is not None
        if not ok:
            shown = " or ".join(repr(p) for p in paths if p) if isinstance(paths, tuple) else _SHOWN_PATHS[paths.pattern]
            raise _bad(value, f"on {host} the path must be {shown}")
        region = found.groupdict().get("region")
        implied = partition or (partitions.of_region(region) if region else None)
        return Portal(url=_canonical(host, None, path), host=host, aws_owned=True, region=region, partition=implied)
    if is_aws_domain(host):
        raise _bad(value, f"{host} is an AWS host but not an access portal; expected {EXAMPLE}, "
                          f"https://<id>.portal.<region>.app.aws or your custom portal domain")
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise _bad(value, f"port {port} is out of range")
    return Portal(url=_canonical(host, port, path), host=host, aws_owned=False)


def _canonical(host: str, port: str | None, path: str) -> str:
    # One spelling per portal: `.../start#/` (an address bar) and `https://ACME.awsapps.com/start`
    # are the portal `https://acme.awsapps.com/start`, so they share one sso-session and sign-in.
    return f"https://{host}{':' + port if port else ''}{path}"


def same(a: str | None, b: str | None) -> bool:
    """Whether two start URLs name the same portal (host case, fragment and a final / aside)."""
    if a is None or b is None:
        return False
    return _comparable(a) == _comparable(b)


def _comparable(url: str) -> str:
    try:
        url = parse(url).url
    except UserError:
        pass
    return url.rstrip("/")


def sso_region(portal: Portal, given: str | None) -> str | None:
    """The SSO region: the one the host names, checked against `given`; else `given` (may be None).

    A given region that contradicts the host (another region, or another partition) is
    one UserError: IAM Identity Center would answer "Couldn't find Identity Center Instance".
    """
    if portal.region is not None:
        if given is not None and given != portal.region:
            raise UserError(f"--sso-region {given} contradicts the start URL {portal.url}, "
                            f"whose portal is in {portal.region}",
                            hint=f"leave out --sso-region (or --sso-region {portal.region})")
        return portal.region
    if given is not None and portal.partition is not None and partitions.of_region(given) != portal.partition:
        raise UserError(f"--sso-region {given} is in partition {partitions.of_region(given)}, but the start URL "
                        f"{portal.url} is a portal of partition {portal.partition}",
                        hint=f"use the region of your IAM Identity Center in {portal.partition}")
    return given
