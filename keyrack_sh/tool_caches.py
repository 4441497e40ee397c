"""The role credentials other tools cached for an sso-session: which files, and ending them.

The AWS CLI (`~/.aws/cli/cache`) and tools that hand botocore's SSO provider a
`JSONFileCache` (`~/.aws/boto/cache`) keep the role credentials of a native SSO
profile in `<key>.json`, and serve them without looking at the token again. So
after a sign-out they go on working until they expire, unless they go too.

The key is botocore's `SSOCredentialFetcher._create_cache_key`: sha1 of the
compact, key-sorted JSON of `{"accountId", "roleName", "sessionName"}` for a
profile with `sso_session` (`startUrl` instead of `sessionName` for a legacy
profile). The contents are `{"ProviderType": "sso", "Credentials": {...}}` and
name neither the session nor the role, so a file is attributed by its name alone:
it belongs to sso-session S exactly when its name is the key of (account, role,
S) for some account and role. Those come from the config (every profile on S,
native or keyrack's) and from keyrack's own creds files of S. A file no such key
names, a legacy profile's (keyed by start URL: its own sign-in, its own token
file), another session's, and anything that is not an SSO entry stay untouched.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from keyrack_sh import atomic, paths, safe_io

ROLE_KEYS = (("sso_account_id", "sso_role_name"), ("keyrack_account_id", "keyrack_role_name"))
SESSION_KEYS = ("sso_session", "keyrack_sso_session")


def cache_key(account_id: str, role_name: str, session: str) -> str:
    """botocore's file name (without `.json`) for the SSO role credentials of a `sso_session` profile."""
    args = json.dumps({"accountId": account_id, "roleName": role_name, "sessionName": session},
                      sort_keys=True, separators=(",", ":"))
    # _make_file_safe replaces ':' and '/' in the name; a hex digest has neither.
    return hashlib.sha1(args.encode("utf-8")).hexdigest()


def roles_in_config(session: str) -> set[tuple[str, str]]:
    """(account, role) of every profile on `session` in the config, native or keyrack's.

    Read with configparser alone (no validation): a broken profile elsewhere must not
    keep a relock from ending this session's caches. An unreadable config gives none.
    """
    import configparser

    from keyrack_sh.profiles import read_config_bytes

    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    try:
        data = read_config_bytes(paths.config_file())
        if data is not None:
            parser.read_string(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 (a config that cannot be read names no roles)
        return set()
    pairs = set()
    for section in parser.sections():
        values = dict(parser.items(section))
        if not any(values.get(key) == session for key in SESSION_KEYS):
            continue
        for account_key, role_key in ROLE_KEYS:
            if values.get(account_key) and values.get(role_key):
                pairs.add((values[account_key], values[role_key]))
    return pairs


def remove_session_entries(session: str, roles: Iterable[tuple[str, str]]) -> list[Path]:
    """Delete the AWS CLI's and botocore's cached SSO role credentials of (`session`, each role)."""
    removed = []
    names = sorted({cache_key(account, role, session) + ".json" for account, role in roles})
    for folder in (paths.cli_creds_cache_dir(), paths.boto_creds_cache_dir()):
        for name in names:
            path = folder / name
            if _is_sso_entry(path) and atomic.remove(path):
                removed.append(path)
    return removed


def _is_sso_entry(path: Path) -> bool:
    """True for a regular file of ours holding an SSO entry, or a half-written one (the CLI writes
    in place: truncate, then write), whose name already proves what it is; False for anything else."""
    data = safe_io.read(path)
    if data is None:
        return False  # missing, a link, not ours, not a regular file: never ours to delete
    try:
        entry = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return True
    return isinstance(entry, dict) and entry.get("ProviderType") == "sso"
