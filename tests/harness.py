"""Run keyrack and its consumers as a user would, in a private HOME.

Every helper takes `env` (the subprocess environment); without one it uses the
pytest process's environment, which conftest's autouse firewall has already
pointed at a temp HOME, the sandbox and moto. Code under test never runs in
the pytest process: botocore fixes its token cache path when imported.

    proc = run_keyrack("unlock", "prod")
    write_profile("prod", "111111111111", "AdminRole")
    assert boto3_identity("prod") == assumed_role_arn("111111111111", "AdminRole")
"""
from __future__ import annotations

import configparser
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from keyrack_sh.resources import credential_process_command
from keyrack_sh.sandbox import DEFAULT_REGION, DEFAULT_START_URL, DEFAULT_USER

REPO = Path(__file__).resolve().parent.parent
BROWSER_SOURCE = Path(__file__).resolve().parent / "bin" / "browser.py"
DEFAULT_SESSION = "sandbox"
DEFAULT_SCOPES = "sso:account:access"


class HarnessError(AssertionError):
    """A helper's subprocess failed; the message carries its exit code and stderr."""


def _env(env: Mapping[str, str] | None) -> dict[str, str]:
    return dict(os.environ if env is None else env)


# -- subprocesses ----------------------------------------------------------------

def run(argv: Sequence[str], env: Mapping[str, str] | None = None, input: str | None = None,
        timeout: float = 60, cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `argv` with no controlling terminal (its own session), text mode, output captured.

    stdin is closed unless `input` is given. On timeout the whole process group
    is killed (no stray sign-in left waiting) and TimeoutExpired is raised.
    """
    proc = subprocess.Popen(
        list(argv), env=_env(env), cwd=cwd, text=True, start_new_session=True,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        stdout, stderr = proc.communicate()
        raise subprocess.TimeoutExpired(proc.args, timeout, stdout, stderr) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_keyrack(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
                timeout: float = 60, cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m keyrack_sh ARGS...` as a user (or a script) would run it."""
    return run([sys.executable, "-m", "keyrack_sh", *args], env=env, input=input, timeout=timeout, cwd=cwd)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    e = _env(env)
    return Path(e.get("AWS_CONFIG_FILE") or Path(e["HOME"]) / ".aws" / "config")


def credential_process_line(profile: str, env: Mapping[str, str] | None = None) -> str:
    """The `credential_process` value of `profile`, read as botocore reads the config."""
    parser = configparser.RawConfigParser()
    parser.read(config_path(env))
    section = "default" if profile == "default" else f"profile {profile}"
    return parser.get(section, "credential_process")


def run_credential_process(profile: str, env: Mapping[str, str] | None = None,
                           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run exactly the profile's credential_process line, split with shlex as botocore does."""
    return run(shlex.split(credential_process_line(profile, env)), env=env, timeout=timeout)


def python(code: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", code], env=env, timeout=timeout)


def boto3_identity(profile: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> str:
    """The ARN STS reports for `profile`, through a fresh `boto3.Session(profile_name=...)`."""
    proc = python(
        "import boto3\n"
        f"print(boto3.Session(profile_name={profile!r}).client('sts').get_caller_identity()['Arn'])\n",
        env=env, timeout=timeout,
    )
    if proc.returncode != 0:
        raise HarnessError(f"boto3 GetCallerIdentity for {profile!r} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout.strip()


def aws_cli(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The AWS CLI v1 (`aws ARGS...`), the one installed with the test extra."""
    return run([sys.executable, "-m", "awscli", *args], env=env, input=input, timeout=timeout)


def aws_cli_identity(profile: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    proc = aws_cli("sts", "get-caller-identity", "--profile", profile, "--output", "json", env=env,
                   timeout=timeout)
    if proc.returncode != 0:
        raise HarnessError(f"aws sts get-caller-identity --profile {profile} exited {proc.returncode}:\n"
                           f"{proc.stderr}")
    return json.loads(proc.stdout)["Arn"]


def assumed_role_arn(account_id: str, role_name: str, user: str = DEFAULT_USER) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{user}"


# -- the config ---------------------------------------------------------------------

def write_profile(name: str, account_id: str = "111111111111", role_name: str = "AdminRole", *,
                  session: str = DEFAULT_SESSION, region: str | None = "us-east-1",
                  start_url: str = DEFAULT_START_URL, sso_region: str = DEFAULT_REGION,
                  scopes: str = DEFAULT_SCOPES, env: Mapping[str, str] | None = None,
                  **extra_keys: str | None) -> Path:
    """Add or update a keyrack-managed profile and its [sso-session], as `keyrack set` writes them.

    `extra_keys` are raw keys of the profile section (keyrack_auto_unlock="never",
    keyrack_login="device", ...); None removes a key. Returns the config path.
    """
    from configupdater import ConfigUpdater

    path = config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    updater = ConfigUpdater()
    if path.exists():
        updater.read(str(path))
    _set_section(updater, f"profile {name}", {
        "credential_process": credential_process_command(name),
        "keyrack_sso_session": session,
        "keyrack_account_id": account_id,
        "keyrack_role_name": role_name,
        "region": region,
        **extra_keys,
    })
    _set_section(updater, f"sso-session {session}", {
        "sso_start_url": start_url,
        "sso_region": sso_region,
        "sso_registration_scopes": scopes,
    })
    path.write_text(str(updater), encoding="utf-8")
    return path


def _set_section(updater, section: str, values: Mapping[str, str | None]) -> None:
    if not updater.has_section(section):
        updater.add_section(section)
    for key, value in values.items():
        if value is None:
            updater.remove_option(section, key)
        else:
            updater.set(section, key, value)


# -- the AWS CLI v2 token cache (for interop tests) ----------------------------------

def token_path(session: str, env: Mapping[str, str] | None = None) -> Path:
    home = Path(_env(env)["HOME"])
    return home / ".aws" / "sso" / "cache" / (hashlib.sha1(session.encode("utf-8")).hexdigest() + ".json")


def write_cli_v2_token(session: str, token: Mapping[str, object], env: Mapping[str, str] | None = None) -> Path:
    """Write `token` (e.g. Sandbox.issue_session()) where the AWS CLI v2 keeps an sso-session's token.

    Written as the CLI v2 does: JSON, 0600 file in 0700 folders.
    """
    path = token_path(session, env)
    for folder in (path.parent.parent.parent, path.parent.parent, path.parent):
        folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dict(token), f)
    return path


def read_cli_v2_token(session: str, env: Mapping[str, str] | None = None) -> dict:
    return json.loads(token_path(session, env).read_text(encoding="utf-8"))


# -- the test browser ------------------------------------------------------------------

def install_browser(folder: Path) -> Path:
    """Write the test BROWSER script into `folder` (its logs go beside it); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "browser"
    script.write_text(f"#!{sys.executable}\n" + BROWSER_SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    script.chmod(0o755)
    return script


def _browser_dir(env: Mapping[str, str] | None) -> Path:
    return Path(_env(env)["BROWSER"]).parent


def browser_urls(env: Mapping[str, str] | None = None, at_least: int = 0, timeout: float = 60) -> list[str]:
    """Every URL the test browser was asked to open, in order.

    keyrack starts the browser detached and does not wait for it, so a test that
    expects a URL says how many (`at_least`): on a busy machine the browser may
    not have logged it yet when keyrack's own command has returned.
    """
    log = _browser_dir(env) / "browser.log"
    deadline = time.monotonic() + timeout
    while True:
        urls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if len(urls) >= at_least or time.monotonic() > deadline:
            return urls
        time.sleep(0.05)


def browser_fetches(env: Mapping[str, str] | None = None) -> list[str]:
    """The outcome of each background fetch: "<status> <final path>" or "error <Exception>"."""
    log = _browser_dir(env) / "browser-fetch.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def wait_for_browser_fetches(count: int = 1, env: Mapping[str, str] | None = None,
                             timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        fetches = browser_fetches(env)
        if len(fetches) >= count or time.monotonic() > deadline:
            return fetches
        time.sleep(0.05)


# -- a large organisation ------------------------------------------------------------------

def large_organisation(sandbox, size: str = "500x4", **settings: object) -> tuple:
    """Give the sandbox's user an organisation of `size` ("ACCOUNTSxROLES", as the sandbox's --org
    takes it) and apply `settings` (throttle_every=3, page_size=20, latency=0.01), until its reset.

    Returns the accounts (keyrack_sh.sandbox.Account, with their roles) the portal now lists.
    """
    from keyrack_sh.sandbox.state import parse_organisation

    accounts = sandbox.use_organisation(*parse_organisation(size))
    if settings:
        sandbox.configure(**settings)
    return accounts


# -- looking for leaks -------------------------------------------------------------------

def files_containing(root: Path, secrets: set[str] | frozenset[str]) -> list[Path]:
    """Files under `root` holding any of `secrets` (e.g. Sandbox.minted_secrets())."""
    found = []
    needles = [s.encode() for s in secrets if s]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(n in data for n in needles):
            found.append(path)
    return found
