"""The sandbox IAM Identity Center, through boto3's real sso-oidc, sso and sts clients.

The clients find the sandbox through the endpoint overrides the isolated_home
fixture put in the environment (AWS_ENDPOINT_URL_SSO_OIDC/_SSO/_STS), exactly
as keyrack's own clients will.
"""
from __future__ import annotations

import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from harness import (
    assumed_role_arn,
    boto3_identity,
    browser_urls,
    install_browser,
    run,
    wait_for_browser_fetches,
    write_cli_v2_token,
)
from keyrack_sh.sandbox import Account, Sandbox, SandboxConfig, many_accounts, organisation
from keyrack_sh.sandbox.state import parse_organisation, s256

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
NO_RETRY = Config(retries={"total_max_attempts": 1})
SCOPES = ["sso:account:access"]


_SESSION: list[boto3.session.Session] = []


def client(name: str, **kwargs):
    """A real boto3 client (one shared session: service models load once).

    The endpoint comes from AWS_ENDPOINT_URL_* unless given; unsigned SSO calls
    still want some credentials configured.
    """
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0].client(name, region_name="us-east-1", aws_access_key_id="unused",
                              aws_secret_access_key="unused", config=kwargs.pop("config", NO_RETRY), **kwargs)


@pytest.fixture()
def oidc():
    return client("sso-oidc")


@pytest.fixture()
def portal():
    return client("sso")


