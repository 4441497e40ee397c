"""credential_process slow path: the cache missed, so resolve, maybe sign in, print.

Its own error edge, because an SDK is on the other end: stdout carries exactly
one JSON object on success and nothing on failure; the failure is one stderr
line naming the profile, the cause and the fix (botocore shows it); anything
the user must see while the SDK waits goes to /dev/tty (tty.py).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from keyrack_sh.errors import EXIT_INTERRUPTED, EXIT_SERVICE, KeyrackError, UserError


def resolve(profile_name: str) -> bytes:
    """The credential_process JSON line for `profile_name` (resolution order in engine.credentials)."""
    import json

    from keyrack_sh import engine, paths, profiles, validate

    validate.profile_name(profile_name)
    stamp = paths.config_stamp()
    config = profiles.load()
    profile = config.profile(profile_name)
    session = config.session(profile.session)
    creds = engine.credentials(profile, session, policy=engine.policy_for(profile), stamp=stamp)
    return (json.dumps(creds, separators=(", ", ": ")) + "\n").encode("utf-8")


def main(argv: Sequence[str]) -> int:
    # Keep the real stdout for the answer alone: a browser command, a library or
    # a stray print during sign-in must not corrupt the JSON the SDK parses.
    answer = os.dup(1)
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr at all: stray output goes nowhere rather than into the answer
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    try:
        if len(argv) != 1 or argv[0].startswith("-"):
            raise UserError("usage: keyrack credential-process PROFILE")
        line = resolve(argv[0])
    except KeyrackError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keyrack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback into an SDK's error message
        log = _crash_log()
        where = f"; details in {log}" if log else ""
        print(f"keyrack: credential-process failed unexpectedly ({type(exc).__name__}){where}", file=sys.stderr)
        return EXIT_SERVICE
    finally:
        sys.stdout.flush()
    try:
        os.write(answer, line)
    except OSError:
        return EXIT_SERVICE
    finally:
        os.close(answer)
    return 0


def _crash_log() -> str | None:
    try:
        from keyrack_sh.cli import _write_crash_log

        return _write_crash_log()
    except Exception:
        return None
