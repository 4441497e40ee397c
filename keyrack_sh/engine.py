"""The engine API: unlock, relock, session state and credentials.

Everything above this module (commands, the vault, the roundtrip, status,
the demo) calls these functions; everything below (flows, caches, lock, AWS
clients) is an implementation detail. One sign-in per sso-session at a time:
every path that may talk to IAM Identity Center holds the session's file lock.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from keyrack_sh import atomic, aws, cache, hotpath, lock, paths, prompt_state, time_left, tool_caches, tty, who
from keyrack_sh.errors import ServiceError, UserError
from keyrack_sh.profiles import Profile, SsoSession

POLICIES = ("tty", "always", "never")
FLOWS = ("pkce", "device")
# botocore asks again when fewer than 15 minutes remain; hand out nothing
# shorter-lived than that plus a margin, or every SDK call runs the helper.
# The same margin as the hot path's, or credentials it refuses would be reused here.
ROLE_CREDS_MIN_LEFT = hotpath.MIN_LEFT
# Credentials handed to a process that cannot renew them (export, exec: a long
# terraform apply) get at least this long, when the role's session allows it.
HANDOFF_MIN_LEFT = 50 * 60
# An access token this close to expiry is renewed rather than used.
TOKEN_MIN_LEFT = 60
NO_SIGNIN_LOCK_WAIT = 15.0
DEFAULT_SESSION_DURATION = 8 * 3600
SIGNING_IN_ENV = hotpath.SIGNING_IN_ENV
# What the session lock's holder tells its waiters it does (lock.doing): a server call, bounded by
# botocore's own timeouts, during which they wait for its answer instead of giving up.
FETCHING = lock.SERVER_CALL + " for role credentials"
RENEWING = lock.SERVER_CALL + " to renew the session"
LOGGING_OUT = lock.SERVER_CALL + " to end the session"
# A prefetch of many profiles renews its record this often while answers arrive: each answer is
# progress, and the waiters' bound is the next call's.
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class SessionInfo:
    """The local view of an sso-session (no network): for status, prompts, unlock."""

    session: str
    locked: bool
    access_expires: int | None = None  # epoch seconds of the access token's expiry
    session_end: int | None = None  # when it stops working without a browser
    has_refresh_token: bool = False
    token_file: str = ""
    start_url: str | None = None
    region: str | None = None
    signed_in: bool = False  # True when this call performed a sign-in
    user: str | None = None  # the IAM Identity Center user of this sign-in, once keyrack learned it (who.py)

    @property
    def state(self) -> str:
        return "locked" if self.locked else "unlocked"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return data


@dataclass(frozen=True)
class RelockResult:
    """What `relock` did. A failed server logout still clears the local state."""

    session: str
    logged_out: bool  # the portal Logout call succeeded
    logout_error: str | None = None  # why it did not (no token, network, ...)
    removed: tuple[str, ...] = field(default_factory=tuple)  # files deleted
    # A token existed but Logout failed (network, region, server): the sign-in may live on at AWS.
    # Not set when the server had already rejected the token (signed out elsewhere).
    logout_failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def policy_for(profile: Profile) -> str:
    """The unlock policy: KEYRACK_AUTO_UNLOCK > the profile's keyrack_auto_unlock > tty."""
    value = os.environ.get("KEYRACK_AUTO_UNLOCK") or profile.auto_unlock or "tty"
    if value not in POLICIES:
        raise UserError(f"KEYRACK_AUTO_UNLOCK={value!r} is not one of {', '.join(POLICIES)}",
                        hint="export KEYRACK_AUTO_UNLOCK=tty")
    return value


