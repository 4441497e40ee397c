"""keyrack's caches: SSO tokens, client registrations, role credentials.

- Tokens: the AWS CLI v2 / botocore file (`paths.token_file`), same fields, so
  `aws sso login` and keyrack share one session both ways. Other tools may
  leave a half-written file: anything unreadable counts as absent.
- Client registrations: `clients/<session>.json` (keyrack's own client name).
- Role credentials: `creds/<profile>`, the two-line format the hot path
  (fast.py) reads without json (docs/ARCHITECTURE.md).
All writes are atomic, 0600 files in 0700 folders.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from keyrack_sh import atomic, hotpath, paths, safe_io

_PAYLOAD_KEYS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
CREDS_MAGIC = hotpath.CREDS_MAGIC
CREDS_VERSION = hotpath.CREDS_VERSION


def private_parents(path: Path) -> None:
    """Make every folder from keyrack's home down to `path`'s folder 0700 (safe_io judges each)."""
    atomic.ensure_private_dir(path.parent)


# -- time -------------------------------------------------------------------


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an ISO-8601 time (naive = UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("UTC", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso_z(epoch: float) -> str:
    """The format the AWS CLI v2 and SDKs write: 2026-11-27T12:00:00Z."""
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- SSO tokens (AWS CLI v2 format) -------------------------------------------


# The AWS CLI v2 rewrites the token file in place (truncate, then write): for a moment a reader
# sees it empty or cut short. Look again a few times, a few ms in all, then call it absent.
HALF_WRITTEN_LOOKS = 5
HALF_WRITTEN_PAUSE = 0.002  # s between looks


def read_token(session: str, *, pause: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """The session's token, or None when missing, corrupt, or lacking accessToken/expiresAt.

    A file that is not (yet) whole JSON is read again, at most HALF_WRITTEN_LOOKS more times
    with `pause(HALF_WRITTEN_PAUSE)` between (the seam tests use), then counts as absent.
    """
    path = paths.token_file(session)
    for look in range(HALF_WRITTEN_LOOKS + 1):
        data = safe_io.read(path)  # a regular file of ours, not a link, a FIFO or a huge file
        if data is None:
            return None  # missing or unsafe: nothing to wait for
        try:
            token = json.loads(data.decode("utf-8"))
            break
        except (ValueError, UnicodeDecodeError, RecursionError):
            if look == HALF_WRITTEN_LOOKS:
                return None
            pause(HALF_WRITTEN_PAUSE)
    if not isinstance(token, dict):
        return None
    if not usable_access_token(token.get("accessToken")) or parse_time(token.get("expiresAt")) is None:
        return None
    return token


def usable_access_token(value: Any) -> bool:
    """A string keyrack can send as a bearer token: printable ASCII, no space, of a sane length.

    A token file whose accessToken is anything else (a newline, 100 kB, not a string) is no
    session at all: locked, so `keyrack unlock` signs in again and replaces it.
    """
    return (isinstance(value, str) and 0 < len(value) <= 16384 and value.isascii() and value.isprintable()
            and " " not in value)


def token_expiry(token: dict[str, Any]) -> float:
    return parse_time(token.get("expiresAt")) or 0.0


def registration_expiry(token: dict[str, Any]) -> float | None:
    return parse_time(token.get("registrationExpiresAt"))


def token_might_work(token: dict[str, Any] | None) -> bool:
    """True if the token is unexpired or carries a refresh token with a live registration."""
    if token is None:
        return False
    now = time.time()
    if token_expiry(token) > now:
        return True
    if not token.get("refreshToken") or not token.get("clientId") or not token.get("clientSecret"):
        return False
    reg = registration_expiry(token)
    return reg is None or reg > now


def write_token(session: str, token: dict[str, Any]) -> None:
    # ~/.aws/sso and ~/.aws/sso/cache hold only tokens: both private (as the AWS CLI v2 makes them).
    atomic.ensure_private_dir(paths.sso_cache_dir())
    atomic.write_json(paths.token_file(session), token)


def remove_token(session: str) -> bool:
    return atomic.remove(paths.token_file(session))


def make_token(*, start_url: str, region: str, access_token: str, expires_in: float,
               refresh_token: str | None, client: dict[str, Any]) -> dict[str, Any]:
    """A token record exactly as the AWS CLI v2 writes it."""
    token: dict[str, Any] = {
        "startUrl": start_url,
        "region": region,
        "accessToken": access_token,
        "expiresAt": iso_z(time.time() + expires_in),
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "registrationExpiresAt": iso_z(client["expiresAt"]),
    }
    if refresh_token:
        token["refreshToken"] = refresh_token
    return token



def token_from_answer(answer: dict[str, Any], *, asked_at: float, start_url: str, region: str,
                      client: dict[str, Any], refresh_token: str | None = None) -> dict[str, Any]:
    """The token record for a CreateToken answer to a request sent at `asked_at`.

    `expiresIn` counts from the answer; counting from the request keeps the
    recorded expiry on the safe side. `refresh_token` is kept when the answer
    brings no new one (a refresh that does not rotate).
    """
    return make_token(start_url=start_url, region=region, access_token=answer["accessToken"],
                      expires_in=float(answer.get("expiresIn") or 3600) - (time.time() - asked_at),
                      refresh_token=answer.get("refreshToken") or refresh_token, client=client)

# -- client registrations -------------------------------------------------------


def read_client(session: str) -> dict[str, Any] | None:
    client = atomic.read_json(paths.client_file(session))
    if client is None:
        return None
    if not all(isinstance(client.get(k), str) for k in ("clientId", "clientSecret")):
        return None
    if not isinstance(client.get("expiresAt"), (int, float)):
        return None
    return client


def write_client(session: str, client: dict[str, Any]) -> None:
    private_parents(paths.client_file(session))
    atomic.write_json(paths.client_file(session), client)


def remove_client(session: str) -> bool:
    return atomic.remove(paths.client_file(session))


# -- role credentials (the hot path's answer) ---------------------------------


def role_creds_from_portal(role_credentials: dict[str, Any], account_id: str) -> dict[str, Any]:
    """credential_process JSON from a GetRoleCredentials `roleCredentials` (expiration in ms).

    `AccountId` is what SDKs read for account-ID-based endpoints (account_id_endpoint_mode).
    """
    return {
        "Version": 1,
        "AccessKeyId": role_credentials["accessKeyId"],
        "SecretAccessKey": role_credentials["secretAccessKey"],
        "SessionToken": role_credentials["sessionToken"],
        "Expiration": iso_z(role_credentials["expiration"] / 1000),
        "AccountId": account_id,
    }


@dataclass(frozen=True)
class SignIn:
    """Which sign-in a token file holds, as role credentials fetched with it are bound to.

    `stamp`: the token file's version (hotpath.file_stamp), what the hit compares with one stat;
    "-" when the file changed while it was read (then only `lineage` can vouch). `lineage`: short
    sha256 digests of the access token and the refresh token: a refresh of the same sign-in by
    any tool that keeps the refresh token (or the same access token rewritten) is still the same
    sign-in; a new sign-in brings both anew.
    """

    stamp: str
    lineage: str

    def same(self, stamp: str, lineage: str) -> bool:
        """True if credentials stored with (stamp, lineage) belong to this sign-in."""
        if self.stamp != "-" and stamp == self.stamp:
            return True
        mine, theirs = self.lineage.split("."), lineage.split(".")
        if len(mine) != 2 or len(theirs) != 2:
            return False
        return mine[0] == theirs[0] or (mine[1] != "-" and mine[1] == theirs[1])


def _digest(secret: Any) -> str:
    if not isinstance(secret, str) or not secret:
        return "-"
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def lineage(token: dict[str, Any]) -> str:
    return f"{_digest(token.get('accessToken'))}.{_digest(token.get('refreshToken'))}"


def _token_stamp(session: str) -> str | None:
    return hotpath.file_stamp(str(paths.token_file(session)))


def sign_in_of(session: str, token: dict[str, Any]) -> SignIn:
    """The sign-in `token` (just used, or just written) belongs to, with the file's stamp if the file holds it."""
    before = _token_stamp(session)
    current = read_token(session)
    after = _token_stamp(session)
    same_file = before is not None and before == after and current is not None
    holds = same_file and current is not None and current.get("accessToken") == token.get("accessToken")
    return SignIn(stamp=before if holds and before else "-", lineage=lineage(token))