def open_url(url: str) -> tuple[int, str, str]:
    """GET without following redirects: (status, Location, body)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Location", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode()


def register(oidc, name: str = "keyrack-test", grants=(DEVICE, "refresh_token"), **kwargs) -> dict:
    return oidc.register_client(clientName=name, clientType="public", scopes=SCOPES, grantTypes=list(grants),
                                **kwargs)


def device_sign_in(oidc, sandbox: Sandbox, reg: dict) -> dict:
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    assert open_url(auth["verificationUriComplete"])[0] == 200
    return oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                             deviceCode=auth["deviceCode"])


class Listener:
    """The PKCE loopback listener a CLI runs: 127.0.0.1, a free port, /oauth/callback."""

    def __init__(self) -> None:
        self.hits: list[dict[str, str]] = []
        self.got = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                listener.hits.append({k: v[0] for k, v in query.items()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                listener.got.set()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    lis = Listener()
    yield lis
    lis.close()


def authorize_url(sandbox: Sandbox, reg: dict, redirect_uri: str, challenge: str, state: str) -> str:
    return f"{sandbox.endpoint}/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": reg["clientId"], "redirect_uri": redirect_uri, "state": state,
        "code_challenge_method": "S256", "scopes": "sso:account:access", "code_challenge": challenge,
    })


def pkce_register(oidc, sandbox: Sandbox, name: str = "keyrack-pkce") -> dict:
    return register(oidc, name, grants=("authorization_code", "refresh_token"),
                    redirectUris=["http://127.0.0.1/oauth/callback"], issuerUrl=sandbox.start_url)


def pkce_code(sandbox: Sandbox, reg: dict, listener: Listener, env: dict) -> tuple[str, str]:
    """Open the authorize URL with the test BROWSER; return (code, verifier) from the loopback hit."""
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(16)
    url = authorize_url(sandbox, reg, listener.redirect_uri, s256(verifier), state)
    proc = run([env["BROWSER"], url], env=env, timeout=10)  # a browser launcher returns at once
    assert proc.returncode == 0
    assert listener.got.wait(10), "the browser never reached the loopback listener"
    hit = listener.hits[-1]
    assert hit["state"] == state
    return hit["code"], verifier


# -- the flows ---------------------------------------------------------------------------

def test_device_flow_end_to_end(oidc, portal, sandbox, sts):
    reg = register(oidc)
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    assert auth["interval"] == 1 and auth["expiresIn"] > 0
    assert auth["verificationUriComplete"].startswith(sandbox.endpoint)
    assert auth["userCode"] in auth["verificationUriComplete"]
    with pytest.raises(oidc.exceptions.AuthorizationPendingException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                          deviceCode=auth["deviceCode"])
    assert open_url(auth["verificationUriComplete"])[0] == 200  # the user approves
    token = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                              deviceCode=auth["deviceCode"])
    assert token["tokenType"] == "Bearer" and 3500 < token["expiresIn"] <= 3600
    assert token["refreshToken"]
    with pytest.raises(oidc.exceptions.InvalidGrantException):  # a device code is single use
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                          deviceCode=auth["deviceCode"])

    accounts = portal.list_accounts(accessToken=token["accessToken"])["accountList"]
    assert [(a["accountId"], a["accountName"]) for a in accounts] == [
        ("111111111111", "Production"), ("222222222222", "Staging")]
    roles = portal.list_account_roles(accessToken=token["accessToken"], accountId="222222222222")["roleList"]
    assert [r["roleName"] for r in roles] == ["AdminRole", "Developer"]
    creds = portal.get_role_credentials(accessToken=token["accessToken"], accountId="222222222222",
                                        roleName="Developer")["roleCredentials"]
    assert creds["expiration"] > (time.time() + 3000) * 1000  # epoch milliseconds
    sts_client = boto3.session.Session(
        aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"], region_name="us-east-1").client("sts")
    assert sts_client.meta.endpoint_url == sts  # the override reached the client
    assert sts_client.get_caller_identity()["Arn"] == assumed_role_arn("222222222222", "Developer")
    assert sandbox.sign_ins() == 1 and sandbox.consent_count("keyrack-test") == 1


def test_pkce_flow_end_to_end_through_the_test_browser(oidc, portal, sandbox, listener, env):
    reg = pkce_register(oidc, sandbox)
    code, verifier = pkce_code(sandbox, reg, listener, env)
    assert browser_urls(env)[0].startswith(f"{sandbox.endpoint}/authorize?")
    token = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                              grantType="authorization_code", code=code, redirectUri=listener.redirect_uri,
                              codeVerifier=verifier)
    assert token["refreshToken"]
    assert portal.list_accounts(accessToken=token["accessToken"])["accountList"]
    with pytest.raises(oidc.exceptions.InvalidGrantException):  # codes are single use
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                          grantType="authorization_code", code=code, redirectUri=listener.redirect_uri,
                          codeVerifier=verifier)
    assert wait_for_browser_fetches(1, env) == ["200 /oauth/callback"]
    assert sandbox.count("Authorize", client_name="keyrack-pkce") == 1


@pytest.mark.parametrize("tamper", ["verifier", "redirect_uri", "client"])
def test_pkce_code_is_bound_to_verifier_redirect_uri_and_client(oidc, sandbox, listener, env, tamper):
    reg = pkce_register(oidc, sandbox)
    other = pkce_register(oidc, sandbox, name="other")
    code, verifier = pkce_code(sandbox, reg, listener, env)
    who = other if tamper == "client" else reg
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(
            clientId=who["clientId"], clientSecret=who["clientSecret"], grantType="authorization_code", code=code,
            redirectUri=listener.redirect_uri + ("x" if tamper == "redirect_uri" else ""),
            codeVerifier=verifier + ("x" if tamper == "verifier" else ""))


def test_authorize_refuses_unregistered_redirect_uri(oidc, sandbox):
    reg = pkce_register(oidc, sandbox)
    url = authorize_url(sandbox, reg, "http://evil.example/oauth/callback", s256("v" * 50), "s")
    status, location, _ = open_url(url)
    assert status == 400 and location == ""  # never redirects to an unregistered URI
    # any loopback port matches the registered loopback URI (RFC 8252 7.3)
    status, location, _ = open_url(authorize_url(sandbox, reg, "http://127.0.0.1:1/oauth/callback",
                                                 s256("v" * 50), "s"))
    assert status == 302 and location.startswith("http://127.0.0.1:1/oauth/callback?code=")


def test_register_client_validates_like_the_service(oidc):
    with pytest.raises(oidc.exceptions.InvalidClientMetadataException):
        oidc.register_client(clientName="x", clientType="confidential")
    with pytest.raises(oidc.exceptions.InvalidRedirectUriException):
        register(oidc, grants=("authorization_code",), redirectUris=["https://example.com/cb"])
    with pytest.raises(oidc.exceptions.UnsupportedGrantTypeException):
        register(oidc, grants=("client_credentials",))
    legacy = oidc.register_client(clientName="legacy", clientType="public")  # no grant types: device only
    assert legacy["clientSecretExpiresAt"] > time.time() + 89 * 86400


def test_refresh_tokens_rotate(oidc, portal, sandbox):
    reg = register(oidc)
    first = device_sign_in(oidc, sandbox, reg)
    second = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                               grantType="refresh_token", refreshToken=first["refreshToken"])
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                          grantType="refresh_token", refreshToken=first["refreshToken"])
    third = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                              grantType="refresh_token", refreshToken=second["refreshToken"])
    assert portal.list_accounts(accessToken=third["accessToken"])["accountList"]
    assert sandbox.count("CreateToken", grant_type="refresh_token") == 3
    assert sandbox.sign_ins() == 1  # refreshing needs no person


def test_refresh_token_only_for_clients_registered_for_it(oidc, sandbox):
    reg = register(oidc, grants=(DEVICE,))
    assert "refreshToken" not in device_sign_in(oidc, sandbox, reg)


def test_refresh_token_dies_with_the_session(oidc, sandbox):
    sandbox.set_lifetimes(refresh=1)
    reg = register(oidc)
    token = device_sign_in(oidc, sandbox, reg)
    time.sleep(1.1)
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                          grantType="refresh_token", refreshToken=token["refreshToken"])


def test_logout_revokes_access_and_refresh_tokens(oidc, portal, sandbox):
    reg = register(oidc)
    first = device_sign_in(oidc, sandbox, reg)
    rotated = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                grantType="refresh_token", refreshToken=first["refreshToken"])
    other = device_sign_in(oidc, sandbox, reg)  # another sign-in survives
    portal.logout(accessToken=rotated["accessToken"])
    for token in (first, rotated):
        with pytest.raises(portal.exceptions.UnauthorizedException):
            portal.list_accounts(accessToken=token["accessToken"])
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                          grantType="refresh_token", refreshToken=rotated["refreshToken"])
    with pytest.raises(portal.exceptions.UnauthorizedException):
        portal.logout(accessToken=rotated["accessToken"])
    assert portal.list_accounts(accessToken=other["accessToken"])["accountList"]


def test_expired_and_revoked_tokens_and_registrations(oidc, portal, sandbox):
    reg = register(oidc)
    token = device_sign_in(oidc, sandbox, reg)
    sandbox.expire_access_tokens()
    with pytest.raises(portal.exceptions.UnauthorizedException):
        portal.get_role_credentials(accessToken=token["accessToken"], accountId="111111111111",
                                    roleName="AdminRole")
    renewed = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                grantType="refresh_token", refreshToken=token["refreshToken"])
    assert portal.list_accounts(accessToken=renewed["accessToken"])
    sandbox.revoke_all()
    with pytest.raises(portal.exceptions.UnauthorizedException):
        portal.list_accounts(accessToken=renewed["accessToken"])
    sandbox.expire_registrations()
    with pytest.raises(oidc.exceptions.InvalidClientException):
        oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                        startUrl=sandbox.start_url)
    with pytest.raises(oidc.exceptions.InvalidClientException):
        oidc.start_device_authorization(clientId=reg["clientId"], clientSecret="wrong",
                                        startUrl=sandbox.start_url)


def test_unassigned_role_is_no_access(oidc, portal, sandbox):
    token = device_sign_in(oidc, sandbox, register(oidc))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        portal.get_role_credentials(accessToken=token["accessToken"], accountId="111111111111",
                                    roleName="Developer")
    assert info.value.response["Error"]["Code"] == "ForbiddenException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_paging_of_accounts_and_roles(oidc, portal, sandbox):
    sandbox.set_accounts(many_accounts(45, roles_per_account=7))
    token = device_sign_in(oidc, sandbox, register(oidc))["accessToken"]
    pages = list(portal.get_paginator("list_accounts").paginate(accessToken=token,
                                                                PaginationConfig={"PageSize": 20}))
    assert [len(p["accountList"]) for p in pages] == [20, 20, 5]
    ids = [a["accountId"] for p in pages for a in p["accountList"]]
    assert len(set(ids)) == 45
    assert "nextToken" not in pages[-1]
    roles = list(portal.get_paginator("list_account_roles").paginate(
        accessToken=token, accountId=ids[3], PaginationConfig={"PageSize": 3}))
    assert [len(p["roleList"]) for p in roles] == [3, 3, 1]
    assert sandbox.count("ListAccountRoles") == 3
    first = portal.list_accounts(accessToken=token)  # the default page size
    assert len(first["accountList"]) == 20 and first["nextToken"]
    with pytest.raises(portal.exceptions.InvalidRequestException):
        portal.list_accounts(accessToken=token, nextToken="garbage")


# -- a large organisation, throttling, latency ------------------------------------------------

def test_a_large_organisation_has_awkward_names_and_roles_that_vary_around_the_size():
    org = organisation(500, 4)
    assert len(org) == 500 and sum(len(a.roles) for a in org) == 2000
    assert {len(a.roles) for a in org} == {3, 4, 5}
    assert len({a.account_id for a in org}) == 500 and all(len(a.account_id) == 12 for a in org)
    assert [a.account_id for a in org] != sorted(a.account_id for a in org)
    names = [a.name for a in org]
    assert {"Prod", "prod", "Données Équipe", "team  a", "Team A"} <= set(names)
    assert names.count("Shared Services") == 2
    assert all(len(set(a.roles)) == len(a.roles) for a in org)
    assert sum(len(a.roles) for a in organisation(7, 1)) == 7 and sum(len(a.roles) for a in organisation(8, 3)) == 24
    assert parse_organisation("500x4") == (500, 4) and parse_organisation("2X3") == (2, 3)
    for bad in ("500", "x4", "0x4", "5x0", "axb", "5x4x3"):
        with pytest.raises(ValueError, match="ACCOUNTSxROLES"):
            parse_organisation(bad)


def test_throttle_every_third_list_call_is_too_many_requests(portal, sandbox):
    sandbox.use_organisation(3, 2)
    sandbox.configure(throttle_every=3)
    token = sandbox.issue_session()["accessToken"]
    account = sandbox.accounts()[0].account_id
    answers = []
    for call in (lambda: portal.list_accounts(accessToken=token),
                 lambda: portal.list_account_roles(accessToken=token, accountId=account)) * 3:
        try:
            call()
            answers.append("ok")
        except portal.exceptions.TooManyRequestsException as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            answers.append("429")
    assert answers == ["ok", "ok", "429", "ok", "ok", "429"]  # both list calls count together
    # Other calls are never throttled, nor counted (two more would make the next list call the 9th).
    for _ in range(2):
        portal.get_role_credentials(accessToken=token, accountId=account, roleName=sandbox.accounts()[0].roles[0])
    assert portal.list_accounts(accessToken=token)["accountList"]
    sandbox.reset()
    for _ in range(4):
        portal.list_accounts(accessToken=sandbox.issue_session()["accessToken"])  # back to never


def test_the_sandbox_counts_calls_in_flight_and_latency_holds_them(portal, sandbox):
    token = sandbox.issue_session()["accessToken"]
    sandbox.configure(latency=60)
    threads = [threading.Thread(target=portal.list_accounts, kwargs={"accessToken": token}) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        assert _wait(lambda: sandbox.in_flight == 3)
        assert sandbox.max_in_flight == 3
    finally:
        sandbox.configure(latency=0)
        sandbox.release_hangs()  # ends the waits in progress
        for t in threads:
            t.join(timeout=30)
    assert sandbox.in_flight == 0 and sandbox.max_in_flight == 3
    sandbox.reset()
    assert sandbox.max_in_flight == 0


def test_a_fault_after_some_calls_lets_those_through(portal, sandbox):
    token = sandbox.issue_session()["accessToken"]
    sandbox.fail("ListAccounts", "InternalServerException", times=1, after=2)
    portal.list_accounts(accessToken=token)
    portal.list_accounts(accessToken=token)
    with pytest.raises(portal.exceptions.ClientError):
        portal.list_accounts(accessToken=token)
    assert portal.list_accounts(accessToken=token)["accountList"]


def _wait(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- the user: deny, ignore -----------------------------------------------------------------

def test_deny(oidc, sandbox, listener, env):
    sandbox.behaviour = "deny"
    reg = register(oidc)
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    open_url(auth["verificationUriComplete"])
    with pytest.raises(oidc.exceptions.AccessDeniedException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                          deviceCode=auth["deviceCode"])
    preg = pkce_register(oidc, sandbox)
    url = authorize_url(sandbox, preg, listener.redirect_uri, s256("v" * 50), "st")
    status, location, _ = open_url(url)
    assert status == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"] and "code" not in query
    assert sandbox.sign_ins() == 0 and sandbox.consent_count() == 0


def test_ignore(oidc, sandbox, listener, env):
    sandbox.behaviour = "ignore"
    sandbox.set_lifetimes(device_code=1.5)
    reg = register(oidc)
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    assert open_url(auth["verificationUriComplete"])[0] == 200
    with pytest.raises(oidc.exceptions.AuthorizationPendingException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                          deviceCode=auth["deviceCode"])
    time.sleep(1.6)
    with pytest.raises(oidc.exceptions.ExpiredTokenException):
        oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                          deviceCode=auth["deviceCode"])
    preg = pkce_register(oidc, sandbox)
    status, location, body = open_url(authorize_url(sandbox, preg, listener.redirect_uri, s256("v" * 50), "s"))
    assert status == 200 and location == "" and "Waiting" in body
    assert not listener.got.wait(0.3)


def test_ignored_device_code_approved_later(oidc, sandbox):
    sandbox.behaviour = "ignore"
    reg = register(oidc)
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    kwargs = dict(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                  deviceCode=auth["deviceCode"])
    results: list[object] = []

    def poll() -> None:  # a client polling at its interval, as keyrack will
        while not results:
            try:
                results.append(oidc.create_token(**kwargs))
            except oidc.exceptions.AuthorizationPendingException:
                time.sleep(auth["interval"])

    thread = threading.Thread(target=poll)
    thread.start()
    assert sandbox.wait_for_count("CreateToken", 1, grant_type="device_code")
    assert sandbox.approve_device("nope-nope") == 0
    assert sandbox.approve_device(auth["userCode"]) == 1
    thread.join(10)
    assert results and results[0]["accessToken"]
    assert sandbox.sign_ins() == 1 and not sandbox.wait_for_count("Logout", 1, timeout=0.1)


def test_polling_too_fast_is_slow_down(oidc, sandbox):
    reg = register(oidc)
    auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                           startUrl=sandbox.start_url)
    kwargs = dict(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                  deviceCode=auth["deviceCode"])
    with pytest.raises(oidc.exceptions.AuthorizationPendingException):
        oidc.create_token(**kwargs)
    with pytest.raises(oidc.exceptions.SlowDownException):
        oidc.create_token(**kwargs)
    time.sleep(auth["interval"])
    with pytest.raises(oidc.exceptions.AuthorizationPendingException):
        oidc.create_token(**kwargs)


def test_consent_is_once_per_client_name(oidc, sandbox):
    for _ in range(3):
        device_sign_in(oidc, sandbox, register(oidc, "botocore-client-acme"))
    device_sign_in(oidc, sandbox, register(oidc, "other-tool"))
    assert sandbox.sign_ins() == 4
    assert sandbox.sign_ins("botocore-client-acme") == 3
    assert sandbox.consents == {"botocore-client-acme": 1, "other-tool": 1}


# -- faults ---------------------------------------------------------------------------

def _args(sandbox: Sandbox, oidc, portal, operation: str) -> tuple[object, str, dict]:
    """(client, method, kwargs) for one call of `operation` that would otherwise succeed."""
    if operation == "RegisterClient":
        return oidc, "register_client", {"clientName": "f", "clientType": "public"}
    reg = register(oidc, "f")
    if operation == "StartDeviceAuthorization":
        return oidc, "start_device_authorization", {"clientId": reg["clientId"], "clientSecret": reg["clientSecret"],
                                                    "startUrl": sandbox.start_url}
    token = sandbox.issue_session("f")
    if operation == "CreateToken":
        return oidc, "create_token", {"clientId": token["clientId"], "clientSecret": token["clientSecret"],
                                      "grantType": "refresh_token", "refreshToken": token["refreshToken"]}
    access = {"accessToken": token["accessToken"]}
    account = {**access, "accountId": "111111111111"}
    method, kwargs = {
        "GetRoleCredentials": ("get_role_credentials", {**account, "roleName": "AdminRole"}),
        "ListAccounts": ("list_accounts", access),
        "ListAccountRoles": ("list_account_roles", account),
        "Logout": ("logout", access),
    }[operation]
    return portal, method, kwargs


OIDC_FAULTS = [
    ("RegisterClient", "InternalServerException", 500),
    ("RegisterClient", "SlowDownException", 400),
    ("RegisterClient", "InvalidScopeException", 400),
    ("StartDeviceAuthorization", "SlowDownException", 400),
    ("StartDeviceAuthorization", "InvalidClientException", 401),
    ("StartDeviceAuthorization", "InternalServerException", 500),
    ("CreateToken", "AuthorizationPendingException", 400),
    ("CreateToken", "SlowDownException", 400),
    ("CreateToken", "ExpiredTokenException", 400),
    ("CreateToken", "InvalidGrantException", 400),
    ("CreateToken", "InvalidClientException", 401),
    ("CreateToken", "AccessDeniedException", 400),
    ("CreateToken", "InvalidRequestException", 400),
    ("CreateToken", "InternalServerException", 500),
]
PORTAL_FAULTS = [
    (op, code, status)
    for op in ("GetRoleCredentials", "ListAccounts", "ListAccountRoles", "Logout")
    for code, status in (("UnauthorizedException", 401), ("TooManyRequestsException", 429),
                         ("InvalidRequestException", 400))
] + [("GetRoleCredentials", "ResourceNotFoundException", 404)]


@pytest.mark.parametrize("operation, code, status", OIDC_FAULTS + PORTAL_FAULTS)
def test_each_fault_reaches_botocore_as_its_modelled_exception(oidc, portal, sandbox, operation, code, status):
    api, method, kwargs = _args(sandbox, oidc, portal, operation)
    sandbox.fail(operation, code)
    with pytest.raises(getattr(api.exceptions, code)) as info:
        getattr(api, method)(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    getattr(api, method)(**kwargs)  # times=1: the next call is served


@pytest.mark.parametrize("operation", ["GetRoleCredentials", "ListAccounts", "Logout"])
def test_unmodelled_portal_fault_is_a_client_error_with_its_code(oidc, portal, sandbox, operation):
    api, method, kwargs = _args(sandbox, oidc, portal, operation)
    sandbox.fail(operation, "InternalServerException")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        getattr(api, method)(**kwargs)
    assert info.value.response["Error"]["Code"] == "InternalServerException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_faults_count_down_and_retrying_clients_get_through(oidc, sandbox):
    sandbox.fail("RegisterClient", "InternalServerException", times=2)
    retrying = client("sso-oidc", config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))
    reg = retrying.register_client(clientName="r", clientType="public")
    assert reg["clientId"]
    assert sandbox.count("RegisterClient", client_name="r") == 3


def test_fault_for_one_grant_type_only(oidc, sandbox):
    token = sandbox.issue_session("g")
    sandbox.fail("CreateToken", "InvalidGrantException", grant_type="refresh_token")
    reg = register(oidc, "g2")
    device_sign_in(oidc, sandbox, reg)  # device_code grant: untouched
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(clientId=token["clientId"], clientSecret=token["clientSecret"],
                          grantType="refresh_token", refreshToken=token["refreshToken"])


def test_fault_status_can_be_overridden(oidc, sandbox):
    sandbox.fail("RegisterClient", "SlowDownException", status=429)
    with pytest.raises(oidc.exceptions.SlowDownException) as info:
        oidc.register_client(clientName="s", clientType="public")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_fault_arguments_are_checked(sandbox):
    with pytest.raises(ValueError):
        sandbox.fail("RegisterClients", "InternalServerException")
    with pytest.raises(ValueError):
        sandbox.fail("RegisterClient", "NoSuchException")
    with pytest.raises(ValueError):
        sandbox.behaviour = "shrug"


def test_delay(oidc, sandbox):
    sandbox.delay("RegisterClient", 0.5)
    started = time.monotonic()
    oidc.register_client(clientName="d", clientType="public")
    assert time.monotonic() - started >= 0.5
    assert sandbox.state.take_fault("RegisterClient") is None  # used up by the one call it was for
    oidc.register_client(clientName="d", clientType="public")


def test_hang_until_released(sandbox):
    sandbox.hang("ListAccounts")
    token = sandbox.issue_session("h")["accessToken"]
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(client("sso").list_accounts(accessToken=token)))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and not results
    sandbox.release_hangs()
    thread.join(5)
    assert results and results[0]["accountList"]


def test_hang_ends_when_the_server_stops():
    with Sandbox() as sb:
        sb.hang("RegisterClient")
        oidc = client("sso-oidc", endpoint_url=sb.endpoint, config=Config(retries={"total_max_attempts": 1},
                                                                           read_timeout=30))
        errors: list[BaseException] = []

        def call() -> None:
            try:
                oidc.register_client(clientName="x", clientType="public")
            except BaseException as exc:  # noqa: BLE001 (whatever the client raises)
                errors.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.3)
    thread.join(10)
    assert not thread.is_alive()
    assert errors, "a dropped connection is an error for the client"


# -- counting -----------------------------------------------------------------------------

def test_counts_by_operation_and_client(oidc, portal, sandbox):
    a = device_sign_in(oidc, sandbox, register(oidc, "alpha"))
    device_sign_in(oidc, sandbox, register(oidc, "beta"))
    portal.list_accounts(accessToken=a["accessToken"])
    assert sandbox.count("RegisterClient") == 2
    assert sandbox.count("CreateToken", client_name="alpha") == 1
    assert sandbox.count("CreateToken", grant_type="device_code") == 2
    assert sandbox.count("ListAccounts", client_name="alpha") == 1
    assert sandbox.count("ListAccounts", client_name="beta") == 0
    counts = sandbox.counts()
    assert counts["by_operation"]["VerifyDevice"] == 2
    assert counts["by_client"]["beta"] == {"RegisterClient": 1, "StartDeviceAuthorization": 1,
                                           "VerifyDevice": 1, "CreateToken": 1}
    sandbox.reset()
    assert sandbox.counts() == {"by_operation": {}, "by_client": {}}


def test_a_burst_of_concurrent_callers_is_served_and_counted(sandbox):
    token = sandbox.issue_session("burst")["accessToken"]
    clients = [client("sso") for _ in range(32)]
    results: list[object] = []
    barrier = threading.Barrier(len(clients))

    def call(c) -> None:
        barrier.wait()
        results.append(c.list_accounts(accessToken=token)["accountList"])

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 32 and all(len(r) == 2 for r in results)
    assert sandbox.count("ListAccounts", client_name="burst") == 32


def test_minted_secrets_cover_everything_handed_out(oidc, portal, sandbox):
    reg = register(oidc)
    token = device_sign_in(oidc, sandbox, reg)
    creds = portal.get_role_credentials(accessToken=token["accessToken"], accountId="111111111111",
                                        roleName="AdminRole")["roleCredentials"]
    minted = sandbox.minted_secrets()
    for secret in (reg["clientSecret"], token["accessToken"], token["refreshToken"],
                   creds["secretAccessKey"], creds["sessionToken"]):
        assert secret in minted
    assert creds["accessKeyId"] not in minted  # an id, not a secret


def test_reset_restores_the_starting_configuration(sandbox):
    sandbox.behaviour = "deny"
    sandbox.user = "bob"
    sandbox.set_accounts([Account("333333333333", "Other", ("X",))])
    sandbox.set_lifetimes(access=5)
    sandbox.reset()
    assert sandbox.behaviour == "approve" and sandbox.user == "alice"
    assert [a.account_id for a in sandbox.accounts()] == ["111111111111", "222222222222"]
    assert sandbox.lifetimes.access == 3600


def test_users_have_their_own_assignments(oidc, portal, sandbox):
    sandbox.user = "bob"
    sandbox.set_accounts([Account("333333333333", "Sandbox", ("Builder",))])
    token = device_sign_in(oidc, sandbox, register(oidc))
    accounts = portal.list_accounts(accessToken=token["accessToken"])["accountList"]
    assert [a["accountId"] for a in accounts] == ["333333333333"]


# -- STS -------------------------------------------------------------------------------------

def test_own_sts_answers_for_the_credentials_it_minted():
    with Sandbox(SandboxConfig(user="carol")) as sb:
        assert sb.sts_endpoint == sb.endpoint
        portal = client("sso", endpoint_url=sb.endpoint)
        token = sb.issue_session("own-sts")["accessToken"]
        creds = portal.get_role_credentials(accessToken=token, accountId="111111111111",
                                            roleName="ReadOnly")["roleCredentials"]

        def sts_with(secret: str, session_token: str):
            return boto3.session.Session(
                aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=secret,
                aws_session_token=session_token, region_name="us-east-1",
            ).client("sts", endpoint_url=sb.endpoint, config=NO_RETRY)

        identity = sts_with(creds["secretAccessKey"], creds["sessionToken"]).get_caller_identity()
        assert identity["Arn"] == assumed_role_arn("111111111111", "ReadOnly", "carol")
        assert identity["Account"] == "111111111111"
        assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":carol")
        def tampered(value: str) -> str:
            # Never a no-op: a secret that already ends in "x" gets "y".
            return value[:-1] + ("y" if value.endswith("x") else "x")

        for secret, session_token, code in (
                (tampered(creds["secretAccessKey"]), creds["sessionToken"], "SignatureDoesNotMatch"),
                (creds["secretAccessKey"], creds["sessionToken"] + "x", "InvalidClientTokenId")):
            with pytest.raises(botocore.exceptions.ClientError) as info:
                sts_with(secret, session_token).get_caller_identity()
            assert info.value.response["Error"]["Code"] == code
        sb.expire_role_credentials()
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sts_with(creds["secretAccessKey"], creds["sessionToken"]).get_caller_identity()
        assert info.value.response["Error"]["Code"] == "ExpiredToken"
        sb.fail("GetCallerIdentity", "Throttling")
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sts_with(creds["secretAccessKey"], creds["sessionToken"]).get_caller_identity()
        assert info.value.response["Error"]["Code"] == "Throttling"
        assert sb.count("GetCallerIdentity", client_name="111111111111/ReadOnly") == 5


def test_botocore_sso_profile_works_against_the_sandbox(sandbox, env):
    """botocore's own SSO provider reads a CLI-v2-format token and reaches the portal and moto."""
    token = sandbox.issue_session("botocore-client-interop")
    write_cli_v2_token("interop", token, env)
    with open(env["AWS_CONFIG_FILE"], "w") as f:
        f.write("[profile sso]\nsso_session = interop\nsso_account_id = 222222222222\n"
                "sso_role_name = AdminRole\nregion = us-east-1\n\n"
                f"[sso-session interop]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n")
    assert boto3_identity("sso", env) == assumed_role_arn("222222222222", "AdminRole")
    assert sandbox.count("GetRoleCredentials", client_name="botocore-client-interop") == 1


