"""`keyrack remove`: exactly what set wrote goes, relocking the session's last profile first."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import TestHome
from harness import assumed_role_arn, boto3_identity, run_keyrack, token_path

from keyrack_sh.sandbox import Sandbox

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()


def keyrack_set(sandbox: Sandbox, profile: str, *extra: str, account: str = "111111111111",
                role: str = "AdminRole") -> None:
    proc = run_keyrack("set", profile, "--start-url", sandbox.start_url, "--sso-region", sandbox.region,
                       "--account-id", account, "--role-name", role, "--region", "eu-west-1", *extra, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_removing_one_of_two_profiles_keeps_the_session_signed_in(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_bytes(RICH)
    keyrack_set(sandbox, "prod", "--no-verify")
    keyrack_set(sandbox, "stage", account="222222222222", role="Developer")
    logouts = sandbox.count("Logout")
    proc = run_keyrack("remove", "prod", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert sandbox.count("Logout") == logouts  # stage still uses the session: no relock
    text = isolated_home.config.read_text()
    assert "[profile prod]" not in text and "[profile stage]" in text and "[sso-session keyrack-sandbox]" in text
    assert not (isolated_home.keyrack / "prompt" / "profiles" / "prod").exists()
    assert boto3_identity("stage") == assumed_role_arn("222222222222", "Developer")


def test_removing_the_last_profile_relocks_and_removes_keyracks_session(
        sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_bytes(RICH)
    keyrack_set(sandbox, "prod")
    assert boto3_identity("prod") == assumed_role_arn("111111111111", "AdminRole")
    assert token_path("keyrack-sandbox").exists()
    proc = run_keyrack("remove", "prod", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"profile": "prod", "session": "keyrack-sandbox", "session_removed": True, "relocked": True,
                   "logged_out": True}
    assert isolated_home.config.read_bytes() == RICH
    assert not token_path("keyrack-sandbox").exists()
    assert not (isolated_home.keyrack / "creds" / "prod").exists()
    assert not (isolated_home.keyrack / "clients" / "keyrack-sandbox.json").exists()


def test_a_session_the_user_wrote_stays(sandbox: Sandbox, isolated_home: TestHome) -> None:
    mine = (f"# my AWS CLI v2 session\n[sso-session work]\nsso_start_url = {sandbox.start_url}\n"
            f"sso_region = {sandbox.region}\n").encode()
    isolated_home.config.write_bytes(mine)
    keyrack_set(sandbox, "prod", "--no-verify")
    assert "keyrack_sso_session = work" in isolated_home.config.read_text()
    assert run_keyrack("remove", "prod", "--yes").returncode == 0
    assert isolated_home.config.read_bytes() == mine


def test_remove_refuses_what_keyrack_did_not_write(isolated_home: TestHome) -> None:
    isolated_home.config.write_bytes(RICH)
    for name, message in (("legacy-sso", "not managed by keyrack"), ("ghost", "is not in"),
                          ("../etc", "invalid profile name")):
        proc = run_keyrack("remove", name, "--yes")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr
    assert isolated_home.config.read_bytes() == RICH


def test_without_a_terminal_remove_needs_yes(sandbox: Sandbox, isolated_home: TestHome) -> None:
    keyrack_set(sandbox, "prod", "--no-verify")
    before = isolated_home.config.read_bytes()
    proc = run_keyrack("remove", "prod")
    assert proc.returncode == 2 and "keyrack remove prod --yes" in proc.stderr
    assert isolated_home.config.read_bytes() == before


def test_a_hand_edited_session_name_cannot_steer_file_removals(isolated_home: TestHome) -> None:
    evil = ("[profile prod]\nkeyrack_sso_session = ../../../victim\nkeyrack_account_id = 111111111111\n"
            "keyrack_role_name = AdminRole\n").encode()
    isolated_home.config.write_bytes(evil)
    victim = isolated_home.root / "victim.json"
    victim.write_text("{}")
    proc = run_keyrack("remove", "prod", "--yes")
    assert proc.returncode == 2 and "invalid sso-session name" in proc.stderr
    assert victim.exists() and isolated_home.config.read_bytes() == evil
