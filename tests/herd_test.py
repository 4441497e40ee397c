"""Many SDK processes needing one locked session: one sign-in, everyone served;
a holder killed mid-sign-in hands over to a waiter; waiting is bounded."""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import subprocess
import time
from pathlib import Path

import pytest
from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)

from keyrack_sh import resources

HERD = 32


def spawn(home: Home, profile: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(shlex.split(resources.credential_process_command(profile)), env={**home.env, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def lock_pid_file(home: Home, session: str) -> Path:
    return home.root / ".aws" / "keyrack" / "locks" / f"{session}.lock.pid"


def lock_holder(home: Home, session: str) -> int:
    """The pid of the process signing in (a child of the credential_process the SDK started)."""
    return int(lock_pid_file(home, session).read_text().split()[0])


@pytest.mark.slow
def test_a_herd_on_a_locked_session_causes_one_sign_in_and_everyone_gets_credentials(home: Home) -> None:
    # One lazy sign-in of another session first (it registers keyrack-s2); speed is judged in bench/.
    assert home.credential_process("q1").returncode == 0
    home.sandbox.reset()

    procs = [spawn(home, "p1") for _ in range(HERD)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [rc for rc, _, _ in results] == [0] * HERD, [err for rc, _, err in results if rc]
    keys = {json.loads(out)["AccessKeyId"] for _, out, _ in results}
    assert len(keys) == 1
    assert home.sandbox.count("RegisterClient") == 1  # keyrack-s1 (q1 registered keyrack-s2)
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    assert home.sandbox.count("GetRoleCredentials") == 1


@pytest.mark.slow
def test_a_herd_whose_sign_in_is_denied_opens_one_browser_and_every_caller_reports_the_denial(home: Home) -> None:
    home.sandbox.behaviour = "deny"
    procs = [spawn(home, "p1") for _ in range(HERD)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [rc for rc, _, _ in results] == [2] * HERD
    assert {out for _, out, _ in results} == {""}
    # The holder's error line is everyone's, and all there is (no sign-in URL without a terminal).
    assert all(err.count("\n") == 1 for _, _, err in results), [err for _, _, err in results]
    lines = {err for _, _, err in results}
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith("keyrack: profile 'p1': ") and "denied" in line
    assert home.sandbox.count("Authorize") == 1  # not one browser tab per caller, one after another


@pytest.mark.slow
def test_a_holder_killed_mid_sign_in_lets_a_waiter_take_over(home: Home) -> None:
    home.sandbox.behaviour = "ignore"  # the holder's browser never comes back
    holder = spawn(home, "p1", KEYRACK_SIGNIN_TIMEOUT="60")
    wait_for(lambda: lock_pid_file(home, "s1").exists() and home.sandbox.count("Authorize") == 1)
    waiter = spawn(home, "p1")
    time.sleep(0.5)
    assert waiter.poll() is None  # waiting at the gate, not signing in beside the holder
    assert home.sandbox.count("Authorize") == 1
    home.sandbox.behaviour = "approve"
    # The process doing the sign-in dies (a crash): the one the SDK started only waits for it.
    signing_in = lock_holder(home, "s1")
    assert signing_in != holder.pid
    os.kill(signing_in, signal.SIGKILL)
    holder.wait()
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert json.loads(out)["AccessKeyId"]
    assert home.sandbox.count("Authorize") == 2
    assert home.sandbox.count("CreateToken", grant_type="authorization_code") == 1
    assert home.sandbox.count("RegisterClient") == 1  # the dead holder's registration was kept


@pytest.mark.slow
def test_waiting_for_the_lock_is_bounded_and_names_the_holder(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    holder = spawn(home, "p1", KEYRACK_SIGNIN_TIMEOUT="60")
    try:
        wait_for(lambda: lock_pid_file(home, "s1").exists())
        proc = home.credential_process("p2", KEYRACK_LOCK_TIMEOUT="1")
        assert_one_line_failure(proc, 2, "gave up after 1 s", f"held by pid {lock_holder(home, 's1')}")
        assert "waiting for the unlock of sso-session 's1'" in proc.stderr
    finally:
        os.kill(lock_holder(home, "s1"), signal.SIGKILL)
        holder.wait()


@pytest.mark.slow
def test_a_caller_that_may_not_sign_in_waits_only_briefly_behind_a_sign_in(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0  # a working token: policy never gets to the lock
    home.sandbox.behaviour = "ignore"
    code = "from keyrack_sh import engine, profiles; engine.unlock(profiles.load().session('s1'), force=True)"
    holder = subprocess.Popen([sys.executable, "-c", code], env={**home.env, "KEYRACK_SIGNIN_TIMEOUT": "60"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(lambda: lock_pid_file(home, "s1").exists())
        proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never", KEYRACK_LOCK_TIMEOUT="300")
        assert_one_line_failure(proc, 2, "gave up after 15 s")  # not the 300 s it was offered
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("behaviour, said", [("deny", "denied"), ("ignore", "timed out after 3 s")])
def test_without_a_terminal_every_caller_of_a_herd_prints_exactly_one_line(home: Home, behaviour: str,
                                                                           said: str) -> None:
    home.sandbox.behaviour = behaviour
    # As an SDK starts them: no controlling terminal, all three standard streams pipes.
    procs = [subprocess.Popen(shlex.split(resources.credential_process_command(profile)),
                              env={**home.env, "KEYRACK_SIGNIN_TIMEOUT": "3"}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for profile in ["p1"] * 6 + ["p1b"] * 2]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert [rc for _, rc in results] == [2] * len(procs)
    for (out, err), _ in results:
        assert out == ""
        assert err.count("\n") == 1 and err.startswith("keyrack: profile 'p1") and said in err, err
