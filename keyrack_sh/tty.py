"""Messages for the person at the keyboard, while an SDK waits on us.

botocore swallows a credential_process's stderr on success, so a sign-in URL
printed there is invisible and the tool looks hung. The controlling terminal
(/dev/tty) reaches the user whatever the SDK does with our pipes; without one
(CI, editors, a daemon) the message falls back to stderr, except in a
process whose stderr carries only its one failure line (the credential_process:
see `stderr_for_failures_only`).

A wait the user can end (a sign-in in the browser) is one line, rewritten in
place with a countdown (`LiveLine`), and gone from the screen when it ends.
"""
from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not typing's: importing typing costs `re` on the herd gate's path
if TYPE_CHECKING:
    import threading

_stderr_fallback = True


def stderr_for_failures_only() -> None:
    """From now on, messages that find no terminal are dropped rather than sent to stderr.

    For the credential_process: an SDK shows its stderr when it fails, and then the
    one failure line must be all there is (a sign-in URL nobody could open, or a
    waiting notice, before it only buries it).
    """
    global _stderr_fallback
    _stderr_fallback = False


def available() -> bool:
    """True when a controlling terminal can be opened (a person may be there)."""
    if os.environ.get("KEYRACK_NO_TTY"):
        return False
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def say(message: str, *, or_stderr: bool = True) -> None:
    """One message to the terminal if there is one, else (unless `or_stderr` is False) to stderr.

    Never raises.
    """
    line = message.rstrip("\n") + "\n"
    if not os.environ.get("KEYRACK_NO_TTY"):
        try:
            fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
        except OSError:
            pass
        else:
            try:
                os.write(fd, line.encode("utf-8", "replace"))
                return
            except OSError:
                pass
            finally:
                os.close(fd)
    if not or_stderr or not _stderr_fallback:
        return
    try:
        sys.stderr.write("keyrack: " + line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def countdown(seconds: float) -> str:
    """4m59s, 59s: how long until a wait gives up (whole seconds, rounded up)."""
    left = max(0, int(-(-seconds // 1)))
    minutes, secs = divmod(left, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class LiveLine:
    """One line on the terminal, rewritten in place and wiped when done (use it with `with`).

    Each `show` returns to the line's start (\\r) and writes over it, padding with
    spaces what the previous text had more, so any terminal (even TERM=dumb) shows
    one line, never a trail. Cut to the terminal's width: a wrapped line could not be
    rewritten. Without a terminal it writes nothing at all, not even to stderr.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._shown = 0
        if os.environ.get("KEYRACK_NO_TTY"):
            return
        try:
            self._fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
        except OSError:
            self._fd = None

    def __enter__(self) -> LiveLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, text: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, text.encode("utf-8", "replace"))
        except OSError:
            self.close()

    def show(self, text: str) -> None:
        if self._fd is None:
            return
        text = text.replace("\n", " ").replace("\r", " ")[:max(self._width() - 1, 1)]
        before = self._shown
        self._shown = max(before, len(text))  # first: a Ctrl-C right after the write still wipes it all
        self._write("\r" + text + " " * max(before - len(text), 0))
        self._shown = len(text)

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self._fd).columns or 80  # 0: a terminal that never said
        except (OSError, TypeError):
            return 80

    def close(self) -> None:
        """Wipe the line (the cursor stays at its start) and let go of the terminal."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._shown:
                os.write(fd, ("\r" + " " * self._shown + "\r").encode("ascii"))
        except OSError:
            pass
        finally:
            os.close(fd)
            self._shown = 0

    def count_down(self, what: str, deadline: float, *, seconds: float | None = None,
                   until: threading.Event | None = None) -> bool:
        """Say what we wait for, that Ctrl-C cancels and when we give up, each second.

        Waits until the monotonic `deadline`, `seconds` from now, or the threading.Event
        `until` is set; returns whether `until` was set. Ctrl-C (KeyboardInterrupt) goes
        through: the caller's `with` wipes the line.
        """
        stop = deadline if seconds is None else min(deadline, time.monotonic() + seconds)
        while True:
            now = time.monotonic()
            if until is not None and until.is_set():
                return True
            if now >= stop:
                return False
            left = deadline - now
            tail = f"Ctrl-C cancels, gives up in {countdown(left)}"
            self.show(f"waiting for {what}: {tail}" if len(what) + len(tail) < self._width() - 15
                      else f"waiting: {tail}")  # what, the line above says; the way out, always
            # Wake when the whole seconds shown go down by one.
            step = left - (-(-left // 1) - 1) or 1.0
            step = min(step, stop - now)
            if until is not None:
                if until.wait(step):
                    return True
            else:
                time.sleep(step)
