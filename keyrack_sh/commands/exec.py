"""`keyrack exec PROFILE -- CMD ARGS...`: run CMD with the profile's credentials."""
from __future__ import annotations

import argparse
import os
import sys

from keyrack_sh import engine
from keyrack_sh.errors import UserError

# The shell's codes for a command that could not be run, as any wrapper that
# passes exit codes through reports them (env, nice, timeout...).
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126


def _fail(code: int, message: str) -> int:
    print(f"keyrack: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise UserError("no command to run", hint=f"keyrack exec {args.profile} -- aws sts get-caller-identity")
    _creds, changes = engine.profile_credentials(args.profile)
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # Become the command: its exit code and signals are the caller's, with nothing in between.
        os.execvpe(cmd[0], cmd, env)
    except FileNotFoundError:
        return _fail(EXIT_NOT_FOUND, f"command not found: {cmd[0][:80]!r}")
    except PermissionError:
        return _fail(EXIT_CANNOT_RUN, f"cannot run {cmd[0][:80]!r}: permission denied")
    except OSError as exc:
        return _fail(EXIT_CANNOT_RUN, f"cannot run {cmd[0][:80]!r}: {exc.strerror}")
    return EXIT_NOT_FOUND  # not reached: execvpe returns only by raising
