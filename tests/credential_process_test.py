"""`keyrack credential-process` as the SDKs run it: each step of the resolution
order, proven with the sandbox's call counts, and the failure contract (one
stderr line, nothing on stdout, exit 2 user-fixable / 1 transient)."""
from __future__ import annotations

import json
import os
import time

import pytest
from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)

from harness import assumed_role_arn, write_cli_v2_token
from tty_test import Terminal

AUTH = "authorization_code"
REFRESH = "refresh_token"


def unlocked(home: Home, profile: str = "p1") -> dict:
    proc = home.credential_process(profile)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_boto3_and_the_aws_cli_get_the_profiles_assumed_role(home: Home) -> None:
    assert home.boto3_arn("p1") == arn("111111111111", "AdminRole")
    assert home.aws_cli_arn("p2") == arn("222222222222", "Developer")
    # One sign-in served both profiles of the session.
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1
    assert home.sandbox.count("RegisterClient") == 1


def test_the_answer_is_exactly_one_credential_process_json_object(home: Home) -> None:
    proc = home.credential_process("p1")
    assert proc.returncode == 0
    creds = json.loads(proc.stdout)
    assert set(creds) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"}
    assert creds["Version"] == 1 and creds["Expiration"].endswith("Z")
    assert proc.stdout.count("\n") == 1


def test_step_1_cached_role_credentials_make_no_call(home: Home) -> None:
    first = unlocked(home)
    calls = len(home.sandbox.calls)
    assert unlocked(home) == first
    assert len(home.sandbox.calls) == calls


def test_another_profile_of_the_same_role_reuses_its_credentials(home: Home) -> None:
    first = unlocked(home, "p1")
    assert unlocked(home, "p1b") == first
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_step_2_a_valid_token_fetches_role_credentials_without_sign_in(home: Home) -> None:
    unlocked(home, "p1")
    assert unlocked(home, "p2")["AccessKeyId"]
    assert home.sandbox.count("GetRoleCredentials") == 2
    assert home.sandbox.count("CreateToken") == 1


def test_a_config_edit_invalidates_the_hot_cache_but_not_the_credentials(home: Home) -> None:
    first = unlocked(home)
    home.write_config(extra="\n# edited\n")
    assert unlocked(home) == first  # re-stamped from the cache: no new fetch
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_step_3_an_expired_token_is_renewed_silently_and_the_rotated_refresh_token_kept(home: Home) -> None:
    unlocked(home, "p1")
    token = json.loads(home.token_file("s1").read_text())
    token["expiresAt"] = "2020-01-01T00:00:00Z"
    home.token_file("s1").write_text(json.dumps(token))
    assert unlocked(home, "p2", ) and True
    renewed = json.loads(home.token_file("s1").read_text())
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 1
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1  # no second browser sign-in
    assert renewed["refreshToken"] != token["refreshToken"]  # the sandbox rotates; we kept the new one
    assert renewed["accessToken"] != token["accessToken"]
    assert "unlocked" in home.prompt_line("s1")


def test_a_dead_refresh_token_leads_to_a_new_sign_in(home: Home) -> None:
    unlocked(home, "p1")
    token = json.loads(home.token_file("s1").read_text())
    token["expiresAt"] = "2020-01-01T00:00:00Z"
    home.token_file("s1").write_text(json.dumps(token))
    home.sandbox.fail("CreateToken", "InvalidGrantException", grant_type=REFRESH)
    unlocked(home, "p2")
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 1
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 2


def test_a_revoked_token_is_treated_as_locked_and_signs_in_again(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_all()
    unlocked(home, "p2")
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 2
    assert home.sandbox.count("GetRoleCredentials") == 3  # p1, p2 rejected, p2 again


def test_step_4_a_locked_session_with_policy_never_fails_fast_without_any_call(home: Home) -> None:
    proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "profile 'p1'", "locked", "keyrack unlock p1")
    assert home.sandbox.calls == []  # fast because nothing was asked of anyone


def test_policy_tty_without_a_terminal_fails_fast_without_any_call(home: Home) -> None:
    proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="tty")
    assert_one_line_failure(proc, 2, "keyrack unlock p1")
    assert home.sandbox.calls == []


def test_the_profile_setting_is_the_policy_when_the_environment_says_nothing(home: Home) -> None:
    home.write_config(extra="")
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_auto_unlock = never\n")
    home.config.write_text(text)
    env = {k: v for k, v in home.env.items() if k != "KEYRACK_AUTO_UNLOCK"}
    home.env = env
    assert_one_line_failure(home.credential_process("p1"), 2, "keyrack unlock p1")
    home.env = {**env, "KEYRACK_AUTO_UNLOCK": "always"}
    assert unlocked(home, "p1")