def login_flow(profile_login: str | None, browser: str | None, *, device_code: bool = False) -> str:
    """The sign-in flow: --device-code > KEYRACK_LOGIN > the profile's keyrack_login > the host's default.

    The default is the authorization code (a browser redirect), except over SSH or WSL with no
    browser configured, where it is the device code (remote.py).
    """
    from keyrack_sh import remote

    if device_code:
        return "device"
    setting = os.environ.get(remote.LOGIN_ENV)
    if setting:
        if setting not in FLOWS:
            raise UserError(f"{remote.LOGIN_ENV}={setting[:20]!r} is not one of {', '.join(FLOWS)}",
                            hint=f"export {remote.LOGIN_ENV}=device")
        return setting
    if profile_login:
        return profile_login
    return "device" if remote.headless(browser) else "pkce"


def may_sign_in(policy: str) -> bool:
    if policy == "always":
        return True
    if policy == "tty":
        return tty.available()
    return False


def _seconds_env(name: str, default: float) -> float:
    from keyrack_sh import validate

    return validate.seconds_setting(name, default)


def lock_timeout() -> float:
    return _seconds_env("KEYRACK_LOCK_TIMEOUT", 300.0)


def signin_timeout() -> float:
    return _seconds_env("KEYRACK_SIGNIN_TIMEOUT", 300.0)


def session_duration() -> float:
    return _seconds_env("KEYRACK_SESSION_DURATION", float(DEFAULT_SESSION_DURATION))


# -- local state ------------------------------------------------------------


def session_info(session_name: str, *, record: bool = True) -> SessionInfo:
    """The session's state from local files only (token cache + prompt state).

    With `record`, the prompt state is brought in step when it does not describe the token file
    as it is now (another tool signed in, refreshed or signed out): what status shows, the next
    prompt shows too.
    """
    path = str(paths.token_file(session_name))
    previous = prompt_state.read_session(session_name)
    seen = cache.current_sign_in(session_name)
    if seen is None:
        if record and (previous is None or not previous.locked):
            prompt_state.mark_locked(session_name)
        return SessionInfo(session=session_name, locked=True, token_file=path)
    sign_in, token = seen
    info = _info_of(session_name, token, _session_end(token, previous))
    if record:
        _publish(info, _stamp_mtime(sign_in.stamp), previous)
    return replace(info, user=who.user_of(session_name, sign_in))


def _info_of(session_name: str, token: dict[str, Any], end: int) -> SessionInfo:
    expires = cache.token_expiry(token)
    return SessionInfo(
        session=session_name, locked=end <= time.time(), access_expires=int(expires), session_end=end,
        has_refresh_token=bool(token.get("refreshToken")), token_file=str(paths.token_file(session_name)),
        start_url=token.get("startUrl"), region=token.get("region"),
    )


def _stamp_mtime(stamp: str) -> int | None:
    """The mtime_ns in a hotpath.file_stamp (`inode:size:mtime_ns:ctime_ns`), None for "-"."""
    parts = stamp.split(":")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


def _publish(info: SessionInfo, token_mtime_ns: int | None, previous: prompt_state.SessionState | None) -> None:
    """Write the prompt state for `info`, unless it already says exactly that of this token file."""
    line = prompt_state.SessionState(info.locked, info.access_expires or 0, info.session_end or 0, info.token_file)
    if (previous == line and token_mtime_ns is not None
            and prompt_state.session_file_mtime_ns(info.session) == token_mtime_ns):
        return
    prompt_state.write_session(info.session, locked=line.locked, access_expires=line.access_expires,
                               session_end=line.session_end, token_file=line.token_file,
                               token_mtime_ns=token_mtime_ns)


def _session_end(token: dict[str, Any], previous: prompt_state.SessionState | None,
                 signed_in_at: float | None = None) -> int:
    """time_left.session_end for `token`: the one definition of time left (README "Time left")."""
    known = previous.session_end if previous is not None and not previous.locked else None
    return time_left.session_end(
        cache.token_expiry(token), refreshable=bool(token.get("refreshToken")), session_duration=session_duration(),
        registration_expires=cache.registration_expiry(token), signed_in_at=signed_in_at, known_end=known)


