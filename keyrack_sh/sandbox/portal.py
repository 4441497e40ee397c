"""The SSO portal (REST-JSON): GetRoleCredentials, ListAccounts, ListAccountRoles, Logout.

Every call carries the access token in `x-amz-sso_bearer_token`; an unknown,
expired or revoked one is UnauthorizedException (401). A role the user is not
assigned is ForbiddenException "No access" (403), as AWS answers.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence

from keyrack_sh.sandbox.state import AccessToken, ApiError, State
from keyrack_sh.sandbox.wire import Request, Response

TOKEN_HEADER = "x-amz-sso_bearer_token"


def who(state: State, req: Request) -> dict:
    return {"client_name": state.client_name_of_token(req.header(TOKEN_HEADER))}


def _session(state: State, req: Request) -> AccessToken:
    access = state.valid_access(req.header(TOKEN_HEADER))
    if access is None:
        raise ApiError("UnauthorizedException", "Session token not found or invalid")
    return access


def get_role_credentials(state: State, req: Request) -> Response:
    access = _session(state, req)
    account_id, role_name = req.param("account_id"), req.param("role_name")
    if not account_id or not role_name:
        raise ApiError("InvalidRequestException", "account_id and role_name are required")
    user = access.sign_in.user
    if not any(a.account_id == account_id and role_name in a.roles for a in state.accounts_of(user)):
        raise ApiError("ForbiddenException", "No access")
    creds = state.mint_role_credentials(account_id, role_name, user)
    return Response.json({"roleCredentials": {
        "accessKeyId": creds.access_key_id,
        "secretAccessKey": creds.secret_access_key,
        "sessionToken": creds.session_token,
        "expiration": int(creds.expires_at * 1000),
    }})


def list_accounts(state: State, req: Request) -> Response:
    access = _session(state, req)
    accounts = [{"accountId": a.account_id, "accountName": a.name, "emailAddress": a.email_address}
                for a in state.accounts_of(access.sign_in.user)]
    page, token = _page(state, req, accounts)
    return Response.json({"accountList": page, **({"nextToken": token} if token else {})})


def list_account_roles(state: State, req: Request) -> Response:
    access = _session(state, req)
    account_id = req.param("account_id")
    if not account_id:
        raise ApiError("InvalidRequestException", "account_id is required")
    roles = [{"roleName": r, "accountId": a.account_id}
             for a in state.accounts_of(access.sign_in.user) if a.account_id == account_id for r in a.roles]
    page, token = _page(state, req, roles)
    return Response.json({"roleList": page, **({"nextToken": token} if token else {})})


def logout(state: State, req: Request) -> Response:
    access = _session(state, req)
    state.revoke_sign_in(access.sign_in)
    return Response(200, {"Content-Type": "application/json"}, b"")


def _page(state: State, req: Request, items: Sequence[dict]) -> tuple[list[dict], str | None]:
    raw_max = req.param("max_result")
    try:
        size = int(raw_max) if raw_max is not None else state.config.page_size
    except ValueError:
        raise ApiError("InvalidRequestException", "max_result must be a number") from None
    if not 1 <= size <= 100:
        raise ApiError("InvalidRequestException", "max_result must be between 1 and 100")
    start = _offset(req.param("next_token"))
    if start > len(items):
        raise ApiError("InvalidRequestException", "invalid next_token")
    end = start + size
    token = _token_for(end) if end < len(items) else None
    return list(items[start:end]), token


def _token_for(offset: int) -> str:
    return base64.urlsafe_b64encode(f"keyrack-sandbox-page:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix != "keyrack-sandbox-page":
            raise ValueError(prefix)
        return int(number)
    except ValueError:
        raise ApiError("InvalidRequestException", "invalid next_token") from None
