"""Asking before a change to the user's files: a person at a terminal answers, a script says --yes."""
from __future__ import annotations

import os
import shlex
import sys

from keyrack_sh.errors import UserError


def can_ask() -> bool:
    """A person can answer a prompt: stdin is a terminal and KEYRACK_NO_TTY is not set."""
    return sys.stdin.isatty() and not os.environ.get("KEYRACK_NO_TTY")


def retry_command(extra: str = "--yes", drop: tuple[str, ...] = ()) -> str:
    """This very command line again with `extra`, less the options in `drop` (e.g. --dry-run)."""
    argv = [a for a in sys.argv[1:] if a != extra and a not in drop]
    return shlex.join(["keyrack", *argv, extra])


def confirm(what: str, question: str, *, without: str, declined: str, drop: tuple[str, ...] = ()) -> None:
    """Go on only when a person answers y to `what. question`; otherwise one UserError (exit 2)
    whose hint is the same command with --yes. Without a terminal: `what; without`."""
    if not can_ask():
        raise UserError(f"{what}; {without}", hint=retry_command("--yes", drop))
    if input(f"{what}. {question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise UserError(declined, hint=retry_command("--yes", drop))
