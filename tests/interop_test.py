"""One session shared with the AWS CLI v2 token cache, both ways."""
from __future__ import annotations

import json

from engine_support import Home, arn, home  # noqa: F401 (fixture)

from harness import write_cli_v2_token

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
