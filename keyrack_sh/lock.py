"""One sign-in at a time per sso-session: a file lock with a bounded wait.

filelock's flock is released by the kernel when the holder dies (even by
kill -9), so a crashed sign-in never wedges the others: a waiter takes over.
The holder writes its pid beside the lock so waiters can say who they wait for.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from keyrack_sh import atomic, hotpath, paths, safe_io, tty
from keyrack_sh.errors import ServiceError, UserError

_POLL = 0.05  # seconds between looks at a contended lock
# Say "waiting for ..." only once a wait has lasted this long: another process's
# routine refresh (a few hundred ms) must not scribble on the terminal.
NOTICE_AFTER = 1.0
# Set while this process signs in, so a credential_process started by
# anything below us can never wait on our own lock.
SIGNING_IN_ENV = hotpath.SIGNING_IN_ENV


def _owner_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".pid")


def _owner(lock_path: Path) -> tuple[int | None, str, float]:
    """(pid, what the holder does, until when at most) from `<lock>.pid`: `<pid>[ <until> <what>]`."""
    data = safe_io.read(_owner_file(lock_path), 512)
    try:
        fields = data.decode("utf-8").strip().split(" ", 2) if data else []
        pid = int(fields[0]) if fields else None
    except (UnicodeDecodeError, ValueError):
        return None, "", 0.0
    try:
        until = float(fields[1]) if len(fields) == 3 else 0.0
    except ValueError:
        until = 0.0
    what = fields[2] if len(fields) == 3 and until == until else ""  # nan is no bound
    return pid, what, until


def holder_pid(lock_path: Path) -> int | None:
    return _owner(lock_path)[0]


# What a holder may be doing, as it records it (`doing`): a waiter judges its wait by it.
SIGNING_IN = "signing in"
SERVER_CALL = "asking IAM Identity Center"  # the prefix of every phase that waits on the server
# What a holder does from taking the lock until it records otherwise: it reads the cache (a herd's
# next holder finds the answer there and leaves in milliseconds). Bounded, so a waiter already
# past its own time waits for that hand-over instead of giving up at the sight of a new pid.
LOOKING = "looking at the cache"
LOOKING_BOUND = 10.0


def _waits_out(doing_now: str) -> bool:
    """A phase a waiter past its own time still waits for, within its bound: not the user's sign-in."""
    return doing_now.startswith(SERVER_CALL) or doing_now == LOOKING


def doing(session: str, what: str, bound: float) -> None:
    """Record, for the waiters, what this process does under `session`'s lock and for how long
    at most (`bound` s from now: a server call's own timeouts, or the sign-in's).

    A waiter does not give up while the holder is within that bound (a slow server that does
    answer serves everyone); past it, the waiter's line says what the holder was doing.
    Only the lock's holder writes it; a failure to write costs only the message.
    """
    lock_path = paths.session_lock(session)
    lock = _held.get(str(lock_path))
    if lock is None or not lock.is_locked:
        return
    _record(lock_path, what, bound)


def _record(lock_path: Path, what: str, bound: float) -> None:
    until = time.time() + max(bound, 0.0)
    try:
        atomic.write_text(_owner_file(lock_path), f"{os.getpid()} {until:.3f} {what}\n")
    except OSError:
        pass  # the record is only for the waiters' judgement and message


_held: dict[str, object] = {}


def _tell_waiting(what: str) -> Callable[[int | None], None]:
    def on_wait(pid: int | None) -> None:
        by = f" held by pid {pid}" if pid else ""
        tty.say(f"waiting for the unlock of {what}{by}...")

    return on_wait


def _tell_doing(pid: int | None, doing_now: str, what: str) -> None:
    by = f"pid {pid}" if pid else "another keyrack"
    tty.say(f"waiting for {by}, which is {doing_now} ({what})...")


def _gave_up(timeout: float, what: str, pid: int | None, doing_now: str, until: float) -> Exception:
    by = f" (held by pid {pid})" if pid else ""
    if _waits_out(doing_now):
        # Nobody is signing in: the holder waits on IAM Identity Center, or is stuck short of it.
        # A transient fault, not the user's.
        late = " past its own time limit" if until and time.time() >= until else ""
        slow = "IAM Identity Center is slow: " if doing_now.startswith(SERVER_CALL) else ""
        return ServiceError(f"{slow}gave up after {timeout:g} s waiting for pid {pid}, "
                            f"which is {doing_now} ({what}){late}; nobody is signing in",
                            hint="try again in a moment")
    return UserError(f"gave up after {timeout:g} s waiting for the unlock of {what}{by}",
                     hint="finish the sign-in in the browser, or raise KEYRACK_LOCK_TIMEOUT")


@contextmanager
def hold(lock_path: Path, *, timeout: float, what: str,
         on_wait: Callable[[int | None], None] | None = None,
         ready: Callable[[], bool] | None = None) -> Iterator[bool]:
    """Hold `lock_path`: try at once; if contended, tell the user and wait up to `timeout` s.

    Yields True when the lock is held. With `ready`, a waiter also polls it and
    leaves as soon as it is true, yielding False without the lock: a herd of
    callers waiting for one sign-in then finishes together, instead of taking
    the lock one after another just to read the answer the first one cached.
    Re-entrant within a process (one FileLock object per path).
    """
    from filelock import FileLock, Timeout

    from keyrack_sh.cache import private_parents

    private_parents(lock_path)
    safe_io.require_own_file(lock_path)  # a planted link would make filelock open its target
    # preserve_lock_file: unlinking on release lets two processes lock two inodes of one path.
    lock = FileLock(str(lock_path), mode=0o600, preserve_lock_file=True, is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        started = time.monotonic()
        deadline = started + timeout
        told = False
        pid, doing_now, until = None, "", 0.0  # the holder's record, as last read
        while True:
            if ready is not None and ready():
                yield False
                return
            try:
                lock.acquire(timeout=0)
                break
            except Timeout:
                now = time.monotonic()
                left = deadline - now
            if left <= 0 or (not told and now - started >= NOTICE_AFTER):
                seen = _owner(lock_path)
                # A holder just ending (its record removed, the lock not yet released) still did what it said.
                if seen[0] is not None or not doing_now:
                    pid, doing_now, until = seen
                if left <= 0 and _waits_out(doing_now) and time.time() < until:
                    left = _POLL  # the holder waits on the server (or hands over), within its bound: wait with it
            if not told and now - started >= NOTICE_AFTER:
                told = True
                if on_wait is None and doing_now.startswith(SERVER_CALL):
                    _tell_doing(pid, doing_now, what)
                else:
                    (on_wait or _tell_waiting(what))(pid)
            if left <= 0:
                waited = time.monotonic() - started
                raise _gave_up(timeout if waited < timeout + 1 else round(waited), what, pid, doing_now, until)
            # Each look is one non-blocking flock and one cache read.
            time.sleep(min(_POLL, left))
    outermost = lock.lock_counter == 1
    _held[str(lock_path)] = lock
    try:
        if outermost:
            _record(lock_path, LOOKING, LOOKING_BOUND)
        yield True
    finally:
        if outermost:
            atomic.remove(_owner_file(lock_path))
        lock.release()


def session_lock(session: str, *, timeout: float,
                 on_wait: Callable[[int | None], None] | None = None,
                 ready: Callable[[], bool] | None = None) -> AbstractContextManager[bool]:
    """The lock around every sign-in, refresh and role-credential fetch of `session`."""
    return hold(paths.session_lock(session), timeout=timeout, what=f"sso-session {session!r}",
                on_wait=on_wait, ready=ready)
