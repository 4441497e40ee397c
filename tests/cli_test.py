"""The CLI frame: help for everything, one-line usage errors with exit 2."""
from __future__ import annotations

import subprocess
import sys

import pytest

from keyrack_sh import __version__
from keyrack_sh.cli import build_parser

SUBCOMMANDS = ["set", "unlock", "relock", "status", "list", "credential-process", "init",
               "use", "export", "exec", "console", "serve", "remove", "demo"]


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


@pytest.mark.parametrize("args", [["bogus"], ["list", "--bogus-flag"], ["relock"], []])
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    proc = keyrack(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyrack: "), proc.stderr
    assert "Traceback" not in proc.stderr
