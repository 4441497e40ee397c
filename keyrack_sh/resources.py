"""Where the shipped, non-Python files live: installed or in a checkout."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # Installed wheel: keyrack_sh/<name>. Source checkout or editable install:
    # <repo>/<name>, beside the package.
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"keyrack's {name}/ folder is missing from the installation")


def shell_dir() -> Path:
    return _find("shell")


def completions_dir() -> Path:
    return _find("completions")


def templates_dir() -> Path:
    return _PKG / "templates"


def fast_entry() -> Path:
    """The stdlib-only credential_process hot path, run as a script."""
    return _PKG / "fast.py"


def credential_process_command(profile: str) -> str:
    """The `credential_process` line keyrack writes for `profile`.

    `python -I -S fast.py`: isolated and without site, the interpreter starts
    in a few milliseconds (site alone costs ~30 ms with a busy site-packages);
    fast.py enables site itself on a cache miss. shlex.quote keeps the line
    valid for botocore (shlex.split) and for the JS SDK (/bin/sh).
    """
    import shlex
    import sys

    return shlex.join([sys.executable, "-I", "-S", str(fast_entry()), profile])
