"""With a controlling terminal: policy `tty` signs in, and everything the
user must see while the SDK waits goes to the terminal, not to stderr (which
botocore swallows on success)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import pty
import shlex
import signal
import subprocess
import sys
import termios
import time

from engine_support import Home, home  # noqa: F401 (fixture)

from keyrack_sh import resources


class Terminal:
    """A pty that is the controlling terminal of one process started on it; what it showed so far."""

    def __init__(self, home: Home, argv: list[str], *, stdout_on_terminal: bool = False, **env: str) -> None:
        import threading

        self.master, slave = pty.openpty()

        def take_terminal() -> None:
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        environment = dict(home.env)
        environment.pop("KEYRACK_AUTO_UNLOCK", None)  # the default policy: tty
        environment.update(env)
        self.proc = subprocess.Popen(argv, env=environment, stdin=subprocess.DEVNULL,
                                     stdout=slave if stdout_on_terminal else subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     preexec_fn=take_terminal, pass_fds=(slave,))
        os.close(slave)
        self._chunks: list[bytes] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every holder of the terminal is gone
                data = b""
            with self._changed:
                if not data:
                    self._chunks.append(b"")
                    self._changed.notify_all()
                    return
                self._chunks.append(data)
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        """Until the terminal has shown `text`; fails if it never does."""
        with self._changed:
            ok = self._changed.wait_for(lambda: text.encode() in b"".join(self._chunks)
                                        or self._chunks[-1:] == [b""], timeout)
        assert ok and text in self.text, self.text

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            self._reader.join(timeout=5)
            os.close(self.master)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out or "", err), self.text


def run_on_a_terminal(home: Home, argv: list[str], *, send: tuple[str, bytes] | None = None,
                      stdout_on_terminal: bool = False,
                      **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `argv` in its own session with a new pty as its controlling terminal; return (result, tty text).

    `send` = (text, keys): type `keys` once the terminal shows `text` (b"\\x03" is Ctrl-C).
    `stdout_on_terminal`: stdout is the terminal too, as in a user's shell (the result's stdout is then
    empty; what it printed is in the tty text, in the order the user saw it).
    """
    terminal = Terminal(home, argv, stdout_on_terminal=stdout_on_terminal, **env)
    try:
        if send is not None:
            terminal.wait_for(send[0])
            terminal.type(send[1])
    except BaseException:
        terminal.proc.kill()
        terminal.finish()
        raise
    return terminal.finish()


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


WAITING = re.compile(r"\r(waiting for (.+?): Ctrl-C cancels, gives up in (\d+)s) *")


def _waiting_lines(terminal: str) -> list[tuple[str, int]]:
    """(what, seconds left) of each rewrite of the waiting line, in order."""
    return [(m.group(2), int(m.group(3))) for m in WAITING.finditer(terminal)]


def _assert_one_line_rewritten_in_place(terminal: str) -> None:
    first = terminal.index("\rwaiting for ")
    last = WAITING.search(terminal, first)
    while (following := WAITING.search(terminal, last.end())) is not None:
        last = following
    shown = terminal[first:last.end()]
    assert "\n" not in shown  # never a new line per update: each one goes back to the start (\r)
    width = max(len(m.group(1)) for m in WAITING.finditer(shown))
    # At the end it is wiped: back to the start, spaces over it, back again.
    assert terminal[last.end() - (len(last.group(0)) - 1):].startswith(last.group(0)[1:] + "\r")
    assert re.search(r"\r {%d,}\r" % width, terminal[first:]), terminal[first:]


def test_while_a_sign_in_waits_the_terminal_shows_one_line_counting_down(home: Home) -> None:
    home.sandbox.behaviour = "ignore"  # the browser never comes back
    argv = shlex.split(resources.credential_process_command("p1"))
    proc, terminal = run_on_a_terminal(home, argv, KEYRACK_SIGNIN_TIMEOUT="5")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "timed out after 5 s" in proc.stderr, proc.stderr
    shown = _waiting_lines(terminal)
    assert {what for what, _ in shown} == {"the sign-in in your browser"}, terminal
    left = [seconds for _, seconds in shown]
    assert left[0] <= 5 and left == sorted(left, reverse=True) and len(set(left)) >= 2, left  # counts down
    _assert_one_line_rewritten_in_place(terminal)


def test_ctrl_c_cancels_a_waiting_sign_in_with_one_line(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    argv = shlex.split(resources.credential_process_command("p1"))
    proc, terminal = run_on_a_terminal(home, argv, send=("gives up in", b"\x03"), KEYRACK_SIGNIN_TIMEOUT="60")
    assert proc.returncode == 130
    assert (proc.stdout, proc.stderr) == ("", "keyrack: interrupted\n")
    assert "gives up in 1m" in terminal or "gives up in 59s" in terminal
    assert re.search(r"\r +\r", terminal)  # the waiting line is gone from the screen
    # The sign-in ended with it: nobody holds the session's lock.
    assert not (home.root / ".aws" / "keyrack" / "locks" / "s1.lock.pid").exists()


def test_a_device_code_sign_in_counts_down_on_the_terminal_too(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    argv = [sys.executable, "-m", "keyrack_sh", "unlock", "p1", "--device-code"]
    proc, terminal = run_on_a_terminal(home, argv, KEYRACK_SIGNIN_TIMEOUT="4")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "timed out after 4 s" in proc.stderr, proc.stderr
    shown = _waiting_lines(terminal)
    assert shown and all(re.fullmatch(r"code \S+ in your browser", what) for what, _ in shown), \
        terminal
    _assert_one_line_rewritten_in_place(terminal)


def test_without_a_terminal_a_waiting_sign_in_adds_nothing_to_stderr(home: Home) -> None:
    home.sandbox.behaviour = "ignore"
    proc = home.credential_process("p1", KEYRACK_SIGNIN_TIMEOUT="3")
    assert proc.returncode == 2 and proc.stdout == ""
    # Only the failure: no sign-in URL (nobody could open it), no waiting line.
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("keyrack: profile 'p1': ") and "timed out after 3 s" in proc.stderr


def test_set_s_step_tree_stays_whole_while_its_sign_ins_talk_to_the_terminal(home: Home) -> None:
    argv = [sys.executable, "-m", "keyrack_sh", "set", "acme.prod", "--start-url", home.sandbox.start_url,
            "--sso-region", home.sandbox.region, "--account-id", "111111111111", "--role-name", "AdminRole",
            "--yes"]
    # stdout on the terminal too, as in a shell: the user sees the tree and the sign-ins on one screen.
    proc, terminal = run_on_a_terminal(home, argv, stdout_on_terminal=True)
    assert proc.returncode == 0, (proc.stderr, terminal)
    assert home.sandbox.sign_ins() == 2  # a new sso-session: the whole roundtrip, two browser sign-ins
    plain = re.sub(r"\x1b\[[0-9;]*m", "", terminal)
    tree = re.search(r"(?:[├└]─ [^\r\n]*\r\n)+", plain)
    assert tree, plain
    lines = tree.group(0).splitlines()
    assert [line.split()[1:4] for line in lines] == [["✓", "1", "unlock"], ["✓", "2", "relock"],
                                                    ["✓", "3", "unlock"], ["✓", "4", "verify"]], plain
    assert plain.count("─ ") == 4  # every line of the tree is in that one block, whole
    assert "waiting for" not in tree.group(0) and "opening the browser" not in tree.group(0)
    # Both sign-ins (their URL, their waiting line) came before it.
    assert plain[:tree.start()].count("unlocking sso-session") == 2
    assert "opening the browser" not in plain[tree.end():]
