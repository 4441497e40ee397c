"""`keyrack remove`: exactly what set wrote goes, relocking the session's last profile first."""
from __future__ import annotations

import configparser
import hashlib
import json
from pathlib import Path

import pytest
from clients import aws_v2, client_arn  # noqa: F401 (fixtures)
from conftest import TestHome
from harness import assumed_role_arn, boto3_identity, run_keyrack, token_path, write_cli_v2_token

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
    assert proc.stdout.splitlines() == [f"{isolated_home.config}: removed profile prod",
                                        "sso-session keyrack-sandbox stays as it was: other profiles use it"]
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
                   "logged_out": True, "given_back": False}
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
    proc = run_keyrack("remove", "prod", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert isolated_home.config.read_bytes() == mine
    assert proc.stdout.splitlines()[1:] == [f"{isolated_home.config}: kept sso-session work (keyrack did not write it)",
                                            "sso-session work: was not signed in (nothing to sign out)"]


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


def run_on_a_terminal(argv: list[str], env: dict[str, str], answer: str = "n\n") -> tuple[int, str]:
    """Run keyrack with stdin on a pseudo-terminal (isatty true); return (exit code, everything it said)."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", *argv], env=env, stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        os.write(master, answer.encode())  # what a person would type, were a prompt shown
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, out


def test_removing_a_taken_over_profile_gives_back_the_users_section(
        sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_bytes(RICH)
    keyrack_set(sandbox, "legacy-sso", "--yes", "--no-verify")
    proc = run_keyrack("remove", "legacy-sso", "--yes")
    assert proc.returncode == 0, proc.stderr
    # Every line says what was done: the user's keys stayed, keyrack's session went, nothing was signed out.
    assert proc.stdout.splitlines() == [
        f"{isolated_home.config}: removed keyrack's keys from profile legacy-sso; its own keys are back as they were",
        f"{isolated_home.config}: removed sso-session keyrack-sandbox (no profile uses it any more)",
        "sso-session keyrack-sandbox: was not signed in (nothing to sign out)"]
    assert isolated_home.config.read_bytes() == RICH  # its sso_* keys and its own region (us-east-2) again


def test_an_aws_cli_profile_on_the_session_keeps_it_signed_in(
        sandbox: Sandbox, isolated_home: TestHome) -> None:
    mine = (f"[sso-session work]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n\n"
            f"[profile cli]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = AdminRole\n")
    isolated_home.config.write_text(mine)
    keyrack_set(sandbox, "prod")
    assert token_path("work").exists()
    logouts = sandbox.count("Logout")
    proc = run_keyrack("remove", "prod", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["relocked"] is False
    assert sandbox.count("Logout") == logouts and token_path("work").exists()
    assert isolated_home.config.read_text() == mine


def test_a_refused_write_signs_nobody_out(sandbox: Sandbox, isolated_home: TestHome) -> None:
    keyrack_set(sandbox, "prod")
    assert token_path("keyrack-sandbox").exists()
    before = isolated_home.config.read_bytes()
    isolated_home.config.chmod(0o444)
    logouts = sandbox.count("Logout")
    proc = run_keyrack("remove", "prod", "--yes")
    assert proc.returncode == 2 and "read-only" in proc.stderr
    assert sandbox.count("Logout") == logouts and token_path("keyrack-sandbox").exists()
    assert isolated_home.config.read_bytes() == before


def test_keyrack_no_tty_means_no_prompt(sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str]) -> None:
    keyrack_set(sandbox, "prod", "--no-verify")
    before = isolated_home.config.read_bytes()
    env["KEYRACK_NO_TTY"] = "1"
    code, out = run_on_a_terminal(["remove", "prod"], env)
    assert code == 2 and "needs confirmation" in out and "[y/N]" not in out
    assert isolated_home.config.read_bytes() == before


def test_removing_the_last_profile_says_it_signed_the_session_out(sandbox: Sandbox, isolated_home: TestHome) -> None:
    keyrack_set(sandbox, "prod")
    proc = run_keyrack("remove", "prod", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{isolated_home.config}: removed profile prod",
        f"{isolated_home.config}: removed sso-session keyrack-sandbox (no profile uses it any more)",
        "sso-session keyrack-sandbox: signed out at AWS, local tokens deleted"]
    assert not token_path("keyrack-sandbox").exists()


# -- a profile `aws configure sso` made, taken over by `set --yes`, then given back ------------------

def native_sso_config(sandbox: Sandbox, form: str) -> bytes:
    """A config as `aws configure sso` leaves it (either form), with the user's comments inside the profile."""
    if form == "legacy":
        profile = (f"[profile work]\n# made by aws configure sso\nsso_start_url = {sandbox.start_url}\n"
                   f"sso_region = {sandbox.region}\n; the account the team shares\nsso_account_id = 111111111111\n"
                   f"sso_role_name = AdminRole\nregion = eu-west-2\noutput = json\n")
        session = ""
    else:
        profile = ("[profile work]\nsso_session = corp\n# the account the team shares\n"
                   "sso_account_id = 111111111111\nsso_role_name = AdminRole\nregion = eu-west-2\noutput = json\n")
        session = (f"\n[sso-session corp]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n"
                   f"sso_registration_scopes = sso:account:access\n")
    return ("# my config\n[default]\nregion = eu-west-1\n\n" + profile + "\n[profile static]\n"
            "region = us-east-1\n" + session).encode()


def sign_in_natively(sandbox: Sandbox, form: str) -> None:
    """What `aws sso login` leaves behind: the CLI v2 keys the token by start URL (legacy) or session name."""
    write_cli_v2_token(sandbox.start_url if form == "legacy" else "corp", sandbox.issue_session())


@pytest.mark.parametrize("form", ["legacy", "sso_session"])
def test_set_over_a_native_sso_profile_then_remove_gives_it_back_byte_for_byte(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], aws_v2: tuple[str, ...], form: str) -> None:
    mine = native_sso_config(sandbox, form)
    isolated_home.config.write_bytes(mine)
    sign_in_natively(sandbox, form)
    admin = assumed_role_arn("111111111111", "AdminRole")
    assert client_arn(aws_v2, env, "work") == admin  # the CLI works on it natively
    keyrack_set(sandbox, "work", "--yes")  # --region eu-west-1 replaces the user's eu-west-2
    assert client_arn(aws_v2, env, "work") == admin  # through keyrack now
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read(isolated_home.config)
    assert not [k for k in parser["profile work"] if k.startswith("sso_")]  # none shadows credential_process
    proc = run_keyrack("remove", "work", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(isolated_home.config.read_bytes()).hexdigest() == hashlib.sha256(mine).hexdigest()
    assert proc.stdout.splitlines()[0] == (f"{isolated_home.config}: removed keyrack's keys from profile work; "
                                           f"its own keys are back as they were")
    assert client_arn(aws_v2, env, "work") == admin  # natively again


def test_the_users_own_record_looking_comments_survive_set_and_remove(
        sandbox: Sandbox, isolated_home: TestHome) -> None:
    # A native SSO profile whose comments read like keyrack's records and marker: they are the user's.
    mine = native_sso_config(sandbox, "sso_session").replace(
        b"[profile work]\n", b"[profile work]\n#keyrack kept: output = text\n#keyrack added: cli_pager\ncli_pager =\n"
        b";keyrack kept: region = us-east-1\n# managed by keyrack (taken over), one day\n")
    isolated_home.config.write_bytes(mine)
    keyrack_set(sandbox, "work", "--yes", "--no-verify")
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read(isolated_home.config)
    assert parser["profile work"]["cli_pager"] == "" and parser["profile work"]["output"] == "json"
    proc = run_keyrack("remove", "work", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(isolated_home.config.read_bytes()).hexdigest() == hashlib.sha256(mine).hexdigest()