def test_a_denied_sign_in_is_a_clear_user_error(home: Home) -> None:
    home.sandbox.behaviour = "deny"
    proc = home.credential_process("p1")
    assert_one_line_failure(proc, 2, "denied")
    assert not home.token_file("s1").exists()


def test_a_sign_in_nobody_finishes_times_out(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    proc = home.credential_process("p1", KEYRACK_SIGNIN_TIMEOUT="1.5")
    assert_one_line_failure(proc, 2, "timed out after 1.5 s")


def test_a_role_the_user_lacks_names_account_and_role_and_exits_2(home: Home) -> None:
    proc = home.credential_process("nope")
    assert_one_line_failure(proc, 2, "AdminRoleX", "222222222222")


@pytest.mark.parametrize("code,status", [("TooManyRequestsException", 429), ("InternalServerException", 500)])
def test_throttling_and_server_errors_exit_1(home: Home, code: str, status: int) -> None:
    unlocked(home, "p1")
    home.sandbox.fail("GetRoleCredentials", code, times=10, status=status)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, code)


def test_an_unknown_profile_is_a_user_error_with_nothing_on_stdout(home: Home) -> None:
    assert_one_line_failure(home.credential_process("ghost"), 2, "'ghost'")


def test_a_rejected_client_registration_is_registered_again(home: Home) -> None:
    unlocked(home, "p1")
    client = json.loads((home.root / ".aws/keyrack/clients/s1.json").read_text())
    client["clientSecret"] = "forgotten-by-the-server"
    (home.root / ".aws/keyrack/clients/s1.json").write_text(json.dumps(client))
    home.token_file("s1").unlink()
    unlocked(home, "p2")
    assert home.sandbox.count("RegisterClient") == 2
    # The stale secret is found before a browser opens for it: the first sign-in, then the new client's.
    assert home.sandbox.count("Authorize") == 2
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 2


def test_the_device_code_flow_signs_in_too(home: Home) -> None:
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_login = device\n")
    home.config.write_text(text)
    assert unlocked(home, "p1")
    assert home.sandbox.count("StartDeviceAuthorization") == 1
    assert home.sandbox.count("CreateToken", grant_type="urn:ietf:params:oauth:grant-type:device_code") >= 1


def test_the_prompt_state_names_the_profiles_session_and_holds_no_secret(home: Home) -> None:
    creds = unlocked(home, "p1")
    prompt = home.root / ".aws" / "keyrack" / "prompt"
    assert (prompt / "profiles" / "p1").read_text() == "s1\n"
    state, access, end, path = home.prompt_line("s1").split()
    assert state == "unlocked" and int(end) >= int(access) > time.time() + 3000
    assert path == str(home.token_file("s1"))
    everything = "".join(p.read_text() for p in prompt.rglob("*") if p.is_file())
    assert creds["SecretAccessKey"] not in everything and creds["SessionToken"] not in everything


def test_an_unreachable_identity_center_is_a_transient_error(home: Home) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    proc = home.credential_process("p1", AWS_ENDPOINT_URL_SSO_OIDC=dead, AWS_ENDPOINT_URL_SSO=dead)
    assert_one_line_failure(proc, 1, "cannot reach IAM Identity Center")


def test_a_token_for_another_start_url_is_not_used(home: Home) -> None:
    token = home.sandbox.issue_session()
    home.token_file("s1").parent.mkdir(parents=True, exist_ok=True)
    home.token_file("s1").write_text(json.dumps({**token, "startUrl": "https://other.awsapps.com/start"}))
    proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "auto-unlock is 'never'", "keyrack unlock p1")
    assert home.sandbox.count("GetRoleCredentials") == 0


def test_after_aws_sso_logout_no_cached_role_credentials_are_served(home: Home) -> None:
    unlocked(home, "p1")
    # `aws sso logout` deletes the token file and knows nothing of keyrack's creds files.
    home.token_file("s1").unlink()
    for profile in ("p1", "p1b"):  # its own cached answer, and another profile's copy of it
        proc = home.credential_process(profile, KEYRACK_AUTO_UNLOCK="never")
        assert_one_line_failure(proc, 2, f"keyrack unlock {profile}")
    assert not home.creds_file("p1b").exists()
    assert home.sandbox.count("GetRoleCredentials") == 1


