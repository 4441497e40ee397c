"""IAM Identity Center misbehaving, as keyrack's callers meet it: a client registration the server
revoked, malformed answers (not JSON, a captive portal's HTML, an empty 200, a missing field, a
20 MB body), and a slow or hung GetRoleCredentials held by one caller of a herd.

Every test drives keyrack's real credential_process (or CLI) in subprocesses against the sandbox,
which injects the fault; the sandbox's call counts prove what keyrack asked."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shlex
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)
from tty_test import run_on_a_terminal

from harness import browser_urls
from keyrack_sh import resources

AUTH = "authorization_code"
REFRESH = "refresh_token"
DEVICE = "device_code"


def unlocked(home: Home, profile: str = "p1", **env: str) -> dict:
    proc = home.credential_process(profile, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def expire_access_token(home: Home, session: str = "s1") -> None:
    """The access token is past its expiry (a refresh token remains), as an hour later."""
    token = json.loads(home.token_file(session).read_text())
    token["expiresAt"] = "2020-01-01T00:00:00Z"
    home.token_file(session).write_text(json.dumps(token))


def no_failure_trace(proc) -> None:
    assert "Traceback" not in proc.stderr and "unexpectedly" not in proc.stderr, proc.stderr


# -- a client registration the server no longer knows ------------------------------------------


def test_a_registration_revoked_at_the_server_is_registered_again_once_when_a_refresh_meets_it(
        home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    expire_access_token(home)
    assert unlocked(home, "p2", KEYRACK_SIGNIN_TIMEOUT="10")["AccessKeyId"]
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 1  # met InvalidClientException
    assert home.sandbox.count("RegisterClient") == 2  # registered again, once
    assert home.sandbox.count("Authorize") == 2  # the new client's sign-in, not a dead authorize page
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 2


def test_a_revoked_registration_is_found_before_the_browser_opens_and_registered_again(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    home.token_file("s1").unlink()  # signed out: the next call signs in with the cached registration
    assert unlocked(home, "p1", KEYRACK_SIGNIN_TIMEOUT="10")["AccessKeyId"]
    assert home.sandbox.count("RegisterClient") == 2
    assert home.sandbox.count("Authorize") == 2  # no browser tab for the forgotten client
    assert len(browser_urls(home.env)) == 2


def test_a_registration_the_server_expired_early_is_registered_again_in_the_device_flow(home: Home) -> None:
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_login = device\n")
    home.config.write_text(text)
    unlocked(home, "p1")
    home.sandbox.expire_registrations()  # at the server only: keyrack's record still says 90 days
    home.token_file("s1").unlink()
    assert unlocked(home, "p1")["AccessKeyId"]
    assert home.sandbox.count("RegisterClient") == 2
    assert home.sandbox.count("StartDeviceAuthorization") == 3  # first sign-in, rejected, the new client's


def test_a_new_registration_rejected_too_is_one_line_exit_1(home: Home) -> None:
    unlocked(home, "p1")
    home.token_file("s1").unlink()
    home.sandbox.fail("CreateToken", "InvalidClientException", times=2, grant_type=AUTH)
    proc = home.credential_process("p1", KEYRACK_SIGNIN_TIMEOUT="10")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center rejected keyrack's newly registered")
    no_failure_trace(proc)
    assert home.sandbox.count("RegisterClient") == 2  # once again, not again and again


def test_the_terminal_is_told_that_the_consent_screen_comes_again(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.revoke_clients()
    expire_access_token(home)
    argv = shlex.split(resources.credential_process_command("p2"))  # p1's credentials are still cached
    proc, terminal = run_on_a_terminal(home, argv, KEYRACK_SIGNIN_TIMEOUT="10")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in terminal.splitlines() if "once more to allow access" in line]
    assert len(lines) == 1, terminal
    assert "sso-session 's1'" in lines[0] and "'keyrack-s1'" in lines[0]
    assert proc.stderr == ""


# -- malformed answers ----------------------------------------------------------------------------

HTML = "<!doctype html><title>Welcome to Airport WiFi</title><p>Accept the terms to continue</p>"
BIG = 20 * 1024 * 1024

MALFORMED = {
    # name: (body, content type)
    "captive-portal-html": (HTML, "text/html; charset=utf-8"),
    "not-json": ("this is not json {", "application/json"),
    "empty-200": ("", ""),
    "missing-field": ('{"tokenType": "Bearer"}', "application/json"),
    "20-MB": ('{"padding": "' + "x" * BIG + '"}', "application/json"),
}
ROLE_MALFORMED = {
    **{k: v for k, v in MALFORMED.items() if k != "missing-field"},
    "missing-field": ('{"roleCredentials": {"accessKeyId": "ASIAX", "expiration": 1}}', "application/json"),
    "no-roleCredentials": ("{}", "application/json"),
}


@pytest.mark.parametrize("kind", sorted(ROLE_MALFORMED))
def test_a_malformed_role_credentials_answer_is_one_line_naming_identity_center_exit_1(
        home: Home, kind: str) -> None:
    unlocked(home, "p1")
    body, content_type = ROLE_MALFORMED[kind]
    home.sandbox.answer("GetRoleCredentials", body, content_type=content_type)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center sent a malformed answer")
    no_failure_trace(proc)
    if kind == "captive-portal-html":
        assert "captive portal" in proc.stderr
    assert not home.creds_file("p2").exists()


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_token_answer_at_sign_in_is_one_line_naming_identity_center_exit_1(
        home: Home, kind: str) -> None:
    body, content_type = MALFORMED[kind]
    home.sandbox.answer("CreateToken", body, content_type=content_type, grant_type=AUTH)
    proc = home.credential_process("p1")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center sent a malformed answer")
    no_failure_trace(proc)
    assert not home.token_file("s1").exists()


@pytest.mark.parametrize("operation", ["RegisterClient", "StartDeviceAuthorization"])
def test_a_malformed_registration_or_device_answer_is_one_line_exit_1(home: Home, operation: str) -> None:
    text = home.config.read_text().replace("[profile p1]\n", "[profile p1]\nkeyrack_login = device\n")
    home.config.write_text(text)
    home.sandbox.answer(operation, HTML, content_type="text/html")
    proc = home.credential_process("p1")
    assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center sent a malformed answer", "captive portal")
    no_failure_trace(proc)


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_refresh_answer_is_transient_and_opens_no_browser(home: Home, kind: str) -> None:
    unlocked(home, "p1")
    expire_access_token(home)
    before = json.loads(home.token_file("s1").read_text())
    body, content_type = MALFORMED[kind]
    home.sandbox.answer("CreateToken", body, content_type=content_type, grant_type=REFRESH)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center sent a malformed answer",
                            "to renew the session")
    no_failure_trace(proc)
    # No new sign-in: no browser, no device code, no second authorization code.
    assert home.sandbox.count("Authorize") == 1 and home.sandbox.count("StartDeviceAuthorization") == 0
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1
    assert len(browser_urls(home.env)) == 1
    # The refresh token is kept: the next try renews silently.
    assert json.loads(home.token_file("s1").read_text())["refreshToken"] == before["refreshToken"]
    assert unlocked(home, "p2")["AccessKeyId"]
    assert home.sandbox.count("CreateToken", grant_type=REFRESH) == 2
    assert home.sandbox.count("CreateToken", grant_type=AUTH) == 1


def test_an_html_error_page_from_a_proxy_names_identity_center_and_the_stand_in(home: Home) -> None:
    unlocked(home, "p1")
    home.sandbox.answer("GetRoleCredentials", HTML, status=403, content_type="text/html", times=3)
    proc = home.credential_process("p2")
    assert_one_line_failure(proc, 1, "profile 'p2'", "IAM Identity Center failed", "HTTP 403", "HTML page")
    no_failure_trace(proc)


# -- a slow or hung GetRoleCredentials held by one caller -------------------------------------------


def spawn(home: Home, profile: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(shlex.split(resources.credential_process_command(profile)), env={**home.env, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def spawn_on_a_terminal(home: Home, profile: str, **env: str) -> tuple[subprocess.Popen[str], int]:
    """The credential_process with a new pty as its controlling terminal; returns (process, pty master)."""
    master, slave = pty.openpty()
    environment = {**home.env, **env}
    environment.pop("KEYRACK_AUTO_UNLOCK", None)  # the default policy: tty

    def take_terminal() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(shlex.split(resources.credential_process_command(profile)), env=environment,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=take_terminal, pass_fds=(slave,))
    os.close(slave)
    return proc, master


def read_terminal_until(master: int, proc: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    """What the terminal shows until `text` appears (the process must still be waiting then)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"never shown: {text!r}; the terminal showed {seen!r}"
        if select.select([master], [], [], 0.1)[0]:
            try:
                seen += os.read(master, 65536).decode("utf-8", "replace")
            except OSError:
                pass
        elif proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"it stopped waiting (exit {proc.returncode}): {err!r}; terminal: {seen!r}")
    return seen


def wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_holder_slowed_by_identity_center_serves_every_waiter_however_short_their_wait(home: Home) -> None:
    unlocked(home, "p2")  # a working sign-in: nobody will sign in below
    home.sandbox.hang("GetRoleCredentials")
    holder = spawn(home, "p1", KEYRACK_AUTO_UNLOCK="never")
    waiters: list[subprocess.Popen[str]] = []
    master = -1
    try:
        wait_for(lambda: home.sandbox.count("GetRoleCredentials") == 2)  # the holder's call is held
        # Callers of the same role whose own wait (0.5 s) ends long before the answer, and the herd of p1.
        # The one on a terminal first: it holds p1b's herd gate and waits at the session lock.
        watcher, master = spawn_on_a_terminal(home, "p1b", KEYRACK_LOCK_TIMEOUT="0.5")
        waiters = [watcher]
        waiters += [spawn(home, "p1b", KEYRACK_AUTO_UNLOCK="never", KEYRACK_LOCK_TIMEOUT="0.5") for _ in range(3)]
        waiters += [spawn(home, "p1", KEYRACK_AUTO_UNLOCK="never") for _ in range(3)]
        # Past its own 0.5 s it still waits, and says what the holder does: no sign-in, a server call.
        shown = read_terminal_until(master, watcher, "which is asking IAM Identity Center for role credentials")
        assert "waiting for the unlock" not in shown and "sign" not in shown
        home.sandbox.release_hangs()  # the slow answer arrives
        out, err = holder.communicate(timeout=60)
        assert holder.returncode == 0, err
        key = json.loads(out)["AccessKeyId"]
        for waiter in waiters:
            w_out, w_err = waiter.communicate(timeout=60)
            assert waiter.returncode == 0, w_err
            assert json.loads(w_out)["AccessKeyId"] == key
        assert home.sandbox.count("GetRoleCredentials") == 2  # the holder's one call served them all
        assert home.sandbox.count("CreateToken") == 1 and home.sandbox.count("Authorize") == 1
    finally:
        home.sandbox.release_hangs()
        for proc in [holder, *waiters]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if master >= 0:
            os.close(master)


