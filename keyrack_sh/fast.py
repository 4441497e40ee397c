"""credential_process hot path: print cached role credentials, or hand over.

Run by every AWS SDK call as `<python> -I -S <this file> PROFILE`, so it
starts with no site and may import nothing but builtin modules: no keyrack
module, no json, no re (each costs ~10 ms, several times the whole hit).
The cache file (docs/ARCHITECTURE.md) is two lines: a space-separated header
that can be checked with str.split, and the JSON answer, printed verbatim.
A miss first passes the profile's herd gate (below): callers that find a
concurrent miss already fetching wait for its answer with builtins alone.
The one that fetches enables site, puts this package on sys.path and runs
the slow path.
"""
from __future__ import annotations

import os
import sys
import time

MIN_LEFT = 20 * 60  # hand out nothing botocore would ask for again soon
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


# -- paths: the same answers as keyrack_sh/paths.py (tests/fast_test.py keeps them in step)


def _expand(path: str) -> str:
    return os.path.expanduser(path)


def keyrack_home() -> str:
    return _expand(os.environ.get("KEYRACK_HOME") or "~/.aws/keyrack")


def config_file() -> str:
    return _expand(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")


def creds_file(profile: str) -> str:
    return keyrack_home() + "/creds/" + profile


def sso_cache_dir() -> str:
    return _expand("~/.aws/sso/cache")


def config_stamp() -> str:
    # ctime too: `cp -p` or `touch -r` can restore the mtime of a same-size edit, never the ctime.
    try:
        st = os.stat(config_file())
    except OSError:
        return "0:0:0:0"
    return "%d:%d:%d:%d" % (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def valid_name(profile: str) -> bool:
    return 0 < len(profile) <= 64 and profile[0] not in "._-" and not set(profile) - _NAME_CHARS


def cached(profile: str) -> bytes | None:
    """The stored JSON line for `profile` if it may be served now, else None."""
    try:
        with open(creds_file(profile), "rb") as f:
            header = f.readline().split()
            payload = f.readline()
    except OSError:
        return None
    if len(header) != 8 or header[0] != b"keyrack-creds" or header[1] != b"2":
        return None
    try:
        expires = int(header[2])
    except ValueError:
        return None
    if expires - time.time() <= MIN_LEFT or header[6].decode("ascii", "replace") != config_stamp():
        return None
    if not payload.startswith(b"{") or not payload.endswith(b"}\n"):
        return None  # a torn write (impossible with os.replace, but cheap to refuse)
    # The session's SSO token must still exist: after `aws sso logout` nothing is served.
    token = header[7].decode("ascii", "replace")
    if "/" in token or token.startswith("."):
        return None
    try:
        os.stat(sso_cache_dir() + "/" + token)
    except OSError:
        return None
    return payload


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    gate, waited = None, 0.0
    if len(argv) == 1 and valid_name(argv[0]):
        payload = cached(argv[0])
        if payload is None and not os.environ.get(SIGNING_IN_ENV):
            started = time.monotonic()
            answer = _through_gate(argv[0])
            waited = time.monotonic() - started
            if isinstance(answer, int):
                gate = answer
            elif isinstance(answer, tuple):
                return _fail(*answer)
            else:
                payload = answer
        if payload is not None:
            try:
                os.write(1, payload)  # one write: the payload is far below PIPE_BUF
            except OSError:
                return 1  # the SDK went away; nobody is left to tell
            return 0
    return _slow(argv, gate, waited)


# -- the herd gate: one slow path per profile at a time -----------------------
#
# Fifty SDK processes that miss together must not each pay for the slow path:
# importing filelock alone costs ~70 ms of CPU (six times a whole hit), and
# fifty of those on two cores add seconds to one sign-in. So the first caller
# to miss takes the profile's gate (a kernel flock on a file of its own, held
# until that process exits and released by the kernel even on kill -9) and
# goes the slow path; the others wait here with builtins only, then serve its
# answer from the cache, or repeat the one-line failure it recorded in the gate.
# The gate guards no data and decides nothing about correctness: every
# sign-in, refresh and fetch is still serialised by the sso-session's filelock
# (lock.py). A caller that cannot open the gate, or waits GATE_WAIT in vain,
# just goes the slow path.

GATE_WAIT = 15.0  # seconds; credential_process.HERD_WAIT, which the slow path's own wait shares
_GATE_POLL = 0.025
SIGNING_IN_ENV = "KEYRACK_SIGNING_IN"  # lock.SIGNING_IN_ENV: our own sign-in's children never wait on us
_FAILED = b"failed"


def gate_file(profile: str) -> str:
    return keyrack_home() + "/locks/gates/" + profile


def _open_gate(profile: str) -> int | None:
    path = gate_file(profile)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    home = keyrack_home()
    for folder in (home, home + "/locks", home + "/locks/gates"):  # private, like all of keyrack's
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None


def _through_gate(profile: str) -> bytes | int | tuple[int, bytes] | None:
    """Wait for a concurrent caller's answer, or become the caller that fetches it.

    Returns the cached answer (bytes), a failure to repeat (exit code, line),
    the held gate (an fd the slow path keeps), or None: go the slow path ungated.
    """
    import fcntl  # an extension module of the standard library: no site needed

    fd = _open_gate(profile)
    if fd is None:
        return None
    since = time.time_ns()
    started = time.monotonic()
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        except OSError:
            os.close(fd)
            return None
        else:
            # Ours now; the caller before us may have answered or failed meanwhile.
            answer = cached(profile) or _failure_since(fd, since)
            if answer is not None:
                os.close(fd)
                return answer
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, b"%d\n" % os.getpid(), 0)
            except OSError:
                pass  # the pid is only for the waiting message
            return fd
        answer = cached(profile)
        if answer is not None:
            os.close(fd)
            return answer
        waited = time.monotonic() - started
        if waited >= GATE_WAIT:
            os.close(fd)
            return None
        if not told and waited >= 1.0:
            told = True
            _tell_waiting(profile, fd)
        time.sleep(_GATE_POLL)


def _failure_since(fd: int, since: int) -> tuple[int, bytes] | None:
    """The failure the last holder recorded, if it ended after we started waiting."""
    try:
        head, _, line = os.pread(fd, 4096, 0).partition(b"\n")
    except OSError:
        return None
    fields = head.split()
    if len(fields) != 3 or fields[0] != _FAILED or not line.endswith(b"\n") or line.count(b"\n") != 1:
        return None
    try:
        code, ended = int(fields[1]), int(fields[2])
    except ValueError:
        return None
    return (code, line) if ended >= since and code in (1, 2) else None


def gate_failed(fd: int, code: int, line: str) -> None:
    """Record the slow path's failure for the callers waiting at the gate (one line, never a secret)."""
    message = line.strip().replace("\n", " ").replace("\r", " ").encode("utf-8", "replace")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%s %d %d\n%s\n" % (_FAILED, code, time.time_ns(), message), 0)
    except OSError:
        pass  # the waiters then try for themselves


def _tell_waiting(profile: str, fd: int) -> None:
    try:
        pid = int(os.pread(fd, 32, 0).split(b"\n")[0])
    except (OSError, ValueError):
        pid = 0
    _package()
    from keyrack_sh import tty

    by = f" (pid {pid})" if pid else ""
    tty.say(f"waiting for another keyrack{by} to fetch the credentials of profile {profile!r}...")


def _fail(code: int, line: bytes) -> int:
    try:
        os.write(2, line)
    except OSError:
        pass
    return code


def _package() -> None:
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if parent not in sys.path:
        sys.path.insert(0, parent)


def _slow(argv: list[str], gate: int | None = None, waited: float = 0.0) -> int:
    # credential_process imports only builtins before it has set stdout aside;
    # then it enables site (whose .pth files could print) and the rest.
    _package()
    from keyrack_sh import credential_process

    try:
        return credential_process.main(argv, gate=gate, waited=waited)
    finally:
        if gate is not None:
            os.close(gate)  # the answer is cached or the failure recorded: let the waiters in


if __name__ == "__main__":
    raise SystemExit(main())
