"""Secretless state files the shell prompt reads with builtins only.

Format (docs/ARCHITECTURE.md):
  prompt/profiles/<profile>   one line: the profile's sso-session name
  prompt/sessions/<session>   one line: <locked|unlocked> <access_expires> <session_end> <token_file>
Nothing here is a secret; the files are still 0600 like everything keyrack writes.

Each file is also hard-linked as prompt/links/<kind>/<name>@<key>, a name the
shell can build from what it read (the session name; `state-access-end`). So
a shell keeps its last render while `[[ file -ef link ]]` holds, two stats
instead of a read (a read is the bulk of a render), and knows the moment the
file is replaced: every write makes a new file, and the link is made before
the file is put in place, so a link never names a file with other content.
"""
from __future__ import annotations

import os
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


def _publish(kind: str, name: str, path: Path, key: str, line: str) -> None:
    """Write `path` and its link for `key`; drop the links of its earlier contents."""
    if not key or "/" in key or "\0" in key or "\n" in key or key.startswith("."):
        raise ValueError(f"not a prompt state key: {key!r}")  # the callers pass validated names
    link = paths.prompt_link(kind, name, key)
    private_parents(path)
    private_parents(link)
    atomic.write_text(path, line + "\n", link=link)
    _drop_links(kind, name, keep=link.name)


def _drop_links(kind: str, name: str, keep: str | None = None) -> None:
    prefix = name + "@"
    try:
        entries = list(os.scandir(paths.prompt_dir() / "links" / kind))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name != keep:
            try:
                atomic.remove(Path(entry.path))
            except OSError:
                pass  # not ours to clear (a folder someone made): a shell then just reads the file


def write_session(session: str, *, locked: bool, access_expires: int, session_end: int, token_file: str) -> None:
    state = "locked" if locked else "unlocked"
    access, end = int(access_expires), int(session_end)
    _publish("sessions", session, paths.prompt_session_file(session), f"{state}-{access}-{end}",
             f"{state} {access} {end} {token_file}")


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
    _publish("profiles", profile, paths.prompt_profile_file(profile), session, session)


def linked_profile(profile: str, session: str) -> bool:
    """True when the profile's file has its link (files from before links existed have none)."""
    try:
        return os.path.samefile(paths.prompt_profile_file(profile), paths.prompt_link("profiles", profile, session))
    except (OSError, ValueError):
        return False


def remove_profile(profile: str) -> None:
    atomic.remove(paths.prompt_profile_file(profile))
    _drop_links("profiles", profile)
