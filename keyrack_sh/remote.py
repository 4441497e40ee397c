"""Is this session on a host without the user's browser (SSH, WSL)? Then sign in with a device code.

Over SSH the browser keyrack would open is on the wrong machine (or is lynx), and the
authorization-code flow's redirect to 127.0.0.1 lands on the user's laptop, not here. Under WSL
there is usually no Linux browser at all. So with no browser configured (no BROWSER, no
keyrack_browser), the default sign-in there is the device code, shown on the terminal with its
URL, to approve on any device; nothing tries to start a browser. A setting overrides it:
`--device-code`, KEYRACK_LOGIN=pkce|device, or the profile's `keyrack_login`.
Builtins only (`os`): the engine and the commands ask it before any sign-in.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

LOGIN_ENV = "KEYRACK_LOGIN"
_SSH = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
_WSL = ("WSL_DISTRO_NAME", "WSL_INTEROP")
PROC_VERSION = "/proc/version"


def where(env: Mapping[str, str] | None = None, proc_version: str = PROC_VERSION) -> str | None:
    """"SSH", "WSL" or None (a local session)."""
    env = os.environ if env is None else env
    if any(env.get(name) for name in _SSH):
        return "SSH"
    if any(env.get(name) for name in _WSL):
        return "WSL"
    try:
        with open(proc_version, "rb") as f:
            if b"microsoft" in f.read(4096).lower():
                return "WSL"
    except OSError:
        pass
    return None


def headless(browser: str | None, env: Mapping[str, str] | None = None) -> bool:
    """True on a remote host (SSH, WSL) where no browser is configured: BROWSER or keyrack_browser."""
    env = os.environ if env is None else env
    return not browser and not env.get("BROWSER") and where(env) is not None
