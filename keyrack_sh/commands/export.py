"""`keyrack export [PROFILE] [--format FORMAT]`: credentials for a shell, a .env file or a script.

Formats: env (POSIX sh `export`), env-no-export (sh assignments), dotenv (NAME=value lines,
nothing to unset there), json (the credential_process object), fish, powershell.
"""
from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable, Mapping

from keyrack_sh import engine
from keyrack_sh.commands import _profile
from keyrack_sh.errors import UserError


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _dotenv_value(value: str) -> str:
    # Unquoted, as `aws configure export-credentials --format dotenv` writes: docker's --env-file
    # keeps quotes as part of the value. Credentials and regions never hold these characters.
    if any(c in value for c in "\n\r\"' #$\\"):
        raise UserError("a value cannot be written as a dotenv line", hint="keyrack export PROFILE --format json")
    return value


_LINE: dict[str, Callable[[str, str | None], str | None]] = {
    "env": lambda n, v: f"unset {n};" if v is None else f"export {n}={shlex.quote(v)};",
    "env-no-export": lambda n, v: f"unset {n};" if v is None else f"{n}={shlex.quote(v)};",
    "dotenv": lambda n, v: None if v is None else f"{n}={_dotenv_value(v)}",
    "fish": lambda n, v: f"set -e {n};" if v is None else f"set -gx {n} {_fish_quote(v)};",
    "powershell": lambda n, v: (f"Remove-Item -ErrorAction SilentlyContinue Env:{n}" if v is None
                                else f"$Env:{n} = {_powershell_quote(v)}"),
}


def render(fmt: str, creds: Mapping[str, object], env: Mapping[str, str | None]) -> str:
    """The text `export --format fmt` prints for these credentials and environment changes."""
    if fmt == "json":
        return json.dumps(creds, separators=(", ", ": ")) + "\n"
    lines = [_LINE[fmt](name, value) for name, value in env.items()]
    return "".join(line + "\n" for line in lines if line is not None)


def run(args: argparse.Namespace) -> int:
    creds, env = engine.profile_credentials(_profile.resolve(args.profile, "export"))
    print(render(args.format, creds, env), end="")
    return 0