def current_sign_in(session: str) -> tuple[SignIn, dict[str, Any]] | None:
    """The sign-in the session's token file holds now, with the token; None without a readable one."""
    for _ in range(3):  # another tool may be rewriting it: look again, briefly
        before = _token_stamp(session)
        token = read_token(session)
        if token is None or before is None:
            return None
        if _token_stamp(session) == before:
            return SignIn(stamp=before, lineage=lineage(token)), token
    return None


def write_role_creds(profile: str, session: str, account: str, role: str, creds: dict[str, Any],
                     stamp: str, sign_in: SignIn) -> None:
    """Store `creds` as the profile's hot-path answer, bound to the config version and the sign-in."""
    expires = int(parse_time(creds["Expiration"]) or 0)
    private_parents(paths.creds_file(profile))
    header = " ".join([CREDS_MAGIC, CREDS_VERSION, str(expires),
                       *creds_identity(profile, session, account, role, stamp, sign_in)])
    atomic.write_text(paths.creds_file(profile), header + "\n" + json.dumps(creds, separators=(", ", ": ")) + "\n")


def read_role_creds(path: Path) -> tuple[list[str], dict[str, Any]] | None:
    """(header fields after magic+version, payload) of a creds file, or None if unusable.

    The fields: expires, session, account, role, config stamp, token file name, sign-in
    stamp, sign-in lineage, profile.
    """
    data = safe_io.read(path, hotpath.CREDS_LIMIT)  # ours, regular, small: as the hit reads it
    if data is None:
        return None
    head, _, body = data.partition(b"\n")
    try:
        header = head.decode("utf-8").split()
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if (len(header) != hotpath.CREDS_FIELDS or header[0] != CREDS_MAGIC or header[1] != CREDS_VERSION
            or not isinstance(payload, dict)):
        return None
    # Only a complete answer whose own Expiration is the header's: anything else is never served.
    if not all(isinstance(payload.get(k), str) and payload[k] for k in _PAYLOAD_KEYS):
        return None
    if not header[2].isdigit() or parse_time(payload["Expiration"]) != int(header[2]):
        return None
    return header[2:], payload


