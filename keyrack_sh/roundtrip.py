"""The setup roundtrip: prove a freshly written profile works, through keyrack.

1 unlock  (sign in unless signed in already; a new session's one-time consent
           happens here; then ListAccountRoles says the account and role are the
           user's, or the step fails listing what the user does have)
2 relock  (server Logout, local secrets deleted)
3 unlock  (the everyday sign-in, without the consent)
4 verify  (a fresh process: boto3 resolves the profile through keyrack's
           credential_process, and STS says the expected account and role)

Steps 2 and 3 run once per sso-session: a passed roundtrip is recorded in
proven/<session>.json (secretless: a fingerprint of the client registration
and where it signs in, from the vault). A later `set` on a proven session runs
1 unlock and 2 verify only, and never signs the session out; a new client
registration (another fingerprint), a removed session or `--roundtrip` makes
the whole roundtrip run again.

The steps speak only the vault interface, plus the verifying subprocess. A
failing step raises RoundtripFailure carrying the step and a KeyrackError
whose message names the AWS error and whose hint is the fix.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from keyrack_sh import paths, who
from keyrack_sh.errors import KeyrackError, ServiceError, UserError
from keyrack_sh.profiles import Profile, SsoSession
from keyrack_sh.vaults.base import Vault

VERIFY_TIMEOUT = 120.0
ROUNDTRIP_LOCK_TIMEOUT = 600.0  # a sign-in waits on a person
# Variables that would let another provider answer before credential_process.
_SHADOW_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# Run in a fresh interpreter: what any boto3 program would see for the profile.
_VERIFY = r"""
import json, sys
out = {"stage": "credentials"}
try:
    import boto3, botocore.config, botocore.exceptions
    session = boto3.Session(profile_name=sys.argv[1])
    creds = session.get_credentials()
    out["method"] = creds.method if creds is not None else None
    if out["method"] == "custom-process":  # another provider's keys prove nothing about keyrack
        out["stage"] = "sts"
        config = botocore.config.Config(retries={"total_max_attempts": 2}, connect_timeout=10, read_timeout=30)
        ident = session.client("sts", region_name=sys.argv[2], config=config).get_caller_identity()
        out["account"], out["arn"] = ident["Account"], ident["Arn"]
    out["stage"] = None
except Exception as exc:
    err = getattr(exc, "response", {}).get("Error", {})
    out.update(code=err.get("Code") or type(exc).__name__, message=err.get("Message") or str(exc))
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    last: bool = False  # the tree's closing branch


MAX_LISTED = 12  # accounts named in an error; an organisation may have hundreds


@dataclass
class Result:
    steps: list[Step] = field(default_factory=list)
    arn: str | None = None
    warnings: list[str] = field(default_factory=list)
    roundtrip: bool = False  # signed out and in again (False: the session had passed one already)
    proven_at: int | None = None  # when the session passed its roundtrip

    def to_json(self) -> dict[str, Any]:
        return {"steps": [{"step": s.name, "ok": s.ok, "detail": s.detail} for s in self.steps],
                "arn": self.arn, "warnings": self.warnings, "roundtrip": self.roundtrip,
                "proven_at": self.proven_at}


class RoundtripFailure(Exception):
    def __init__(self, step: str, error: KeyrackError, result: Result) -> None:
        super().__init__(f"{step}: {error.message}")
        self.step = step
        self.error = error
        self.result = result


def warnings_for(profile: str) -> list[str]:
    """What would make the user's own shell bypass keyrack for this profile."""
    found = []
    shadow = [v for v in _SHADOW_ENV if os.environ.get(v)]
    if shadow:
        found.append(f"{shadow[0]} is set in this environment and beats every profile "
                     f"(unset {' '.join(shadow)} to use keyrack)")
    if _credentials_file_has(profile):
        found.append(f"[{profile}] in {paths.credentials_file()} beats keyrack's credential_process "
                     f"(remove that section)")
    return found


def _credentials_file_has(profile: str) -> bool:
    import configparser

    from keyrack_sh import safe_io

    # Through safe_io: a FIFO, a device or a huge file there is no section, never a hang.
    data = safe_io.read(paths.credentials_file(), safe_io.CONFIG_LIMIT, follow=True, mine=False)
    if data is None:
        return False
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(profile)


def expected_role(arn: str, account_id: str, role_name: str, region: str | None = None) -> bool:
    """STS's ARN names the role itself (the sandbox) or its AWSReservedSSO_ twin (real AWS), in the
    partition of the IAM Identity Center's `region` (`arn:aws-cn:` for cn-north-1, `arn:aws-us-gov:`
    for us-gov-west-1): an ARN of another partition is another account, whatever its number."""
    from keyrack_sh import partitions

    prefix = f"{partitions.arn_prefix(region)}sts::{account_id}:assumed-role/"
    if not arn.startswith(prefix):
        return False
    role = arn[len(prefix):].split("/")[0]
    return role == role_name or (role.startswith(f"AWSReservedSSO_{role_name}_")
                                 and "_" not in role[len(f"AWSReservedSSO_{role_name}_"):])


