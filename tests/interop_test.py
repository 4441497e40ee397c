"""One session shared with the AWS CLI v2 token cache, both ways."""
from __future__ import annotations

import json

import pytest
from clients import aws_v2  # noqa: F401 (fixture)
from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)

from harness import run, write_cli_v2_token

PLAIN_SSO_PROFILE = """
[profile plain]
sso_session = s1
sso_account_id = 222222222222
sso_role_name = Developer
region = us-east-1
"""


def test_a_token_the_aws_cli_wrote_is_used_without_a_sign_in(home: Home) -> None:
    write_cli_v2_token("s1", home.sandbox.issue_session(client_name="botocore-client-s1"), env=home.env)
    assert home.boto3_arn("p1") == arn("111111111111", "AdminRole")
    assert home.sandbox.count("RegisterClient") == 0
    assert home.sandbox.count("CreateToken") == 0
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_an_expired_aws_cli_token_is_renewed_with_its_own_client_and_refresh_token(home: Home) -> None:
    token = home.sandbox.issue_session(client_name="botocore-client-s1")
    write_cli_v2_token("s1", {**token, "expiresAt": "2020-01-01T00:00:00Z"}, env=home.env)
    assert home.credential_process("p1").returncode == 0
    assert home.sandbox.count("CreateToken", client_name="botocore-client-s1", grant_type="refresh_token") == 1
    assert home.sandbox.count("RegisterClient") == 0
    renewed = json.loads(home.token_file("s1").read_text())
    assert renewed["clientId"] == token["clientId"] and renewed["refreshToken"] != token["refreshToken"]


