"""Adoption: profiles `aws configure sso` made become keyrack's in place, and go back byte for byte.

The AWS CLI v2 (/usr/bin/aws) works on each profile natively before, through
keyrack after, and natively again after the undo; sections that are not SSO
profiles keep their bytes throughout.
"""
from __future__ import annotations

import configparser
import hashlib
import json
import re

import pytest
from clients import aws_v2, client, client_arn, go_identity, node_identity  # noqa: F401 (fixtures)
from conftest import TestHome
from harness import assumed_role_arn, run_keyrack, token_path, write_cli_v2_token

from keyrack_sh.sandbox import Sandbox

ADMIN = assumed_role_arn("111111111111", "AdminRole")
DEV = assumed_role_arn("222222222222", "Developer")
OTHERS = ("[profile static]\n# keys of my own\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n\n"
          "[profile chained]\nrole_arn = arn:aws:iam::333333333333:role/Chained\nsource_profile = static\n\n"
          "[profile helper]\ncredential_process = /opt/other/helper --json\nregion = us-west-1\n")


def native_config(sandbox: Sandbox) -> str:
    """Both forms `aws configure sso` writes, with comments inside, beside profiles that are not SSO ones."""
    return (f"# my config\n[profile legacy]\n# made by aws configure sso (legacy form)\n"
            f"sso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n; the team account\n"
            f"sso_account_id = 111111111111\nsso_role_name = AdminRole\nregion = eu-west-2\noutput = json\n\n"
            f"[profile work]\nsso_session = corp\nsso_account_id = 222222222222\n# a comment between keys\n"
            f"sso_role_name = Developer\nregion = eu-west-1\noutput = json\n\n"
            f"[sso-session corp]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n"
            f"sso_registration_scopes = sso:account:access\n\n" + OTHERS)


def sign_in_natively(sandbox: Sandbox) -> None:
    """What `aws sso login` leaves: the CLI v2 keys a token by start URL (legacy) or sso-session name."""
    write_cli_v2_token(sandbox.start_url, sandbox.issue_session())
    write_cli_v2_token("corp", sandbox.issue_session())


def section_text(text: str, header: str) -> str:
    """The bytes of one section, header to the next header."""
    start = text.index(f"[{header}]")
    nxt = text.find("\n[", start + 1)
    return text[start:] if nxt < 0 else text[start:nxt + 1]


