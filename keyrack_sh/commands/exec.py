"""`keyrack exec [PROFILE] -- CMD ARGS...`: run CMD with the profile's (default: $AWS_PROFILE's) credentials.

By default CMD gets a credential server of its own (keyrack_sh/server/): the
container-credentials URL and token in its environment, no keys, so an SDK
renews for as long as CMD runs; keyrack waits for CMD, stops the server and
passes the exit code (or the signal) through. `--static` puts the keys
themselves in the environment and becomes CMD, as before.
"""
from __future__ import annotations

import argparse
import os
import sys

from keyrack_sh import engine
from keyrack_sh.commands import _profile
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
    static = bool(getattr(args, "static", False))
    if cmd[:1] == ["--static"]:  # after PROFILE, argparse's REMAINDER has taken it
        static, cmd = True, cmd[1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    profile = _profile.resolve(args.profile, "exec -- aws sts get-caller-identity")
    if not cmd:
        named = f"{args.profile} " if args.profile else ""
        raise UserError("no command to run", hint=f"keyrack exec {named}-- aws sts get-caller-identity")
    if not static:
        return _run_served(profile, cmd)
    _creds, changes = engine.profile_credentials(profile)
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
    except OSError as exc:
        return _cannot_start(cmd, exc)
    return EXIT_NOT_FOUND  # not reached: execvpe returns only by raising


def _cannot_start(cmd: list[str], exc: OSError) -> int:
    """127 for a command that is not there, 126 for one that cannot run, as the shells do."""
    if isinstance(exc, FileNotFoundError):
        return _fail(EXIT_NOT_FOUND, f"command not found: {cmd[0][:80]!r}")
    if isinstance(exc, PermissionError):
        return _fail(EXIT_CANNOT_RUN, f"cannot run {cmd[0][:80]!r}: permission denied")
    return _fail(EXIT_CANNOT_RUN, f"cannot run {cmd[0][:80]!r}: {exc.strerror}")


def _run_served(profile: str, cmd: list[str]) -> int:
    from keyrack_sh.server import lifetime
    from keyrack_sh.server.source import CredentialSource

    source = CredentialSource([profile])
    source.answer(profile)  # sign in now if needed and allowed, and fail before CMD starts if not
    prof = source.profile(profile)
    with lifetime.CredentialServer(source) as server:
        env = lifetime.child_env(server, profile, prof.region, prof.account_id, dict(os.environ))
        sys.stdout.flush()
        sys.stderr.flush()
        return _wait_for(cmd, env)


def _wait_for(cmd: list[str], env: dict[str, str]) -> int:
    import signal
    import subprocess

    # ^C and the terminal's other signals reach CMD from the terminal itself; keyrack outlives
    # them to stop its server after CMD, and hands on what is sent to it alone (kill, hang-up).
    forwarded = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
    try:
        child = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        return _cannot_start(cmd, exc)
    previous = {sig: signal.signal(sig, lambda s, _f: child.send_signal(s)) for sig in forwarded}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code if code >= 0 else 128 - code