def find_role_creds(session: str, account: str, role: str,
                    min_left: float) -> tuple[dict[str, Any], SignIn] | None:
    """Cached credentials of any profile with this (session, account, role), `min_left` s to go,
    fetched by the sign-in the session's token file holds now; with that sign-in.

    None while the token file is missing or unreadable (`aws sso logout`, a relock, a file being
    rewritten): credentials of a signed-out session, or of another sign-in (another user), are
    never handed out again.
    """
    current = current_sign_in(session)
    if current is None:
        return None
    sign_in = current[0]
    now = time.time()
    best: tuple[int, dict[str, Any]] | None = None
    for path in _creds_files():
        entry = read_role_creds(path)
        if entry is None:
            continue
        (expires, sess, acct, rl, _stamp, _token, signin_stamp, signin_lineage, _profile), payload = entry
        if (sess, acct, rl) != (session, account, role) or not expires.isdigit():
            continue
        if not sign_in.same(signin_stamp, signin_lineage):
            continue
        if int(expires) - now > min_left and (best is None or int(expires) > best[0]):
            best = (int(expires), payload)
    return (best[1], sign_in) if best else None


def creds_identity(profile: str, session: str, account: str, role: str, stamp: str, sign_in: SignIn) -> list[str]:
    """The header fields after `expires` that make a creds file the profile's current answer."""
    return [session, account, role, stamp, paths.token_file(session).name, sign_in.stamp, sign_in.lineage, profile]


