"""What the credential_process stages share: the creds file format, margins, names.

The lowest room of the hot path. The hit (fast.py), the herd gate (gate.py),
the slow path (credential_process.py) and the engine all import it; it imports
no keyrack module but safe_io (the one safe read) and nothing of the standard
library but `os` and `time` (both builtin: the hit runs with no site and must
not pay for json or re).
The stages call only forward (fast -> gate -> credential_process -> engine);
what a later stage needs of an earlier one lives here instead.

The creds file (docs/ARCHITECTURE.md) is two lines: a space-separated header
that can be checked with bytes.split, and the JSON answer, printed verbatim.
"""
from __future__ import annotations

import os
import time

from keyrack_sh import safe_io

MIN_LEFT = 20 * 60  # hand out nothing botocore would ask for again soon
SIGNING_IN_ENV = "KEYRACK_SIGNING_IN"  # set while we sign in: our own children never wait on us
CREDS_MAGIC = "keyrack-creds"
CREDS_VERSION = "4"
CREDS_FIELDS = 11
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


def file_stamp(path: str) -> str | None:
    """Identity of a file's current version (inode:size:mtime_ns:ctime_ns), or None when absent.

    ctime too: `cp -p` or `touch -r` can restore the mtime of a same-size edit, never the ctime;
    and every write changes one of them, whether by os.replace (a new inode) or in place.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return "%d:%d:%d:%d" % (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def config_stamp() -> str:
    return file_stamp(config_file()) or "0:0:0:0"


def valid_name(profile: str) -> bool:
    return 0 < len(profile) <= 64 and profile[0] not in "._-" and not set(profile) - _NAME_CHARS


# -- the hit's check ----------------------------------------------------------


def cached(profile: str) -> bytes | None:
    """The stored JSON line for `profile` if it may be served now, else None."""
    # A regular file of ours only, never a link, a FIFO (which would hang the SDK) or a huge file.
    path = creds_file(profile)
    if path[:1] != "/":
        return None  # a relative KEYRACK_HOME: the slow path refuses it, naming it
    data = safe_io.read(path, CREDS_LIMIT)
    if data is None:
        return None
    header_line, _, payload = data.partition(b"\n")
    header = header_line.split()
    if len(header) != CREDS_FIELDS or header[0] != b"keyrack-creds" or header[1] != b"4":
        return None
    try:
        expires = int(header[2])
    except ValueError:
        return None
    if expires - time.time() <= MIN_LEFT or header[6].decode("ascii", "replace") != config_stamp():
        return None
    # The file's own profile: on a case-insensitive file system `Prod` and `prod` share one file.
    if header[10].decode("ascii", "replace") != profile:
        return None
    if not well_formed(payload, expires):
        return None  # torn, hand-edited or not keyrack's: a miss, and the slow path rewrites it
    # Only for the sign-in that fetched it: the session's token file must be the very version the
    # credentials came with. A sign-out (`aws sso logout`, a relock) removes it; a new sign-in, a
    # refresh by another tool or any other rewrite changes its stamp (then the slow path decides).
    token = header[7].decode("ascii", "replace")
    if "/" in token or token.startswith("."):
        return None
    if file_stamp(sso_cache_dir() + "/" + token) != header[8].decode("ascii", "replace"):
        return None
    return payload


CREDS_LIMIT = 64 << 10  # a creds file is about 1.5 kB
_REQUIRED = frozenset((b"Version", b"AccessKeyId", b"SecretAccessKey", b"SessionToken", b"Expiration"))


def iso_z(epoch: int) -> str:
    """cache.iso_z without datetime: 2026-11-27T12:00:00Z."""
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % time.gmtime(epoch)[:6]


def well_formed(payload: bytes, expires: int) -> bool:
    """True if `payload` is one line of a flat JSON object as keyrack writes it (json.dumps with
    separators ", " and ": "; string values without escapes, integer values), with the keys a
    credential_process answer needs, Version 1, and its own Expiration the header's `expires`.

    A check of the exact shape keyrack writes, without json (10 ms of imports on every hit):
    anything else (not JSON, a key missing, an old or foreign Expiration) is a miss.
    """
    if not payload.endswith(b"}\n") or b"\\" in payload or payload.count(b"\n") != 1:
        return False
    parts = payload.split(b'"')
    if len(parts) < 5 or not len(parts) % 2 or parts[0] != b"{":
        return False
    fields = {}
    key = None
    for i in range(1, len(parts), 2):
        text, after = parts[i], parts[i + 1]
        last = i + 2 == len(parts)
        if key is None:  # a key: a string value follows, or an integer one
            if after == b": " and not last:
                key = text
                continue
            number, sep = after[2:-2], after[-2:]
            if not after.startswith(b": ") or not number.isdigit() or sep != (b"}\n" if last else b", "):
                return False
            fields[text] = number
        else:  # a string value
            if after != (b"}\n" if last else b", ") or not text:
                return False
            fields[key] = text
            key = None
    if key is not None or not _REQUIRED <= fields.keys() or fields[b"Version"] != b"1":
        return False
    return fields[b"Expiration"] == iso_z(expires).encode("ascii")


def stderr_line(line: bytes) -> None:
    try:
        os.write(2, line)
    except OSError:
        pass  # no stderr either: the exit code still tells


def answer(payload: bytes) -> int:
    """Print the answer to the SDK: 0, or 1 when it went away."""
    try:
        os.write(1, payload)  # one write: the payload is far below PIPE_BUF
    except OSError:
        return 1  # the SDK went away; nobody is left to tell
    return 0
