"""The setup roundtrip's details: which ARN proves the role, warnings, flows, colour, ^C."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TestHome
from guided_test import Terminal
from harness import assumed_role_arn, boto3_identity, kill_group, run_keyrack

from keyrack_sh.roundtrip import expected_role
from keyrack_sh.sandbox import Sandbox

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()


def set_argv(sandbox: Sandbox, *extra: str) -> list[str]:
    return ["set", "acme", "--start-url", sandbox.start_url, "--sso-region", sandbox.region,
            "--account-id", "111111111111", "--role-name", "AdminRole", "--region", "eu-west-1", *extra]


@pytest.mark.parametrize("arn,region,ok", [
    ("arn:aws:sts::111111111111:assumed-role/AdminRole/alice", "us-east-1", True),
    ("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdminRole_0123456789abcdef/alice", None, True),
    ("arn:aws-us-gov:sts::111111111111:assumed-role/AWSReservedSSO_AdminRole_0123abcd/alice", "us-gov-west-1", True),
    ("arn:aws-cn:sts::111111111111:assumed-role/AdminRole/alice", "cn-north-1", True),
    # The partition is part of who answered: the same number in another partition is another account.
    ("arn:aws:sts::111111111111:assumed-role/AdminRole/alice", "cn-north-1", False),
    ("arn:aws-cn:sts::111111111111:assumed-role/AdminRole/alice", "us-east-1", False),
    ("arn:aws-us-gov:sts::111111111111:assumed-role/AdminRole/alice", "eu-west-1", False),
    ("arn:aws:sts::222222222222:assumed-role/AdminRole/alice", "us-east-1", False),
    ("arn:aws:sts::111111111111:assumed-role/AdminRoleX/alice", "us-east-1", False),
    ("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdminRole_Full_0123abcd/alice", "us-east-1", False),
    ("arn:aws:iam::111111111111:user/AdminRole", "us-east-1", False),
])
def test_which_arns_prove_the_role(arn: str, region: str | None, ok: bool) -> None:
    assert expected_role(arn, "111111111111", "AdminRole", region) is ok


def test_keys_in_the_environment_are_a_warning_not_a_failure(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str]) -> None:
    env.update(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="not-a-real-secret")
    proc = run_keyrack(*set_argv(sandbox), env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "warning: AWS_ACCESS_KEY_ID is set in this environment" in proc.stderr
    assert "not-a-real-secret" not in proc.stdout + proc.stderr


def test_a_section_in_the_credentials_file_that_beats_the_profile_is_a_warning(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[other]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\n[acme]\nregion = eu-west-1\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
    proc = run_keyrack(*set_argv(sandbox, "--no-verify"), env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: [acme] in {credentials} beats keyrack's credential_process" in proc.stderr


def test_a_fifo_as_the_credentials_file_is_no_section_and_no_hang(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "credentials"
    os.mkfifo(fifo)  # opened for reading without a writer, a plain read waits forever
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(fifo)
    proc = run_keyrack(*set_argv(sandbox, "--no-verify"), env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "beats keyrack" not in proc.stderr


def test_device_code_roundtrip_is_remembered_for_the_profile(sandbox: Sandbox, isolated_home: TestHome) -> None:
    proc = run_keyrack(*set_argv(sandbox, "--device-code"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sandbox.count("CreateToken", grant_type="device_code") >= 2
    assert sandbox.count("CreateToken", grant_type="authorization_code") == 0
    assert "keyrack_login = device" in isolated_home.config.read_text()
    assert boto3_identity("acme") == assumed_role_arn("111111111111", "AdminRole")


@pytest.mark.parametrize("no_color", [False, True])
def test_ticks_are_coloured_only_on_a_terminal_without_no_color(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], no_color: bool) -> None:
    if no_color:
        env["NO_COLOR"] = "1"
    env["TERM"] = "xterm"
    term = Terminal(set_argv(sandbox), {k: v for k, v in env.items()})
    try:
        term.expect(r"4 verify", timeout=120)
        term.expect(r"ready: ")
        assert term.wait() == 0
    finally:
        term.kill()
    assert ("\033[32m✓\033[0m" in term.seen) is not no_color
    assert "✓" in term.seen


def test_interrupted_setup_restores_the_config(sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str]) -> None:
    isolated_home.config.write_bytes(RICH)
    sandbox.hang("Logout")  # step 2 waits forever
    proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", *set_argv(sandbox)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while sandbox.count("Logout") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sandbox.count("Logout") == 1
        assert isolated_home.config.read_bytes() != RICH  # written, and now mid-roundtrip
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        kill_group(proc.pid)
        sandbox.release_hangs()
    assert proc.returncode == 130, err
    assert isolated_home.config.read_bytes() == RICH
    assert not (isolated_home.keyrack / "prompt" / "profiles" / "acme").exists()


def test_concurrent_verified_sets_of_one_session_all_succeed(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str]) -> None:
    roles = [("111111111111", "AdminRole"), ("111111111111", "ReadOnly"), ("222222222222", "AdminRole"),
             ("222222222222", "Developer")]
    procs = [subprocess.Popen([sys.executable, "-m", "keyrack_sh", "set", f"c{i}", "--start-url", sandbox.start_url,
                               "--sso-region", sandbox.region, "--account-id", account, "--role-name", role,
                               "--region", "eu-west-1"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for i, (account, role) in enumerate(roles)]
    try:
        results = [(p.communicate(timeout=240), p.returncode) for p in procs]
    finally:
        for p in procs:
            kill_group(p.pid)
    assert [code for _, code in results] == [0] * len(roles), [err for (_, err), _ in results]
    # The first to take the session's roundtrip lock proves the session; the others only verify.
    assert sandbox.count("RegisterClient") == 1 and sandbox.count("Logout") == 1
    for i, (account, role) in enumerate(roles):
        assert boto3_identity(f"c{i}") == assumed_role_arn(account, role)
