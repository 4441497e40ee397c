"""The CLI frame: help for everything, one-line usage errors with exit 2."""
from __future__ import annotations

import subprocess
import sys

import pytest
from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)

from keyrack_sh import __version__
from keyrack_sh.cli import build_parser

SUBCOMMANDS = ["set", "unlock", "relock", "status", "list", "credential-process", "init",
               "use", "export", "exec", "console", "serve", "sync", "remove", "demo"]


def keyrack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keyrack_sh", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_every_documented_subcommand_is_registered() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert sorted(choices) == sorted(SUBCOMMANDS)


def test_version() -> None:
    proc = keyrack("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"keyrack {__version__}"


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(sub: str) -> None:
    proc = keyrack(sub, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: keyrack {sub}")


def test_keyrack_alone_prints_the_short_help_and_exits_0() -> None:
    proc = keyrack()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("usage: keyrack")
    assert all(f"    {sub} " in proc.stdout or f"    {sub}\n" in proc.stdout for sub in SUBCOMMANDS), proc.stdout


@pytest.mark.parametrize("args", [["bogus"], ["list", "--bogus-flag"], ["relock"], ["relock", "p", "--all"]])
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    proc = keyrack(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyrack: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [
    ["unlock", "ghost"], ["relock", "ghost"], ["relock", "--session", "ghost"], ["status", "ghost"],
    ["export", "ghost"], ["exec", "ghost", "--", "true"], ["remove", "ghost", "--yes"], ["use", "--check", "ghost"],
    ["unlock", "../x"], ["relock", "--session", "../x"],
])
def test_an_unknown_profile_or_session_is_exit_2_and_creates_nothing(home: Home, args: list[str]) -> None:
    # (credential-process is not here: its gate remembers a failure, so an SDK's retries stay cheap.)
    before = {p: p.read_bytes() if p.is_file() else None for p in home.root.rglob("*")}
    proc = home.keyrack(*args)
    assert_one_line_failure(proc, 2)
    assert {p: p.read_bytes() if p.is_file() else None for p in home.root.rglob("*")} == before
