"""The herd gate (keyrack_sh/gate.py): callers that miss while another caller of the same profile
fetches wait for it on builtins alone, then serve its answer, or repeat its failure when they
would have failed alike; anything odd sends them the slow path, never into a longer wait."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fast_test import home, run_fast, store  # noqa: F401 (fixture)

from keyrack_sh import gate, paths, resources

DENIED = "keyrack: profile 'fastp': sign-in to sso-session 's1' was denied in the browser (hint: choose Allow)"
# The slow path's own answer in these homes: the config has no sso-session s1.
SLOW_PATH = "keyrack: profile 'fastp': sso-session 's1' is not in"


class Holder:
    """This test process holding fastp's gate, as a concurrent slow path would."""

    def __init__(self) -> None:
        path = paths.gate_file("fastp")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.id = b"%d.%d" % (os.getpid(), time.time_ns())
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, self.id + b"\n", 0)

    def fail(self, env: dict[str, str], code: int, line: str) -> None:
        """Record a failure the way the holder's slow path does, in the holder's context (`env`)."""
        code_ = ("import os, sys\nfrom keyrack_sh import gate\n"
                 "fd = os.open(sys.argv[1], os.O_RDWR)\ngate.record_failure(fd, 'fastp', int(sys.argv[2]), sys.argv[3])\n")
        subprocess.run([sys.executable, "-c", code_, str(self.path), str(code), line], env=env, check=True,
                       start_new_session=True, timeout=60)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture()
def holder(home: dict[str, str]) -> Iterator[Holder]:  # noqa: F811
    store()  # makes keyrack's private folders; then no answer is cached
    paths.creds_file("fastp").unlink()
    held = Holder()
    try:
        yield held
    finally:
        held.release()


def start_fast(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-I", "-S", *extra, str(resources.fast_entry()), "fastp"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def traced_fast(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    """Run the credential_process for fastp under strace: its result and every open(at) call it made."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    log = tmp_path / "opens.strace"
    argv = ["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", str(log),
            sys.executable, "-I", "-S", str(resources.fast_entry()), "fastp"]
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True)
    return proc, log.read_text().splitlines()


