"""`keyrack relock`: Logout at the portal, then only that session's files go."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
from clients import aws_v2, client_arn, client_command, client_env  # noqa: F401 (fixture)
from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)
from harness import run

from keyrack_sh import resources


def unlock_both(home: Home) -> None:
    for profile in ("p1", "p2", "q1"):
        assert home.credential_process(profile).returncode == 0


def test_relock_logs_out_and_removes_only_that_sessions_token_and_credentials(home: Home) -> None:
    unlock_both(home)
    calls = home.sandbox.count("GetRoleCredentials")
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0, proc.stderr
    assert "relocked sso-session s1: signed out at AWS; removed 3 local file(s)" in proc.stdout
    assert home.sandbox.count("Logout") == 1
    assert not home.token_file("s1").exists()
    assert not home.creds_file("p1").exists() and not home.creds_file("p2").exists()
    assert home.prompt_line("s1").startswith("locked ")
    # The other session is untouched and still answers from its cache.
    assert home.token_file("s2").exists() and home.creds_file("q1").exists()
    assert home.prompt_line("s2").startswith("unlocked ")
    assert home.credential_process("q1").returncode == 0
    assert home.sandbox.count("GetRoleCredentials") == calls
    # And the relocked one is locked for real.
    assert_one_line_failure(home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never"), 2, "keyrack unlock p1")


def test_relock_also_removes_the_temp_copies_of_the_token_a_killed_writer_left(home: Home) -> None:
    unlock_both(home)
    token = home.token_file("s1")
    left = token.with_name(f".{token.name}.k1ll3d.tmp")  # as atomic.write names them
    left.write_text(token.read_text())  # the refresh token and client secret, too
    other = home.token_file("s2").with_name(f".{home.token_file('s2').name}.k1ll3d.tmp")
    other.write_text("{}")
    assert home.keyrack("relock", "p1").returncode == 0
    assert not left.exists()
    assert other.exists()  # another session's is not this relock's


def test_the_logout_ends_the_server_side_session(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    token = json.loads(home.token_file("s1").read_text())
    assert home.keyrack("relock", "--session", "s1").returncode == 0
    # The old token no longer works at the portal: restore it and ask for another role.
    home.token_file("s1").write_text(json.dumps(token))
    home.token_file("s1").chmod(0o600)
    proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "keyrack unlock p2")


def test_a_failed_server_logout_is_reported_and_local_state_still_cleared(home: Home) -> None:
    unlock_both(home)
    home.sandbox.fail("Logout", "InternalServerException", times=10, status=500)
    proc = home.keyrack("relock", "p1")
    # Exit 1: the browser's sign-in may live on at AWS. The local state is gone all the same.
    assert proc.returncode == 1, proc.stderr
    assert "server sign-out not done" in proc.stdout and "InternalServerException" in proc.stdout
    assert "sign-out at AWS failed" in proc.stderr
    assert not home.token_file("s1").exists() and not home.creds_file("p1").exists()
    assert home.token_file("s2").exists()


def test_relock_all_json(home: Home) -> None:
    unlock_both(home)
    proc = home.keyrack("relock", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    results = {r["session"]: r for r in json.loads(proc.stdout)}
    assert set(results) == {"s1", "s2"}
    assert all(r["logged_out"] for r in results.values())
    assert home.sandbox.count("Logout") == 2
    assert not home.token_file("s1").exists() and not home.token_file("s2").exists()


def test_relocking_a_locked_session_is_harmless(home: Home) -> None:
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0
    assert "already locked" in proc.stdout
    assert home.sandbox.count("Logout") == 0


def test_relock_of_an_unknown_profile_is_a_one_line_user_error(home: Home) -> None:
    assert_one_line_failure(home.keyrack("relock", "ghost"), 2, "'ghost'")


def test_logout_goes_to_the_tokens_own_region(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    # The config's region is not where this token was issued (here: not even a region).
    proc = home.python("from keyrack_sh import engine; r = engine.relock('s1', region='us_east_1'); "
                       "print(r.logged_out, r.logout_error)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "None"]
    assert home.sandbox.count("Logout") == 1


@pytest.mark.parametrize("region", ["us_east_1", None])
def test_a_token_with_a_bad_or_no_region_still_clears_the_local_state(home: Home, region: str | None) -> None:
    unlock_both(home)
    token = json.loads(home.token_file("s1").read_text())
    if region is None:
        token.pop("region")
    else:
        token["region"] = region
    home.token_file("s1").write_text(json.dumps(token))
    # No region from the config either (a session relocked by name after it left the config).
    proc = home.python("from keyrack_sh import engine; r = engine.relock('s1'); "
                       "print(r.logged_out, r.logout_failed, len(r.removed)); print(r.logout_error)")
    assert proc.returncode == 0, proc.stderr
    status, error = proc.stdout.splitlines()
    assert status == "False True 3"
    assert (region or "no IAM Identity Center region") in error
    assert not home.token_file("s1").exists() and not home.creds_file("p1").exists()
    assert home.prompt_line("s1").startswith("locked ")
    assert home.sandbox.count("Logout") == 0


def test_relock_with_a_malformed_token_region_exits_1_and_says_so(home: Home) -> None:
    unlock_both(home)
    token = json.loads(home.token_file("s1").read_text())
    home.token_file("s1").write_text(json.dumps({**token, "region": "us_east_1"}))
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 1, proc.stderr
    assert "server sign-out not done" in proc.stdout and "'us_east_1'" in proc.stdout
    assert "sign-out at AWS failed" in proc.stderr and "unexpected" not in proc.stderr
    assert not home.token_file("s1").exists() and not home.creds_file("p1").exists()


def test_a_lookup_racing_a_relock_never_brings_the_credentials_back(home: Home) -> None:
    """A relock holds the lock while it deletes; a sibling profile's lookup must not copy p1's
    credentials (read before the delete) into its own file afterwards."""
    assert home.credential_process("p1").returncode == 0
    # The relock takes the lock and waits (as if its Logout were slow) until the lookup is running.
    relocker = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom keyrack_sh import engine, lock\n"
         "with lock.session_lock('s1', timeout=5):\n"
         "    print('held', flush=True)\n"
         "    sys.stdin.readline()\n"
         "    print(engine.relock('s1').logged_out, flush=True)\n"],
        env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    lookup = None
    try:
        assert relocker.stdout is not None and relocker.stdout.readline() == "held\n"
        lookup = subprocess.Popen(shlex.split(resources.credential_process_command("p1b")),
                                  env={**home.env, "KEYRACK_AUTO_UNLOCK": "never"}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        time.sleep(1.5)  # the lookup has read the caches by now (before the fix it had answered, too)
        relocker.stdin.write("go\n")
        relocker.stdin.flush()
        assert relocker.stdout.readline() == "True\n"
        relocker.wait(timeout=10)
        out, err = lookup.communicate(timeout=60)
        assert (lookup.returncode, out) == (2, ""), (lookup.returncode, out, err)
        assert "keyrack unlock p1b" in err
        assert not home.creds_file("p1b").exists() and not home.creds_file("p1").exists()
    finally:
        for proc in (relocker, lookup):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()


def test_relock_of_an_unknown_session_is_exit_2_and_creates_nothing(home: Home) -> None:
    before = sorted(home.root.rglob("*"))
    proc = home.keyrack("relock", "--session", "nope")
    assert_one_line_failure(proc, 2, "no sso-session 'nope'", "known: s1, s2", "keyrack list")
    assert sorted(home.root.rglob("*")) == before
    assert home.sandbox.count("Logout") == 0


def test_a_session_gone_from_the_config_can_still_be_relocked_by_name(home: Home) -> None:
    assert home.credential_process("q1").returncode == 0
    home.config.write_text(home.config.read_text().replace("[sso-session s2]", "[sso-session s2-renamed]"))
    proc = home.keyrack("relock", "--session", "s2")
    assert proc.returncode == 0, proc.stderr
    assert "relocked sso-session s2: signed out at AWS" in proc.stdout
    assert not home.token_file("s2").exists() and not home.creds_file("q1").exists()


def test_relocking_a_locked_session_says_it_was_already_locked(home: Home) -> None:
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sso-session s1 was already locked (nothing to sign out); removed 0 local file(s)\n"


# -- the role credentials other tools cached for the session ---------------------------------

NATIVE_PROFILES = """
[profile native]
sso_session = s1
sso_account_id = 222222222222
sso_role_name = Developer
region = eu-west-1