HOLD_FETCHING = """
import sys
from keyrack_sh import aws, engine, lock
with lock.session_lock("s1", timeout=5):
    # Inside a role-credential fetch that has outlived every timeout of its own (bound 0: already past).
    lock.doing("s1", engine.FETCHING, 0)
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_a_waiter_behind_a_fetch_past_its_bound_says_identity_center_is_slow_exit_1(home: Home) -> None:
    unlocked(home, "p2")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FETCHING], env=home.env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never", KEYRACK_LOCK_TIMEOUT="1")
        assert_one_line_failure(proc, 1, "profile 'p1'", "IAM Identity Center is slow",
                                "asking IAM Identity Center for role credentials", "nobody is signing in",
                                f"pid {holder.pid}")
        assert "waiting for the unlock" not in proc.stderr
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=30)


HOLD = """
import sys
from keyrack_sh import lock
with lock.session_lock("s1", timeout=60):
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_a_waiter_past_its_time_waits_through_the_hand_over_to_the_next_holder(home: Home) -> None:
    """A slow fetch ends and the lock passes to another caller (a herd's next one, which reads the
    cache and leaves): a waiter past its own time waits through that, it does not give up at the
    new holder's pid (CI met this: 'gave up after 16 s waiting for the unlock')."""
    unlocked(home, "p2")
    fetching = subprocess.Popen([sys.executable, "-c", HOLD_FETCHING.replace("FETCHING, 0)", "FETCHING, 600)")],
                                env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
    next_holder = waiter = None
    try:
        assert fetching.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        next_holder = subprocess.Popen([sys.executable, "-c", HOLD], env=home.env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, start_new_session=True)
        waiter = spawn(home, "p1", KEYRACK_AUTO_UNLOCK="never", KEYRACK_LOCK_TIMEOUT="0.2")
        time.sleep(1)  # both wait at the lock; the waiter is past its 0.2 s, waiting with the fetch
        # The next holder wins the hand-over (the waiter, paused, cannot take the lock first) ...
        paused = [waiter.pid, *process_children(waiter.pid)]
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        fetching.stdin.close()  # type: ignore[union-attr]
        assert next_holder.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        # ... and the waiter, long past its own time, meets the new holder's record.
        time.sleep(0.5)
        assert waiter.poll() is None, waiter.communicate()
        next_holder.stdin.close()  # type: ignore[union-attr]
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, err
        assert json.loads(out)["AccessKeyId"]
    finally:
        for proc in (fetching, next_holder, waiter):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def process_children(pid: int) -> list[int]:
    """The credential_process forks its worker into a group of its own (credential_process.py)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_holder_stuck_short_of_any_server_call_is_a_transient_fault_naming_it(home: Home) -> None:
    """Past the hand-over's own bound, the waiter gives up naming what the holder does: exit 1, not 'sign in'."""
    unlocked(home, "p2")
    holder = subprocess.Popen([sys.executable, "-c", HOLD.replace("print(", "lock.doing('s1', lock.LOOKING, 0); print(")],
                              env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert holder.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        proc = home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never", KEYRACK_LOCK_TIMEOUT="0.3")
        assert_one_line_failure(proc, 1, "profile 'p1'", "looking at the cache", "past its own time limit",
                                "nobody is signing in", f"pid {holder.pid}")
        assert "IAM Identity Center is slow" not in proc.stderr
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=30)


def test_no_answer_within_the_read_timeout_reads_as_a_slow_identity_center() -> None:
    from botocore.exceptions import ReadTimeoutError

    from keyrack_sh import aws
    from keyrack_sh.errors import ServiceError

    error = aws.translate(ReadTimeoutError(endpoint_url="https://portal.sso.us-east-1.amazonaws.com"),
                          "to issue role credentials")
    assert isinstance(error, ServiceError) and error.exit_code == 1
    assert str(error) == (f"IAM Identity Center is slow: no answer to issue role credentials within "
                          f"{aws.READ_TIMEOUT} s, {aws.ATTEMPTS} tries")
    # A waiter waits as long as the holder's call can last with botocore's own retries and timeouts.
    assert aws.CALL_BOUND >= aws.ATTEMPTS * (aws.CONNECT_TIMEOUT + aws.READ_TIMEOUT)
