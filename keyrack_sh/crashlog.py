"""The crash log of an unexpected error: the traceback in a private file, never on the terminal.

Used by both error edges (cli.main and the credential_process slow path), so
it sits below them. The traceback carries no locals, so no secrets.
"""
from __future__ import annotations

import os
import sys
import time
import traceback

from keyrack_sh import __version__


def write() -> str | None:
    """Keep the current exception's traceback in `logs/crash-<time>-<pid>.log` (0600); its path, or None."""
    try:
        from keyrack_sh import atomic, paths

        path = paths.logs_dir() / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        text = f"keyrack {__version__}, python {sys.version.split()[0]}\n{traceback.format_exc()}"
        atomic.write_text(path, text)
        return str(path)
    except Exception:
        return None