def _record(session_name: str, token: dict[str, Any], signed_in_at: float | None = None) -> SessionInfo:
    """Write the prompt state for a freshly stored token and return the session's info."""
    previous = prompt_state.read_session(session_name)
    info = _info_of(session_name, token, _session_end(token, previous, signed_in_at))
    _publish(info, _stamp_mtime(cache.sign_in_of(session_name, token).stamp), previous)
    return session_info(session_name)


# -- sign-in ----------------------------------------------------------------


def unlock(session: SsoSession, *, flow: str = "pkce", no_browser: bool = False, force: bool = False,
           client_name: str | None = None) -> SessionInfo:
    """Sign in to `session` (browser or device code) and store the token.

    Without `force`, a session that is already usable (valid access token, or
    a refresh token that still renews) is left as it is and its info returned
    with `signed_in=False`. With `force`, a new sign-in happens regardless
    (the roundtrip proves sign-in each time). Holds the session lock.
    """
    from keyrack_sh import lock

    if flow not in FLOWS:
        raise UserError(f"unknown sign-in flow {flow!r}: use one of {', '.join(FLOWS)}")
    with lock.session_lock(session.name, timeout=lock_timeout()):
        if not force:
            token = _usable_token(session)
            if token is not None:
                return _record(session.name, token)
        return _sign_in(session, flow=flow, no_browser=no_browser, client_name=client_name)


def _sign_in(session: SsoSession, *, flow: str, no_browser: bool, client_name: str | None) -> SessionInfo:
    """The sign-in itself; the caller holds the session lock."""
    from keyrack_sh.flows import device, pkce, register

    from keyrack_sh import remote

    # On a remote host with no browser configured, a browser keyrack starts would be on the wrong
    # machine (or a text browser fighting the terminal): show the URL (and code) only.
    no_browser = no_browser or remote.headless(session.browser)
    os.environ[SIGNING_IN_ENV] = session.name
    lock.doing(session.name, lock.SIGNING_IN, signin_timeout())
    try:
        started = time.time()
        run = device.sign_in if flow == "device" else pkce.sign_in
        # A registration the server revoked or expired is registered again, once (register.signed_in);
        # the device flow's first call checks the client anyway, the browser's authorize page cannot.
        token = register.signed_in(session, lambda client: run(session, client, no_browser=no_browser,
                                                               timeout=signin_timeout()),
                                   client_name=client_name, check_first=flow != "device")
        cache.write_token(session.name, token)
        # A new sign-in (maybe another user): nothing fetched with an earlier one stays behind.
        cache.remove_role_creds_of_session(session.name)
    finally:
        os.environ.pop(SIGNING_IN_ENV, None)
    info = _record(session.name, token, signed_in_at=started)
    return SessionInfo(**{**asdict(info), "signed_in": True})


def _usable_token(session: SsoSession) -> dict[str, Any] | None:
    """A valid access token, renewing it silently with the refresh token if needed.

    None when the session needs a browser. The caller holds the session lock,
    so at most one process spends a refresh token (they may rotate).
    """
    token = cache.read_token(session.name)
    if token is None or token.get("startUrl", session.start_url) != session.start_url:
        return None  # none, or signed in to a start URL the config no longer names
    if cache.token_expiry(token) - time.time() > TOKEN_MIN_LEFT:
        return token
    return _refresh(session, token)


def _refresh(session: SsoSession, token: dict[str, Any]) -> dict[str, Any] | None:
    """Renew `token`; when its refresh token no longer works, look at the file once more first.

    botocore and the AWS CLI refresh without our lock, and the server rotates refresh tokens:
    if one of them just spent ours (InvalidGrantException), the file now holds its newer token.
    Use that (or renew with its refresh token) before calling the session locked.
    """
    from keyrack_sh.flows import refresh

    spent = {token.get("refreshToken")}
    lock.doing(session.name, RENEWING, aws.CALL_BOUND)
    new = refresh.renew(session, token)
    if new is None:
        current = cache.read_token(session.name)  # a half-written file is looked at again, briefly
        if (current is None or current.get("accessToken") == token.get("accessToken")
                or current.get("startUrl", session.start_url) != session.start_url):
            return None  # nothing newer: the session needs a browser
        if cache.token_expiry(current) - time.time() > TOKEN_MIN_LEFT:
            _record(session.name, current)  # the prompt shows the token that is in use
            return current
        if not current.get("refreshToken") or current.get("refreshToken") in spent:
            return None
        token = current  # a newer refresh token than ours: renew with that one, once
        new = refresh.renew(session, token)
        if new is None:
            return None
    cache.write_token(session.name, new)
    # The same sign-in, renewed by us: its role credentials stay served (no new fetch per refresh).
    cache.rebind_role_creds(session.name, token, cache.sign_in_of(session.name, new))
    who.follow(session.name, cache.lineage(token), cache.lineage(new))
    _record(session.name, new)
    return new


