"""The sign-in flows, in-process against the sandbox (the autouse firewall
points every endpoint at it): the PKCE redirect listener, device-code polling,
the client registration cache."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from keyrack_sh import cache, paths
from keyrack_sh.errors import UserError
from keyrack_sh.flows import device, pkce, portal, register
from keyrack_sh.profiles import SsoSession

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture()
def session(sandbox: Any) -> SsoSession:
    return SsoSession(name="s1", start_url=sandbox.start_url, region=sandbox.region)


def test_the_pkce_challenge_is_s256_as_the_server_checks_it() -> None:
    from keyrack_sh.sandbox.state import s256

    for verifier in ("dBjftJeZ4CVP-mJ92K9s5tHOrbBU8o1hTfqHYFOjBmE", "a" * 43, "x-y_z~0.9" * 10):
        challenge = pkce.challenge_for(verifier)
        assert challenge == s256(verifier)
        assert "=" not in challenge and "+" not in challenge and "/" not in challenge


def test_the_redirect_listener_accepts_only_its_own_state_once() -> None:
    import http.server
    import threading

    callback = pkce._Callback("right-state")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), callback.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path: str) -> int:
        try:
            return urllib.request.urlopen(base + path, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        assert get("/oauth/callback?code=evil&state=forged") == 400
        assert get("/elsewhere?code=c&state=right-state") == 400
        assert not callback.done.is_set()
        assert get("/oauth/callback?code=good&state=right-state") == 200
        assert callback.done.is_set() and callback.result == {"code": "good", "state": "right-state"}
        assert get("/oauth/callback?code=again&state=right-state") == 400
        assert callback.result["code"] == "good"
    finally:
        server.shutdown()
        server.server_close()


def test_a_pkce_sign_in_yields_a_cli_v2_token(sandbox: Any, session: SsoSession) -> None:
    client = register.client_for(session)
    token = pkce.sign_in(session, client, no_browser=False, timeout=20)
    assert token["startUrl"] == sandbox.start_url and token["clientId"] == client["clientId"]
    assert cache.token_expiry(token) - time.time() > 3000 and token["refreshToken"]
    assert sandbox.approvals == [("pkce", "alice", "keyrack-s1")]


def test_the_registration_is_cached_and_renewed_near_expiry(sandbox: Any, session: SsoSession) -> None:
    first = register.client_for(session)
    assert register.client_for(session) == first
    assert sandbox.count("RegisterClient") == 1
    assert sandbox.clients()[0]["clientName"] == "keyrack-s1"
    assert set(sandbox.clients()[0]["grantTypes"]) == {"authorization_code", "refresh_token", DEVICE}
    on_disk = json.loads(paths.client_file("s1").read_text())
    paths.client_file("s1").write_text(json.dumps({**on_disk, "expiresAt": int(time.time()) + 60}))
    second = register.client_for(session)
    assert second["clientId"] != first["clientId"]
    assert sandbox.count("RegisterClient") == 2


def test_device_polling_backs_off_by_5_s_on_slow_down(sandbox: Any, session: SsoSession) -> None:
    client = register.client_for(session)
    sandbox.fail("CreateToken", "SlowDownException", grant_type=DEVICE)
    sandbox.fail("CreateToken", "AuthorizationPendingException", grant_type=DEVICE)
    waits: list[float] = []
    token = device.sign_in(session, client, no_browser=False, timeout=60,
                           sleep=lambda s: (waits.append(s), time.sleep(0.3)))
    assert token["accessToken"]
    # The server's interval (1 s) plus 5 s after the SlowDown, and it stays backed off.
    assert waits[:2] == [6.0, 6.0]


def test_an_expired_device_code_gives_up_with_a_clear_error(sandbox: Any, session: SsoSession) -> None:
    client = register.client_for(session)
    sandbox.behaviour = "ignore"
    sandbox.fail("CreateToken", "ExpiredTokenException", grant_type=DEVICE)
    with pytest.raises(UserError, match="sign-in code .* expired before it was approved"):
        device.sign_in(session, client, no_browser=True, timeout=60, sleep=lambda s: None)


def test_a_denied_device_code_is_a_user_error(sandbox: Any, session: SsoSession) -> None:
    client = register.client_for(session)
    sandbox.behaviour = "deny"
    with pytest.raises(UserError, match="denied"):
        device.sign_in(session, client, no_browser=False, timeout=30, sleep=lambda s: time.sleep(0.3))


def test_the_redirect_page_does_not_claim_the_unlock_before_the_token_is_issued() -> None:
    import http.server
    import threading

    callback = pkce._Callback("st")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), callback.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/oauth/callback?code=c&state=st",
                                      timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    # CreateToken has not run yet: the terminal, not the browser, says whether keyrack is unlocked.
    assert "unlocked" not in page
    assert "return to your terminal" in page.lower()


def test_the_registration_is_renewed_when_the_scopes_change(sandbox: Any, session: SsoSession) -> None:
    first = register.client_for(session)
    wider = SsoSession(name=session.name, start_url=session.start_url, region=session.region,
                       scopes=("sso:account:access", "codewhisperer:completions"))
    second = register.client_for(wider)
    assert second["clientId"] != first["clientId"] and second["scopes"] == ["sso:account:access", "codewhisperer:completions"]
    assert register.client_for(wider) == second
    assert sandbox.count("RegisterClient") == 2


def test_a_device_code_that_expires_before_our_timeout_says_the_code_expired(sandbox: Any,
                                                                             session: SsoSession) -> None:
    client = register.client_for(session)
    sandbox.behaviour = "ignore"
    sandbox.set_lifetimes(device_code=2)
    with pytest.raises(UserError, match="sign-in code for sso-session 's1' expired before it was approved"):
        device.sign_in(session, client, no_browser=True, timeout=60, sleep=lambda s: time.sleep(0.1))
    # Our own, shorter timeout is still reported as ours.
    sandbox.set_lifetimes(device_code=600)
    with pytest.raises(UserError, match="timed out after 1 s"):
        device.sign_in(session, client, no_browser=True, timeout=1, sleep=lambda s: time.sleep(0.1))


@pytest.mark.parametrize("region", ["us_east_1", "us-east-1 ", ""])
def test_a_malformed_region_is_a_user_error_naming_it(session: SsoSession, region: str) -> None:
    bad = SsoSession(name=session.name, start_url=session.start_url, region=region)
    expected = repr(region) if region else "no IAM Identity Center region"
    calls = [lambda: register.client_for(bad, force=True),
             lambda: pkce.sign_in(bad, {"clientId": "c", "clientSecret": "s"}, no_browser=True, timeout=1),
             lambda: device.sign_in(bad, {"clientId": "c", "clientSecret": "s"}, no_browser=True, timeout=1),
             lambda: portal.role_credentials(bad, "token", "111111111111", "AdminRole"),
             lambda: portal.logout(region, "token"),
             lambda: portal.list_accounts(bad, "token")]
    for call in calls:
        with pytest.raises(UserError) as caught:
            call()
        assert expected in str(caught.value) and "sso_region" in (caught.value.hint or "")


def test_botocore_failures_read_as_sentences() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

    from keyrack_sh import aws

    assert str(aws.translate(EndpointConnectionError(endpoint_url="https://x"), "to log out")) == \
        "cannot reach IAM Identity Center to log out"
    assert str(aws.translate(NoRegionError(), "to log out")) == \
        "no IAM Identity Center region is set, needed to log out"
    throttled = ClientError({"Error": {"Code": "ThrottlingException"},
                             "ResponseMetadata": {"HTTPStatusCode": 429}}, "Logout")
    assert str(aws.translate(throttled, "to log out")) == \
        "IAM Identity Center failed to log out (ThrottlingException, HTTP 429)"


ENDPOINTS = {
    # sso region: (OIDC endpoint, portal endpoint), as botocore resolves them with no override
    "us-east-1": ("https://oidc.us-east-1.amazonaws.com", "https://portal.sso.us-east-1.amazonaws.com"),
    "cn-north-1": ("https://oidc.cn-north-1.amazonaws.com.cn", "https://portal.sso.cn-north-1.amazonaws.com.cn"),
    "cn-northwest-1": ("https://oidc.cn-northwest-1.amazonaws.com.cn",
                       "https://portal.sso.cn-northwest-1.amazonaws.com.cn"),
    "us-gov-west-1": ("https://oidc.us-gov-west-1.amazonaws.com", "https://portal.sso.us-gov-west-1.amazonaws.com"),
    "us-gov-east-1": ("https://oidc.us-gov-east-1.amazonaws.com", "https://portal.sso.us-gov-east-1.amazonaws.com"),
}


def test_china_and_govcloud_regions_reach_their_partitions_oidc_and_portal_endpoints(env: dict[str, str]) -> None:
    """keyrack's clients (aws.py), built offline in a fresh process with no endpoint override."""
    from harness import python

    clean = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    code = ("import json; from keyrack_sh import aws\n"
            f"print(json.dumps({{r: [aws.oidc_client(r).meta.endpoint_url, aws.portal_client(r).meta.endpoint_url]"
            f" for r in {sorted(ENDPOINTS)!r}}}))")
    proc = python(code, env=clean)
    assert proc.returncode == 0, proc.stderr
    assert {r: tuple(v) for r, v in json.loads(proc.stdout).items()} == ENDPOINTS
