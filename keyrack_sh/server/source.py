"""Credentials for the server: the engine's answer, in the container protocol's shape.

Freshness: an answer has at least `margin` seconds left, else it is renewed
through the engine. The margin is min(15 min, lifetime / 3), the lifetime
being what the role's credentials last lasted when this server renewed them:
with IAM Identity Center's usual hour that is 15 minutes (SDKs ask again
with under 15 minutes left, so they never see less); with the sandbox's
short-lived credentials a renewal test stays short.

A relock ends serving for the session: once this server has seen the
session's token file, its disappearance (`keyrack relock`, `aws sso logout`)
is final, and every later request is refused with a message, never answered
with credentials or with a fresh sign-in.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from keyrack_sh import cache, engine, hotpath, paths, profiles, validate
from keyrack_sh.errors import UserError
from keyrack_sh.profiles import Profile, SsoSession

USUAL_MARGIN = 15 * 60


class Relocked(UserError):
    """The session was relocked after this server served it."""


class CredentialSource:
    """The profiles one server serves, resolved through the engine."""

    def __init__(self, names: list[str]) -> None:
        for name in names:
            validate.profile_name(name)
        self.names = list(dict.fromkeys(names))
        self._guard = threading.Lock()
        self._stamp = ""
        self._resolved: dict[str, tuple[Profile, SsoSession]] = {}
        self._session_locks: dict[str, threading.Lock] = {}
        self._seen_token: set[str] = set()
        self._ended: set[str] = set()
        self._lifetime: dict[str, float] = {}
        self._expiration: dict[str, str] = {}
        self._memo: dict[str, tuple[tuple[int, int, int], str, float, dict[str, Any]]] = {}
        self._resolve_all(paths.config_stamp())

    def _resolve_all(self, stamp: str) -> None:
        config = profiles.load()
        resolved = {}
        for name in self.names:
            profile = config.profile(name)
            resolved[name] = (profile, config.session(profile.session))
        self._resolved, self._stamp = resolved, stamp

    def _profile(self, name: str) -> tuple[Profile, SsoSession, str]:
        stamp = paths.config_stamp()
        with self._guard:
            if stamp != self._stamp:
                self._resolve_all(stamp)  # the config changed: never another role's credentials
            profile, session = self._resolved[name]
            return profile, session, stamp

    def margin(self, name: str) -> float:
        lifetime = self._lifetime.get(name)
        return USUAL_MARGIN if lifetime is None else min(USUAL_MARGIN, lifetime / 3)

    def profile(self, name: str) -> Profile:
        return self._resolved[name][0]

    def sessions(self) -> set[str]:
        return {session.name for _profile, session in self._resolved.values()}

    def relocked(self) -> set[str]:
        """The sessions whose serving has ended (looks at the token files now)."""
        with self._guard:
            for session in self._seen_token - self._ended:
                if not paths.token_file(session).exists():
                    self._ended.add(session)
            return set(self._ended)

    def answer(self, name: str) -> dict[str, Any]:
        """The container credentials JSON for profile `name` (KeyError: not served here)."""
        profile, session, stamp = self._profile(name)
        self._check_not_relocked(session.name, name)
        margin = self.margin(name)
        creds = self._memo_hit(name, session.name, stamp, margin)
        if creds is not None:
            return creds
        creds = cache.own_role_creds(name, session.name, profile.account_id, profile.role_name, stamp, margin)
        renewed = creds is None
        if creds is None:
            # One thread per session in the engine: a sign-in marks this process as signing in,
            # and a second thread would take that for its own child asking.
            with self._session_lock(session.name):
                self._check_not_relocked(session.name, name)
                creds = engine.credentials(profile, session, policy=engine.policy_for(profile),
                                           stamp=stamp, min_left=margin)
        if paths.token_file(session.name).exists():
            with self._guard:
                self._seen_token.add(session.name)
        self._learn_lifetime(name, creds, renewed)
        answer = {
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"],
            "Expiration": creds["Expiration"],
            "AccountId": profile.account_id,
        }
        expires = cache.parse_time(creds["Expiration"])
        key = self._creds_key(name, session.name)
        if expires is not None and key is not None:
            with self._guard:
                self._memo[name] = (key, stamp, expires, answer)
        return answer

    def _creds_key(self, name: str, session: str) -> tuple[str | None, str] | None:
        """The versions of the profile's creds file and of its session's token file: the memo
        stands for both (another tool's sign-in replaces the token and ends what came with it)."""
        creds = hotpath.file_stamp(str(paths.creds_file(name)))
        token = hotpath.file_stamp(str(paths.token_file(session)))
        return None if creds is None else (token, creds)

    def _memo_hit(self, name: str, session: str, stamp: str, margin: float) -> dict[str, Any] | None:
        """The last answer, while the profile's creds file, its session's token file and the
        config are the ones it came from.

        What the engine would say again, without reading and parsing the file: any change to
        the files (a renewal, a relock's removal, another tool's sign-in) or the config misses.
        """
        memo = self._memo.get(name)
        if memo is None:
            return None
        key, memo_stamp, expires, answer = memo
        if memo_stamp != stamp or expires - time.time() <= margin or self._creds_key(name, session) != key:
            return None
        return answer

    def _session_lock(self, session: str) -> threading.Lock:
        with self._guard:
            return self._session_locks.setdefault(session, threading.Lock())

    def _check_not_relocked(self, session: str, name: str) -> None:
        if session in self.relocked():
            raise Relocked(f"profile {name!r}: sso-session {session!r} was relocked; this server no longer "
                           "serves it", hint=f"keyrack unlock {name}, then start the command again")

    def _learn_lifetime(self, name: str, creds: dict[str, Any], renewed: bool) -> None:
        expiration = creds["Expiration"]
        if not renewed or self._expiration.get(name) == expiration:
            return
        expires = cache.parse_time(expiration)
        if expires is not None:
            self._lifetime[name] = max(expires - time.time(), 0.0)
        self._expiration[name] = expiration
