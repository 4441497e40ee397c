"""keyrack's profiles in the real AWS clients other than boto3 and the AWS CLI v1:
the AWS CLI v2, the AWS SDK for Go v2 and the AWS SDK for JavaScript v3, each running
keyrack's credential_process against the sandbox and moto STS."""
from __future__ import annotations

import pytest
from clients import aws_v2, client, client_arn, go_identity, node_identity, spawn_client  # noqa: F401 (fixtures)
from engine_support import Home, arn, home  # noqa: F401 (fixture)

from keyrack_sh import resources

HERD = 6

CHAINED = """
[profile chained]
role_arn = arn:aws:iam::333333333333:role/Chained
source_profile = p1
region = eu-west-1
"""

NATIVE_SSO = """
[profile native]
sso_session = s1
sso_account_id = 222222222222
sso_role_name = Developer
region = eu-west-1
"""


def default_profile() -> str:
    return ("\n[default]\nkeyrack_sso_session = s2\nkeyrack_account_id = 111111111111\n"
            "keyrack_role_name = ReadOnly\nregion = eu-west-1\n"
            f"credential_process = {resources.credential_process_command('default')}\n")


@pytest.mark.slow
def test_a_herd_of_one_client_on_a_locked_session_signs_in_once(home: Home, client: tuple[str, ...]) -> None:
    procs = [spawn_client(client, home.env, "p1") for _ in range(HERD)]
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [rc for rc, _, _ in results] == [0] * HERD, [err for rc, _, err in results if rc]
    assert {out.strip() for _, out, _ in results} == {arn("111111111111", "AdminRole")}
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_role_chaining_through_source_profile_assumes_the_role_with_keyrack_s_credentials(
        home: Home, client: tuple[str, ...]) -> None:
    home.write_config(CHAINED)
    assert client_arn(client, home.env, "chained").startswith(
        "arn:aws:sts::333333333333:assumed-role/Chained/")
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_the_default_profile_is_used_with_no_profile_named(home: Home, client: tuple[str, ...]) -> None:
    home.write_config(default_profile())
    assert client_arn(client, home.env, None) == arn("111111111111", "ReadOnly")


@pytest.mark.parametrize("native", ["aws_v2", "node_identity"])  # the Go SDK 1.17 has no sso_session
def test_a_native_sso_session_profile_uses_the_token_keyrack_signed_in_with(home: Home, native: str,
                                                                           request: pytest.FixtureRequest) -> None:
    native_client = request.getfixturevalue(native)
    assert home.keyrack("unlock", "p1").returncode == 0
    home.write_config(NATIVE_SSO)
    creates = home.sandbox.count("CreateToken")
    assert client_arn(native_client, home.env, "native") == arn("222222222222", "Developer")
    assert home.sandbox.count("CreateToken") == creates  # the client used keyrack's token as it was


# -- the Go SDK's kill after 60 s (processcreds DefaultTimeout), shortened to 2 s -------------

def approve_in_browser(url: str) -> None:
    """What the person does at last: open the sign-in URL (it redirects to keyrack's listener)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as resp:
        resp.read()


@pytest.mark.slow
def test_a_sign_in_the_go_sdk_stopped_waiting_for_goes_on_and_its_retry_opens_no_second_tab(
        home: Home, go_identity: tuple[str, ...]) -> None:
    from harness import browser_urls, run

    env = {**home.env, "AWS_PROFILE": "p1", "TEST_BROWSER_MODE": "log"}  # the person is slow to approve
    killed = run(go_identity, env={**env, "KEYRACK_TEST_PROCESS_TIMEOUT": "2s"}, timeout=60)
    assert killed.returncode == 1 and "killed" in killed.stderr, killed.stderr
    assert len(browser_urls(home.env, at_least=1)) == 1  # the sign-in child goes on after the kill
    retry = spawn_client(go_identity, env, "p1")  # run again while the sign-in still waits
    approve_in_browser(browser_urls(home.env)[0])
    out, err = retry.communicate(timeout=120)
    assert retry.returncode == 0, err
    assert out.strip() == arn("111111111111", "AdminRole")
    assert len(browser_urls(home.env)) == 1  # the retry waited for the sign-in that went on
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    assert home.sandbox.count("Authorize") == 1