def test_a_creds_file_of_the_old_format_is_a_miss_and_is_rewritten(home: Home) -> None:
    first = unlocked(home, "p1")
    path = home.creds_file("p1")
    header, payload = path.read_text().split("\n", 1)
    old = header.split()[:8]
    old[1] = "2"  # the format before the profile's own name was in the header
    path.write_text(" ".join(old) + "\n" + payload)
    second = unlocked(home, "p1")  # a miss: fetched again with the token, no sign-in
    assert second != first and home.sandbox.count("GetRoleCredentials") == 2
    assert home.sandbox.count("CreateToken") == 1
    assert path.read_text().split()[1] == "4"
    assert unlocked(home, "p1") == second  # and the rewritten file is a hit again
    assert home.sandbox.count("GetRoleCredentials") == 2


def test_a_malformed_sso_region_is_a_user_error_naming_it(home: Home) -> None:
    home.config.write_text(home.config.read_text().replace(f"sso_region = {home.sandbox.region}",
                                                           "sso_region = us_east_1"))
    assert_one_line_failure(home.credential_process("p1"), 2, "us_east_1")
    assert not list((home.root / ".aws" / "keyrack").glob("logs/*"))  # no crash log: not unexpected


def test_a_token_with_a_malformed_region_is_a_user_error_when_renewed(home: Home) -> None:
    unlocked(home, "p1")
    token = json.loads(home.token_file("s1").read_text())
    home.token_file("s1").write_text(json.dumps({**token, "expiresAt": "2020-01-01T00:00:00Z",
                                                 "region": "us_east_1"}))
    assert_one_line_failure(home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never"), 2, "us_east_1")


def test_a_stale_prompt_mapping_never_holds_one_sessions_lock_while_waiting_for_another(home: Home) -> None:
    """prompt/profiles/p1 names s2 but the config says s1: the herd lock (s2) is left before s1 is waited for."""
    import os
    import shlex
    import subprocess
    import sys

    from keyrack_sh import resources

    unlocked(home, "p1")
    home.creds_file("p1").unlink()  # a miss, with a working token: the fetch needs s1's lock
    (home.root / ".aws" / "keyrack" / "prompt" / "profiles" / "p1").write_text("s2\n")
    holder_code = """
import os, sys, time
from keyrack_sh import lock
from keyrack_sh.errors import UserError
with lock.session_lock("s1", timeout=5):
    print("held", flush=True)
    sys.stdin.readline()  # until the test says the other process waits for s1
    try:
        with lock.session_lock("s2", timeout=0.5, on_wait=lambda pid: None):
            print("s2 free", flush=True)
    except UserError:
        print("s2 busy", flush=True)
"""
    holder = subprocess.Popen([sys.executable, "-c", holder_code], env=home.env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    waiter = None
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        # On a terminal, so that it says when it waits (without one its stderr holds only a failure).
        terminal = Terminal(home, shlex.split(resources.credential_process_command("p1")),
                            KEYRACK_AUTO_UNLOCK="always")
        waiter = terminal.proc
        terminal.wait_for("waiting for the unlock of sso-session 's1'")  # once it has waited for s1 for a second
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "s2 free\n"
        holder.wait(timeout=10)
        result, _ = terminal.finish()
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["AccessKeyId"]
        # And the mapping is the config's again.
        assert (home.root / ".aws" / "keyrack" / "prompt" / "profiles" / "p1").read_text().strip() == "s1"
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "closed pipes"])
def test_a_sign_in_whose_caller_dies_goes_on_caches_and_the_retry_opens_no_second_tab(home: Home, how: str) -> None:
    import shlex
    import signal
    import subprocess
    import urllib.request

    from harness import browser_urls, kill_group

    from keyrack_sh import resources

    env = {**home.env, "TEST_BROWSER_MODE": "log"}  # the person has not approved yet
    caller = subprocess.Popen(shlex.split(resources.credential_process_command("p1")), env=env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not browser_urls(home.env):  # the browser was told the sign-in URL
            assert time.monotonic() < deadline and caller.poll() is None, caller.poll()
            time.sleep(0.05)
        if how == "closed pipes":
            caller.stdout.close()  # type: ignore[union-attr]
            caller.stderr.close()  # type: ignore[union-attr]
        else:
            os.killpg(caller.pid, getattr(signal, how))  # the caller's whole group
            caller.wait(timeout=30)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(browser_urls(home.env)[0], timeout=30) as resp:  # approved, at last
            resp.read()
        retry = home.credential_process("p1", TEST_BROWSER_MODE="log")
        assert retry.returncode == 0, retry.stderr
        assert json.loads(retry.stdout)["AccountId"] == "111111111111"
        assert len(browser_urls(home.env)) == 1 and home.sandbox.count("Authorize") == 1
        assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    finally:
        kill_group(caller.pid)
        caller.wait()


def _signer_pid(home: Home, session: str) -> int:
    """The pid that holds `session`'s lock (it records itself in `<lock>.pid`), once one does."""
    record = home.root / ".aws" / "keyrack" / "locks" / f"{session}.lock.pid"
    deadline = time.monotonic() + 30
    while not (record.exists() and record.read_text().split()):
        assert time.monotonic() < deadline, "nobody took the session lock"
        time.sleep(0.05)
    return int(record.read_text().split()[0])


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["denied", "timed out"])
def test_a_sign_in_whose_caller_died_says_so_once_and_its_failure_caches_nothing(home: Home, ending: str) -> None:
    import shlex
    import signal
    import urllib.error
    import urllib.request

    from harness import browser_urls, kill_group

    from keyrack_sh import resources

    settings = {"TEST_BROWSER_MODE": "log", "KEYRACK_AUTO_UNLOCK": "always"}  # nobody approves yet
    if ending == "timed out":
        settings["KEYRACK_SIGNIN_TIMEOUT"] = "3"
    # The user's shell leads the terminal's session, as in real life; an SDK runs us below it.
    command = resources.credential_process_command("p1")
    terminal = Terminal(home, ["bash", "-c", f"{command} >/dev/null; exec sleep 300"], **settings)
    try:
        assert browser_urls(home.env, at_least=1)
        signer = _signer_pid(home, "s1")  # the sign-in, which outlives its caller
        with open(f"/proc/{signer}/stat") as f:
            caller = int(f.read().rsplit(")", 1)[1].split()[1])
        os.kill(caller, signal.SIGKILL)  # what the Go SDK does after 60 s
        terminal.wait_for("the calling program stopped waiting")
        if ending == "denied":
            home.sandbox.behaviour = "deny"
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(browser_urls(home.env)[0], timeout=30) as resp:
                    resp.read()
            except urllib.error.HTTPError:
                pass  # the page that says it was denied
        deadline = time.monotonic() + 60
        while _running(signer):  # the sign-in that went on ends, with its failure
            assert time.monotonic() < deadline, terminal.text
            time.sleep(0.05)
    finally:
        kill_group(terminal.proc.pid)
        terminal.finish()
    assert terminal.text.count("the calling program stopped waiting") == 1, terminal.text
    assert not home.token_file("s1").exists() and not home.creds_file("p1").exists()
    home.sandbox.behaviour = "approve"
    retry = home.credential_process("p1")  # a sign-in of its own, not the ended one's failure
    assert retry.returncode == 0, retry.stderr
    assert len(browser_urls(home.env, at_least=2)) == 2


