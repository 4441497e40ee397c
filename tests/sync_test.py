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
from set_test import PORTAL, vanity  # noqa: F401  (vanity: the custom-domain fixture set's tests use)

from keyrack_sh.sandbox import Account, Sandbox

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()
SESSION = "keyrack-sandbox"  # derived from https://keyrack-sandbox.awsapps.com/start


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def keyrack_sync(sandbox: Sandbox, *extra: str, new: bool = True,
                 timeout: float = 180) -> subprocess.CompletedProcess[str]:
    where = ["--start-url", sandbox.start_url, "--sso-region", sandbox.region] if new else []
    return run_keyrack("sync", *where, *extra, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    """What keyrack said on stderr, less the sign-in notice (without a terminal it goes there)."""
    return [line for line in stderr.splitlines() if not line.startswith("keyrack: unlocking sso-session")]


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
    status = {r["profile"]: r["state"] for r in json.loads(run_keyrack("status", "--all", "--json").stdout)}
    assert {status[name] for name in generated(rich.config)} == {"unlocked"}
    # What completions read: one prompt file per synced profile, naming its session.
    for name in generated(rich.config):
        assert (rich.keyrack / "prompt" / "profiles" / name).read_text() == f"{SESSION}\n"


def test_a_rerun_with_nothing_new_is_byte_identical_and_writes_nothing(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_sync(sandbox, "--yes").returncode == 0
    first, stat = sha(rich.config), rich.config.stat()
    proc = keyrack_sync(sandbox, new=False)  # the one session sync wrote for; no --yes: nothing to write
    assert proc.returncode == 0, proc.stderr
    assert sha(rich.config) == first
    assert rich.config.stat().st_ino == stat.st_ino and rich.config.stat().st_mtime_ns == stat.st_mtime_ns
    assert "unchanged" in proc.stdout


# -- the plan: shown first, asked, --dry-run, --json -------------------------------------
def test_without_a_terminal_and_without_yes_nothing_is_written(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox)
    assert proc.returncode == 2
    assert len(error_lines(proc.stderr)) == 1 and "not writing without --yes" in proc.stderr and "--yes)" in proc.stderr
    assert "4 to add, 0 to change, 0 to remove, 0 unchanged" in proc.stdout
    assert rich.config.read_bytes() == RICH
    assert not (rich.aws / "config.keyrack.bak").exists()


def test_dry_run_shows_the_plan_as_json_and_writes_nothing(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dry_run"] and not out["written"] and out["session_action"] == "add"
    assert out["counts"] == {"add": 4, "change": 0, "unchanged": 0, "remove": 0, "edited": 0, "stale": 0}
    assert {p["profile"] for p in out["profiles"]} == {"production.adminrole", "production.readonly",
                                                         "staging.adminrole", "staging.developer"}
    assert rich.config.read_bytes() == RICH
    assert not (rich.keyrack / "prompt" / "profiles").exists()


def test_a_terminal_sees_the_diff_and_is_asked(sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    from guided_test import Terminal

    argv = ["sync", "--start-url", sandbox.start_url, "--sso-region", sandbox.region]
    term = Terminal(argv, env)
    term.expect(r"\+\[profile staging\.developer\]")
    term.expect(r"Write it\? \[y/N\]")
    term.answer("n")
    assert term.wait() == 2
    assert rich.config.read_bytes() == RICH
    term = Terminal(argv, env)
    term.expect(r"Write it\? \[y/N\]")
    term.answer("y")
    assert term.wait(timeout=180) == 0, term.seen[-2000:]
    assert set(generated(rich.config)) == {"production.adminrole", "production.readonly", "staging.adminrole",
                                           "staging.developer"}


# -- prune: only sync's own, of this session, gone from the server ------------------------
OTHER_SYNC = """
[profile other.sync]
# managed by keyrack: generated by 'keyrack sync --sso-session other', which updates or prunes it
credential_process = /bin/false other.sync
keyrack_sso_session = other
keyrack_account_id = 222222222222
keyrack_role_name = Gone
keyrack_generated = sync:other 0000000000000000

[sso-session other]
sso_start_url = https://other.awsapps.com/start
sso_region = eu-west-1
"""


def test_prune_removes_only_this_sessions_synced_profiles_that_the_server_dropped(
        sandbox: Sandbox, rich: TestHome) -> None:
    rich.config.write_bytes(RICH + OTHER_SYNC.encode())
    assert keyrack_sync(sandbox, "--yes").returncode == 0
    # Written by `set` on the same session, for an account the server will drop: never sync's to prune.
    assert run_keyrack("set", "mine", "--sso-session", SESSION, "--account-id", "222222222222",
                       "--role-name", "Developer", "--no-verify").returncode == 0
    before_prune = rich.config.read_bytes()
    sandbox.set_accounts([Account("111111111111", "Production", ("AdminRole", "ReadOnly"))])

    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--json", new=False)  # without --prune: reported only
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {p["profile"]: p["action"] for p in out["profiles"]} == {
        "production.adminrole": "unchanged", "production.readonly": "unchanged",
        "staging.adminrole": "stale", "staging.developer": "stale"}
    assert rich.config.read_bytes() == before_prune

    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--prune", "--yes", new=False)
    assert proc.returncode == 0, proc.stderr
    assert set(generated(rich.config)) == {"production.adminrole", "production.readonly", "other.sync"}
    parser = sections(rich.config)
    assert parser.has_section("profile mine") and parser.has_section("sso-session other")
    # Everything but the two pruned sections is byte for byte as it was.
    assert rich.config.read_bytes().startswith(RICH + OTHER_SYNC.encode())
    assert not (rich.keyrack / "prompt" / "profiles" / "staging.developer").exists()
    assert (rich.keyrack / "prompt" / "profiles" / "production.readonly").exists()
    assert run_keyrack("remove", "mine", "--yes").returncode == 0


def test_a_profile_edited_after_sync_is_kept_with_or_without_yes_unless_overwrite_edited(
        sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    assert keyrack_sync(sandbox, "--yes").returncode == 0
    text = rich.config.read_text()
    at = text.index("[profile staging.developer]")
    edited = text[:at] + text[at:].replace("keyrack_role_name = Developer\n",
                                           "keyrack_role_name = Developer\noutput = json\n", 1)
    rich.config.write_text(edited)
    mine = edited[at:].split("\n\n", 1)[0]  # the edited section, as the user left it
    sandbox.set_accounts([Account("111111111111", "Production", ("AdminRole", "ReadOnly"))])

    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--prune", "--dry-run", "--json", new=False)
    out = {p["profile"]: p for p in json.loads(proc.stdout)["profiles"]}
    assert out["staging.developer"]["action"] == "edited" and "edited after sync" in out["staging.developer"]["note"]
    assert out["staging.adminrole"]["action"] == "remove"

    from guided_test import Terminal

    term = Terminal(["sync", "--sso-session", SESSION, "--prune"], env)  # yes on a terminal: the edit is kept
    term.expect(r"edited after sync, kept \(--overwrite-edited overwrites\): staging\.developer")
    term.expect(r"Write it\? \[y/N\]")
    term.answer("y")
    assert term.wait(timeout=180) == 0, term.seen[-2000:]
    assert set(generated(rich.config)) == {"production.adminrole", "production.readonly", "staging.developer"}
    assert mine in rich.config.read_text()

    # A script's --yes only answers the question: a write that changes the others keeps the edit too.
    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--prune", "--region", "eu-west-1", "--yes", new=False)
    assert proc.returncode == 0, proc.stderr
    assert "edited after sync, kept (--overwrite-edited overwrites): staging.developer" in proc.stdout
    assert "0 added, 2 changed, 0 removed" in proc.stdout
    assert mine in rich.config.read_text()
    assert set(generated(rich.config)) == {"production.adminrole", "production.readonly", "staging.developer"}

    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--prune", "--overwrite-edited", "--yes", new=False)
    assert proc.returncode == 0, proc.stderr
    assert set(generated(rich.config)) == {"production.adminrole", "production.readonly"}
    assert rich.config.read_bytes().startswith(RICH)


def test_a_default_section_is_no_edit_and_never_goes_into_synced_profiles(sandbox: Sandbox,
                                                                          isolated_home: TestHome) -> None:
    # configparser (and botocore) merge [DEFAULT] into every section; sync's digest is of the section's own keys.
    before = b"[DEFAULT]\nregion = eu-west-1\n\n" + RICH
    isolated_home.config.write_bytes(before)
    assert keyrack_sync(sandbox, "--yes").returncode == 0
    first = isolated_home.config.read_bytes()
    assert first.startswith(before)
    assert b"region = eu-west-1" not in first[len(before):]  # no profile sync wrote got [DEFAULT]'s region
    proc = keyrack_sync(sandbox, "--json", new=False)  # no --yes: there must be nothing to ask about
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["counts"]["unchanged"] == 4 and not out["changed"], out["profiles"]
    proc = keyrack_sync(sandbox, "--overwrite-edited", "--yes", new=False)
    assert proc.returncode == 0, proc.stderr
    assert "unchanged: every profile is in step with the server" in proc.stdout
    assert isolated_home.config.read_bytes() == first


# -- how sync signs in and which start URL it writes: as `set` does ------------------------
@pytest.mark.parametrize("how", ["KEYRACK_LOGIN=device", "--device-code"])
def test_sync_signs_in_with_the_flow_chosen_for_every_sign_in(sandbox: Sandbox, isolated_home: TestHome,
                                                               env: dict[str, str], how: str) -> None:
    flag = [how] if how.startswith("--") else []
    if not flag:
        env = {**env, **dict([how.split("=", 1)])}
    proc = run_keyrack("sync", "--start-url", sandbox.start_url, "--sso-region", sandbox.region, "--yes", *flag,
                       env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert sandbox.count("StartDeviceAuthorization") == sandbox.sign_ins() == 2  # the first and the roundtrip's
    assert sandbox.count("CreateToken", grant_type="device_code") >= 2  # polled until approved
    assert sandbox.count("CreateToken", grant_type="authorization_code") == 0


def test_a_vanity_start_url_is_followed_once_and_the_portal_names_the_region(
        vanity: dict, sts: str, isolated_home: TestHome, env: dict[str, str]) -> None:
    vanity["answers"]["/start"] = (302, PORTAL + "/start/#/")
    with Sandbox(start_url=PORTAL, region="eu-west-1", sts_endpoint=sts) as portal:
        env = {**env, **portal.env(), "SSL_CERT_FILE": vanity["cert"]}
        # No --sso-region: the portal's host (portal.eu-west-1.app.aws) names it.
        proc = run_keyrack("sync", "--start-url", vanity["base"] + "/start", "--region", "eu-west-1", "--yes",
                           env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert f"redirects to the AWS access portal {PORTAL}/start/ (SSO region eu-west-1)" in proc.stdout
        assert boto3_identity("staging.developer", env=env) == assumed_role_arn("222222222222", "Developer")
        # Only IAM Identity Center's own URL is written: later runs name it, and find the same session.
        again = run_keyrack("sync", "--start-url", PORTAL + "/start/", "--dry-run", "--json", env=env, timeout=180)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["session_action"] == "reuse" and not json.loads(again.stdout)["changed"]
    config = isolated_home.config.read_text()
    assert f"sso_start_url = {PORTAL}/start/\n" in config and "sso_region = eu-west-1\n" in config
    assert vanity["base"] not in config
    assert [(m, p) for m, p, _ in vanity["seen"]] == [("HEAD", "/start")]  # one blind request, only at sync


# -- names --------------------------------------------------------------------------------
def test_colliding_and_unicode_names_get_deterministic_names_and_a_set_profile_is_never_taken(
        sandbox: Sandbox, rich: TestHome) -> None:
    sandbox.set_accounts([Account("111111111111", "Prod", ("AdminRole",)),
                          Account("222222222222", "prod", ("AdminRole",)),
                          Account("333333333333", "Données Équipe", ("ReadOnly",)),
                          Account("444444444444", "日本チーム", ("ReadOnly",))])
    assert run_keyrack("set", "prod.adminrole", "--start-url", sandbox.start_url, "--sso-region", sandbox.region,
                       "--account-id", "111111111111", "--role-name", "AdminRole", "--no-verify").returncode == 0
    set_section = sections(rich.config).items("profile prod.adminrole")
    proc = keyrack_sync(sandbox, "--sso-session", SESSION, "--yes", "--json", new=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    names = {(p["account_id"], p["role_name"]): p["profile"] for p in out["profiles"]}
    assert names == {("111111111111", "AdminRole"): "prod.adminrole-111111111111",
                     ("222222222222", "AdminRole"): "prod.adminrole-222222222222",
                     ("333333333333", "ReadOnly"): "donnees-equipe.readonly",
                     ("444444444444", "ReadOnly"): "xn--7ck2c0dt39wzlb.readonly"}
    notes = {p["profile"]: p.get("note", "") for p in out["profiles"]}
    assert "taken by a profile sync does not manage" in notes["prod.adminrole-111111111111"]
    assert sections(rich.config).items("profile prod.adminrole") == set_section  # `set`'s profile untouched
    # The same listing gives the same names again, on any machine: nothing to write.
    again = keyrack_sync(sandbox, "--sso-session", SESSION, "--json", new=False)
    assert json.loads(again.stdout)["changed"] is False


@pytest.mark.parametrize("header", ['[profile "staging.developer"]', "[profile   staging.developer]"])
def test_a_hand_written_profile_under_any_header_botocore_reads_is_never_replaced(
        sandbox: Sandbox, rich: TestHome, header: str) -> None:
    # botocore reads [profile "x"] (shlex) and [profile   x] as profile x: that name is taken.
    mine = f"{header}\nregion = ap-south-1\noutput = text\n".encode()
    rich.config.write_bytes(RICH + b"\n" + mine)
    proc = keyrack_sync(sandbox, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {(p["account_id"], p["role_name"]): p["profile"] for p in json.loads(proc.stdout)["profiles"]}
    assert names[("222222222222", "Developer")] == "staging.developer-222222222222"
    assert rich.config.read_bytes().startswith(RICH + b"\n" + mine)  # the user's section, byte for byte
    import boto3

    assert boto3.Session(profile_name="staging.developer").region_name == "ap-south-1"  # still the user's


def test_template_and_prefix_name_the_profiles(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox, "--template", "{{ sso_session }}-{{ account_id }}-{{ role_name }}",
                        "--prefix", "org.", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {p["profile"] for p in json.loads(proc.stdout)["profiles"]} == {
        f"org.{SESSION}-111111111111-adminrole", f"org.{SESSION}-111111111111-readonly",
        f"org.{SESSION}-222222222222-adminrole", f"org.{SESSION}-222222222222-developer"}


# -- bad input and faults: one line, the right exit code, the config's bytes unchanged ------
@pytest.mark.parametrize("template,says", [
    ("{{ acount_name }}", "'acount_name' is undefined; it may use account_id, account_name, role_name"),
    ("{{ account_name", "does not parse"),
    ("{{ account_name.__class__.__mro__ }}", "unsafe"),
    ("{{ account_name }}/{{ role_name }}", "unsafe name for account 'Production' (111111111111)"),
    ("{{ '' }}", "empty profile name for account 'Production' (111111111111)"),
])
def test_a_bad_template_is_one_line_exit_2_and_nothing_written(sandbox: Sandbox, rich: TestHome, template: str,
                                                                says: str) -> None:
    proc = keyrack_sync(sandbox, "--template", template, "--yes")
    assert proc.returncode == 2, proc.stderr
    assert len(error_lines(proc.stderr)) == 1 and says in proc.stderr and "Traceback" not in proc.stderr
    assert rich.config.read_bytes() == RICH


def test_an_unknown_variable_is_refused_before_any_call(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_sync(sandbox, "--template", "{{ nope }}").returncode == 2
    assert sandbox.calls == []


def test_an_unknown_session_is_one_line(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox, "--sso-session", "nope", new=False)
    assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1
    assert "sso-session 'nope' is not in" in proc.stderr
    assert rich.config.read_bytes() == RICH and sandbox.calls == []


def test_a_config_that_does_not_parse_is_one_line(sandbox: Sandbox, isolated_home: TestHome) -> None:
    broken = b"[profile a]\nregion = eu-west-1\n[profile a]\n"
    isolated_home.config.write_bytes(broken)
    proc = keyrack_sync(sandbox, "--yes")
    assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1 and "cannot parse" in proc.stderr
    assert isolated_home.config.read_bytes() == broken and sandbox.calls == []


def test_a_read_only_config_is_one_line(sandbox: Sandbox, rich: TestHome) -> None:
    rich.config.chmod(0o444)
    proc = keyrack_sync(sandbox, "--yes")
    assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1 and "read-only" in proc.stderr
    assert rich.config.read_bytes() == RICH


def test_throttling_that_never_ends_is_exit_1_and_nothing_written(sandbox: Sandbox, rich: TestHome) -> None:
    sandbox.fail("ListAccountRoles", "TooManyRequestsException", times=1000)
    proc = keyrack_sync(sandbox, "--yes")
    assert proc.returncode == 1, proc.stderr
    assert len(error_lines(proc.stderr)) == 1 and "nothing was written" in proc.stderr
    assert rich.config.read_bytes() == RICH


def test_a_denied_sign_in_is_exit_2_and_nothing_written(sandbox: Sandbox, rich: TestHome) -> None:
    sandbox.behaviour = "deny"
    proc = keyrack_sync(sandbox, "--yes")
    assert proc.returncode == 2, proc.stderr
    assert len(error_lines(proc.stderr)) == 1
    assert rich.config.read_bytes() == RICH


def test_a_sync_killed_mid_write_leaves_the_old_config_or_the_whole_new_one(sandbox: Sandbox, rich: TestHome,
                                                                          env: dict[str, str]) -> None:
    import os
    import signal
    import sys
    import time

    sandbox.use_organisation(100, 4)
    caught = False
    for _ in range(5):
        rich.config.write_bytes(RICH)
        proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", "sync", "--start-url", sandbox.start_url,
                                 "--sso-region", sandbox.region, "--yes"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                names = os.listdir(rich.aws)
                if any(n.startswith(".config.") for n in names):  # the one write is under way: kill -9 now
                    os.killpg(proc.pid, signal.SIGKILL)
                    caught = True
                    break
                if "config.keyrack.bak" in names and rich.config.read_bytes() != RICH:
                    break  # written before we looked: try again
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        now = rich.config.read_bytes()
        assert now == RICH or (now.startswith(RICH) and len(generated(rich.config)) == 400)
        if caught:
            break
    assert caught


def test_a_template_that_fails_only_on_a_real_value_names_that_account(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_sync(sandbox, "--template", "{{ account_name[7] }}.{{ role_name }}", "--yes")
    assert proc.returncode == 2, proc.stderr
    assert error_lines(proc.stderr) == [line for line in error_lines(proc.stderr)
                                        if "failed for account 'Staging' (222222222222)" in line]
    assert len(error_lines(proc.stderr)) == 1 and rich.config.read_bytes() == RICH
