"""The herd gate: one credential_process slow path per profile at a time.

Fifty SDK processes that miss together must not each pay for the slow path:
importing filelock alone costs ~70 ms of CPU (six times a whole hit), and
fifty of those on two cores add seconds to one sign-in. So the first caller to
miss takes the profile's gate, a kernel flock on `locks/gates/<profile>` held
until that process is done (and released by the kernel even on kill -9), and
goes the slow path. The others wait here on builtins alone, then serve its
answer from the cache, or repeat the failure it recorded in the gate file,
if they waited for that very holder and would have failed the same way.

The gate guards no data and decides nothing about correctness: every sign-in,
refresh and fetch is still serialised by the sso-session's filelock
(lock.py). A caller that cannot open the gate, or waits GATE_WAIT in vain,
just goes the slow path. Like hotpath.py, this module imports no site and no
keyrack module but fast (which it shares the paths and the cache check with)
and tty (the terminal).

Gate file: the holder's id (`<pid>.<ns>`) while it works; after a failure,
`failed <exit code> <holder id>`, a context line (what decides the outcome for
a caller: profile, config stamp, unlock policy inputs, timeouts) and the one
error line.
"""
from __future__ import annotations

import os
import time

from keyrack_sh import hotpath, tty

GATE_WAIT = 15.0  # seconds; credential_process.HERD_WAIT, which the slow path's own wait shares
NOTICE_AFTER = 1.0  # lock.NOTICE_AFTER: a routine refresh must not scribble on the terminal
# A waiter sleeps in the kernel until the holder lets go (all waiters wake at once); it also looks
# at the cache this often, for an answer some other (ungated) keyrack stored meanwhile. Polling
# instead cost each of 63 waiters ~6 ms of CPU per second of a sign-in, on the holder's two cores.
_TICK = 0.25
SIGNING_IN_ENV = hotpath.SIGNING_IN_ENV
_FAILED = b"failed"
_CONTEXT_ENV = ("KEYRACK_AUTO_UNLOCK", "KEYRACK_LOCK_TIMEOUT", "KEYRACK_SIGNIN_TIMEOUT", "KEYRACK_NO_TTY")


def gate_file(profile: str) -> str:
    return hotpath.keyrack_home() + "/locks/gates/" + profile


def main(argv: list[str]) -> int:
    """credential_process after a cache miss: wait for a concurrent caller, or fetch."""
    if len(argv) != 1 or not hotpath.valid_name(argv[0]) or os.environ.get(SIGNING_IN_ENV):
        return _slow(argv, None, 0.0)
    started = time.monotonic()
    try:
        outcome = _through(argv[0])
    except KeyboardInterrupt:
        _stderr(b"keyrack: interrupted\n")
        return 130
    if isinstance(outcome, bytes):
        return hotpath.answer(outcome)
    if isinstance(outcome, tuple):
        code, line = outcome
        _stderr(line)
        return code
    return _slow(argv, outcome, time.monotonic() - started)


def _slow(argv: list[str], gate: int | None, waited: float) -> int:
    from keyrack_sh import credential_process

    try:
        record = None if gate is None else lambda profile, code, line: record_failure(gate, profile, code, line)
        return credential_process.main(argv, record_failure=record, waited=waited)
    finally:
        if gate is not None:
            os.close(gate)  # the answer is cached or the failure recorded: let the waiters in


def _through(profile: str) -> bytes | int | tuple[int, bytes] | None:
    """The cached answer, a failure to repeat (code, line), the held gate (fd), or None: go ungated."""
    import fcntl  # an extension module of the standard library: no site needed

    fd = _open(profile)
    if fd is None:
        return None
    started = time.monotonic()
    holder = b""  # the id of the holder we wait for, once we have seen it
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        except OSError:
            os.close(fd)
            return None
        else:
            # Ours now; the holder we waited for may have answered or failed meanwhile.
            outcome = hotpath.cached(profile) or _failure(fd, holder, profile)
            if outcome is not None:
                os.close(fd)
                return outcome
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, b"%d.%d\n" % (os.getpid(), time.time_ns()), 0)
            except OSError:
                pass  # then nobody can repeat our failure: they try for themselves
            return fd
        payload = hotpath.cached(profile)
        if payload is not None:
            os.close(fd)
            return payload
        holder = holder or _holder(fd)
        waited = time.monotonic() - started
        if waited >= GATE_WAIT:
            os.close(fd)
            return None
        if not told and waited >= NOTICE_AFTER:
            told = True
            _tell_waiting(profile, holder)
        until = GATE_WAIT if told else NOTICE_AFTER
        _sleep_while_held(fd, min(_TICK, until - waited))


