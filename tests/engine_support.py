"""Shared pieces for the engine's end-to-end tests: a loopback IAM Identity
Center (keyrack_sh.sandbox, serving STS itself with SigV4 checks), a private
HOME with keyrack profiles, and keyrack run as a subprocess the way an SDK
runs it (no controlling terminal, stdin closed).

Every subprocess gets its own HOME: botocore fixes its token cache path at
import, so the code under test must never run in the pytest process.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keyrack_sh import resources
from keyrack_sh.sandbox.server import Dispatcher, HttpServer
from keyrack_sh.sandbox.state import Fault, SandboxConfig, State

BROWSER = """#!{python}
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30).read()
except Exception as exc:
    print("test browser:", type(exc).__name__, file=sys.stderr)
"""

PROFILES = {
    # name: (session, account, role)
    "p1": ("s1", "111111111111", "AdminRole"),
    "p1b": ("s1", "111111111111", "AdminRole"),
    "p2": ("s1", "222222222222", "Developer"),
    "nope": ("s1", "222222222222", "AdminRoleX"),
    "q1": ("s2", "111111111111", "ReadOnly"),
}


class Idc:
    """The sandbox, with the few knobs these tests turn."""

    def __init__(self) -> None:
        self.state = State(SandboxConfig())
        self.server = HttpServer("127.0.0.1", 0, Dispatcher(self.state, serve_sts=True))
        self.server.start()
        self.endpoint = self.server.base_url
        self.start_url = self.state.config.start_url
        self.region = self.state.config.region

    def count(self, operation: str, grant_type: str | None = None) -> int:
        with self.state.lock:
            return sum(1 for c in self.state.calls
                       if c.operation == operation and (grant_type is None or c.grant_type == grant_type))

    def set_behaviour(self, behaviour: str) -> None:
        with self.state.lock:
            self.state.config.behaviour = behaviour

    def set_lifetimes(self, **kwargs: float) -> None:
        with self.state.lock:
            self.state.config.lifetimes = dataclasses.replace(self.state.config.lifetimes, **kwargs)

    def fail(self, operation: str, error_code: str, times: int = 1, status: int | None = None,
             grant_type: str | None = None) -> None:
        self.state.add_fault(operation, Fault("error", times, error_code=error_code, status=status),
                             grant_type=grant_type)

    def hang(self, operation: str, times: int = 1) -> None:
        self.state.add_fault(operation, Fault("hang", times))

    def revoke_all(self) -> None:
        with self.state.lock:
            for sign_in in list(self.state.sign_ins):
                self.state.revoke_sign_in(sign_in)

    def minted_secrets(self) -> set[str]:
        with self.state.lock:
            return set(self.state.secrets)

    def reset(self) -> None:
        self.state.reset()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def idc() -> Any:
    server = Idc()
    yield server
    server.stop()


class Home:
    """A private HOME with an AWS config of keyrack profiles, and ways to run keyrack in it."""

    def __init__(self, root: Path, idc: Idc) -> None:
        self.root = root
        self.idc = idc
        aws = root / ".aws"
        aws.mkdir()
        self.config = aws / "config"
        browser = root / "browser"
        browser.write_text(BROWSER.format(python=sys.executable))
        browser.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYRACK_", "BROWSER"))}
        self.env.update(
            HOME=str(root), AWS_CONFIG_FILE=str(self.config), AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
            AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL_SSO_OIDC=idc.endpoint,
            AWS_ENDPOINT_URL_SSO=idc.endpoint, AWS_ENDPOINT_URL_STS=idc.endpoint, BROWSER=str(browser),
            KEYRACK_AUTO_UNLOCK="always", KEYRACK_SIGNIN_TIMEOUT="20", KEYRACK_LOCK_TIMEOUT="60",
        )
        self.write_config()

    def write_config(self, extra: str = "") -> None:
        lines = []
        for name, (session, account, role) in PROFILES.items():
            lines += [f"[profile {name}]", f"keyrack_sso_session = {session}", f"keyrack_account_id = {account}",
                      f"keyrack_role_name = {role}", "region = eu-west-1",
                      f"credential_process = {resources.credential_process_command(name)}", ""]
        for session in ("s1", "s2"):
            lines += [f"[sso-session {session}]", f"sso_start_url = {self.idc.start_url}",
                      f"sso_region = {self.idc.region}", "sso_registration_scopes = sso:account:access", ""]
        self.config.write_text("\n".join(lines) + extra)

    def keyrack(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "keyrack_sh", *args], env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              start_new_session=True)

    def credential_process(self, profile: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """Exactly the command line an SDK runs (the one keyrack writes into the config)."""
        import shlex

        return subprocess.run(shlex.split(resources.credential_process_command(profile)), env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              start_new_session=True)

    def python(self, code: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code], env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True)

    def boto3_arn(self, profile: str, **env: str) -> str:
        proc = self.python("import boto3; print(boto3.Session(profile_name=%r).client('sts')"
                           ".get_caller_identity()['Arn'])" % profile, **env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def aws_cli_arn(self, profile: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--profile", profile,
                               "--output", "json"], env=self.env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, start_new_session=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["Arn"]

    def token_file(self, session: str) -> Path:
        import hashlib

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
def home(tmp_path: Path, idc: Idc) -> Home:
    idc.reset()
    return Home(tmp_path, idc)


def arn(account: str, role: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/alice"


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    # Progress notes fall back to stderr without a terminal; the failure is the last line.
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("keyrack: ") for line in lines), proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
