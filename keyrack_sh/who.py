"""Who signed in to each sso-session: `users/<session>.json`, secretless.

IAM Identity Center names the role session after the user who signed in, so the ARN STS gives
for role credentials, `arn:aws:sts::<account>:assumed-role/<role>/<user>`, says who holds the
session. The record is bound to the sign-in it was learned from (`cache.SignIn` lineage: digests
of the access and refresh tokens, never the tokens), so it is shown only for that sign-in, and a
later sign-in is checked again. A username is not a secret; it still stays out of prompt state
and shell variables, and the file is 0600 like everything keyrack writes.
"""
from __future__ import annotations

import re
import time
from typing import Any

from keyrack_sh import atomic, paths
from keyrack_sh.cache import SignIn, private_parents

# A role session name as IAM allows it (2-64 of these); anything else is not taken for a user.
_USER = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def user_from_arn(arn: str) -> str | None:
    """The role session name of an assumed-role ARN (the IAM Identity Center user), or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("assumed-role/"):
        return None
    name = parts[5].split("/")[-1]
    return name if _USER.fullmatch(name) and parts[5].count("/") == 2 else None


def read(session: str) -> dict[str, Any] | None:
    record = atomic.read_json(paths.user_file(session))
    if record is None or not isinstance(record.get("user"), str) or not isinstance(record.get("lineage"), str):
        return None
    return record if _USER.fullmatch(record["user"]) else None


def user_of(session: str, sign_in: SignIn | None) -> str | None:
    """Who signed in to `session`, if keyrack learned it for the sign-in `sign_in` (else None)."""
    record = read(session)
    if record is None or sign_in is None or not sign_in.same("-", record["lineage"]):
        return None
    return str(record["user"])


def record(session: str, user: str, lineage: str) -> None:
    path = paths.user_file(session)
    private_parents(path)
    atomic.write_json(path, {"session": session, "user": user, "lineage": lineage, "at": int(time.time())})


def follow(session: str, old_lineage: str, new_lineage: str) -> None:
    """keyrack refreshed the sign-in `old_lineage` into `new_lineage` (rotated tokens): same user."""
    current = read(session)
    if current is not None and current["lineage"] == old_lineage:
        record(session, current["user"], new_lineage)
