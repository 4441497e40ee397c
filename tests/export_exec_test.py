"""`keyrack export` and `keyrack exec`: the credentials reach other programs."""
from __future__ import annotations

import json
import sys

from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)

from harness import run

IDENTITY = "import boto3; print(boto3.client('sts', region_name='us-east-1').get_caller_identity()['Arn'])"


def test_export_env_evaluated_by_bash_gives_the_roles_identity(home: Home) -> None:
    proc = home.keyrack("export", "p1")
    assert proc.returncode == 0, proc.stderr
    env = {**home.env, "AWS_PROFILE": "p2"}
    script = f"{proc.stdout}\n{sys.executable} -c \"{IDENTITY}\"; echo \"profile=${{AWS_PROFILE-unset}}\""
    out = run(["bash", "--noprofile", "--norc", "-euc", script], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [arn("111111111111", "AdminRole"), "profile=unset"]


def test_export_fish_is_valid_fish(home: Home) -> None:
    proc = home.keyrack("export", "p1", "--format", "fish")
    assert proc.returncode == 0, proc.stderr
    out = run(["fish", "--no-config", "-c", proc.stdout + "\necho $AWS_REGION; set -q AWS_PROFILE; or echo noprofile"],
              env={**home.env, "AWS_PROFILE": "p2"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["eu-west-1", "noprofile"]


def test_export_json_is_the_credential_process_object(home: Home) -> None:
    proc = home.keyrack("export", "p1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    assert creds["Version"] == 1 and creds["AccessKeyId"].startswith("ASIA")


def test_exec_runs_the_command_with_the_credentials_and_without_aws_profile(home: Home) -> None:
    proc = home.keyrack("exec", "p2", "--", sys.executable, "-c",
                        IDENTITY + "; import os; print(os.environ.get('AWS_PROFILE', 'unset'), "
                                   "os.environ['AWS_REGION'], os.environ['AWS_CREDENTIAL_EXPIRATION'][-1])",
                        AWS_PROFILE="p1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == arn("222222222222", "Developer")
    assert lines[1] == "unset eu-west-1 Z"


def test_exec_passes_the_exit_code_through(home: Home) -> None:
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert proc.returncode == 7


def test_exec_of_a_missing_command_exits_127_and_a_non_executable_one_126(home: Home, tmp_path) -> None:
    # The shell's convention, as for any wrapper that passes exit codes through.
    assert_one_line_failure(home.keyrack("exec", "p1", "--", "no-such-command-xyz"), 127, "command not found")
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    assert_one_line_failure(home.keyrack("exec", "p1", "--", str(script)), 126, "permission denied")


def test_exec_without_a_command_is_a_user_error(home: Home) -> None:
    assert_one_line_failure(home.keyrack("exec", "p1"), 2, "no command")


def test_exec_on_a_locked_session_with_policy_never_runs_nothing(home: Home, tmp_path) -> None:
    marker = tmp_path / "ran"
    proc = home.keyrack("exec", "p1", "--", "touch", str(marker), KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "keyrack unlock p1")
    assert not marker.exists()


def test_exec_and_export_hand_out_credentials_with_at_least_50_minutes_when_the_role_allows(home: Home) -> None:
    # A child process cannot renew what it is given: cached credentials with 40 minutes
    # left are fine for an SDK (which asks again) but not for a long `terraform apply`.
    home.sandbox.set_lifetimes(role_credentials=40 * 60)
    cached = json.loads(home.credential_process("p1").stdout)
    home.sandbox.set_lifetimes(role_credentials=3600)
    fetched = home.sandbox.count("GetRoleCredentials")
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c",
                        "import os; print(os.environ['AWS_CREDENTIAL_EXPIRATION'])")
    assert proc.returncode == 0, proc.stderr
    assert home.sandbox.count("GetRoleCredentials") == fetched + 1
    assert proc.stdout.strip() > cached["Expiration"]
    # Now cached with an hour left: export reuses them, no new fetch.
    assert json.loads(home.keyrack("export", "p1", "--format", "json").stdout)["Expiration"] == proc.stdout.strip()
    assert home.sandbox.count("GetRoleCredentials") == fetched + 1
