"""The exceptions that become exit codes at the one error edge (cli.main).

UserError: the user can fix it (exit 2). ServiceError: a server or transient
fault (exit 1). Messages are one line; the hint is the exact command to run.
Never put a secret in either.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_SERVICE = 1
EXIT_USER = 2
EXIT_INTERRUPTED = 130


class KeyrackError(Exception):
    exit_code = EXIT_SERVICE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """One line: the message, then the fix."""
        line = f"keyrack: {self.message}"
        if self.hint:
            line += f" (hint: {self.hint})"
        return line.replace("\n", " ").replace("\r", " ")


class UserError(KeyrackError):
    """Bad input, missing config, locked with no way to sign in here, denied sign-in."""

    exit_code = EXIT_USER


class ServiceError(KeyrackError):
    """The service failed, timed out or throttled: trying again may work."""

    exit_code = EXIT_SERVICE