class _Rang(Exception):
    """The alarm that bounds a sleep at the gate."""


_asleep = False  # whether the alarm may still interrupt: it must never ring into anything else


def _ring(signum: int, frame: object) -> None:
    global _asleep
    if _asleep:
        _asleep = False
        raise _Rang


def _sleep_while_held(fd: int, seconds: float) -> None:
    """Until the gate's holder lets go, or `seconds` pass (an alarm, so that flock can wait blocked).

    A shared lock is granted to every waiter at the instant the holder's exclusive one ends, and
    given back at once: the gate is taken only by LOCK_EX in _through.
    """
    import _signal  # built in; `signal` would import enum, ~20 ms
    import fcntl

    global _asleep
    if seconds <= 0:
        return
    previous = _signal.signal(_signal.SIGALRM, _ring)
    try:
        try:
            _asleep = True
            _signal.setitimer(_signal.ITIMER_REAL, seconds)  # one shot: it rings once at most
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _asleep = False  # from here on a late ring is ignored
    except _Rang:
        pass
    except OSError:
        time.sleep(seconds)  # (a file system whose flock fails: wait as long, without it)
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)  # also when the alarm rang just after the lock was granted
        except OSError:
            pass
        _signal.signal(_signal.SIGALRM, previous)


def _open(profile: str) -> int | None:
    path = gate_file(profile)
    if path[:1] != "/":
        return None  # a relative KEYRACK_HOME: the slow path refuses it
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    home = hotpath.keyrack_home()
    for folder in (home, home + "/locks", home + "/locks/gates"):  # private, like all of keyrack's
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None


def _holder(fd: int) -> bytes:
    """The holder's id in the gate file: its claim, or the failure it has just recorded.

    Read only while the gate is held by someone, so the id is the holder's (or, read in the
    instant before a new holder writes its claim, the one before: then no failure matches and
    the waiter tries for itself). A line being written reads as nothing.
    """
    try:
        head = os.pread(fd, 96, 0)
    except OSError:
        return b""
    line, newline, _ = head.partition(b"\n")
    fields = line.split(b" ")
    if len(fields) == 3 and fields[0] == _FAILED:
        line = fields[2]
    pid, dot, ns = line.partition(b".")
    return line if newline and dot and pid.isdigit() and ns.isdigit() else b""


def _context(profile: str) -> bytes:
    """What decides how a caller fares: the same for holder and waiter, or the failure is not shared."""
    terminal = "1" if tty.available() else "0"
    parts = [profile, hotpath.config_stamp(), terminal] + [os.environ.get(name, "") for name in _CONTEXT_ENV]
    return "\x1f".join(parts).replace("\n", " ").encode("utf-8", "surrogateescape")


def _failure(fd: int, holder: bytes, profile: str) -> tuple[int, bytes] | None:
    """The failure the holder we waited for recorded, if we would have failed alike."""
    if not holder:
        return None
    try:
        record = os.pread(fd, 16384, 0)
    except OSError:
        return None
    lines = record.split(b"\n")
    if len(lines) != 4 or lines[3] != b"" or not lines[2]:
        return None
    fields = lines[0].split(b" ")
    if len(fields) != 3 or fields[0] != _FAILED or fields[1] not in (b"1", b"2") or fields[2] != holder:
        return None
    if lines[1] != _context(profile):
        return None
    return int(fields[1]), lines[2] + b"\n"


def record_failure(gate: int, profile: str, code: int, line: str) -> None:
    """Called by the holder's slow path: its failure, for the callers waiting at the gate."""
    holder = _holder(gate)
    if not holder or code not in (1, 2):
        return
    message = line.replace("\n", " ").replace("\r", " ").encode("utf-8", "replace")
    try:
        os.ftruncate(gate, 0)
        os.pwrite(gate, b"%s %d %s\n%s\n%s\n" % (_FAILED, code, holder, _context(profile), message), 0)
    except OSError:
        pass  # the waiters then try for themselves


def _tell_waiting(profile: str, holder: bytes) -> None:
    pid = holder.partition(b".")[0].decode("ascii")
    by = f" (pid {pid})" if pid else ""
    # The terminal only: without one nobody is watching, and stderr must stay one line on failure.
    tty.say(f"waiting for another keyrack{by} to fetch the credentials of profile {profile!r}...",
            or_stderr=False)


def _stderr(data: bytes) -> None:
    try:
        os.write(2, data)
    except OSError:
        pass
