"""With a controlling terminal: policy `tty` signs in, and everything the
user must see while the SDK waits goes to the terminal, not to stderr (which
botocore swallows on success)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shlex
import signal
import subprocess
import termios
import time

from engine_support import Home, home  # noqa: F401 (fixture)

from keyrack_sh import resources


def run_on_a_terminal(home: Home, argv: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `argv` in its own session with a new pty as its controlling terminal; return (result, tty text)."""
    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    environment = dict(home.env)
    environment.pop("KEYRACK_AUTO_UNLOCK", None)  # the default policy: tty
    environment.update(env)
    proc = subprocess.Popen(argv, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=take_terminal,
                            pass_fds=(slave,))
    os.close(slave)
    out, err = proc.communicate(timeout=60)
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), b"".join(chunks).decode()


def test_policy_tty_signs_in_on_a_terminal_and_talks_only_to_it(home: Home) -> None:
    argv = shlex.split(resources.credential_process_command("p1"))
    proc, terminal = run_on_a_terminal(home, argv)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AccessKeyId"]
    assert proc.stderr == ""
    assert "unlocking sso-session 's1': opening the browser" in terminal
    assert "/authorize?" in terminal
    assert home.sandbox.sign_ins() == 1


def test_a_waiter_tells_the_terminal_whom_it_waits_for(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    holder = subprocess.Popen(shlex.split(resources.credential_process_command("p1")),
                              env={**home.env, "KEYRACK_SIGNIN_TIMEOUT": "60"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        pid_file = home.root / ".aws" / "keyrack" / "locks" / "s1.lock.pid"
        deadline = time.monotonic() + 20
        while not pid_file.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc, terminal = run_on_a_terminal(home, shlex.split(resources.credential_process_command("p2")),
                                           KEYRACK_LOCK_TIMEOUT="1")
        assert proc.returncode == 2 and proc.stdout == ""
        # The lock is held by the sign-in child the credential_process forked (it outlives its caller).
        signing_in = int(pid_file.read_text().split()[0])
        assert f"waiting for the unlock of sso-session 's1' held by pid {signing_in}" in terminal
        assert proc.stderr.count("\n") == 1 and "gave up after 1 s" in proc.stderr
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        holder.kill()
        holder.wait()


def test_a_caller_waiting_at_the_herd_gate_tells_the_terminal_for_whom(home: Home) -> None:
    import threading

    from keyrack_sh import paths

    gate_path = paths.gate_file("p1")
    gate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(gate_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a concurrent caller of p1 would, mid-fetch
    os.pwrite(fd, b"%d.%d\n" % (os.getpid(), time.time_ns()), 0)
    release = threading.Timer(1.8, os.close, (fd,))
    release.start()
    try:
        proc, terminal = run_on_a_terminal(home, shlex.split(resources.credential_process_command("p1")))
    finally:
        release.join()
    assert proc.returncode == 0, proc.stderr
    assert f"waiting for another keyrack (pid {os.getpid()}) to fetch the credentials of profile 'p1'" in terminal
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["AccessKeyId"]
