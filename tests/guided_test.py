"""Guided `keyrack set` on a pseudo-terminal: pick an account and a role from several pages."""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TestHome
from harness import assumed_role_arn, boto3_identity, kill_group

from keyrack_sh.sandbox import Sandbox, many_accounts
from keyrack_sh.vaults.guided import suggest_profile_name

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()


class Terminal:
    """keyrack with a pseudo-terminal for stdin/stdout/stderr, driven like a person would."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import pty

        self.fd, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", *args], env={"TERM": "dumb", **env},
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = ""
        self.pos = 0

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.seen, self.pos)
            if match:
                self.pos = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout} s; the terminal shows:\n{self.seen[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: the program ended
                    data = b""
                if not data:
                    raise AssertionError(f"ended before {pattern!r}; the terminal shows:\n{self.seen[-3000:]}")
                self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")

    def answer(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\n")

    def wait(self, timeout: float = 120) -> int:
        try:
            self.expect(r"\Z(?!.)", timeout=0.01)
        except AssertionError:
            pass
        code = self.proc.wait(timeout=timeout)
        os.close(self.fd)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc.pid)
            self.proc.wait()


@pytest.fixture()
def terminal_factory(env: dict[str, str]):
    made: list[Terminal] = []

    def make(*args: str) -> Terminal:
        t = Terminal(list(args), {**env, "TERM": "dumb"})  # the numbered menus; tmux drives the arrow-key ones
        made.append(t)
        return t

    yield make
    for t in made:
        t.kill()


def test_guided_set_picks_an_account_and_role_from_several_pages(
        sandbox: Sandbox, isolated_home: TestHome, terminal_factory) -> None:
    sandbox.set_accounts(many_accounts(45))  # the portal pages 20 at a time: 3 pages
    isolated_home.config.write_bytes(RICH)
    term = terminal_factory("set")
    # The sso-sessions already in the config are offered first.
    term.expect(r"1\) corp +https://corp.awsapps.com/start +\(eu-central-1\)")
    term.expect(r"2\) another start URL")
    term.expect(r"Choose one: ")
    term.answer("2")
    term.expect(r"Start URL .*: ")
    term.answer(sandbox.start_url)
    term.expect(r"SSO region .*\[us-east-1\]: ")
    term.answer("")
    listing = term.expect(r"45 AWS accounts:\n((?:.*\n){45})")
    rows = listing.group(1).splitlines()
    assert rows[0].split() == ["1)", "Account", "000", "300000000000"]
    assert rows[44].split() == ["45)", "Account", "044", "300000000044"]
    assert len({row.index("3000000000") for row in rows}) == 1  # ids aligned in one column
    term.expect(r"Choose an account: ")
    term.answer("0")  # not a choice: asked again
    term.expect(r"type a number from 1 to 45")
    term.answer("42")
    term.expect(r"Roles in 300000000041:\n +1\) Role00\n +2\) Role01\n +3\) Role02\n")
    term.expect(r"Choose a role: ")
    term.answer("2")
    term.expect(r"Profile name \[account-041.role01\]: ")
    term.answer("")
    term.expect(r"Default region for the profile's AWS calls \[us-east-1\]: ")
    term.answer("eu-west-1")
    term.expect(r"ready: AWS_PROFILE=account-041.role01", timeout=120)
    assert term.wait() == 0, term.seen
    assert sandbox.count("ListAccounts") == 3
    # The sign-in that listed the accounts was the roundtrip's step 1: two browser trips in all.
    assert "1 unlock  signed in to sso-session keyrack-sandbox (to list your accounts)" in term.seen
    assert sandbox.sign_ins() == 2 and sandbox.count("Logout") == 1
    assert isolated_home.config.read_bytes().startswith(RICH)
    assert boto3_identity("account-041.role01") == assumed_role_arn("300000000041", "Role01")


def test_guided_set_offers_a_known_session_and_asks_only_what_is_missing(
        sandbox: Sandbox, isolated_home: TestHome, terminal_factory) -> None:
    isolated_home.config.write_text(
        f"[sso-session mine]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n")
    term = terminal_factory("set", "dev", "--account-id", "222222222222")
    term.expect(r"1\) mine ")
    term.answer("1")
    term.expect(r"Roles in 222222222222:\n +1\) AdminRole\n +2\) Developer\n")
    term.answer("2")
    term.expect(r"Default region .*\[us-east-1\]: ")
    term.answer("")
    term.expect(r"ready: AWS_PROFILE=dev", timeout=120)
    assert term.wait() == 0, term.seen
    assert sandbox.count("ListAccounts") == 0
    assert sandbox.sign_ins() == 2 and sandbox.count("Logout") == 1
    # Another profile on the now proven session: no browser, no sign-out.
    term = terminal_factory("set", "ops", "--sso-session", "mine", "--account-id", "111111111111")
    term.expect(r"Roles in 111111111111:\n +1\) AdminRole\n +2\) ReadOnly\n")
    term.answer("2")
    term.expect(r"Default region .*\[us-east-1\]: ")
    term.answer("")
    term.expect(r"ready: AWS_PROFILE=ops", timeout=120)
    assert term.wait() == 0, term.seen
    assert sandbox.sign_ins() == 2 and sandbox.count("Logout") == 1
    assert boto3_identity("dev") == assumed_role_arn("222222222222", "Developer")
    assert "keyrack_sso_session = mine" in isolated_home.config.read_text()


@pytest.mark.parametrize("account,role,name", [
    ("Production", "AdminRole", "production.adminrole"),
    ("ACME Corp (EU)", "AWSReadOnlyAccess", "acme-corp-eu.awsreadonlyaccess"),
    ("日本", "Dev", "dev"),
])
def test_suggested_profile_names_are_valid_names(account: str, role: str, name: str) -> None:
    assert suggest_profile_name(account, role) == name


def test_on_a_terminal_changed_values_are_shown_and_asked_for(
        sandbox: Sandbox, isolated_home: TestHome, terminal_factory) -> None:
    common = ["--start-url", sandbox.start_url, "--sso-region", sandbox.region, "--account-id", "111111111111",
              "--region", "eu-west-1", "--no-verify"]
    term = terminal_factory("set", "prod", "--role-name", "AdminRole", *common)
    assert term.wait() == 0, term.seen
    written = isolated_home.config.read_bytes()

    term = terminal_factory("set", "prod", "--role-name", "ReadOnly", *common)
    term.expect(r"-keyrack_role_name = AdminRole\n\+keyrack_role_name = ReadOnly\n")
    term.expect(r"Apply the changes above\? \[y/N\] ")
    term.answer("")  # the default is no
    term.expect(r"keyrack: nothing changed")
    assert term.wait() == 2
    assert isolated_home.config.read_bytes() == written

    term = terminal_factory("set", "prod", "--role-name", "ReadOnly", *common)
    term.expect(r"Apply the changes above\? \[y/N\] ")
    term.answer("y")
    assert term.wait() == 0, term.seen
    assert isolated_home.config.read_bytes() == written.replace(b"= AdminRole", b"= ReadOnly")
    assert sandbox.calls == []


def test_on_a_real_terminal_menus_take_arrow_keys_and_typing_filters(
        sandbox: Sandbox, isolated_home: TestHome, env: dict[str, str], tmp_path: Path) -> None:
    import shutil

    from shell_support import Tmux

    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    sandbox.set_accounts(many_accounts(45))
    term = Tmux([sys.executable, "-m", "keyrack_sh", "set", "--start-url", sandbox.start_url,
                 "--sso-region", sandbox.region], {**env, "TERM": "xterm-256color"}, tmp_path)
    try:
        term.wait_for(r"choose an account \(arrow keys, type to filter, Enter\)", timeout=60)
        term.type("account 04")  # filters: Account 040..044
        screen = term.wait_for(r"/ account 04")
        assert "Account 039" not in screen and "Account 044" in screen
        term.send("Down", "Enter")  # from Account 040 to 041
        term.wait_for(r"choose a role", timeout=30)
        term.send("Down", "Enter")  # Role00, then Role01
        term.wait_last(r"Profile name \[account-041.role01\]:", timeout=30)
        term.send("Enter")
        term.wait_last(r"Default region .*\[us-east-1\]:")
        term.send("Enter")
        screen = term.wait_for(r"ready: AWS_PROFILE=account-041.role01", timeout=120)
        assert "^[" not in screen
    finally:
        term.close()
    assert boto3_identity("account-041.role01") == assumed_role_arn("300000000041", "Role01")
    assert sandbox.sign_ins() == 2


def test_without_a_capable_terminal_the_menus_stay_numbered(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from keyrack_sh.vaults import guided

    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setattr("builtins.input", lambda prompt: "2")
    assert guided._choose("Roles:", ["A", "B"], "a role") == 1
    assert "  2) B" in capsys.readouterr().out
