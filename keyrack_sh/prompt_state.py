"""Secretless state files the shell prompt reads with builtins only.

Format (docs/ARCHITECTURE.md):
  prompt/profiles/<profile>   one line: the profile's sso-session name
  prompt/sessions/<session>   one line: <locked|unlocked> <access_expires> <session_end> <token_file>
Nothing here is a secret; the files are still 0600 like everything keyrack writes.
"""
from __future__ import annotations

from dataclasses import dataclass

from keyrack_sh import atomic, paths
from keyrack_sh.cache import private_parents


@dataclass(frozen=True)
class SessionState:
    locked: bool
    access_expires: int
    session_end: int
    token_file: str


def write_session(session: str, *, locked: bool, access_expires: int, session_end: int, token_file: str) -> None:
    state = "locked" if locked else "unlocked"
    private_parents(paths.prompt_session_file(session))
    atomic.write_text(paths.prompt_session_file(session),
                      f"{state} {int(access_expires)} {int(session_end)} {token_file}\n")


def mark_locked(session: str) -> None:
    private_parents(paths.prompt_session_file(session))
    atomic.write_text(paths.prompt_session_file(session),
                      f"locked 0 0 {paths.token_file(session)}\n")


def read_session(session: str) -> SessionState | None:
    try:
        text = paths.prompt_session_file(session).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    parts = text.strip().split(" ", 3)
    if len(parts) != 4 or parts[0] not in ("locked", "unlocked"):
        return None
    try:
        return SessionState(parts[0] == "locked", int(parts[1]), int(parts[2]), parts[3])
    except ValueError:
        return None


def write_profile(profile: str, session: str) -> None:
    private_parents(paths.prompt_profile_file(profile))
    atomic.write_text(paths.prompt_profile_file(profile), session + "\n")


def remove_profile(profile: str) -> None:
    atomic.remove(paths.prompt_profile_file(profile))
