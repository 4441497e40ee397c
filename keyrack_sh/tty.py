"""Messages for the person at the keyboard, while an SDK waits on us.

botocore swallows a credential_process's stderr on success, so a sign-in URL
printed there is invisible and the tool looks hung. The controlling terminal
(/dev/tty) reaches the user whatever the SDK does with our pipes; without one
(CI, editors, a daemon) the message falls back to stderr.
"""
from __future__ import annotations

import os
import sys


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
    if not or_stderr:
        return
    try:
        sys.stderr.write("keyrack: " + line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
