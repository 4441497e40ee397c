"""Crash-safe private files: temp file in the same folder, fsync, os.replace.

A reader sees the old version or the new one, never half of either. Folders
are created 0700 and files 0600, because most of what keyrack writes is secret;
which folders are trusted is safe_io's one judgement. A temp file left by a
writer killed with -9 goes at the next write of the same file (or a relock's
clean-up, `remove_stale_temps`); it never has a looser mode than the final file.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from keyrack_sh import paths, safe_io

STALE_TEMP_AGE = 60.0  # seconds: a live writer's temp file exists for milliseconds


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700 whatever the umask; refuse a folder another user
    could write (safe_io.make_private_dirs). Inside keyrack's home, every folder from the home down
    is judged and tightened."""
    safe_io.make_private_dirs(path, trusted_root=paths.keyrack_home())
    return path


def write_bytes(path: Path, data: bytes, mode: int = 0o600, private_dir: bool = True,
                link: Path | None = None, durable: bool = True, mtime_ns: int | None = None) -> None:
    """Replace `path` with `data`; with `link`, that name is made a hard link of the new file first.

    `durable=False` is a bulk write: no fsync (~9 ms each here) and no look for a killed writer's
    temp files (a scan of the folder each time); only for state keyrack derives again (sync's
    2,000 prompt files): a power cut may then leave the file empty, never half of another.

    The link is also replaced atomically, before `path` is: a name that stands for this very
    version of the file (see prompt_state). A file system without hard links gets no link.
    `mtime_ns`: the new file's modification time, set before it takes the name (prompt_state
    mirrors the token file's, so a shell can tell with `-nt`/`-ot` whether keyrack saw that version).
    """
    if private_dir:
        ensure_private_dir(path.parent)
    if os.path.isdir(path) and not os.path.islink(path):
        safe_io.refuse(f"{path} is a folder, not a file; nothing written", f"mv {path} {path}.old")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        if link is not None:
            _link(tmp, link)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        remove_stale_temps(path)


def remove_stale_temps(path: Path, max_age: float = STALE_TEMP_AGE) -> list[Path]:
    """Delete the temp files of `path` that writers killed half-way left (older than `max_age` s)."""
    prefix = f".{path.name}."
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.name.endswith((".tmp", ".tmp.link")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_uid == os.getuid() and now - st.st_mtime >= max_age:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _link(source: str, link: Path) -> None:
    staged = f"{source}.link"
    try:
        os.link(source, staged)
        os.replace(staged, link)
    except OSError:
        try:
            os.unlink(staged)
        except OSError:
            pass


def write_text(path: Path, text: str, mode: int = 0o600, private_dir: bool = True,
               link: Path | None = None, durable: bool = True, mtime_ns: int | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), mode=mode, private_dir=private_dir, link=link, durable=durable,
                mtime_ns=mtime_ns)


def write_json(path: Path, obj: Any, mode: int = 0o600) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode=mode)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when missing, half-written, not an object or not safe to read."""
    data = safe_io.read(path)  # a regular file of ours, not a link, a FIFO or a huge file
    if data is None:
        return None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def remove(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except PermissionError:  # a folder left read-only or someone else's (`sudo -E keyrack ...`)
        what, fix = safe_io.writable_folder_problem(path.parent)
        safe_io.refuse(f"cannot remove {path}: {what}", fix)
        raise
