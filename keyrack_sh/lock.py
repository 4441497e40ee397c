"""One sign-in at a time per sso-session: a file lock with a bounded wait.

filelock's flock is released by the kernel when the holder dies (even by
kill -9), so a crashed sign-in never wedges the others: a waiter takes over.
The holder writes its pid beside the lock so waiters can say who they wait for.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from keyrack_sh import atomic, paths, tty
from keyrack_sh.errors import UserError


def _owner_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".pid")


def holder_pid(lock_path: Path) -> int | None:
    try:
        return int(_owner_file(lock_path).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _tell_waiting(what: str) -> Callable[[int | None], None]:
    def on_wait(pid: int | None) -> None:
        by = f" held by pid {pid}" if pid else ""
        tty.say(f"waiting for the unlock of {what}{by}...")

    return on_wait


@contextmanager
def hold(lock_path: Path, *, timeout: float, what: str,
         on_wait: Callable[[int | None], None] | None = None) -> Iterator[None]:
    """Hold `lock_path`: try at once; if contended, tell the user and wait up to `timeout` s."""
    from filelock import FileLock, Timeout

    from keyrack_sh.cache import private_parents

    private_parents(lock_path)
    # preserve_lock_file: unlinking on release lets two processes lock two inodes of one path.
    lock = FileLock(str(lock_path), mode=0o600, preserve_lock_file=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        (on_wait or _tell_waiting(what))(holder_pid(lock_path))
        try:
            lock.acquire(timeout=timeout, poll_interval=0.05)
        except Timeout:
            pid = holder_pid(lock_path)
            by = f" (held by pid {pid})" if pid else ""
            raise UserError(f"gave up after {timeout:g} s waiting for the unlock of {what}{by}",
                            hint="finish the sign-in in the browser, or raise KEYRACK_LOCK_TIMEOUT") from None
    try:
        try:
            atomic.write_text(_owner_file(lock_path), f"{os.getpid()}\n")
        except OSError:
            pass  # the pid is only for the waiting message
        yield
    finally:
        atomic.remove(_owner_file(lock_path))
        lock.release()


def session_lock(session: str, *, timeout: float,
                 on_wait: Callable[[int | None], None] | None = None) -> AbstractContextManager[None]:
    """The lock around every sign-in, refresh and role-credential fetch of `session`."""
    return hold(paths.session_lock(session), timeout=timeout, what=f"sso-session {session!r}", on_wait=on_wait)