def at_the_gate(proc: subprocess.Popen[bytes], gate_path: Path, timeout: float = 30) -> None:
    """Until `proc` has the gate file open (so it is waiting there), without guessing a sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
        except FileNotFoundError:
            fds = []
        for fd in fds:
            try:
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == str(gate_path):
                    return
            except OSError:
                pass
        time.sleep(0.01)
    raise AssertionError("the caller never reached the gate")


def imported(stderr: bytes) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.decode().splitlines()
            if line.startswith("import time:") and "|" in line}


def test_a_caller_behind_the_gate_waits_on_builtins_alone_and_serves_the_holders_answer(
        home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    waiter = start_fast(home, "-X", "importtime")
    at_the_gate(waiter, holder.path)
    time.sleep(0.2)
    assert waiter.poll() is None  # waiting, not going the slow path beside the holder
    creds = store()  # the holder's answer lands in the cache
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert json.loads(out) == creds
    modules = imported(err)
    assert {"fcntl", "keyrack_sh.gate"} <= modules
    assert not {m for m in modules if m.split(".")[0] in {"site", "filelock", "json", "re", "boto3"}}
    assert {m for m in modules if m.startswith("keyrack_sh")} == {"keyrack_sh", "keyrack_sh.hotpath", "keyrack_sh.gate",
                                                                  "keyrack_sh.tty", "keyrack_sh.safe_io"}


@pytest.mark.parametrize("seen", ["the claim", "only the record"])
def test_a_caller_repeats_the_failure_of_the_holder_it_waited_for(
        home: dict[str, str], holder: Holder, seen: str) -> None:  # noqa: F811
    if seen == "only the record":  # the caller looks first after the holder has recorded its failure
        holder.fail(home, 2, DENIED)
    waiter = start_fast(home, "-X", "importtime")
    at_the_gate(waiter, holder.path)
    time.sleep(0.1)
    if seen == "the claim":
        holder.fail(home, 2, DENIED)
    time.sleep(0.2)
    assert waiter.poll() is None  # the record alone releases nobody: the gate does
    holder.release()
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out) == (2, b"")
    assert err.decode().splitlines()[-1] == DENIED  # importtime's lines come first
    assert "keyrack_sh.credential_process" not in imported(err)  # it did not try again itself


def test_a_caller_that_would_fare_differently_tries_for_itself(home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    # The holder may not sign in here (never); this caller may (always): the holder's "locked" is not its answer.
    waiter = start_fast({**home, "KEYRACK_AUTO_UNLOCK": "always"})
    at_the_gate(waiter, holder.path)
    time.sleep(0.1)
    holder.fail(home, 2, "keyrack: profile 'fastp' is locked and auto-unlock is 'never'")
    holder.release()
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 2
    assert err.decode().startswith(SLOW_PATH), err  # its own slow path's answer


def test_a_failure_of_an_earlier_holder_is_not_repeated(home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    holder.fail(home, 1, "keyrack: AN OLD FAILURE")
    holder.release()
    proc = run_fast(home, "fastp")
    assert b"AN OLD FAILURE" not in proc.stderr
    assert proc.stderr.decode().startswith(SLOW_PATH)


def test_waiting_at_the_gate_is_bounded(home: dict[str, str], holder: Holder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(gate, "GATE_WAIT", 0.3)
    started = time.monotonic()
    assert gate._through("fastp") is None  # go the slow path, ungated
    assert time.monotonic() - started >= 0.3  # it waited the gate's bound, then went on


def test_a_process_started_by_our_own_sign_in_never_waits_at_the_gate(home: dict[str, str], holder: Holder,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    proc, opens = traced_fast({**home, gate.SIGNING_IN_ENV: "s1"}, tmp_path)
    assert proc.stderr.decode().startswith(SLOW_PATH)
    assert not [line for line in opens if str(holder.path) in line]  # it never even opened the gate


def test_a_symlink_planted_at_the_gate_is_never_followed(home: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    store()
    paths.creds_file("fastp").unlink()
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    fd = os.open(target, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # were it followed, the caller would wait on this
    try:
        link = paths.gate_file("fastp")
        link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        link.symlink_to(target)
        proc, opens = traced_fast(home, tmp_path)
        assert proc.stderr.decode().startswith(SLOW_PATH)
        assert target.read_text() == "precious\n"
        gate_opens = [line for line in opens if str(link) in line]
        assert gate_opens and all("O_NOFOLLOW" in line and "ELOOP" in line for line in gate_opens), gate_opens
        assert not [line for line in opens if str(target) in line]
    finally:
        os.close(fd)


def test_ctrl_c_while_waiting_is_one_line_and_exit_130(home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    waiter = start_fast(home)
    at_the_gate(waiter, holder.path)
    os.killpg(waiter.pid, signal.SIGINT)
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out, err) == (130, b"", b"keyrack: interrupted\n")


def test_a_long_wait_without_a_terminal_keeps_stderr_empty(home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    waiter = start_fast(home)
    at_the_gate(waiter, holder.path)
    time.sleep(gate.NOTICE_AFTER + 0.5)  # past the notice, which only a terminal gets
    creds = store()
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, err) == (0, b"")
    assert json.loads(out) == creds


def test_the_holder_records_its_failure_and_lets_the_waiters_in_and_its_files_are_private(
        home: dict[str, str]) -> None:  # noqa: F811
    store()
    paths.creds_file("fastp").unlink()
    proc = run_fast(home, "fastp")  # a miss: takes the gate, fails in the slow path
    assert proc.returncode == 2
    path = paths.gate_file("fastp")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    head, context, line, end = path.read_bytes().split(b"\n")
    assert head.split()[:2] == [b"failed", b"2"] and end == b""
    assert context.split(b"\x1f")[0] == b"fastp"
    assert line.decode() == proc.stderr.decode().strip()
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: raises if anybody still held it
    finally:
        os.close(fd)


def voluntary_switches(pid: int) -> int:
    """How often `pid` has gone to sleep in the kernel (each poll of a waiting loop is one)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("voluntary_ctxt_switches:")))


def test_a_caller_behind_the_gate_sleeps_until_the_holder_lets_go_instead_of_polling(
        home: dict[str, str], holder: Holder) -> None:  # noqa: F811
    # 63 callers polling 40 times a second took the CPU a sign-in needed; asleep, they wake a few times a second.
    waiter = start_fast(home)
    at_the_gate(waiter, holder.path)
    before = voluntary_switches(waiter.pid)
    time.sleep(2.0)
    woke = voluntary_switches(waiter.pid) - before
    assert waiter.poll() is None
    creds = store()
    holder.release()
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, json.loads(out)) == (0, creds), err
    assert woke <= 2.0 / gate._TICK * 2, woke  # polling every 25 ms woke it ~80 times
