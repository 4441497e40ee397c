"""`keyrack sync` end to end: the sandbox IAM Identity Center, moto STS, real boto3, the real CLI.

Every run is `python -m keyrack_sh sync ...` in the test's private HOME. The
config's bytes are compared exactly (sha256): outside sync's sections nothing
changes, a re-run with nothing new changes nothing, and a refusal or fault
leaves the file as it was.
"""
from __future__ import annotations

import configparser
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import TestHome
from harness import assumed_role_arn, boto3_identity, run_keyrack

from keyrack_sh.sandbox import Account, Sandbox

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()
SESSION = "keyrack-sandbox"  # derived from https://keyrack-sandbox.awsapps.com/start


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def keyrack_sync(sandbox: Sandbox, *extra: str, new: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    where = ["--start-url", sandbox.start_url, "--sso-region", sandbox.region] if new else []
    return run_keyrack("sync", *where, *extra, timeout=timeout)


def sections(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def generated(path: Path) -> dict[str, tuple[str, str]]:
    """profile -> (account, role) of every profile sync wrote."""
    parser = sections(path)
    return {s.split()[1]: (parser.get(s, "keyrack_account_id"), parser.get(s, "keyrack_role_name"))
            for s in parser.sections() if parser.has_option(s, "keyrack_generated")}


@pytest.fixture()
def rich(isolated_home: TestHome) -> TestHome:
    isolated_home.config.write_bytes(RICH)
    return isolated_home


def test_sync_writes_a_profile_per_account_and_role_and_they_work(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox, "--yes", "--region", "eu-west-1")
    assert proc.returncode == 0, proc.stderr
    after = rich.config.read_bytes()
    assert after.startswith(RICH)  # every byte of the user's kept
    assert generated(rich.config) == {"production.adminrole": ("111111111111", "AdminRole"),
                                      "production.readonly": ("111111111111", "ReadOnly"),
                                      "staging.adminrole": ("222222222222", "AdminRole"),
                                      "staging.developer": ("222222222222", "Developer")}
    parser = sections(rich.config)
    for name in generated(rich.config):
        keys = dict(parser.items(f"profile {name}"))
        assert not [k for k in keys if k.startswith("sso_")]
        assert keys["keyrack_sso_session"] == SESSION
        assert keys["keyrack_generated"].startswith(f"sync:{SESSION} ")
    assert boto3_identity("staging.developer") == assumed_role_arn("222222222222", "Developer")
    # One listing (the roundtrip's first step checks its one role again), one verify per account.
    assert sandbox.count("ListAccounts") == 1
    assert sandbox.count("ListAccountRoles") == 2 + 1
    assert sandbox.count("Logout") == 1 and sandbox.sign_ins() == 2  # the roundtrip, once for the session
    print(proc.stdout)
    assert "verified 2 of 2 accounts" in proc.stdout
    assert (rich.aws / "config.keyrack.bak").read_bytes() == RICH
    listed = json.loads(run_keyrack("list", "--json").stdout)
    assert {r["profile"] for r in listed} >= set(generated(rich.config))


def test_a_rerun_with_nothing_new_is_byte_identical_and_writes_nothing(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_sync(sandbox, "--yes").returncode == 0
    first, stat = sha(rich.config), rich.config.stat()
    proc = keyrack_sync(sandbox, "--sso-session", SESSION, new=False)  # no --yes needed: nothing to write
    assert proc.returncode == 0, proc.stderr
    assert sha(rich.config) == first
    assert rich.config.stat().st_ino == stat.st_ino and rich.config.stat().st_mtime_ns == stat.st_mtime_ns
    assert "unchanged" in proc.stdout