def access_token(session: SsoSession, *, policy: str = "never", flow: str | None = None,
                 no_browser: bool = False) -> str:
    """A valid access token for `session` (refreshing silently; signing in if `policy` allows).

    Raises UserError naming `keyrack unlock` when the session is locked and
    the policy forbids a sign-in here.
    """
    from keyrack_sh import lock

    with lock.session_lock(session.name, timeout=lock_timeout()):
        token = _usable_token(session)
        if token is None:
            if not may_sign_in(policy):
                raise _locked_error(session.name, None, policy)
            _sign_in(session, flow=flow or login_flow(None, session.browser), no_browser=no_browser,
                     client_name=None)
            token = cache.read_token(session.name)
            if token is None:
                raise ServiceError(f"sso-session {session.name!r}: the new token could not be read back")
        return str(token["accessToken"])


def _locked_error(session_name: str, profile: str | None, policy: str | None = None) -> UserError:
    why = {"never": "auto-unlock is 'never'", "tty": "no terminal here to sign in from"}.get(policy or "")
    who = f"profile {profile!r} (sso-session {session_name!r})" if profile else f"sso-session {session_name!r}"
    return UserError(f"{who} is locked" + (f" and {why}" if why else ""),
                     hint=f"keyrack unlock {profile or 'PROFILE'}")


# -- role credentials -------------------------------------------------------


def credentials(profile: Profile, session: SsoSession, *, policy: str, flow: str | None = None,
                no_browser: bool = False, on_wait: Callable[[int | None], None] | None = None,
                stamp: str | None = None, min_left: float = ROLE_CREDS_MIN_LEFT) -> dict[str, Any]:
    """The profile's role credentials (credential_process JSON), by the resolution order.

    1. cached role credentials with enough time left (any profile of the same
       session, account and role);
    2. a valid access token: GetRoleCredentials;
    3. a refresh token: renew silently, then 2;
    4. sign in if `policy` allows (else UserError naming `keyrack unlock`), then 2.
    Steps 2-4 run under the session's file lock, with the caches re-read after
    taking it, so concurrent callers cause one sign-in and one fetch per role.
    """
    from keyrack_sh import lock

    stamp = stamp if stamp is not None else paths.config_stamp()
    if profile.browser:  # a sign-in for this profile opens its browser (keyrack_browser)
        session = replace(session, browser=profile.browser)
    _mark_managed(profile)
    # Outside the lock: only the profile's own file, already exactly valid, and nothing written.
    # Copying another profile's credentials happens under the lock, so a relock (which holds it
    # while deleting) can never be undone by a lookup that read the old files just before.
    hit = cache.own_role_creds(profile.name, session.name, profile.account_id, profile.role_name, stamp,
                               min_left)
    if hit is not None:
        _keep_prompt_in_step(session.name)
        return hit
    if os.environ.get(SIGNING_IN_ENV) == session.name:
        # Something we started while signing in asked for this session: waiting
        # on our own lock would deadlock, so fail now.
        # Or the variable was inherited by mistake (a shell that exported it): name it as the cause.
        raise UserError(f"sso-session {session.name!r} is being signed in by this process: "
                        f"{SIGNING_IN_ENV}={session.name} is set in this environment, by the keyrack that "
                        f"started this program or inherited by mistake",
                        hint=f"unset {SIGNING_IN_ENV} (and AWS_PROFILE for tools keyrack runs)")
    allowed = may_sign_in(policy)
    if not allowed and not cache.token_might_work(cache.read_token(session.name)):
        # Fail fast: nothing to do without a browser, and nothing to wait for.
        raise _locked_error(session.name, profile.name, policy)
    # A caller that may not sign in (an editor, CI) waits only briefly for one that does:
    # nothing hangs for minutes behind a browser window someone else left open.
    wait = lock_timeout() if allowed else min(lock_timeout(), NO_SIGNIN_LOCK_WAIT)
    with lock.session_lock(session.name, timeout=wait, on_wait=on_wait):
        found = cache.find_role_creds(session.name, profile.account_id, profile.role_name, min_left)
        if found is not None:
            creds = _remember(profile, session, *found, stamp)
        else:
            creds = _fetch_locked(profile, session, policy=policy,
                                  flow=flow or login_flow(profile.login, session.browser), no_browser=no_browser,
                                  stamp=stamp)
        _keep_prompt_in_step(session.name)
        return creds