def own_role_creds(profile: str, session: str, account: str, role: str, stamp: str,
                   min_left: float) -> dict[str, Any] | None:
    """The profile's own creds file, if it is exactly what the hot path would serve now.

    Same session, account, role, config stamp and token file, `min_left` s to
    go, and the session's token file still the very version the credentials
    came with. Reads only, writes nothing.
    """
    token_stamp = _token_stamp(session)
    if token_stamp is None:
        return None
    entry = read_role_creds(paths.creds_file(profile))
    if entry is None:
        return None
    (expires, *identity), payload = entry
    if identity[:5] != [session, account, role, stamp, paths.token_file(session).name] or not expires.isdigit():
        return None
    if identity[5] != token_stamp or identity[7] != profile:
        return None
    return payload if int(expires) - time.time() > min_left else None


def rebind_role_creds(session: str, old: dict[str, Any], new: SignIn) -> None:
    """After keyrack refreshed `old` into the sign-in `new` (same sign-in, new token file):
    the session's credentials fetched with `old` stay served (a refresh needs no new fetch)."""
    before = lineage(old)
    for path in _creds_files():
        entry = read_role_creds(path)
        if entry is None:
            continue
        fields, payload = entry
        if fields[1] != session or fields[7] != before:
            continue
        header = " ".join([CREDS_MAGIC, CREDS_VERSION, *fields[:6], new.stamp, new.lineage, fields[8]])
        atomic.write_text(path, header + "\n" + json.dumps(payload, separators=(", ", ": ")) + "\n")


def remove_role_creds_of_session(session: str) -> list[Path]:
    """Delete the session's creds files, and the temp files half-written ones left (kill -9)."""
    removed = []
    stale = _stale_temps()
    for path in _creds_files() + _creds_temps():
        header = _header(path)
        # Attributed by the header alone: a file of this session goes even if its answer is damaged.
        # A file that can't be attributed is left (it can't be served either), unless a stale temp.
        ours = header is not None and header[3] == session
        if (ours or (path in stale)) and atomic.remove(path):
            removed.append(path)
    return removed


def roles_of_session(session: str) -> set[tuple[str, str]]:
    """(account, role) of every creds file of `session`, as their headers name them."""
    roles = set()
    for path in _creds_files():
        header = _header(path)
        if header is not None and header[3] == session:
            roles.add((header[4], header[5]))
    return roles


def remove_role_creds(profile: str) -> bool:
    for temp in _creds_temps():
        header = _header(temp)
        if temp.name.startswith(f".{profile}.") and (header is None or header[8] == profile):
            atomic.remove(temp)
    return atomic.remove(paths.creds_file(profile))


def _header(path: Path) -> list[str] | None:
    data = safe_io.read(path, hotpath.CREDS_LIMIT)
    if data is None:
        return None
    header = data.partition(b"\n")[0].decode("utf-8", "replace").split()
    # Format 3 (9 fields) and 4 (11): both name the session fourth, so old files go with it too.
    return header if len(header) in (9, hotpath.CREDS_FIELDS) and header[0] == CREDS_MAGIC else None


def _creds_temps() -> list[Path]:
    try:
        names = os.listdir(paths.creds_dir())
    except OSError:
        return []
    return [paths.creds_dir() / n for n in sorted(names) if n.startswith(".") and n.endswith((".tmp", ".tmp.link"))]


def _stale_temps() -> set[Path]:
    now = time.time()
    stale = set()
    for path in _creds_temps():
        try:
            if now - path.lstat().st_mtime >= atomic.STALE_TEMP_AGE:
                stale.add(path)
        except OSError:
            pass
    return stale


def _creds_files() -> list[Path]:
    try:
        names = os.listdir(paths.creds_dir())
    except OSError:
        return []
    return [paths.creds_dir() / n for n in sorted(names) if not n.startswith(".")]
