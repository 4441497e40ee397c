"""Secretless state files the shell prompt reads with builtins only.

Format (docs/ARCHITECTURE.md):
  prompt/profiles/<profile>   one line: the profile's sso-session name
  prompt/sessions/<session>   one line: <locked|unlocked> <access_expires> <session_end> <token_file>;
                              its mtime is the token file's as keyrack last read it
Nothing here is a secret; the files are still 0600 like everything keyrack writes.

Around every write (one writer at a time): the generation's links go first,
then the file changes, then prompt/generation gets a new id, with a hard
link of it, prompt/links/generation@<id>, made before it is put in place. A
shell that read the id (before the files) keeps its last render while that
link exists: one stat instead of two reads (the reads are the bulk of a
render). A writer that dies half-way leaves no link: shells read every time.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from keyrack_sh import atomic, paths, safe_io
from keyrack_sh.cache import private_parents


@dataclass(frozen=True)
class SessionState:
    locked: bool
    access_expires: int
    session_end: int
    token_file: str


@contextmanager
def _changing() -> Iterator[None]:
    """Around every change of the files: shells stop reusing renders before it, and learn a new
    generation after it.

    The old generation's links go first, so a writer that fails or is killed half-way leaves
    shells reading the files at each prompt (slower), never showing a stale render. One writer at
    a time: another's clean-up must not delete the link this one has just made.
    """
    from filelock import FileLock, Timeout

    lock_path = paths.prompt_dir() / "generation.lock"
    private_parents(lock_path)
    safe_io.require_own_file(lock_path)
    lock = FileLock(str(lock_path), mode=0o600, preserve_lock_file=True)
    try:
        lock.acquire(timeout=5)
    except Timeout:
        lock = None  # a stuck writer: go on; at worst shells read the files at each prompt
    try:
        _drop_generation_links()
        yield
        _bump_generation()
    finally:
        if lock is not None:
            lock.release()


def _drop_generation_links(keep: str | None = None) -> None:
    folder = paths.prompt_dir() / "links"
    why = safe_io.folder_problem(folder)  # a planted link would make us delete files elsewhere
    if why is not None:
        safe_io.refuse(*why)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("generation@") and entry.name != keep:
            try:
                atomic.remove(Path(entry.path))
            except OSError:
                pass  # not ours to clear (a folder someone made): shells then just read the files


def _bump_generation() -> None:
    generation = f"{time.time_ns()}.{os.getpid()}"
    link = paths.prompt_generation_link(generation)
    private_parents(paths.prompt_generation_file())
    private_parents(link)
    atomic.write_text(paths.prompt_generation_file(), generation + "\n", link=link)
    _drop_generation_links(keep=link.name)


def _publish(path: Path, line: str, mtime_ns: int | None = None) -> None:
    private_parents(path)
    with _changing():
        atomic.write_text(path, line + "\n", mtime_ns=mtime_ns)


def write_session(session: str, *, locked: bool, access_expires: int, session_end: int, token_file: str,
                  token_mtime_ns: int | None = None) -> None:
    """Record the session's state as keyrack saw it in the token file whose mtime was `token_mtime_ns`.

    The session file gets that very mtime: a shell tells with `-nt`/`-ot` (builtins, no process)
    whether the token file is still the version this line describes, or was written since by
    another tool (`aws sso login`, a refresh). None: no token file vouched for (locked, or it
    changed while keyrack read it): the mtime is then 1970, so any token file there shows as
    written since, even one written in the same second (fish compares whole seconds).
    """
    state = "locked" if locked else "unlocked"
    access, end = int(access_expires), int(session_end)
    _publish(paths.prompt_session_file(session), f"{state} {access} {end} {token_file}",
             token_mtime_ns if token_mtime_ns is not None else 0)


def mark_locked(session: str) -> None:
    write_session(session, locked=True, access_expires=0, session_end=0, token_file=str(paths.token_file(session)))


def session_file_mtime_ns(session: str) -> int | None:
    """The mtime of the session's prompt file (the token version it vouches for), or None."""
    try:
        return os.stat(paths.prompt_session_file(session)).st_mtime_ns
    except OSError:
        return None


def read_session(session: str) -> SessionState | None:
    data = safe_io.read(paths.prompt_session_file(session), 4096)
    try:
        text = data.decode("utf-8") if data is not None else ""
    except UnicodeDecodeError:
        return None
    parts = text.strip().split(" ", 3)
    if len(parts) != 4 or parts[0] not in ("locked", "unlocked"):
        return None
    try:
        return SessionState(parts[0] == "locked", int(parts[1]), int(parts[2]), parts[3])
    except ValueError:
        return None


def read_profile(profile: str) -> str | None:
    """The sso-session the prompt state names for `profile`, or None (missing, damaged, not safe)."""
    data = safe_io.read(paths.prompt_profile_file(profile), 4096)
    try:
        return data.decode("utf-8").strip() if data is not None else None
    except UnicodeDecodeError:
        return None


def write_profile(profile: str, session: str) -> None:
    """Name the profile's session; the session gets a file too (locked until keyrack looks), so the
    shell knows which token file to watch for a sign-in by another tool."""
    _publish(paths.prompt_profile_file(profile), session)
    if not paths.prompt_session_file(session).exists():
        mark_locked(session)


def write_profiles(names: dict[str, str]) -> int:
    """Many profiles' files at once (sync), one generation change; only files that differ are written.

    Returns how many were written. Not fsynced: the engine writes them again on use.
    """
    try:
        present = set(os.listdir(paths.prompt_dir() / "profiles"))
    except OSError:
        present = set()
    # Only the files there are read (one listing, not 2,000 failed opens).
    todo = {profile: session for profile, session in names.items()
            if profile not in present or read_profile(profile) != session}
    if todo:
        private_parents(paths.prompt_profile_file(next(iter(todo))))
        with _changing():
            for profile, session in todo.items():
                atomic.write_text(paths.prompt_profile_file(profile), session + "\n", private_dir=False,
                                  durable=False)
            for session in sorted(set(todo.values())):  # as write_profile: the shell must know the token file
                path = paths.prompt_session_file(session)
                if not path.exists():
                    private_parents(path)
                    atomic.write_text(path, f"locked 0 0 {paths.token_file(session)}\n", durable=False, mtime_ns=0)
    return len(todo)


def remove_profiles(names: list[str]) -> None:
    present = [p for p in (paths.prompt_profile_file(n) for n in names) if p.exists()]
    if present:
        with _changing():
            for path in present:
                atomic.remove(path)


def _remove(path: Path) -> None:
    if path.exists():
        with _changing():
            atomic.remove(path)


def remove_session(session: str) -> None:
    _remove(paths.prompt_session_file(session))


def remove_profile(profile: str) -> None:
    _remove(paths.prompt_profile_file(profile))