def _keep_prompt_in_step(session_name: str) -> None:
    """After serving: a token file the prompt state does not describe (written by `aws sso login`,
    a refresh by another tool) is recorded, so the next prompt shows it. Two stats when in step."""
    try:
        token_mtime: int | None = os.stat(paths.token_file(session_name)).st_mtime_ns
    except OSError:
        token_mtime = None
    if token_mtime is None or prompt_state.session_file_mtime_ns(session_name) != token_mtime:
        session_info(session_name)


def _mark_managed(profile: Profile) -> None:
    """Keep prompt/profiles/<profile> naming its session (the prompt's view of what keyrack manages)."""
    current = prompt_state.read_profile(profile.name)
    if current != profile.session:
        prompt_state.write_profile(profile.name, profile.session)


def _remember(profile: Profile, session: SsoSession, creds: dict[str, Any], sign_in: cache.SignIn,
              stamp: str) -> dict[str, Any]:
    """Make `creds` the profile's hot-path answer, unless it already is (a herd rewrites nothing)."""
    current = cache.read_role_creds(paths.creds_file(profile.name))
    if current is None or current[1] != creds or current[0][1:] != cache.creds_identity(
            profile.name, session.name, profile.account_id, profile.role_name, stamp, sign_in):
        cache.write_role_creds(profile.name, session.name, profile.account_id, profile.role_name, creds, stamp,
                               sign_in)
    return creds


def _fetch_locked(profile: Profile, session: SsoSession, *, policy: str, flow: str, no_browser: bool,
                  stamp: str) -> dict[str, Any]:
    from keyrack_sh.flows import portal

    token = _usable_token(session)
    if token is not None:
        lock.doing(session.name, FETCHING, aws.CALL_BOUND)
        try:
            creds = portal.role_credentials(session, token["accessToken"], profile.account_id, profile.role_name)
        except portal.Unauthorized:
            # Revoked or signed out elsewhere: the token is worthless, drop it.
            cache.remove_token(session.name)
            prompt_state.mark_locked(session.name)
            token = None
        else:
            return _store(profile, session, creds, stamp, token)
    if not may_sign_in(policy):
        raise _locked_error(session.name, profile.name, policy)
    _sign_in(session, flow=flow, no_browser=no_browser, client_name=None)
    token = cache.read_token(session.name)
    if token is None:
        raise ServiceError(f"sso-session {session.name!r}: the new token could not be read back")
    lock.doing(session.name, FETCHING, aws.CALL_BOUND)
    try:
        creds = portal.role_credentials(session, token["accessToken"], profile.account_id, profile.role_name)
    except portal.Unauthorized:
        raise ServiceError(f"IAM Identity Center rejected a token it just issued for {session.name!r}",
                           hint=f"keyrack unlock {profile.name}") from None
    return _store(profile, session, creds, stamp, token)


