"""The sign-in flows, in-process against the sandbox (the autouse firewall
points every endpoint at it): the PKCE redirect listener, device-code polling,
the client registration cache."""
from __future__ import annotations

import json
import time
import urllib.error
from pathlib import Path
import urllib.request
from typing import Any

import pytest

from keyrack_sh import cache, paths
from keyrack_sh.errors import UserError
from keyrack_sh.flows import device, pkce, portal, register
from keyrack_sh.profiles import SsoSession
from engine_support import home  # noqa: F401 (fixture)

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


# -- remote hosts: the device code by default -------------------------------------------------

def test_ssh_and_wsl_are_remote_and_a_configured_browser_is_not_headless(tmp_path: Any) -> None:
    from keyrack_sh import remote

    local = tmp_path / "version-local"
    local.write_text("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)")
    wsl = tmp_path / "version-wsl"
    wsl.write_text("Linux version 5.15.146.1-microsoft-standard-WSL2 (root@65c757a075e2)")
    assert remote.where({}, str(local)) is None
    assert remote.where({}, str(tmp_path / "absent")) is None
    assert remote.where({}, str(wsl)) == "WSL"
    assert remote.where({"WSL_DISTRO_NAME": "Ubuntu"}, str(local)) == "WSL"
    for name in ("SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT"):
        assert remote.where({name: "x"}, str(local)) == "SSH"
    ssh = {"SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22"}
    assert remote.headless(None, ssh)
    assert not remote.headless(None, {**ssh, "BROWSER": "w3m"})
    assert not remote.headless("firefox {url}", ssh)


def test_the_flow_setting_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrack_sh import engine

    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")
    assert engine.login_flow(None, None) == "device"
    assert engine.login_flow(None, "firefox {url}") == "pkce"  # a browser is configured
    assert engine.login_flow("pkce", None) == "pkce"  # the profile's keyrack_login
    monkeypatch.setenv("KEYRACK_LOGIN", "pkce")
    assert engine.login_flow("device", None) == "pkce"  # the environment beats the profile
    assert engine.login_flow("pkce", None, device_code=True) == "device"  # the flag beats all
    monkeypatch.setenv("KEYRACK_LOGIN", "browser")
    with pytest.raises(UserError, match="KEYRACK_LOGIN='browser' is not one of pkce, device"):
        engine.login_flow(None, None)


SSH = {"SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22", "SSH_TTY": "/dev/pts/3"}


class Approver:
    """The user, on their laptop, approving whatever device code appears (nobody opens a browser here)."""

    def __init__(self, sandbox: Any) -> None:
        import threading

        self.sandbox, self.stop = sandbox, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            if self.sandbox.approve_device():
                return

    def __enter__(self) -> Approver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def _user_codes(sandbox: Any) -> list[str]:
    with sandbox.state.lock:
        return [d.user_code for d in sandbox.state.devices.values()]


def test_over_ssh_without_a_browser_the_sdks_sign_in_is_a_device_code_shown_on_the_terminal(home: Any) -> None:
    import shlex

    from keyrack_sh import resources
    from tty_test import run_on_a_terminal

    browser = Path(home.env.pop("BROWSER"))
    with Approver(home.sandbox):
        proc, terminal = run_on_a_terminal(home, shlex.split(resources.credential_process_command("p1")), **SSH)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AccessKeyId"] and proc.stderr == ""
    assert home.sandbox.count("StartDeviceAuthorization") == 1
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 0
    (code,) = _user_codes(home.sandbox)
    assert f"open this URL and confirm the code {code}: http" in terminal
    assert not (browser.parent / "browser.log").exists()  # nothing tried a browser here


def test_unlock_over_ssh_shows_the_code_and_a_setting_or_a_browser_keeps_the_redirect(home: Any) -> None:
    browser = home.env.pop("BROWSER")
    with Approver(home.sandbox):
        proc = home.keyrack("unlock", "p1", **SSH)
    assert proc.returncode == 0, proc.stderr
    (code,) = _user_codes(home.sandbox)
    assert f"confirm the code {code}" in proc.stderr and "unlocked sso-session s1" in proc.stdout
    # KEYRACK_LOGIN=pkce: the redirect flow even over SSH (say, with the port forwarded); nobody completes it here.
    proc = home.keyrack("unlock", "q1", KEYRACK_LOGIN="pkce", KEYRACK_SIGNIN_TIMEOUT="2", **SSH)
    assert proc.returncode == 2 and "timed out" in proc.stderr.strip().splitlines()[-1]
    assert "/authorize?" in proc.stderr and home.sandbox.count("StartDeviceAuthorization") == 1
    # A browser configured (BROWSER, the test browser): the default stays the redirect, and it completes.
    proc = home.keyrack("unlock", "q1", BROWSER=browser, **SSH)
    assert proc.returncode == 0, proc.stderr
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    # The one more StartDeviceAuthorization is the check of q1's cached registration before the browser
    # opens (register.check): its code is never shown, and no device code is redeemed.
    assert home.sandbox.count("StartDeviceAuthorization") == 2
    assert "confirm the code" not in proc.stderr
