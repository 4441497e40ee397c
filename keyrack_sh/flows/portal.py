"""The AWS access portal calls: role credentials, logout and the paged lists (bearer token, unsigned)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from keyrack_sh import aws, cache
from keyrack_sh.errors import ServiceError, UserError
from keyrack_sh.profiles import SsoSession


class Unauthorized(UserError):
    """The portal rejected the access token (revoked, signed out): the session is locked.

    The engine catches it and signs in again where allowed; a caller that
    lets it through shows the user a one-line error with the fix.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__("IAM Identity Center rejected the sign-in (revoked or signed out)",
                         hint="keyrack unlock PROFILE")
        self.detail = detail


class NoAccess(UserError):
    """The portal says the user has nothing in that account (ForbiddenException, ResourceNotFound)."""


# The codes with which the portal refuses a list call the user is not allowed.
REFUSALS = ("ForbiddenException", "ResourceNotFoundException", "AccessDeniedException")


def role_credentials(session: SsoSession, access_token: str, account_id: str, role_name: str) -> dict[str, Any]:
    """credential_process JSON for the role, from GetRoleCredentials."""
    try:
        sso = aws.portal_client(session.region)
        resp = sso.get_role_credentials(roleName=role_name, accountId=account_id, accessToken=access_token)
    except Exception as exc:
        code = aws.error_code(exc)
        if code == "UnauthorizedException":
            raise Unauthorized(code) from None
        if code in ("ForbiddenException", "ResourceNotFoundException"):
            raise UserError(f"no access to role {role_name!r} in account {account_id} "
                            f"through sso-session {session.name!r}",
                            hint="ask your administrator for the assignment, or keyrack set PROFILE "
                                 "--account-id ... --role-name ...") from None
        raise aws.translate(exc, "to issue role credentials") from None
    what = "to issue role credentials"
    creds = aws.object_field(resp, "roleCredentials", what)
    checked = {name: aws.text_field(creds, name, what, resp=resp)
               for name in ("accessKeyId", "secretAccessKey", "sessionToken")}
    checked["expiration"] = aws.number_field(creds, "expiration", what, resp=resp)
    return cache.role_creds_from_portal(checked, account_id)


def logout(region: str, access_token: str) -> None:
    """End the session at IAM Identity Center (also ends the browser's sign-in)."""
    try:
        sso = aws.portal_client(region)
        sso.logout(accessToken=access_token)
    except Exception as exc:
        if aws.error_code(exc) == "UnauthorizedException":
            raise Unauthorized("the token was already rejected") from None
        raise aws.translate(exc, "to log out") from None


def list_accounts(session: SsoSession, access_token: str) -> list[dict[str, Any]]:
    """Every account the token can reach (pages followed)."""
    return _every_page(session, "list_accounts", "accountList", "to list accounts", accessToken=access_token)


def list_account_roles(session: SsoSession, access_token: str, account_id: str) -> list[dict[str, Any]]:
    """Every role of `account_id` the token can reach (pages followed)."""
    return _every_page(session, "list_account_roles", "roleList", "to list roles",
                       accessToken=access_token, accountId=account_id)


def pages(call: Callable[[dict[str, str]], dict[str, Any]], key: str, what: str,
          **params: str) -> Iterator[list[dict[str, Any]]]:
    """The items of each page of a paged list call, following `nextToken` to the last page.

    `call(params)` makes one request (a caller may retry it). A token seen twice
    would loop forever: a ServiceError instead.
    """
    seen: set[str] = set()
    token = ""
    while True:
        page = call({**params, "nextToken": token} if token else dict(params))
        items = page.get(key) or []
        if not isinstance(items, list):
            raise ServiceError(f"IAM Identity Center answered a malformed page {what}", hint="try again in a moment")
        yield items
        token = page.get("nextToken") or ""
        if not token:
            return
        if token in seen:
            raise ServiceError(f"IAM Identity Center repeated a page token {what}", hint="try again in a moment")
        seen.add(token)


def _every_page(session: SsoSession, operation: str, key: str, what: str, **params: str) -> list[dict[str, Any]]:
    try:
        sso = aws.portal_client(session.region)
        call = getattr(sso, operation)
        return [item for page in pages(lambda p: call(**p), key, what, **params) for item in page]
    except Exception as exc:
        code = aws.error_code(exc)
        if code == "UnauthorizedException":
            raise Unauthorized("token rejected") from None
        if code in REFUSALS:
            raise NoAccess(f"IAM Identity Center refused {what} ({code})") from None
        raise aws.translate(exc, what) from None
