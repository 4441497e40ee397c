"""The engine's end-to-end tests, on the shared harness (tests/conftest.py):
a private HOME with a few keyrack profiles over two sso-sessions of the
sandbox, and keyrack run the way an SDK runs it (its own session, so no
controlling terminal; stdin closed).

Code under test never runs in the pytest process: botocore fixes its token
cache path at import.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import assumed_role_arn, run
from keyrack_sh import resources

PROFILES = {
    # name: (session, account, role)
    "p1": ("s1", "111111111111", "AdminRole"),
    "p1b": ("s1", "111111111111", "AdminRole"),
    "p2": ("s1", "222222222222", "Developer"),
    "nope": ("s1", "222222222222", "AdminRoleX"),
    "q1": ("s2", "111111111111", "ReadOnly"),
}


class Home:
    """A private HOME with an AWS config of keyrack profiles, and ways to run keyrack in it."""

    def __init__(self, root: Path, env: dict[str, str], sandbox: Any) -> None:
        self.root = root
        self.sandbox = sandbox
        self.config = Path(env["AWS_CONFIG_FILE"])
        self.env = {**env, "KEYRACK_AUTO_UNLOCK": "always", "KEYRACK_SIGNIN_TIMEOUT": "20",
                    "KEYRACK_LOCK_TIMEOUT": "60"}
        self.write_config()

    def write_config(self, extra: str = "") -> None:
        lines = []
        for name, (session, account, role) in PROFILES.items():
            lines += [f"[profile {name}]", f"keyrack_sso_session = {session}", f"keyrack_account_id = {account}",
                      f"keyrack_role_name = {role}", "region = eu-west-1",
                      f"credential_process = {resources.credential_process_command(name)}", ""]
        for session in ("s1", "s2"):
            lines += [f"[sso-session {session}]", f"sso_start_url = {self.sandbox.start_url}",
                      f"sso_region = {self.sandbox.region}", "sso_registration_scopes = sso:account:access", ""]
        self.config.write_text("\n".join(lines) + extra)

    def keyrack(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-m", "keyrack_sh", *args], env={**self.env, **env}, timeout=timeout)

    def credential_process(self, profile: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """Exactly the command line an SDK runs (the one keyrack writes into the config)."""
        return run(shlex.split(resources.credential_process_command(profile)), env={**self.env, **env},
                   timeout=timeout)

    def python(self, code: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-c", code], env={**self.env, **env}, timeout=timeout)

    def boto3_arn(self, profile: str, **env: str) -> str:
        proc = self.python("import boto3; print(boto3.Session(profile_name=%r).client('sts')"
                           ".get_caller_identity()['Arn'])" % profile, **env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def aws_cli_arn(self, profile: str) -> str:
        proc = run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--profile", profile,
                    "--output", "json"], env=self.env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["Arn"]

    def token_file(self, session: str) -> Path:
        return self.root / ".aws" / "sso" / "cache" / (hashlib.sha1(session.encode()).hexdigest() + ".json")

    def creds_file(self, profile: str) -> Path:
        return self.root / ".aws" / "keyrack" / "creds" / profile

    def prompt_line(self, session: str) -> str:
        return (self.root / ".aws" / "keyrack" / "prompt" / "sessions" / session).read_text()

    def files(self) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file()]

    def non_private_files(self) -> list[Path]:
        return [p for p in self.files() if stat.S_IMODE(p.stat().st_mode) & 0o077]


@pytest.fixture()
def home(isolated_home: Any, env: dict[str, str], sandbox: Any) -> Home:
    return Home(isolated_home.root, env, sandbox)


def arn(account: str, role: str) -> str:
    return assumed_role_arn(account, role)


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    # Progress notes fall back to stderr without a terminal; the failure is the last line.
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("keyrack: ") for line in lines), proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