def _run_credential_process(profile: Profile, env: dict[str, str]) -> None:
    """Run the profile's credential_process line as botocore does (shlex, no shell).

    Its exit code says whose fault a failure is (2: fix the profile, 1: try
    again), which boto3's CredentialRetrievalError would hide. The credentials
    it prints are discarded here; the boto3 process then finds them cached.
    """
    import shlex

    from keyrack_sh import resources

    argv = shlex.split(resources.credential_process_command(profile.name))
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ServiceError(f"keyrack's credential_process for {profile.name!r} took over {VERIFY_TIMEOUT:g} s") from None
    if proc.returncode == 0:
        return
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    said = lines[-1].removeprefix("keyrack: ") if lines else f"exit {proc.returncode}"
    said, _, hint = said.partition(" (hint: ")  # keyrack's own one-line format
    kind = UserError if proc.returncode == 2 else ServiceError
    raise kind(f"credential_process failed: {said}", hint=hint.removesuffix(")") or None)


def verify(profile: Profile, session: SsoSession) -> str:
    """Resolve the profile in a fresh boto3 process; return the ARN STS answers with."""
    env = dict(os.environ)
    for name in _SHADOW_ENV + ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    env["KEYRACK_AUTO_UNLOCK"] = "never"  # the session was just unlocked: never a browser here
    env["KEYRACK_NO_TTY"] = "1"  # and nothing on the terminal, in the middle of the step tree
    region = profile.region or session.region
    _run_credential_process(profile, env)
    try:
        proc = subprocess.run([sys.executable, "-c", _VERIFY, profile.name, region], env=env,
                              capture_output=True, text=True, timeout=VERIFY_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ServiceError(f"boto3 did not resolve profile {profile.name!r} within {VERIFY_TIMEOUT:g} s",
                           hint=f"keyrack set {profile.name} ... again") from None
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ServiceError(f"the boto3 check of {profile.name!r} crashed (exit {proc.returncode})") from None
    code, message = out.get("code"), " ".join(str(out.get("message", "")).split())[:300]
    if out.get("stage") == "credentials":
        raise ServiceError(f"boto3 could not get credentials for {profile.name!r}: {code}: {message}",
                   hint=f"keyrack credential-process {profile.name}")
    if out.get("stage") == "sts":
        raise ServiceError(f"STS GetCallerIdentity failed: {code}: {message}",
                           hint="check the network and AWS_ENDPOINT_URL_STS, then keyrack set again")
    method = out.get("method")
    if method != "custom-process":
        where = {"shared-credentials-file": f"[{profile.name}] in {paths.credentials_file()}",
                 "env": "AWS_ACCESS_KEY_ID in the environment"}.get(str(method), f"the {method} provider")
        raise UserError(f"boto3 took {profile.name!r}'s credentials from {where}, not from keyrack",
                        hint=f"remove {where}, then keyrack set {profile.name} ... again")
    arn, account = str(out.get("arn", "")), out.get("account")
    if account != profile.account_id or not expected_role(arn, profile.account_id, profile.role_name,
                                                          session.region):
        raise UserError(f"STS answered {arn}, not role {profile.role_name!r} in {profile.account_id}",
                        hint=f"check --account-id and --role-name, then keyrack set {profile.name} ... again")
    return arn


def proven_at(vault: Vault, session: SsoSession) -> int | None:
    """When `session` passed its roundtrip, if that proof still holds (same registration, same place)."""
    from keyrack_sh import atomic

    key = vault.proof_key(session)
    proof = atomic.read_json(paths.proof_file(session.name))
    if key is None or proof is None or proof.get("key") != key or not isinstance(proof.get("at"), int):
        return None
    return int(proof["at"])


def _record_proof(vault: Vault, session: SsoSession) -> int | None:
    import time

    from keyrack_sh import atomic

    key = vault.proof_key(session)
    if key is None:
        return None
    at = int(time.time())
    atomic.write_json(paths.proof_file(session.name), {"session": session.name, "key": key, "at": at})
    return at


def forget_proof(session_name: str) -> None:
    """The session is gone: the next one of that name proves itself again."""
    from keyrack_sh import atomic

    atomic.remove(paths.proof_file(session_name))


def check_access(vault: Vault, profile: Profile, session: SsoSession) -> str:
    """Account and role against ListAccountRoles (ListAccounts only to say what the user has)."""
    roles = vault.roles(session, profile.account_id)
    if roles is None:
        accounts = sorted(vault.accounts(session), key=lambda a: (str(a.get("accountName", "")).lower(),
                                                                   str(a.get("accountId"))))
        if not accounts:
            raise UserError(f"your user has no AWS accounts at {session.start_url}",
                            hint="ask your administrator for an assignment")
        named = ", ".join(f"{a.get('accountName', '')} ({a['accountId']})".strip() for a in accounts[:MAX_LISTED])
        more = f" and {len(accounts) - MAX_LISTED} more" if len(accounts) > MAX_LISTED else ""
        raise UserError(f"account {profile.account_id} is not one of yours at {session.start_url}; "
                        f"yours: {named}{more}",
                        hint=_with_flag("--account-id", str(accounts[0]["accountId"])))
    if profile.role_name not in roles:
        raise UserError(f"role {profile.role_name!r} is not yours in account {profile.account_id}; "
                        f"yours there: {', '.join(roles)}", hint=_with_flag("--role-name", roles[0]))
    return f"role {profile.role_name} in {profile.account_id} is yours"


def _with_flag(flag: str, value: str) -> str:
    """The command the user ran, with `flag` set to `value` (a hint that is an exact command)."""
    import shlex

    argv = list(sys.argv[1:])
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            argv[i + 1] = value
            break
        if arg.startswith(flag + "="):
            argv[i] = f"{flag}={value}"
            break
    else:
        argv += [flag, value]
    if "--yes" not in argv and "-y" not in argv:
        argv.append("--yes")  # the corrected value changes the profile it wrote before
    return shlex.join(["keyrack", *argv])


def run(vault: Vault, profile: Profile, session: SsoSession, *, flow: str = "pkce", no_browser: bool = False,
        on_step: Callable[[Step], None] | None = None, force: bool = False,
        signed_in_for: str | None = None) -> Result:
    """Prove the profile; raise RoundtripFailure at the first step that fails.

    The whole roundtrip (unlock, relock, unlock, verify) when the session has
    not passed one (or `force`); else unlock (no browser while the session is
    unlocked) and verify. `signed_in_for` says why this run already signed in
    (the guided flow's account listing): that sign-in is step 1.
    """
    result = Result(warnings=warnings_for(profile.name))
    planned = [0]
    # Steps are told (on_step) only once no later step will write to the terminal: a sign-in's
    # URL and its waiting line would otherwise land between the lines of the step tree on stdout.
    untold: list[Step] = []

    def tell() -> None:
        while untold:
            done = untold.pop(0)
            if on_step:
                on_step(done)

    def step(name: str, action: Callable[[], str]) -> None:
        try:
            detail = action()
        except KeyrackError as exc:
            failed = Step(name, False, exc.message, last=True)
            result.steps.append(failed)
            untold.append(failed)
            tell()
            raise RoundtripFailure(name, exc, result) from None
        done = Step(name, True, detail, last=len(result.steps) + 1 == planned[0])
        result.steps.append(done)
        untold.append(done)

    def first_unlock() -> str:
        info = vault.unlock(session, flow=flow, no_browser=no_browser)
        if info.signed_in:
            said = f"signed in to sso-session {session.name}"
        elif signed_in_for:
            said = f"signed in to sso-session {session.name} ({signed_in_for})"
        else:
            said = f"already signed in to sso-session {session.name}"
        return f"{said}; {check_access(vault, profile, session)}"

    def unlock_again() -> str:
        vault.unlock(session, flow=flow, no_browser=no_browser, force=True)
        return "signed in again, the everyday way"

    def relock() -> str:
        res = vault.relock(session)
        if not res.logged_out:
            raise ServiceError(f"sign-out at IAM Identity Center failed: {res.error}",
                               hint=f"keyrack relock --session {session.name}, then keyrack set again")
        return "signed out at AWS, token deleted"

    def check() -> str:
        result.arn = verify(profile, session)
        user = who.user_from_arn(result.arn)  # IAM Identity Center names the role session after the user
        return f"boto3 via keyrack's credential_process: {result.arn}" + (f", signed in as {user}" if user else "")

    # Concurrent setups of one session would relock under each other's verify:
    # one roundtrip per session at a time, and the proof read under that lock.
    with _roundtrip_lock(session.name):
        proven = None if force else proven_at(vault, session)
        planned[0] = 4 if proven is None else 2
        step("unlock", first_unlock)
        if proven is not None and proven_at(vault, session) is None:
            planned[0] = 4  # that sign-in registered a new client: prove it
            proven = None
        if proven is None:
            step("relock", relock)
            step("unlock", unlock_again)
        tell()  # the sign-ins are over: the tree so far, in one piece
        step("verify", check)
        tell()
        result.roundtrip = proven is None
        result.proven_at = _record_proof(vault, session) if proven is None else proven
    return result


@contextlib.contextmanager
def _roundtrip_lock(session: str) -> Iterator[None]:
    import filelock

    from keyrack_sh import atomic

    atomic.ensure_private_dir(paths.locks_dir())
    lock = filelock.FileLock(str(paths.locks_dir() / f"roundtrip-{session}.lock"), mode=0o600)
    try:
        lock.acquire(timeout=ROUNDTRIP_LOCK_TIMEOUT)
    except filelock.Timeout:
        raise ServiceError(f"another keyrack set kept sso-session {session!r} busy for "
                           f"{ROUNDTRIP_LOCK_TIMEOUT:g} s", hint="try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()
