"""credential_process slow path: the cache missed, so resolve, maybe sign in, print.

Its own error edge, because an SDK is on the other end: stdout carries exactly
one JSON object on success and nothing on failure; the failure is one stderr
line naming the profile, the cause and the fix (botocore shows it); anything
the user must see while the SDK waits goes to /dev/tty (tty.py).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from keyrack_sh.errors import EXIT_INTERRUPTED, EXIT_SERVICE, KeyrackError, UserError


class _OtherSession(Exception):
    """The config names another sso-session than the herd lock we hold (a stale prompt mapping)."""


def resolve(profile_name: str, *, expect_session: str | None = None) -> bytes:
    """The credential_process JSON line for `profile_name` (resolution order in engine.credentials).

    With `expect_session` (the session whose lock the caller holds), a profile
    the config puts in another session raises _OtherSession before any lock
    is taken: holding one session's lock while waiting for another's could
    deadlock against a process doing the reverse.
    """
    import json

    from keyrack_sh import engine, paths, profiles, validate

    validate.profile_name(profile_name)
    stamp = paths.config_stamp()
    config = profiles.load()
    profile = config.profile(profile_name)
    if expect_session is not None and profile.session != expect_session:
        raise _OtherSession()
    session = config.session(profile.session)
    creds = engine.credentials(profile, session, policy=engine.policy_for(profile), stamp=stamp)
    return (json.dumps(creds, separators=(", ", ": ")) + "\n").encode("utf-8")


# How long a caller waits for a concurrent unlock's answer before going the
# full way (where the unlock policy sets the wait), counting its wait at the herd gate (gate.py).
HERD_WAIT = 15.0


def respond(profile_name: str, *, waited: float = 0.0) -> bytes:
    """resolve(), but a caller that finds the session's lock taken waits for that unlock's answer.

    The herd gate (gate.py) already keeps a herd of one profile out of here; this wait is
    for the callers of the session's other profiles: they pay for the lock
    (never for the engine, configparser or boto3) while one caller signs in,
    and leave as soon as their credentials are cached. Whoever gets the lock
    keeps it for the whole resolution (the engine re-enters it), so nobody
    slips past.
    """
    from keyrack_sh import hotpath, lock, paths

    if not hotpath.valid_name(profile_name):
        return resolve(profile_name)  # which says what is wrong with the name
    from keyrack_sh import prompt_state

    session = prompt_state.read_profile(profile_name) or ""
    if not hotpath.valid_name(session) or os.environ.get(hotpath.SIGNING_IN_ENV) == session:
        return resolve(profile_name)  # unknown to the prompt state yet, or our own sign-in's child
    entered = False
    try:
        with lock.session_lock(session, timeout=max(HERD_WAIT - waited, 0.0),
                               ready=lambda: hotpath.cached(profile_name) is not None) as held:
            entered = True
            cached = hotpath.cached(profile_name)
            if cached is not None:
                return cached
            if held:
                return resolve(profile_name, expect_session=session)
    except _OtherSession:
        pass  # the lock is released now: resolve under the config's session's lock alone
    except UserError:
        if entered:
            raise
    return resolve(profile_name)  # waited HERD_WAIT in vain, or the answer vanished (a relock)


RecordFailure = Callable[[str, int, str], None]


def main(argv: Sequence[str], *, record_failure: RecordFailure | None = None, waited: float = 0.0) -> int:
    """Answer the SDK; `record_failure(profile, code, line)` tells the herd gate's waiters (gate.py)
    when this process holds the gate, `waited` is its wait there."""
    from keyrack_sh import tty

    tty.stderr_for_failures_only()  # the one failure line is all an SDK may show of us
    code = _outlive_the_caller()
    if code is not None:
        return code
    # Keep the real stdout for the answer alone: a browser command, a library or
    # a stray print during sign-in must not corrupt the JSON the SDK parses.
    try:
        answer = os.dup(1)
    except OSError:  # stdout is closed: nobody can read an answer, so fetch nothing
        _failed(None, argv, EXIT_SERVICE, "keyrack: credential-process has no stdout to answer on "
                "(file descriptor 1 is closed)")
        return EXIT_SERVICE
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr at all: stray output goes nowhere rather than into the answer
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    _watch_the_caller(answer)
    try:
        if sys.flags.no_site:  # run as `python -I -S fast.py` and the cache missed
            import site

            site.main()
        if len(argv) != 1 or argv[0].startswith("-"):
            raise UserError("usage: keyrack credential-process PROFILE")
        line = respond(argv[0], waited=waited)
    except KeyrackError as exc:
        _failed(record_failure, argv, exc.exit_code, _naming_the_profile(exc.render(), argv))
        return exc.exit_code
    except KeyboardInterrupt:
        print("keyrack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback into an SDK's error message
        log = _crash_log()
        where = f"; details in {log}" if log else ""
        _failed(record_failure, argv, EXIT_SERVICE, f"keyrack: credential-process failed unexpectedly ({type(exc).__name__}){where}")
        return EXIT_SERVICE
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
    try:
        os.write(answer, line)
    except OSError:
        return EXIT_SERVICE
    finally:
        os.close(answer)
    return 0


def _naming_the_profile(line: str, argv: Sequence[str]) -> str:
    """The SDK shows our line among its own: say which profile failed, once."""
    if len(argv) != 1 or not argv[0] or f"{argv[0]!r}" in line or not line.startswith("keyrack: "):
        return line
    return f"keyrack: profile {argv[0]!r}: " + line[len("keyrack: "):]


def _failed(record_failure: RecordFailure | None, argv: Sequence[str], code: int, line: str) -> None:
    """The one stderr line; recorded first for the callers waiting at the gate, who repeat it."""
    line = line.replace("\n", " ").replace("\r", " ")
    if record_failure is not None and len(argv) == 1:
        record_failure(argv[0], code, line)
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone; the exit code still tells


def _crash_log() -> str | None:
    from keyrack_sh import crashlog

    return crashlog.write()


# -- the caller may stop waiting (the Go SDK kills its credential_process after 60 s) -----------

_caller_pipe: int | None = None  # the read end that ends (EOF) when the caller is gone
_started = time.monotonic()


def _outlive_the_caller() -> int | None:
    """Fork: the child does the work in its own process group, the parent (the SDK's child) waits.

    Returns the child's exit code in the parent, None in the child. A caller killed by its SDK
    (SIGKILL, SIGTERM, its pipes closed) takes only the parent along: a sign-in keeps going to
    its end and caches its result, and the retry waits for it at the gate and the session lock
    instead of opening another browser tab. ^C reaches the parent, which passes it on.
    """
    global _caller_pipe
    caller = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # so that sigtimedwait hears the child end
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        return None  # then the work is done here, as it was
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        os.close(write_end)
        try:
            os.setpgid(0, 0)  # out of the caller's group: a kill of that group misses us
        except OSError:
            pass
        _caller_pipe = read_end
        return None
    os.close(read_end)
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else EXIT_SERVICE
            if os.getppid() != caller:
                # The SDK killed the `sh -c` it ran us with (the Go SDK does): nobody reads our
                # answer any more. Leaving closes write_end, which tells the child.
                return EXIT_SERVICE
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        except KeyboardInterrupt:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
        except ChildProcessError:
            return EXIT_SERVICE


def _watch_the_caller(answer: int) -> None:
    """When the caller is gone: say so once on the terminal, and let go of its pipes (the Go
    SDK's Wait would otherwise hang until our sign-in ends)."""
    if _caller_pipe is None:
        return

    def watch() -> None:
        try:
            while os.read(_caller_pipe, 1):
                pass
        except OSError:
            pass
        from keyrack_sh import hotpath, tty

        if os.environ.get(hotpath.SIGNING_IN_ENV):
            tty.say(f"keyrack: the calling program stopped waiting after {time.monotonic() - _started:.0f} s; "
                    "the sign-in goes on in your browser; run the command again when it is done",
                    or_stderr=False)
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (answer, 1, 2):
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
        os.close(devnull)

    threading.Thread(target=watch, name="keyrack-caller-watch", daemon=True).start()
