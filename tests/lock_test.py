"""The per-session sign-in lock: bounded waits, the holder named, and a dead
holder (kill -9) never wedges the waiters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyrack_sh import lock, paths
from keyrack_sh.errors import UserError

HOLDER = """
import sys, time
from keyrack_sh import lock
with lock.session_lock(sys.argv[1], timeout=5):
    lock.doing(sys.argv[1], lock.SIGNING_IN, 600)  # a sign-in: a waiter's own timeout is for this
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture()
def keyrack_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEYRACK_HOME", str(tmp_path / "kr"))
    return tmp_path / "kr"


@pytest.fixture()
def holder(keyrack_home: Path):
    procs = []

    def start(session: str) -> subprocess.Popen[str]:
        env = {**os.environ, "KEYRACK_HOME": str(keyrack_home)}
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, session], env=env, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_an_uncontended_lock_is_taken_at_once_and_says_nothing(keyrack_home: Path) -> None:
    waited = []
    with lock.session_lock("s1", timeout=1, on_wait=waited.append):
        assert lock.holder_pid(paths.session_lock("s1")) == os.getpid()
    assert waited == []
    assert lock.holder_pid(paths.session_lock("s1")) is None
    assert (keyrack_home / "locks").stat().st_mode & 0o777 == 0o700


def test_a_waiter_is_told_the_holder_pid_and_gives_up_after_the_timeout(holder) -> None:
    proc = holder("s1")
    waited = []
    started = time.monotonic()
    with pytest.raises(UserError, match=rf"gave up after 1.5 s waiting for the unlock of sso-session 's1' "
                                        rf"\(held by pid {proc.pid}\)"):
        with lock.session_lock("s1", timeout=1.5, on_wait=waited.append):
            pass
    assert time.monotonic() - started >= 1.5  # it waited the whole timeout (no upper bound: busy machines)
    assert waited == [proc.pid]  # once, after lock.NOTICE_AFTER of waiting


def test_a_short_wait_says_nothing(keyrack_home: Path) -> None:
    """Another process's routine refresh holds the lock for a moment: no notice on the terminal."""
    env = {**os.environ, "KEYRACK_HOME": str(keyrack_home)}
    brief = subprocess.Popen([sys.executable, "-c", HOLDER.replace("time.sleep(60)", "time.sleep(0.3)"), "s1"],
                             env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert brief.stdout is not None and brief.stdout.readline() == "held\n"
        waited = []
        with lock.session_lock("s1", timeout=5, on_wait=waited.append) as held:
            assert held is True
        assert waited == []
    finally:
        brief.kill()
        brief.wait()


def test_other_sessions_are_not_blocked(holder) -> None:
    holder("s1")
    with lock.session_lock("s2", timeout=0.2):
        pass


def test_a_holder_killed_with_sigkill_releases_the_lock_to_a_waiter(holder) -> None:
    proc = holder("s1")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with lock.session_lock("s1", timeout=5):  # raises if the dead holder's lock were still held
        assert lock.holder_pid(paths.session_lock("s1")) == os.getpid()


def test_a_waiter_leaves_without_the_lock_as_soon_as_what_it_waits_for_is_ready(holder, keyrack_home: Path) -> None:
    holder("s1")
    answer = keyrack_home / "answer"
    looks = []

    def ready() -> bool:
        looks.append(time.monotonic())
        if len(looks) == 3:
            answer.write_text("cached by the holder")
        return answer.exists()

    with lock.session_lock("s1", timeout=5, ready=ready, on_wait=lambda pid: None) as held:
        assert held is False
    assert len(looks) == 3  # it kept looking while the lock stayed taken, and stopped once ready


def test_the_lock_is_re_entrant_within_a_process_and_the_pid_stays_until_the_outer_release(keyrack_home: Path) -> None:
    with lock.session_lock("s1", timeout=1) as outer:
        with lock.session_lock("s1", timeout=0.2) as inner:
            assert (outer, inner) == (True, True)
        assert lock.holder_pid(paths.session_lock("s1")) == os.getpid()
    assert lock.holder_pid(paths.session_lock("s1")) is None