# -- the harness itself ------------------------------------------------------------------------

def test_the_home_firewall(isolated_home, sandbox, sts):
    assert os.environ["HOME"] == str(isolated_home.root)
    assert os.path.expanduser("~") == str(isolated_home.root)
    assert os.environ["AWS_CONFIG_FILE"] == str(isolated_home.config)
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.environ["AWS_ENDPOINT_URL_SSO_OIDC"] == os.environ["AWS_ENDPOINT_URL_SSO"] == sandbox.endpoint
    assert os.environ["AWS_ENDPOINT_URL_STS"] == sts
    assert "KEYRACK_HOME" not in os.environ
    assert not set(os.environ) & {"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_PROFILE"}
    assert all(os.environ[k].startswith(str(isolated_home.tmp)) for k in os.environ if k.startswith("XDG_"))
    assert not str(isolated_home.browser).startswith(str(isolated_home.root))  # its logs stay out of HOME


def test_the_browser_returns_at_once_and_fetches_in_the_background(env, sandbox, tmp_path):
    url = f"{sandbox.endpoint}/device?user_code=NONE-SUCH"
    assert run([env["BROWSER"], url], env=env, timeout=10).returncode == 0  # returns at once (timeout=10)
    assert browser_urls(env) == [url]
    assert wait_for_browser_fetches(1, env) == ["404 /device"]
    failing = install_browser(tmp_path / "failing")
    assert run([str(failing), url], env={**env, "TEST_BROWSER_MODE": "fail"}).returncode == 1