[profile native2]
sso_session = s2
sso_account_id = 111111111111
sso_role_name = ReadOnly
region = eu-west-1
"""

# boto3 with a file cache on its SSO provider, as tools that keep role credentials across runs do.
BOTO_FILE_CACHE = (
    "import boto3\nfrom botocore.credentials import JSONFileCache\n"
    "s = boto3.Session(profile_name={profile!r})\n"
    "s._session.get_component('credential_provider').get_provider('sso').cache = JSONFileCache()\n"
    "print(s.client('sts').get_caller_identity()['Arn'])\n")


def test_relock_ends_the_aws_cli_s_cached_role_credentials_of_that_session_and_no_other(
        home: Home, aws_v2: tuple[str, ...]) -> None:
    unlock_both(home)
    home.write_config(NATIVE_PROFILES)
    assert client_arn(aws_v2, home.env, "native") == arn("222222222222", "Developer")
    assert client_arn(aws_v2, home.env, "native2") == arn("111111111111", "ReadOnly")
    cli_cache = home.root / ".aws" / "cli" / "cache"
    assert len(list(cli_cache.iterdir())) == 2
    fetched = home.sandbox.count("GetRoleCredentials")

    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0, proc.stderr
    # The CLI's cached credentials would be served without any token: they went with it.
    after = run(client_command(aws_v2, "native"), env=client_env(home.env, "native"), timeout=120)
    assert after.returncode != 0 and after.stdout == "", after.stdout
    assert "SSO" in after.stderr and "Token" in after.stderr, after.stderr
    # The other session's native profile is served from the CLI's cache as before.
    assert client_arn(aws_v2, home.env, "native2") == arn("111111111111", "ReadOnly")
    assert home.sandbox.count("GetRoleCredentials") == fetched
    assert len(list(cli_cache.iterdir())) == 1


def test_relock_ends_botocore_s_file_cached_role_credentials_of_that_session_and_no_other(home: Home) -> None:
    unlock_both(home)
    home.write_config(NATIVE_PROFILES)
    for profile, expected in (("native", arn("222222222222", "Developer")),
                              ("native2", arn("111111111111", "ReadOnly"))):
        proc = home.python(BOTO_FILE_CACHE.format(profile=profile))
        assert (proc.returncode, proc.stdout.strip()) == (0, expected), proc.stderr
    boto_cache = home.root / ".aws" / "boto" / "cache"
    assert len(list(boto_cache.iterdir())) == 2
    fetched = home.sandbox.count("GetRoleCredentials")

    assert home.keyrack("relock", "--session", "s1").returncode == 0
    proc = home.python(BOTO_FILE_CACHE.format(profile="native"))
    assert proc.returncode != 0 and proc.stdout == ""
    proc = home.python(BOTO_FILE_CACHE.format(profile="native2"))
    assert (proc.returncode, proc.stdout.strip()) == (0, arn("111111111111", "ReadOnly")), proc.stderr
    assert home.sandbox.count("GetRoleCredentials") == fetched


def test_relock_leaves_every_cache_file_it_cannot_attribute_to_the_session(home: Home) -> None:
    from keyrack_sh.tool_caches import cache_key

    unlock_both(home)
    home.write_config(NATIVE_PROFILES)
    cli_cache = home.root / ".aws" / "cli" / "cache"
    cli_cache.mkdir(parents=True)
    sso_entry = json.dumps({"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIAX"}})
    keep = {
        "assume-role.json": json.dumps({"Credentials": {"AccessKeyId": "ASIAR"}, "AssumedRoleUser": {}}),
        cache_key("222222222222", "Developer", "s2") + ".json": sso_entry,  # another session's
        cache_key("333333333333", "Unknown", "s1") + ".json": sso_entry,  # a role no profile names
        # a legacy profile's (keyed by the start URL: its own token file, its own sign-in)
        "legacy-start-url-key.json": sso_entry,
        # named as this session's (profile nope's role), but not an SSO entry: not the SSO provider's
        cache_key("222222222222", "AdminRoleX", "s1") + ".json": json.dumps({"Credentials": {}}),
    }
    ours = {cache_key("222222222222", "Developer", "s1") + ".json": sso_entry,  # native
            cache_key("111111111111", "AdminRole", "s1") + ".json": sso_entry[:20]}  # p1, half-written
    for name, text in {**keep, **ours}.items():
        (cli_cache / name).write_text(text)
        (cli_cache / name).chmod(0o600)
    proc = home.keyrack("relock", "p1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(cli_cache)) == sorted(keep)
    removed = json.loads(proc.stdout)[0]["removed"]
    assert {str(cli_cache / name) for name in ours} <= set(removed)
