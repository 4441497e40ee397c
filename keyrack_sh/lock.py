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
from keyrack_sh.errors import UserError

_POLL = 0.05  # seconds between looks at a contended lock
# Say "waiting for ..." only once a wait has lasted this long: another process's
# routine refresh (a few hundred ms) must not scribble on the terminal.
NOTICE_AFTER = 1.0
# Set while this process signs in, so a credential_process started by
# anything below us can never wait on our own lock.
SIGNING_IN_ENV = hotpath.SIGNING_IN_ENV


def _owner_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".pid")


def holder_pid(lock_path: Path) -> int | None:
    data = safe_io.read(_owner_file(lock_path), 64)
    try:
        return int(data.decode("ascii").strip()) if data else None
    except (UnicodeDecodeError, ValueError):
        return None


def _tell_waiting(what: str) -> Callable[[int | None], None]:
    def on_wait(pid: int | None) -> None:
        by = f" held by pid {pid}" if pid else ""
        tty.say(f"waiting for the unlock of {what}{by}...")

    return on_wait


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
            if not told and now - started >= NOTICE_AFTER:
                told = True
                (on_wait or _tell_waiting(what))(holder_pid(lock_path))
            if left <= 0:
                pid = holder_pid(lock_path)
                by = f" (held by pid {pid})" if pid else ""
                raise UserError(f"gave up after {timeout:g} s waiting for the unlock of {what}{by}",
                                hint="finish the sign-in in the browser, or raise KEYRACK_LOCK_TIMEOUT")
            # Each look is one non-blocking flock and one cache read.
            time.sleep(min(_POLL, left))
    outermost = lock.lock_counter == 1
    try:
        if outermost:
            try:
                atomic.write_text(_owner_file(lock_path), f"{os.getpid()}\n")
            except OSError:
                pass  # the pid is only for the waiting message
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
