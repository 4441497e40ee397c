"""Showing the user a page: the browser of their choice and the terminal, never stdout.

The browser is the `keyrack_browser` setting of the profile or its
sso-session (a command template such as `firefox -P work --new-tab {url}`),
so someone with two identities keeps each in its own browser profile for
the sign-in and the console alike; without one, Python's webbrowser (so
BROWSER is honoured).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

from keyrack_sh import hotpath, tty
from keyrack_sh.errors import UserError

SETTING = "keyrack_browser"
URL_FIELD = "{url}"
# webbrowser's child exits with this when it found no browser to open.
_NO_BROWSER = 3
# The default opener hands the URL on stdin, never in its argv (which `ps` shows).
_OPENER = "import sys, webbrowser; sys.exit(0 if webbrowser.open_new_tab(sys.stdin.readline().strip()) else 3)"


def template_argv(template: str, what: str = SETTING) -> list[str]:
    """The words of a browser command template, checked (the URL is not in it yet)."""
    try:
        argv = shlex.split(template)
    except ValueError:
        argv = []
    if not argv:
        raise UserError(f"{what} is not a command (an unclosed quote, or empty)",
                        hint=f"{SETTING} = firefox --new-tab {URL_FIELD}")
    return argv


def open_url(url: str, *, no_browser: bool, what: str, code: str | None = None,
             command: str | None = None) -> None:
    """Tell the terminal where to sign in and, unless `no_browser`, open the browser."""
    suffix = f" and confirm the code {code}" if code else ""
    if no_browser:
        tty.say(f"to unlock {what}, open this URL{suffix}: {url}")
        return
    tty.say(f"unlocking {what}: opening the browser{suffix} (if it does not open: {url})")
    try:
        launch(url, command)
    except (OSError, UserError):
        pass  # the URL is on the terminal already


def launch(url: str, command: str | None = None, *, wait: float = 0.0) -> subprocess.Popen[bytes]:
    """Start the browser at `url`, detached: its own session, stdio on /dev/null.

    Detached because a browser started from here outlives us: holding our
    stdout or stderr, it would keep an SDK waiting on credential_process's
    pipes (botocore reads both to the end) until the browser quits, and
    anything it prints would land in `keyrack export` output or the
    terminal's transcript. It also must not inherit the signing-in marker, or
    every keyrack call it ever starts would think its sign-in is still running.
    The URL reaches the browser's argv (that is how browsers take one); it is
    never in keyrack's own argv or environment. With `wait`, the default
    opener gets that many seconds to say it found no browser (UserError).
    Raises OSError when the command cannot be started.
    """
    env = {k: v for k, v in os.environ.items() if k != hotpath.SIGNING_IN_ENV}
    detached = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
                "start_new_session": True, "close_fds": True}
    if command:
        argv = template_argv(command)
        argv = [a.replace(URL_FIELD, url) for a in argv] if any(URL_FIELD in a for a in argv) else [*argv, url]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, **detached)  # type: ignore[call-overload]
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _OPENER], stdin=subprocess.PIPE,
                            **detached)  # type: ignore[call-overload]
    try:
        proc.stdin.write(url.encode("utf-8") + b"\n")  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass
    deadline = time.monotonic() + wait
    while wait and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.returncode == _NO_BROWSER:
        raise UserError("no browser could be opened here",
                        hint=f"set {SETTING} in the config, or use --browser CMD or --url")
    return proc
