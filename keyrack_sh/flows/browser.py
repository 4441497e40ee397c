"""Showing the user where to sign in: the browser (webbrowser, so BROWSER is
honoured) and the terminal, never stdout."""
from __future__ import annotations

import threading

from keyrack_sh import tty


def open_url(url: str, *, no_browser: bool, what: str, code: str | None = None) -> None:
    """Tell the terminal where to sign in and, unless `no_browser`, open the browser."""
    suffix = f" and confirm the code {code}" if code else ""
    if no_browser:
        tty.say(f"to unlock {what}, open this URL{suffix}: {url}")
        return
    tty.say(f"unlocking {what}: opening the browser{suffix} (if it does not open: {url})")
    # webbrowser may wait for the browser command to exit; the sign-in timeout
    # must still hold, so the opener runs beside us.
    threading.Thread(target=_open, args=(url,), name="keyrack-browser", daemon=True).start()


def _open(url: str) -> None:
    import webbrowser

    try:
        webbrowser.open(url, new=2)
    except Exception:
        pass  # the URL is on the terminal already