@pytest.mark.parametrize("how", ["a token file replaced by another tool", "keyrack relock and unlock"])
def test_credentials_of_an_ended_sign_in_are_never_served_to_the_next(home: Home, how: str) -> None:
    first = unlocked(home, "p1")
    unlocked(home, "p1b")  # another profile's copy of the same role
    home.sandbox.user = "bob"  # someone else signs in next
    if how == "keyrack relock and unlock":
        assert home.keyrack("relock", "p1").returncode == 0
        assert home.keyrack("unlock", "p1").returncode == 0
    else:  # e.g. `aws sso logout` + `aws sso login`: the file is simply there again, anew
        write_cli_v2_token("s1", home.sandbox.issue_session(client_name="botocore-client-s1"), env=home.env)
    for profile in ("p1", "p1b"):
        again = unlocked(home, profile)
        assert again["AccessKeyId"] != first["AccessKeyId"]
    assert home.boto3_arn("p1") == assumed_role_arn("111111111111", "AdminRole", "bob")


def test_keyrack_s_own_refresh_keeps_the_sign_ins_role_credentials(home: Home) -> None:
    home.sandbox.set_lifetimes(access=5)  # under keyrack's 60-s margin: the next use refreshes
    first = unlocked(home, "p1")
    token = json.loads(home.token_file("s1").read_text())
    assert unlocked(home, "p2")  # another role of the session: a refresh, then a fetch
    assert json.loads(home.token_file("s1").read_text())["accessToken"] != token["accessToken"]
    fetched = home.sandbox.count("GetRoleCredentials")
    assert unlocked(home, "p1") == first  # served from the cache, not fetched again
    assert home.sandbox.count("GetRoleCredentials") == fetched