def _store(profile: Profile, session: SsoSession, creds: dict[str, Any], stamp: str,
           token: dict[str, Any]) -> dict[str, Any]:
    """Cache `creds`, bound to the sign-in of `token`, the one they were fetched with."""
    expires = cache.parse_time(creds.get("Expiration")) or 0.0
    if expires <= time.time():
        # Fresh from IAM Identity Center yet expired here: this machine's clock is ahead. Serving
        # them would make every SDK fail with "refreshed credentials are still expired".
        raise UserError(f"profile {profile.name!r}: IAM Identity Center issued credentials valid until "
                        f"{creds.get('Expiration')}, already past by this computer's clock "
                        f"({cache.iso_z(time.time())}): the clock is wrong",
                        hint="sync the clock: sudo timedatectl set-ntp true")
    sign_in = cache.sign_in_of(session.name, token)
    cache.write_role_creds(profile.name, session.name, profile.account_id, profile.role_name, creds, stamp,
                           sign_in)
    with _LEARNING:  # prefetch stores from threads: one STS question per sign-in
        _learn_user(profile, session, creds, stamp, sign_in)
    return creds


_LEARNING = threading.Lock()


def _learn_user(profile: Profile, session: SsoSession, creds: dict[str, Any], stamp: str,
                sign_in: cache.SignIn) -> None:
    """Who holds this sign-in, asked once per sign-in: STS names the role session after the user.

    A different user than the session's last one: said on the terminal, and nothing of the
    previous user's session stays (the session's other creds files, and the role credentials the
    AWS CLI and botocore cached for it, go; these were fetched just now, for the new user).
    """
    before = who.read(session.name)
    if before is not None and sign_in.same("-", before["lineage"]):
        return  # known for this sign-in
    user = who.user_from_arn(aws.sts_caller_arn(profile.region or session.region, creds) or "")
    if user is None:
        return
    who.record(session.name, user, sign_in.lineage)
    if before is None or before["user"] == user:
        return
    previous = before["user"]
    roles = tool_caches.roles_in_config(session.name) | cache.roles_of_session(session.name)
    removed = [p for p in cache.remove_role_creds_of_session(session.name) if p != paths.creds_file(profile.name)]
    removed += tool_caches.remove_session_entries(session.name, roles)
    cache.write_role_creds(profile.name, session.name, profile.account_id, profile.role_name, creds, stamp, sign_in)
    seen = cache.current_sign_in(session.name)
    if seen is not None:  # a new sign-in: its end is its own, never the previous user's
        info = _info_of(session.name, seen[1], _session_end(seen[1], None))
        _publish(info, _stamp_mtime(seen[0].stamp), None)
    tty.say(f"sso-session {session.name!r} is now signed in as {user}, no longer {previous} "
            f"({len(removed)} of {previous}'s cached role credentials removed)")


