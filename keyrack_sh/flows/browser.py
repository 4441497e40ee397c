"""Showing the user where to sign in: the browser (webbrowser, so BROWSER is
honoured) and the terminal, never stdout."""
from __future__ import annotations

import os
import subprocess
import sys

from keyrack_sh import hotpath, tty


def open_url(url: str, *, no_browser: bool, what: str, code: str | None = None) -> None:
    """Tell the terminal where to sign in and, unless `no_browser`, open the browser."""
    suffix = f" and confirm the code {code}" if code else ""
    if no_browser:
        tty.say(f"to unlock {what}, open this URL{suffix}: {url}")
        return
    tty.say(f"unlocking {what}: opening the browser{suffix} (if it does not open: {url})")
    _open(url)


def _open(url: str) -> None:
    """Python's webbrowser (so BROWSER is honoured) in a detached process.

    Detached because a browser started from here outlives us: holding our
    stdout or stderr, it would keep an SDK waiting on credential_process's
    pipes (botocore reads both to the end) until the browser quits, and
    anything it prints would land in `keyrack export` output. It also must not
    inherit the signing-in marker, or every keyrack call it ever starts would
    think its sign-in is still running.
    """
    env = {k: v for k, v in os.environ.items() if k != hotpath.SIGNING_IN_ENV}
    try:
        subprocess.Popen([sys.executable, "-I", "-S", "-m", "webbrowser", "-t", url], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass  # the URL is on the terminal already
