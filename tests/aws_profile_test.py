"""AWS_PROFILE names the profile when the command line does not, as in the AWS CLI (commands/_profile.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)

WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root`, with the bytes of each file (None for a folder)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


def test_unlock_signs_in_to_the_session_of_aws_profile(home: Home) -> None:
    proc = home.keyrack("unlock", AWS_PROFILE="q1")
    assert proc.returncode == 0, proc.stderr
    assert "unlocked sso-session s2 (profile q1)" in proc.stdout
    assert home.token_file("s2").exists() and not home.token_file("s1").exists()


def test_exec_with_the_double_dash_first_runs_the_command_as_aws_profile(home: Home) -> None:
    proc = home.keyrack("exec", "--", sys.executable, "-c", WHO_AM_I, AWS_PROFILE="p2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == arn("222222222222", "Developer")
    # `env` is the command, not a profile named "env"; the child gets keys, not the profile.
    proc = home.keyrack("exec", "--static", "--", "env", AWS_PROFILE="p2")
    assert proc.returncode == 0, proc.stderr
    assert "AWS_ACCESS_KEY_ID=" in proc.stdout and "AWS_PROFILE=" not in proc.stdout


def test_a_named_profile_beats_aws_profile(home: Home) -> None:
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c", WHO_AM_I, AWS_PROFILE="p2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == arn("111111111111", "AdminRole")


def test_a_double_dash_inside_the_command_stays_the_commands(home: Home) -> None:
    proc = home.keyrack("exec", "p1", "sh", "-c", 'echo "$0 $1"', "--", "x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "-- x\n"


def test_export_prints_the_credentials_of_aws_profile(home: Home) -> None:
    named = home.keyrack("export", "p1", "--format", "json")
    from_env = home.keyrack("export", "--format", "json", AWS_PROFILE="p1")
    other = home.keyrack("export", "p2", "--format", "json")
    assert (named.returncode, from_env.returncode, other.returncode) == (0, 0, 0), from_env.stderr
    assert json.loads(from_env.stdout)["AccessKeyId"] == json.loads(named.stdout)["AccessKeyId"]
    assert json.loads(other.stdout)["AccessKeyId"] != json.loads(named.stdout)["AccessKeyId"]


def test_relock_signs_out_the_session_of_aws_profile_only(home: Home) -> None:
    for profile in ("p1", "q1"):
        assert home.credential_process(profile).returncode == 0
    proc = home.keyrack("relock", AWS_PROFILE="q1")
    assert proc.returncode == 0, proc.stderr
    assert "relocked sso-session s2: signed out at AWS" in proc.stdout
    assert not home.token_file("s2").exists() and home.token_file("s1").exists()


def test_status_shows_aws_profile_and_all_with_all(home: Home) -> None:
    proc = home.keyrack("status", "--json", AWS_PROFILE="q1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["profile"] == "q1"
    proc = home.keyrack("status", "--all", "--json", AWS_PROFILE="q1")
    assert proc.returncode == 0, proc.stderr
    assert {row["profile"] for row in json.loads(proc.stdout)} == {"p1", "p1b", "p2", "nope", "q1"}
    proc = home.keyrack("status", "--json")  # neither: all of keyrack's, as before
    assert len(json.loads(proc.stdout)) == 5


@pytest.mark.parametrize("args", [["unlock"], ["relock"], ["export"], ["exec", "--", "env"], ["exec"]])
def test_with_neither_a_profile_nor_aws_profile_one_line_names_both(home: Home, args: list[str]) -> None:
    before = tree(home.root)
    proc = home.keyrack(*args)
    assert_one_line_failure(proc, 2, "no profile named and AWS_PROFILE is not set", f"keyrack {args[0]} PROFILE")
    assert tree(home.root) == before


@pytest.mark.parametrize("value, says", [("static", "is not managed by keyrack"), ("ghost", "is not in"),
                                         ("bad name!", "profile name")])
@pytest.mark.parametrize("args", [["unlock"], ["relock"], ["export"], ["exec", "--", "env"], ["status"]])
def test_an_aws_profile_keyrack_cannot_use_is_one_line_naming_it(
        home: Home, args: list[str], value: str, says: str) -> None:
    home.write_config("\n[profile static]\nregion = eu-west-1\n")
    before = tree(home.root)
    proc = home.keyrack(*args, AWS_PROFILE=value)
    assert_one_line_failure(proc, 2, says)
    if value != "bad name!":
        assert "(from AWS_PROFILE)" in proc.stderr
    assert tree(home.root) == before
