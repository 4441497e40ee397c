"""Crash-safe private files: temp file in the same folder, fsync, os.replace.

A reader sees the old version or the new one, never half of either. Folders
are created 0700 and files 0600, because most of what keyrack writes is secret.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700; tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_bytes(path: Path, data: bytes, mode: int = 0o600, private_dir: bool = True,
                link: Path | None = None) -> None:
    """Replace `path` with `data`; with `link`, that name is made a hard link of the new file first.

    The link is also replaced atomically, before `path` is: a name that stands for this very
    version of the file (see prompt_state). A file system without hard links gets no link.
    """
    if private_dir:
        ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if link is not None:
            _link(tmp, link)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
               link: Path | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), mode=mode, private_dir=private_dir, link=link)


def write_json(path: Path, obj: Any, mode: int = 0o600) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode=mode)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when missing, half-written or not an object."""
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def remove(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