def test_standalone_server_prints_exports_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh.sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        exports = {}
        for _ in range(5):
            line = proc.stdout.readline()
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                exports[name] = value
        assert set(exports) == {"AWS_ENDPOINT_URL_SSO_OIDC", "AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_STS",
                                "AWS_ENDPOINT_URL_SIGNIN"}
        endpoint = exports["AWS_ENDPOINT_URL_SSO_OIDC"]
        assert endpoint.startswith("http://127.0.0.1:") and exports["AWS_ENDPOINT_URL_STS"] == endpoint
        reg = client("sso-oidc", endpoint_url=endpoint).register_client(clientName="cli", clientType="public")
        assert reg["clientId"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_standalone_server_serves_a_large_organisation_paged_and_throttled():
    proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh.sandbox", "--org", "30x2", "--page-size", "7",
                             "--throttle-every", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        exports = dict(line[len("export "):].strip().partition("=")[::2]
                       for line in (proc.stdout.readline() for _ in range(4)))
        endpoint = exports["AWS_ENDPOINT_URL_SSO"]
        oidc, sso = client("sso-oidc", endpoint_url=endpoint), client("sso", endpoint_url=endpoint)
        reg = oidc.register_client(clientName="cli", clientType="public",
                                   grantTypes=[DEVICE], scopes=SCOPES)
        auth = oidc.start_device_authorization(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                                               startUrl="https://keyrack-sandbox.awsapps.com/start")
        assert open_url(auth["verificationUriComplete"])[0] == 200
        token = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"], grantType=DEVICE,
                                  deviceCode=auth["deviceCode"])["accessToken"]
        pages, answers, next_token = [], [], None
        while True:
            try:
                page = sso.list_accounts(accessToken=token, **({"nextToken": next_token} if next_token else {}))
            except sso.exceptions.TooManyRequestsException:
                answers.append("429")
                continue
            answers.append("ok")
            pages.append(len(page["accountList"]))
            next_token = page.get("nextToken")
            if not next_token:
                break
        assert pages == [7, 7, 7, 7, 2] and answers == ["ok", "ok", "ok", "429", "ok", "ok"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


# -- the sign-in federation endpoint and the console page ------------------------------

def _federation(sandbox: Sandbox, **params: str) -> tuple[int, str, str]:
    return open_url(f"{sandbox.endpoint}/federation?" + urllib.parse.urlencode(params))


def _role_session(sandbox: Sandbox, portal, account: str = "111111111111", role: str = "AdminRole") -> str:
    token = sandbox.issue_session()
    creds = portal.get_role_credentials(accessToken=token["accessToken"], accountId=account,
                                        roleName=role)["roleCredentials"]
    return json.dumps({"sessionId": creds["accessKeyId"], "sessionKey": creds["secretAccessKey"],
                       "sessionToken": creds["sessionToken"]})


def test_federation_trades_minted_role_credentials_for_a_login_that_opens_the_console(sandbox, portal) -> None:
    status, _, body = _federation(sandbox, Action="getSigninToken", Session=_role_session(sandbox, portal))
    assert status == 200
    token = json.loads(body)["SigninToken"]
    destination = "https://console.aws.amazon.com/s3/home?region=ap-south-1"
    status, location, _ = _federation(sandbox, Action="login", Issuer="test", Destination=destination,
                                      SigninToken=token)
    assert status == 302 and location.startswith(f"{sandbox.endpoint}/console?session=")
    status, _, page = open_url(location)
    assert status == 200
    assert '<dd id="role">AdminRole</dd>' in page and '<dd id="account">111111111111</dd>' in page
    assert '<dd id="region">ap-south-1</dd>' in page
    assert sandbox.console_sessions() == [{"account_id": "111111111111", "role_name": "AdminRole",
                                           "user": sandbox.user, "destination": destination,
                                           "region": "ap-south-1"}]
    assert sandbox.count("GetSigninToken") == 1 and sandbox.count("Login") == 1


def test_federation_refuses_credentials_it_did_not_mint(sandbox, portal) -> None:
    session = json.loads(_role_session(sandbox, portal))
    session["sessionKey"] = "not-the-secret"
    status, _, _ = _federation(sandbox, Action="getSigninToken", Session=json.dumps(session))
    assert status == 400
    status, _, _ = _federation(sandbox, Action="getSigninToken", Session="{not json")
    assert status == 400


def test_federation_login_refuses_a_bad_token_and_a_destination_off_the_console(sandbox, portal) -> None:
    token = json.loads(_federation(sandbox, Action="getSigninToken", Session=_role_session(sandbox, portal))[2])
    status, _, _ = _federation(sandbox, Action="login", SigninToken="forged",
                               Destination="https://console.aws.amazon.com/console/home")
    assert status == 400
    status, _, _ = _federation(sandbox, Action="login", SigninToken=token["SigninToken"],
                               Destination="https://evil.example/console.aws.amazon.com")
    assert status == 400
    assert open_url(f"{sandbox.endpoint}/console?session=nope")[0] == 403
    assert sandbox.console_sessions() == []


def test_before_runs_another_tool_s_action_first_once_and_that_call_is_then_answered_as_usual(oidc, sandbox):
    reg = register(oidc)
    first = device_sign_in(oidc, sandbox, reg)
    kwargs = {"clientId": reg["clientId"], "clientSecret": reg["clientSecret"], "grantType": "refresh_token"}
    theirs = []
    # Another tool spends the same refresh token just as this refresh reaches the server.
    sandbox.before("CreateToken", lambda: theirs.append(oidc.create_token(**kwargs,
                                                                          refreshToken=first["refreshToken"])),
                   grant_type="refresh_token")
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**kwargs, refreshToken=first["refreshToken"])
    assert len(theirs) == 1 and theirs[0]["refreshToken"] != first["refreshToken"]
    assert oidc.create_token(**kwargs, refreshToken=theirs[0]["refreshToken"])["accessToken"]  # no second run
    assert len(theirs) == 1
    assert sandbox.count("CreateToken", grant_type="refresh_token") == 3
