"""Who is signed in: the IAM Identity Center user of each sso-session, in status, status --json and
set's verify line; a later sign-in as another user is said, and nothing of the previous one is served
or kept. Real AWS CLI v2 sign-ins (/usr/bin/aws) as another user of the sandbox included."""
from __future__ import annotations

import json
import shlex

from clients import aws_v2  # noqa: F401 (fixture)
from engine_support import Home, home  # noqa: F401 (fixture)

from harness import assumed_role_arn, run, run_keyrack
from keyrack_sh import resources
from tty_test import run_on_a_terminal

ACCOUNT, ROLE = "111111111111", "AdminRole"


def status(home: Home, profile: str = "p1") -> dict:
    proc = home.keyrack("status", profile, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_status_and_status_json_name_the_user_who_signed_in(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0  # keyrack signs in (the sandbox's user: alice)
    assert status(home)["user"] == "alice"
    assert "unlocked as alice, " in home.keyrack("status", "p1").stdout
    # Secretless, beside the session state, and never in the prompt state.
    record = json.loads((home.root / ".aws" / "keyrack" / "users" / "s1.json").read_text())
    assert record["user"] == "alice" and set(record) == {"session", "user", "lineage", "at"}
    assert "alice" not in home.prompt_line("s1")
    assert home.keyrack("relock", "p1").returncode == 0
    assert status(home)["user"] is None  # locked: nobody is signed in


def test_keyrack_s_refresh_keeps_the_user(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    path = home.token_file("s1")
    token = json.loads(path.read_text())
    path.write_text(json.dumps({**token, "expiresAt": "2020-01-01T00:00:00Z"}))  # the hour has passed
    assert home.credential_process("p2").returncode == 0  # renewed (tokens rotated), then fetched
    assert home.sandbox.count("CreateToken", grant_type="refresh_token") == 1
    assert json.loads(path.read_text())["refreshToken"] != token["refreshToken"]
    assert status(home)["user"] == "alice"


def test_set_s_verify_line_names_the_user(home: Home) -> None:
    proc = run_keyrack("set", "acme.prod", "--start-url", home.sandbox.start_url, "--sso-region",
                       home.sandbox.region, "--account-id", ACCOUNT, "--role-name", ROLE, "--yes", env=home.env,
                       timeout=120)
    assert proc.returncode == 0, proc.stderr
    verify = [line for line in proc.stdout.splitlines() if "verify" in line][-1]
    assert verify.endswith(f"{assumed_role_arn(ACCOUNT, ROLE)}, signed in as alice"), verify


def test_an_aws_cli_sign_in_as_another_user_is_said_and_nothing_of_the_previous_user_is_served_or_kept(
        home: Home, aws_v2) -> None:
    assert home.credential_process("p1").returncode == 0
    assert home.credential_process("p2").returncode == 0  # alice's credentials for two roles
    alice_p1 = json.loads(home.credential_process("p1").stdout)["AccessKeyId"]
    home.sandbox.user = "bob"  # bob sits down and signs in with the AWS CLI v2
    proc = run([*aws_v2, "sso", "login", "--sso-session", "s1"], env=home.env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    served, terminal = run_on_a_terminal(home, shlex.split(resources.credential_process_command("p1")))
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["AccessKeyId"] != alice_p1
    said = [line.strip() for line in terminal.splitlines() if "signed in as" in line]
    assert said == ["sso-session 's1' is now signed in as bob, no longer alice "
                    "(1 of alice's cached role credentials removed)"], terminal
    assert not home.creds_file("p2").exists()  # alice's other role: gone, not just unserved
    assert home.boto3_arn("p1") == assumed_role_arn(ACCOUNT, ROLE, "bob")
    assert home.boto3_arn("p2") == assumed_role_arn("222222222222", "Developer", "bob")
    assert status(home)["user"] == "bob"
    assert home.credential_process("p1").stderr == ""  # said once


def test_keyrack_s_own_sign_in_as_another_user_is_said_too(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    assert home.keyrack("relock", "p1").returncode == 0
    home.sandbox.user = "bob"
    served, terminal = run_on_a_terminal(home, shlex.split(resources.credential_process_command("p1")))
    assert served.returncode == 0, served.stderr
    assert terminal.count("is now signed in as bob, no longer alice") == 1, terminal
    assert home.boto3_arn("p1") == assumed_role_arn(ACCOUNT, ROLE, "bob")
    assert status(home)["user"] == "bob"
