"""Helpers for the shell tests: real bash, zsh and fish in a temporary HOME.

Every shell runs without rc files and in strict mode where the shell has one
(bash -eu, zsh -eu), with stdin closed, so a hook that prints, fails or reads
an unset variable shows up as output or a non-zero exit.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from keyrack_sh import shells

REPO = Path(__file__).resolve().parent.parent
SHELLS = ("bash", "zsh", "fish")
IN_CI = os.environ.get("CI") == "true"


def have(shell: str) -> bool:
    return shutil.which(shell) is not None


def require(shell: str) -> None:
    """Skip when a shell is missing, except in CI, where that is a failure."""
    import pytest

    if not have(shell):
        if IN_CI:
            pytest.fail(f"{shell} is not installed (CI must install bash, zsh, fish)")
        pytest.skip(f"{shell} is not installed")


def make_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment: temporary HOME, XDG cache and AWS config; no AWS_* from outside."""
    home = tmp / "home"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_DATA_HOME": str(tmp / "xdg-data"),
    }
    env.update(extra)
    return env


def keyrack_home(env: dict[str, str]) -> Path:
    return Path(env.get("KEYRACK_HOME") or Path(env["HOME"]) / ".aws" / "keyrack")


def shell_argv(shell: str, script: str, strict: bool = True) -> list[str]:
    """Started by absolute path, so a test may give the shell a PATH of stubs."""
    exe = shutil.which(shell) or shell
    if shell == "bash":
        return [exe, "--noprofile", "--norc", *(["-eu"] if strict else []), "-c", script]
    if shell == "zsh":
        return [exe, "-f", *(["-eu"] if strict else []), "-c", script]
    return [exe, "--no-config", "--private", "-c", script]


def run_shell(shell: str, script: str, env: dict[str, str], *, strict: bool = True,
              cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shell_argv(shell, script, strict), env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def render_hook(shell: str, tmp: Path, env: dict[str, str], *args: str) -> Path:
    """`keyrack init SHELL` through the real CLI, saved to a file the tests source."""
    out = subprocess.run([sys.executable, "-m", "keyrack_sh", "init", shell, *args], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    path = tmp / f"hook.{shell}"
    path.write_text(out.stdout)
    return path


def source(shell: str, path: Path) -> str:
    return f"source {shells.QUOTERS[shell](str(path))}"


# -- state files, per the prompt contract in docs/ARCHITECTURE.md --------------------
def write_profile_state(env: dict[str, str], profile: str, session: str) -> Path:
    path = keyrack_home(env) / "prompt" / "profiles" / profile
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(session + "\n")
    return path


def write_session_state(env: dict[str, str], session: str, state: str, *, left: int,
                        access_left: int | None = None, token: Path | None = None) -> Path:
    now = int(time.time())
    path = keyrack_home(env) / "prompt" / "sessions" / session
    path.parent.mkdir(parents=True, exist_ok=True)
    access = now + (left if access_left is None else access_left)
    path.write_text(f"{state} {access} {now + left} {token or ''}\n")
    if token is not None and token.exists():  # as keyrack writes it: the token file's mtime (prompt_state)
        mtime = token.stat().st_mtime_ns
        os.utime(path, ns=(mtime, mtime))
    return path


def write_config(env: dict[str, str], managed: dict[str, str], foreign: tuple[str, ...] = ()) -> None:
    """An AWS config with keyrack-managed profiles (name -> session) and foreign ones."""
    from keyrack_sh import resources

    lines: list[str] = []
    for name, session in managed.items():
        lines += [f"[profile {name}]",
                  f"credential_process = {resources.credential_process_command(name)}",
                  f"keyrack_sso_session = {session}",
                  "keyrack_account_id = 111122223333",
                  "keyrack_role_name = ReadOnly",
                  "region = eu-west-1", ""]
    for session in sorted(set(managed.values())):
        lines += [f"[sso-session {session}]", "sso_start_url = https://example.awsapps.com/start",
                  "sso_region = us-east-1", ""]
    for name in foreign:
        lines += [f"[profile {name}]", "region = us-east-1", ""]
    Path(env["AWS_CONFIG_FILE"]).write_text("\n".join(lines))


# -- a real terminal -----------------------------------------------------------------
class Tmux:
    """One shell in a detached tmux session on a private socket: type keys, read the screen."""

    def __init__(self, argv: list[str], env: dict[str, str], tmp: Path, width: int = 160) -> None:
        import shlex
        import tempfile

        # A short folder: unix socket paths are limited to ~100 bytes.
        self._dir = tempfile.mkdtemp(prefix="krtmux")
        self.socket = os.path.join(self._dir, "s")
        self.env = {**env, "TMUX_TMPDIR": self._dir}
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y", "40",
                   shlex.join(argv))

    def _tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-u", "-S", self.socket, *args], env=self.env, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {r.stderr.strip()}")
        return r.stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, pattern: str, timeout: float = 10) -> str:
        """The screen, once `pattern` (a regex) is on it; fails with the screen otherwise."""
        import re

        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text, re.M):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared on the screen:\n{text}")
            time.sleep(0.05)

    def wait_last(self, pattern: str, timeout: float = 10) -> str:
        """The screen, once its last non-empty line matches `pattern` in full (the current prompt)."""
        import re

        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            lines = [line.rstrip() for line in text.splitlines() if line.strip()]
            if lines and re.fullmatch(pattern, lines[-1]):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the last line never matched {pattern!r}:\n{text}")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self._tmux("kill-server")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self._dir, ignore_errors=True)