def others_of(text: str) -> list[str]:
    return [section_text(text, h) for h in ("profile static", "profile chained", "profile helper")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def live_keys(home: TestHome, profile: str) -> dict[str, str]:
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read(home.config)
    return dict(parser[f"profile {profile}"])


@pytest.mark.parametrize("profile,arn", [("legacy", ADMIN), ("work", DEV)])
def test_set_adopt_converts_one_profile_in_place_and_remove_gives_it_back(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], aws_v2: tuple[str, ...],
        profile: str, arn: str) -> None:
    mine = native_config(sandbox)
    isolated_home.config.write_text(mine)
    sign_in_natively(sandbox)
    assert client_arn(aws_v2, env, profile) == arn  # natively
    proc = run_keyrack("set", "--adopt", profile, "--yes", timeout=120)
    assert proc.returncode == 0, proc.stderr
    keys = live_keys(isolated_home, profile)
    assert not [k for k in keys if k.startswith("sso_")] and "keyrack_sso_session" in keys
    assert keys["region"] == {"legacy": "eu-west-2", "work": "eu-west-1"}[profile]  # its own region stays
    assert client_arn(aws_v2, env, profile) == arn  # through keyrack
    after = isolated_home.config.read_text()
    assert others_of(after) == others_of(mine)  # not SSO profiles: untouched
    if profile == "work":
        assert keys["keyrack_sso_session"] == "corp"  # the user's own sso-session, reused
        assert section_text(after, "sso-session corp") == section_text(mine, "sso-session corp")
    proc = run_keyrack("remove", profile, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert sha(isolated_home.config.read_bytes()) == sha(mine.encode())
    assert client_arn(aws_v2, env, profile) == arn  # natively again


def test_set_adopt_without_a_terminal_needs_yes_and_writes_nothing(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(native_config(sandbox))
    before = isolated_home.config.read_bytes()
    proc = run_keyrack("set", "--adopt", "legacy")
    assert proc.returncode == 2 and "not changing it without --yes" in proc.stderr, proc.stderr
    assert "keyrack set --adopt legacy --yes" in proc.stderr
    assert "+#keyrack kept: sso_account_id = 111111111111" in proc.stdout  # the plan was shown
    assert isolated_home.config.read_bytes() == before


def one_line_exit_2(proc, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("keyrack: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv,words", [
    (("set", "--adopt", "ghost", "--yes"), ("'ghost' is not in",)),
    (("set", "--adopt", "static", "--yes"), ("'static'", "not an SSO profile")),
    (("set", "--adopt", "chained", "--yes"), ("'chained'", "not an SSO profile")),
    (("set", "--adopt", "helper", "--yes"), ("'helper'", "not an SSO profile")),
    (("set", "--adopt", "legacy", "--account-id", "111111111111", "--yes"), ("leave out --account-id",)),
    (("set", "--adopt", "--yes"), ("needs the PROFILE",)),
])
def test_set_adopt_refuses_what_it_cannot_adopt(sandbox: Sandbox, isolated_home: TestHome,
                                                argv: tuple[str, ...], words: tuple[str, ...]) -> None:
    isolated_home.config.write_text(native_config(sandbox))
    before = isolated_home.config.read_bytes()
    one_line_exit_2(run_keyrack(*argv), *words)
    assert isolated_home.config.read_bytes() == before


def test_set_adopt_of_a_profile_already_keyracks_says_so(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(native_config(sandbox))
    assert run_keyrack("set", "--adopt", "legacy", "--yes", "--no-verify").returncode == 0
    before = isolated_home.config.read_bytes()
    one_line_exit_2(run_keyrack("set", "--adopt", "legacy", "--yes"), "keyrack's already")
    assert isolated_home.config.read_bytes() == before


def test_set_adopt_of_a_config_that_does_not_parse(sandbox: Sandbox, isolated_home: TestHome) -> None:
    broken = native_config(sandbox) + "[profile broken\nregion = x\n"
    isolated_home.config.write_text(broken)
    one_line_exit_2(run_keyrack("set", "--adopt", "legacy", "--yes"), str(isolated_home.config))
    assert isolated_home.config.read_text() == broken


def test_set_adopt_of_a_read_only_config(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(native_config(sandbox))
    before = isolated_home.config.read_bytes()
    isolated_home.config.chmod(0o444)
    one_line_exit_2(run_keyrack("set", "--adopt", "legacy", "--yes"), "read-only", "chmod u+w")
    assert isolated_home.config.read_bytes() == before and isolated_home.config.stat().st_mode & 0o777 == 0o444


def test_an_sso_profile_missing_pieces_is_named(sandbox: Sandbox, isolated_home: TestHome) -> None:
    half = "[profile half]\nsso_session = nowhere\nsso_account_id = 111111111111\nsso_role_name = AdminRole\n"
    isolated_home.config.write_text(half)
    one_line_exit_2(run_keyrack("set", "--adopt", "half", "--yes"), "sso-session 'nowhere'", "not in")
    isolated_home.config.write_text(half.replace("sso_session = nowhere\n", ""))
    one_line_exit_2(run_keyrack("set", "--adopt", "half", "--yes"), "lacks sso_start_url, sso_region")
    assert isolated_home.config.read_text() == half.replace("sso_session = nowhere\n", "")
    assert not re.search(r"keyrack", isolated_home.config.read_text())


def test_remove_json_says_what_was_given_back(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(native_config(sandbox))
    assert run_keyrack("set", "--adopt", "work", "--yes", "--no-verify").returncode == 0
    proc = run_keyrack("remove", "work", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["given_back"] is True and out["session"] == "corp" and out["relocked"] is False
    assert isolated_home.config.read_text() == native_config(sandbox)


# -- sync --adopt: every SSO profile of the config, the roundtrip once per sso-session -------------

def many_config(sandbox: Sandbox) -> str:
    """Two sso-sessions (corp, corp2), four SSO profiles, three that are not SSO profiles."""
    return native_config(sandbox).replace("\n" + OTHERS, "") + (
        f"\n[profile legacy-ro]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n"
        f"sso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n"
        f"[profile work2]\n# on the other session\nsso_session = corp2\nsso_account_id = 222222222222\n"
        f"sso_role_name = AdminRole\n\n"
        f"[sso-session corp2]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n\n" + OTHERS)


EXPECTED = {"legacy": ADMIN, "work": DEV, "legacy-ro": assumed_role_arn("111111111111", "ReadOnly"),
            "work2": assumed_role_arn("222222222222", "AdminRole")}


def sign_in_both_natively(sandbox: Sandbox) -> None:
    sign_in_natively(sandbox)
    write_cli_v2_token("corp2", sandbox.issue_session())


def test_sync_adopt_converts_every_sso_profile_and_remove_adopted_gives_them_all_back(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], aws_v2: tuple[str, ...]) -> None:
    mine = many_config(sandbox)
    isolated_home.config.write_text(mine)
    sign_in_both_natively(sandbox)
    for profile, arn in EXPECTED.items():
        assert client_arn(aws_v2, env, profile) == arn  # natively
    logouts = sandbox.count("Logout")
    proc = run_keyrack("sync", "--adopt", "--yes", "--region", "ap-south-1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{isolated_home.config}: 4 SSO profile(s) to adopt in place"
    assert "  adopt profile legacy (legacy form) -> sso-session corp (existing), account 111111111111, " \
           "role AdminRole" in lines
    assert "  adopt profile work2 (sso_session form) -> sso-session corp2 (existing), account 222222222222, " \
           "role AdminRole" in lines
    # The roundtrip ran once per sso-session (its sign-out is the Logout), not once per profile.
    assert sandbox.count("Logout") - logouts == 2
    assert sum(line.startswith("sso-session ") and "proven through profile" in line for line in lines) == 2
    after = isolated_home.config.read_text()
    assert others_of(after) == others_of(mine)  # not SSO profiles: untouched, byte for byte
    for profile, arn in EXPECTED.items():
        keys = live_keys(isolated_home, profile)
        assert not [k for k in keys if k.startswith("sso_")] and keys["keyrack_sso_session"] in ("corp", "corp2")
        assert client_arn(aws_v2, env, profile) == arn  # through keyrack
    assert live_keys(isolated_home, "legacy")["region"] == "eu-west-2"  # its own region stays
    assert live_keys(isolated_home, "work2")["region"] == "ap-south-1"  # --region: for those without one
    proc = run_keyrack("remove", "--adopted", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert sha(isolated_home.config.read_bytes()) == sha(mine.encode())
    for profile, arn in EXPECTED.items():
        assert client_arn(aws_v2, env, profile) == arn  # natively again


def test_sync_adopt_dry_run_writes_nothing_and_json_lists_the_plan(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(many_config(sandbox))
    before = isolated_home.config.read_bytes()
    proc = run_keyrack("sync", "--adopt", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "dry run: nothing written"
    assert "+#keyrack kept: sso_role_name = ReadOnly" in proc.stdout
    proc = run_keyrack("sync", "--adopt", "--dry-run", "--json")
    out = json.loads(proc.stdout)
    assert out["dry_run"] is True and [p["profile"] for p in out["profiles"]] == list(EXPECTED)
    assert {p["profile"]: p["session"] for p in out["profiles"]} == {
        "legacy": "corp", "work": "corp", "legacy-ro": "corp", "work2": "corp2"}
    assert isolated_home.config.read_bytes() == before
    assert sorted(p.name for p in isolated_home.aws.iterdir()) == ["config"]  # no backup either


def test_sync_adopt_of_one_sso_session(sandbox: Sandbox, isolated_home: TestHome) -> None:
    mine = many_config(sandbox)
    isolated_home.config.write_text(mine)
    proc = run_keyrack("sync", "--adopt", "--sso-session", "corp2", "--yes", timeout=300)
    assert proc.returncode == 0, proc.stderr
    after = isolated_home.config.read_text()
    assert "keyrack_sso_session" in section_text(after, "profile work2")
    for header in ("profile legacy", "profile work", "profile legacy-ro", "sso-session corp"):
        assert section_text(after, header) == section_text(mine, header)
    proc = run_keyrack("remove", "--adopted", "--sso-session", "corp2", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert isolated_home.config.read_text() == mine


def test_sync_adopt_without_a_terminal_needs_yes(sandbox: Sandbox, isolated_home: TestHome) -> None:
    isolated_home.config.write_text(many_config(sandbox))
    before = isolated_home.config.read_bytes()
    proc = run_keyrack("sync", "--adopt")
    assert proc.returncode == 2 and "not changing it without --yes" in proc.stderr
    assert "keyrack sync --adopt --yes" in proc.stderr
    assert isolated_home.config.read_bytes() == before


def test_sync_adopt_on_a_terminal_asks_and_no_means_nothing(sandbox: Sandbox, isolated_home: TestHome,
                                                            env: dict[str, str]) -> None:
    from remove_test import run_on_a_terminal

    isolated_home.config.write_text(many_config(sandbox))
    before = isolated_home.config.read_bytes()
    code, out = run_on_a_terminal(["sync", "--adopt"], env, answer="n\n")
    assert code == 2 and "Apply the changes above? [y/N]" in out and "nothing changed" in out
    assert isolated_home.config.read_bytes() == before


@pytest.mark.parametrize("setup,argv,words", [
    ("broken", ("sync", "--adopt", "--yes"), ("cannot parse", "config")),
    ("read-only", ("sync", "--adopt", "--yes"), ("read-only", "chmod u+w")),
    ("plain", ("sync", "--adopt", "--sso-session", "nosuch", "--yes"), ("no SSO profile", "'nosuch'")),
    ("plain", ("sync", "--adopt", "--sso-session", "../x", "--yes"), ("invalid sso-session name",)),
    ("plain", ("remove", "--adopted", "legacy", "--yes"), ("takes no PROFILE",)),
])
def test_sync_adopt_bad_input_is_one_line_and_changes_nothing(sandbox: Sandbox, isolated_home: TestHome,
                                                              setup: str, argv: tuple[str, ...],
                                                              words: tuple[str, ...]) -> None:
    text = many_config(sandbox) + ("[profile broken\n" if setup == "broken" else "")
    isolated_home.config.write_text(text)
    if setup == "read-only":
        isolated_home.config.chmod(0o444)
    proc = run_keyrack(*argv)
    one_line_exit_2(proc, *words)
    assert isolated_home.config.read_text() == text


def test_sync_adopt_with_no_sso_profiles_touches_nothing(isolated_home: TestHome) -> None:
    isolated_home.config.write_text(OTHERS)
    proc = run_keyrack("sync", "--adopt", "--yes")
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "nothing to adopt", proc.stderr
    assert isolated_home.config.read_text() == OTHERS
    assert run_keyrack("remove", "--adopted", "--yes").returncode == 0
    assert isolated_home.config.read_text() == OTHERS


def test_an_adopted_profile_works_in_every_client(sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str],
                                                  client: tuple[str, ...]) -> None:
    # The kept lines are comments to every parser: the Go and JS SDKs reach keyrack's credential_process too.
    isolated_home.config.write_text(native_config(sandbox))
    assert run_keyrack("set", "--adopt", "legacy", "--yes", timeout=120).returncode == 0
    assert client_arn(client, env, "legacy") == ADMIN


def test_a_failed_roundtrip_puts_the_config_back(sandbox: Sandbox, isolated_home: TestHome) -> None:
    # Account 111111111111 has no Developer role for this user: step 1 fails, before any sign-out.
    mine = many_config(sandbox).replace("sso_account_id = 222222222222\n# a comment between keys\n",
                                        "sso_account_id = 111111111111\n# a comment between keys\n")
    isolated_home.config.write_text(mine)
    for argv in (("sync", "--adopt", "--yes"), ("set", "--adopt", "work", "--yes")):
        proc = run_keyrack(*argv, timeout=300)
        last = proc.stderr.splitlines()[-1]  # the lines before it: the sign-in, on the terminal or stderr
        assert proc.returncode == 2 and "role 'Developer' is not yours in account 111111111111" in last, proc.stderr
        assert "back as it was" in last and "fix sso_account_id / sso_role_name of [profile work]" in last
        assert isolated_home.config.read_text() == mine
        assert not (isolated_home.keyrack / "prompt" / "profiles" / "work").exists()


def test_a_failed_adoption_signs_out_the_session_it_added(sandbox: Sandbox, isolated_home: TestHome) -> None:
    # Legacy profiles only: the adoption adds keyrack's own sso-session; its roundtrip fails at step 1.
    mine = (f"[profile wrong]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n"
            f"sso_account_id = 111111111111\nsso_role_name = Developer\n")
    isolated_home.config.write_text(mine)
    proc = run_keyrack("sync", "--adopt", "--yes", timeout=300)
    assert proc.returncode == 2 and "back as it was" in proc.stderr.splitlines()[-1], proc.stderr
    assert isolated_home.config.read_text() == mine
    assert sandbox.count("CreateToken") >= 1  # it did sign in, at step 1
    assert not token_path("keyrack-sandbox").exists()  # and that sign-in is gone with the section
