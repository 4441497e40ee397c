"""IAM Identity Center misbehaving, as keyrack's callers meet it: a client registration the server
revoked, malformed answers (not JSON, a captive portal's HTML, an empty 200, a missing field, a
20 MB body), and a slow or hung GetRoleCredentials held by one caller of a herd.

Every test drives keyrack's real credential_process (or CLI) in subprocesses against the sandbox,
which injects the fault; the sandbox's call counts prove what keyrack asked."""
from __future__ import annotations

import json
import shlex

import pytest
from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)
from tty_test import run_on_a_terminal

from harness import browser_urls
from keyrack_sh import resources

AUTH = "authorization_code"
REFRESH = "refresh_token"
DEVICE = "device_code"


def unlocked(home: Home, profile: str = "p1", **env: str) -> dict:
    proc = home.credential_process(profile, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def expire_access_token(home: Home, session: str = "s1") -> None:
    """The access token is past its expiry (a refresh token remains), as an hour later."""
    token = json.loads(home.token_file(session).read_text())
    token["expiresAt"] = "2020-01-01T00:00:00Z"
    home.token_file(session).write_text(json.dumps(token))


def no_failure_trace(proc) -> None:
    assert "Traceback" not in proc.stderr and "unexpectedly" not in proc.stderr, proc.stderr


# -- a client registration the server no longer knows ------------------------------------------


def test_a_registration_revoked_at_the_server_is_registered_again_once_when_a_refresh_meets_it(
        home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    expire_access_token(home)
    assert unlocked(home, "p2", KEYRACK_SIGNIN_TIMEOUT="10")["AccessKeyId"]
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 1  # met InvalidClientException
    assert home.sandbox.count("RegisterClient") == 2  # registered again, once
    assert home.sandbox.count("Authorize") == 2  # the new client's sign-in, not a dead authorize page
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 2


def test_a_revoked_registration_is_found_before_the_browser_opens_and_registered_again(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    home.token_file("s1").unlink()  # signed out: the next call signs in with the cached registration
    assert unlocked(home, "p1", KEYRACK_SIGNIN_TIMEOUT="10")["AccessKeyId"]
    assert home.sandbox.count("RegisterClient") == 2
    assert home.sandbox.count("Authorize") == 2  # no browser tab for the forgotten client
    assert len(browser_urls(home.env)) == 2


def test_a_registration_the_server_expired_early_is_registered_again_in_the_device_flow(home: Home) -> None:
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_login = device\n")
    home.config.write_text(text)
    unlocked(home, "p1")
    home.sandbox.expire_registrations()  # at the server only: keyrack's record still says 90 days
    home.token_file("s1").unlink()
    assert unlocked(home, "p1")["AccessKeyId"]
    assert home.sandbox.count("RegisterClient") == 2
    assert home.sandbox.count("StartDeviceAuthorization") == 3  # first sign-in, rejected, the new client's


def test_a_new_registration_rejected_too_is_one_line_exit_1(home: Home) -> None:
    unlocked(home, "p1")
    home.token_file("s1").unlink()
    home.sandbox.fail("CreateToken", "InvalidClientException", times=2, grant_type=AUTH)
    proc = home.credential_process("p1", KEYRACK_SIGNIN_TIMEOUT="10")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center rejected keyrack's newly registered")
    no_failure_trace(proc)
    assert home.sandbox.count("RegisterClient") == 2  # once again, not again and again


def test_the_terminal_is_told_that_the_consent_screen_comes_again(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    expire_access_token(home)
    argv = shlex.split(resources.credential_process_command("p2"))  # p1's credentials are still cached
    proc, terminal = run_on_a_terminal(home, argv, KEYRACK_SIGNIN_TIMEOUT="10")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in terminal.splitlines() if "once more to allow access" in line]
    assert len(lines) == 1, terminal
    assert "sso-session 's1'" in lines[0] and "'keyrack-s1'" in lines[0]
    assert proc.stderr == ""


# -- malformed answers ----------------------------------------------------------------------------

HTML = "<!doctype html><title>Welcome to Airport WiFi</title><p>Accept the terms to continue</p>"
BIG = 20 * 1024 * 1024

MALFORMED = {
    # name: (body, content type)
    "captive-portal-html": (HTML, "text/html; charset=utf-8"),
    "not-json": ("this is not json {", "application/json"),
    "empty-200": ("", ""),
    "missing-field": ('{"tokenType": "Bearer"}', "application/json"),
    "20-MB": ('{"padding": "' + "x" * BIG + '"}', "application/json"),
}
ROLE_MALFORMED = {
    **{k: v for k, v in MALFORMED.items() if k != "missing-field"},
    "missing-field": ('{"roleCredentials": {"accessKeyId": "ASIAX", "expiration": 1}}', "application/json"),
    "no-roleCredentials": ("{}", "application/json"),
}


@pytest.mark.parametrize("kind", sorted(ROLE_MALFORMED))
def test_a_malformed_role_credentials_answer_is_one_line_naming_identity_center_exit_1(
        home: Home, kind: str) -> None:
    unlocked(home, "p1")
    body, content_type = ROLE_MALFORMED[kind]
    home.sandbox.answer("GetRoleCredentials", body, content_type=content_type)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center sent a malformed answer")
    no_failure_trace(proc)
    if kind == "captive-portal-html":
        assert "captive portal" in proc.stderr
    assert not home.creds_file("p2").exists()


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_token_answer_at_sign_in_is_one_line_naming_identity_center_exit_1(
        home: Home, kind: str) -> None:
    body, content_type = MALFORMED[kind]
    home.sandbox.answer("CreateToken", body, content_type=content_type, grant_type=AUTH)
    proc = home.credential_process("p1")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center sent a malformed answer")
    no_failure_trace(proc)
    assert not home.token_file("s1").exists()


@pytest.mark.parametrize("operation", ["RegisterClient", "StartDeviceAuthorization"])
def test_a_malformed_registration_or_device_answer_is_one_line_exit_1(home: Home, operation: str) -> None:
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_login = device\n")
    home.config.write_text(text)
    home.sandbox.answer(operation, HTML, content_type="text/html")
    proc = home.credential_process("p1")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center sent a malformed answer", "captive portal")
    no_failure_trace(proc)


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_refresh_answer_is_transient_and_opens_no_browser(home: Home, kind: str) -> None:
    unlocked(home, "p1")
    expire_access_token(home)
    before = json.loads(home.token_file("s1").read_text())
    body, content_type = MALFORMED[kind]
    home.sandbox.answer("CreateToken", body, content_type=content_type, grant_type=REFRESH)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center sent a malformed answer",
                            "to renew the session")
    no_failure_trace(proc)
    # No new sign-in: no browser, no device code, no second authorization code.
    assert home.sandbox.count("Authorize") == 1 and home.sandbox.count("StartDeviceAuthorization") == 0
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1
    assert len(browser_urls(home.env)) == 1
    # The refresh token is kept: the next try renews silently.
    assert json.loads(home.token_file("s1").read_text())["refreshToken"] == before["refreshToken"]
    assert unlocked(home, "p2")["AccessKeyId"]
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 2
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1


def test_an_html_error_page_from_a_proxy_names_identity_center_and_the_stand_in(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.answer("GetRoleCredentials", HTML, status=403, content_type="text/html", times=3)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center failed", "HTTP 403", "HTML page")
    no_failure_trace(proc)