def prefetch(profiles: list[Profile], session: SsoSession, *, concurrency: int = 8) -> dict[str, str]:
    """Role credentials for many profiles of one session at once (sync's verify of 500 accounts).

    `credentials` per profile would look through every creds file each time (n² reads for n
    profiles); here the session lock is taken once, the token read once, and GetRoleCredentials
    runs `concurrency` at a time, each answer stored as `credentials` stores it. Never signs in.
    Returns profile -> the error of the ones that failed (a revoked token: every one).
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from keyrack_sh import lock
    from keyrack_sh.errors import KeyrackError
    from keyrack_sh.flows import portal

    stamp = paths.config_stamp()
    errors: dict[str, str] = {}
    with lock.session_lock(session.name, timeout=lock_timeout()):
        token = _usable_token(session)
        if token is None:
            locked = _locked_error(session.name, None, "never").message
            return {p.name: locked for p in profiles}
        todo = [p for p in profiles if cache.own_role_creds(p.name, session.name, p.account_id, p.role_name, stamp,
                                                             ROLE_CREDS_MIN_LEFT) is None]

        def one(profile: Profile) -> None:
            try:
                creds = portal.role_credentials(session, token["accessToken"], profile.account_id, profile.role_name)
                _store(profile, session, creds, stamp, token)
            except KeyrackError as exc:
                errors[profile.name] = exc.message

        if todo:
            lock.doing(session.name, FETCHING, aws.CALL_BOUND)
            said = time.monotonic()
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                for _ in as_completed([pool.submit(one, p) for p in todo]):
                    if time.monotonic() - said > PROGRESS_EVERY:
                        lock.doing(session.name, FETCHING, aws.CALL_BOUND)  # the lock's thread records
                        said = time.monotonic()
    return errors


# -- relock -----------------------------------------------------------------


ALREADY_LOCKED = "no token (already locked)"


def relock(session_name: str, *, region: str | None = None) -> RelockResult:
    """Log out at IAM Identity Center, then delete the session's local secrets.

    Logout (with the stored token) is what ends the browser's sign-in. Then the
    token file, keyrack's role credentials of this session and those the AWS CLI
    and botocore cached for it (tool_caches) go, and the prompt state says
    locked. Other sessions are untouched. A failed logout is
    reported in the result; the local state is cleared regardless (whatever
    the failure). Logout goes to the token's own region (where it was issued),
    else `region` (the config's).
    """
    from keyrack_sh import lock

    with lock.session_lock(session_name, timeout=lock_timeout()):
        token = cache.read_token(session_name)
        logged_out, error, failed = False, None, False
        if token is None:
            error = ALREADY_LOCKED
        else:
            try:
                from keyrack_sh.flows import portal

                lock.doing(session_name, LOGGING_OUT, aws.CALL_BOUND)
                portal.logout(token.get("region") or region or "", token["accessToken"])
                logged_out = True
            except Exception as exc:  # noqa: BLE001 (the local state must go whatever happened)
                error = (str(exc) if isinstance(exc, (ServiceError, UserError)) else "") or type(exc).__name__
                failed = type(exc).__name__ != "Unauthorized"  # already rejected: nothing left to end
        removed = []
        if cache.remove_token(session_name):
            removed.append(str(paths.token_file(session_name)))
        # A writer killed half-way left its temp copy (refresh token, client secret): under the
        # session lock no write is in flight, so every one is a leftover.
        removed.extend(str(p) for p in atomic.remove_stale_temps(paths.token_file(session_name), max_age=0))
        # What the AWS CLI and botocore cached for native profiles of this session would be served
        # without the token (as `aws sso logout` knows, which sweeps every session's).
        roles = tool_caches.roles_in_config(session_name) | cache.roles_of_session(session_name)
        removed.extend(str(p) for p in cache.remove_role_creds_of_session(session_name))
        removed.extend(str(p) for p in tool_caches.remove_session_entries(session_name, roles))
        prompt_state.mark_locked(session_name)
    return RelockResult(session=session_name, logged_out=logged_out, logout_error=error, removed=tuple(removed),
                        logout_failed=failed)


# -- for export / exec ---------------------------------------------------------

# Variables that would make an SDK in the child pick other credentials than ours.
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def profile_credentials(profile_name: str) -> tuple[dict[str, Any], dict[str, str | None]]:
    """(credential_process JSON, environment changes) for `profile_name`.

    The changes set the standard variables and unset AWS_PROFILE (None means
    unset), so SDKs in a child process use the keys instead of running
    keyrack again through the profile.
    """
    from keyrack_sh import profiles, validate

    validate.profile_name(profile_name)
    config = profiles.load()
    profile = config.profile(profile_name)
    session = config.session(profile.session)
    creds = credentials(profile, session, policy=policy_for(profile), min_left=HANDOFF_MIN_LEFT)
    env: dict[str, str | None] = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_CREDENTIAL_EXPIRATION": creds["Expiration"],
        "AWS_ACCOUNT_ID": profile.account_id,
    }
    if profile.region:
        env["AWS_REGION"] = profile.region
        env["AWS_DEFAULT_REGION"] = profile.region
    for name in _CLEARED:
        env[name] = None
    return creds, env
