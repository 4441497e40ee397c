"""What the credential_process stages share: the creds file format, margins, names.

The lowest room of the hot path. The hit (fast.py), the herd gate (gate.py),
the slow path (credential_process.py) and the engine all import it; it imports
no keyrack module and nothing of the standard library but `os` and `time`
(both builtin: the hit runs with no site and must not pay for json or re).
The stages call only forward (fast -> gate -> credential_process -> engine);
what a later stage needs of an earlier one lives here instead.

The creds file (docs/ARCHITECTURE.md) is two lines: a space-separated header
that can be checked with bytes.split, and the JSON answer, printed verbatim.
"""
from __future__ import annotations

import os
import time

MIN_LEFT = 20 * 60  # hand out nothing botocore would ask for again soon
SIGNING_IN_ENV = "KEYRACK_SIGNING_IN"  # set while we sign in: our own children never wait on us
CREDS_MAGIC = "keyrack-creds"
CREDS_VERSION = "3"
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


# -- the hit's check ----------------------------------------------------------


def cached(profile: str) -> bytes | None:
    """The stored JSON line for `profile` if it may be served now, else None."""
    try:
        with open(creds_file(profile), "rb") as f:
            header = f.readline().split()
            payload = f.readline()
    except OSError:
        return None
    if len(header) != 9 or header[0] != b"keyrack-creds" or header[1] != b"3":
        return None
    try:
        expires = int(header[2])
    except ValueError:
        return None
    if expires - time.time() <= MIN_LEFT or header[6].decode("ascii", "replace") != config_stamp():
        return None
    # The file's own profile: on a case-insensitive file system `Prod` and `prod` share one file.
    if header[8].decode("ascii", "replace") != profile:
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


def answer(payload: bytes) -> int:
    """Print the answer to the SDK: 0, or 1 when it went away."""
    try:
        os.write(1, payload)  # one write: the payload is far below PIPE_BUF
    except OSError:
        return 1  # the SDK went away; nobody is left to tell
    return 0
