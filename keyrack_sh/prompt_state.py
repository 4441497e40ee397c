"""Secretless state files the shell prompt reads with builtins only.

Format (docs/ARCHITECTURE.md):
  prompt/profiles/<profile>   one line: the profile's sso-session name
  prompt/sessions/<session>   one line: <locked|unlocked> <access_expires> <session_end> <token_file>
Nothing here is a secret; the files are still 0600 like everything keyrack writes.

After every write, the generation is bumped: prompt/generation gets a new id
and prompt/links/generation@<id> is a hard link of it, made before it is put
in place; the earlier ids' links are then dropped. A shell that read the id
(before the files) keeps its last render while that link exists: one stat
instead of two reads (the reads are the bulk of a render).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from keyrack_sh import atomic, paths
from keyrack_sh.cache import private_parents


@dataclass(frozen=True)
class SessionState:
    locked: bool
    access_expires: int
    session_end: int
    token_file: str


def _publish(path: Path, line: str) -> None:
    private_parents(path)
    atomic.write_text(path, line + "\n")
    _bump_generation()


def _bump_generation() -> None:
    """A new generation id, after the files changed: every shell reads them again once."""
    generation = f"{time.time_ns()}.{os.getpid()}"
    link = paths.prompt_generation_link(generation)
    private_parents(paths.prompt_generation_file())
    private_parents(link)
    atomic.write_text(paths.prompt_generation_file(), generation + "\n", link=link)
    try:
        entries = list(os.scandir(link.parent))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("generation@") and entry.name != link.name:
            try:
                atomic.remove(Path(entry.path))
            except OSError:
                pass  # not ours to clear (a folder someone made): shells then just read the files


def write_session(session: str, *, locked: bool, access_expires: int, session_end: int, token_file: str) -> None:
    state = "locked" if locked else "unlocked"
    access, end = int(access_expires), int(session_end)
    _publish(paths.prompt_session_file(session), f"{state} {access} {end} {token_file}")


def mark_locked(session: str) -> None:
    write_session(session, locked=True, access_expires=0, session_end=0, token_file=str(paths.token_file(session)))


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
    _publish(paths.prompt_profile_file(profile), session)


def remove_session(session: str) -> None:
    if atomic.remove(paths.prompt_session_file(session)):
        _bump_generation()


def remove_profile(profile: str) -> None:
    if atomic.remove(paths.prompt_profile_file(profile)):
        _bump_generation()