def test_a_token_keyrack_wrote_serves_a_plain_botocore_sso_session_profile(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    home.config.write_text(home.config.read_text() + PLAIN_SSO_PROFILE)
    creates = home.sandbox.count("CreateToken")
    assert home.boto3_arn("plain") == arn("222222222222", "Developer")
    assert home.sandbox.count("CreateToken") == creates  # botocore used keyrack's token as it was
    assert home.aws_cli_arn("p1") == arn("111111111111", "AdminRole")


def test_a_half_written_aws_cli_token_counts_as_locked_not_a_crash(home: Home) -> None:
    path = write_cli_v2_token("s1", home.sandbox.issue_session(), env=home.env)
    path.write_text(path.read_text()[:40])
    proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never")
    assert proc.returncode == 2 and "keyrack unlock p1" in proc.stderr
    assert home.credential_process("p1").returncode == 0  # a sign-in replaces it
    assert json.loads(home.token_file("s1").read_text())["accessToken"]


# -- the real AWS CLI v2 signs out and in: keyrack follows --------------------------------------

def aws(aws_v2: tuple[str, ...], home: Home, *args: str) -> None:
    proc = run([*aws_v2, *args], env=home.env, timeout=120)
    assert proc.returncode == 0, (args, proc.stderr)


def served_key(home: Home, profile: str = "p1", **env: str) -> str:
    proc = home.credential_process(profile, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["AccessKeyId"]


def test_after_aws_sso_logout_and_login_keyrack_serves_the_new_sign_in_s_credentials(
        home: Home, aws_v2: tuple[str, ...]) -> None:
    old = {served_key(home, "p1"), served_key(home, "p1b")}  # one fetch, shared by both profiles
    aws(aws_v2, home, "sso", "logout")
    aws(aws_v2, home, "sso", "login", "--sso-session", "s1")  # device code; the test browser approves
    fetched = home.sandbox.count("GetRoleCredentials")
    new = served_key(home, "p1")
    assert new not in old
    assert home.sandbox.count("GetRoleCredentials") == fetched + 1  # fetched with the CLI's sign-in
    assert served_key(home, "p1b") == new  # the sibling gets the new ones too, never the old
    assert served_key(home, "p1") == new  # and the hit serves them from now on
    assert home.sandbox.count("CreateToken", client_name="keyrack-s1") == 1  # no sign-in by keyrack
    assert home.boto3_arn("p1") == arn("111111111111", "AdminRole")


@pytest.mark.parametrize("policy", ["never", "always"])
def test_after_aws_sso_logout_keyrack_never_serves_the_signed_out_credentials(
        home: Home, aws_v2: tuple[str, ...], policy: str) -> None:
    old = served_key(home, "p1")
    assert home.credential_process("q1").returncode == 0
    aws(aws_v2, home, "sso", "logout")
    assert home.sandbox.count("Logout") == 2  # the CLI ended both sessions at AWS
    proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK=policy)
    if policy == "never":  # locked, and said so: nothing served
        assert_one_line_failure(proc, 2, "profile 'p1'", "locked", "keyrack unlock p1")
        assert_one_line_failure(home.credential_process("p1b", KEYRACK_AUTO_UNLOCK=policy), 2, "locked")
    else:  # the lazy unlock signs in anew and serves that sign-in's credentials
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["AccessKeyId"] != old
        assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 3


# -- races: the AWS CLI v2 refreshes the same sign-in, without any lock ---------------------------

NATIVE_S1 = """
[profile native]
sso_session = s1
sso_account_id = 222222222222
sso_role_name = Developer
region = eu-west-1
"""


def expired_access_token(home: Home) -> None:
    """A signed-in session whose access token needs a refresh (keyrack's and the CLI's alike)."""
    assert home.credential_process("p1").returncode == 0
    home.write_config(NATIVE_S1)
    token = json.loads(home.token_file("s1").read_text())
    home.token_file("s1").write_text(json.dumps({**token, "expiresAt": "2020-01-01T00:00:00Z"}))


def cli_refreshes_first(home: Home, aws_v2: tuple[str, ...], *, access_lifetime: float | None = None,
                        cut_short: bool = False) -> list[int]:
    """When keyrack's refresh reaches the server, the real AWS CLI v2 spends the same refresh token
    first (its own refresh, for the native profile), rewriting the token file in place.
    Returns where the CLI's exit code goes."""
    from clients import client_command, client_env

    ran: list[int] = []

    def the_cli() -> None:
        if access_lifetime is not None:
            home.sandbox.set_lifetimes(access=access_lifetime)
        proc = run(client_command(aws_v2, "native"), env=client_env(home.env, "native"), timeout=120)
        ran.append(proc.returncode)
        if cut_short:  # caught in the middle of its truncate-then-write, for good
            path = home.token_file("s1")
            path.write_text(path.read_text()[:40])

    home.sandbox.before("CreateToken", the_cli, grant_type="refresh_token")
    return ran


def test_a_refresh_token_the_aws_cli_just_spent_leads_keyrack_to_the_cli_s_new_token(
        home: Home, aws_v2: tuple[str, ...]) -> None:
    from keyrack_sh import cache

    expired_access_token(home)
    ran = cli_refreshes_first(home, aws_v2)
    proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never")
    assert proc.returncode == 0, proc.stderr
    assert ran == [0]
    assert home.sandbox.count("CreateToken", grant_type="refresh_token") == 2  # the CLI's, keyrack's spent one
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1  # no new sign-in
    cli_token = json.loads(home.token_file("s1").read_text())  # still the CLI's: nothing older written over it
    assert home.prompt_line("s1").split()[:2] == ["unlocked", str(int(cache.token_expiry(cli_token)))]
    assert home.boto3_arn("p2") == arn("222222222222", "Developer")


def test_a_newer_refresh_token_the_aws_cli_left_is_used_before_the_session_counts_as_locked(
        home: Home, aws_v2: tuple[str, ...]) -> None:
    expired_access_token(home)
    # The CLI's new access token is too short-lived for keyrack to hand on: its refresh token renews.
    ran = cli_refreshes_first(home, aws_v2, access_lifetime=30)
    proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never")
    assert proc.returncode == 0, proc.stderr
    assert ran == [0]
    assert home.sandbox.count("CreateToken", grant_type="refresh_token") == 3  # the CLI's, ours spent, ours anew
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1


def test_a_token_file_the_cli_left_half_written_after_spending_the_refresh_token_is_locked_not_a_crash(
        home: Home, aws_v2: tuple[str, ...]) -> None:
    expired_access_token(home)
    ran = cli_refreshes_first(home, aws_v2, cut_short=True)
    proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never")
    assert ran == [0]
    assert_one_line_failure(proc, 2, "profile 'p2'", "locked", "keyrack unlock p2")
    assert home.credential_process("p2").returncode == 0  # a sign-in replaces it
    assert json.loads(home.token_file("s1").read_text())["accessToken"]
