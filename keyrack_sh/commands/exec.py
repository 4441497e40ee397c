"""`keyrack exec PROFILE -- CMD ARGS...`: run CMD with the profile's credentials."""
from __future__ import annotations

import argparse
import os
import sys

from keyrack_sh import engine
from keyrack_sh.errors import UserError


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
        raise UserError(f"command not found: {cmd[0][:80]!r}") from None
    except PermissionError:
        raise UserError(f"cannot run {cmd[0][:80]!r}: permission denied") from None
    except OSError as exc:
        raise UserError(f"cannot run {cmd[0][:80]!r}: {exc.strerror}") from None
    return 127  # not reached: execvpe returns only by raising
