"""The prompt, `status` and `list` tell the session's truth, whoever changed it, and agree.

Sessions signed in, refreshed or ended by the real AWS CLI v2 (/usr/bin/aws) show at the next
prompt of a real bash; one definition of time left (keyrack_sh/time_left.py) everywhere.
"""
from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
from clients import aws_v2  # noqa: F401 (fixture)
from engine_support import Home, arn, home  # noqa: F401 (fixture)

from harness import write_cli_v2_token
from keyrack_sh import cache, time_left
from shell_support import render_hook, require, run_shell, source

NATIVE = """
[profile native]
sso_session = s1
sso_account_id = 222222222222
sso_role_name = Developer
region = us-east-1
"""


@pytest.fixture
def bash_hook(home: Home, tmp_path: Path) -> Path:
    require("bash")
    return render_hook("bash", tmp_path, home.env)


def managed(home: Home, profile: str = "p1") -> None:
    """As `keyrack set` leaves the prompt state: the profile names its session."""
    proc = home.python(f"from keyrack_sh import prompt_state; prompt_state.write_profile({profile!r}, 's1')")
    assert proc.returncode == 0, proc.stderr


def prompts(home: Home, hook: Path, *commands: str, profile: str = "p1") -> list[str]:
    """One bash, one prompt after each command (run from that shell, as a user types them)."""
    show = "__keyrack_precmd; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    lines = [source("bash", hook), f"export AWS_PROFILE={profile}", show]
    for command in commands:
        lines += [f"{command} >/dev/null 2>&1 || echo failed: {shlex.quote(command)}", show]
    r = run_shell("bash", "\n".join(lines), {**home.env, "KEYRACK_PROMPT_ASCII": "1"}, strict=False, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def cli(aws_v2: tuple[str, ...], *args: str) -> str:
    return shlex.join([*aws_v2, *args])


def test_an_aws_cli_sign_in_used_through_keyrack_and_its_logout_show_at_the_next_prompt(
        home: Home, aws_v2, bash_hook: Path) -> None:
    managed(home)
    shown = prompts(home, bash_hook,
                    cli(aws_v2, "sso", "login", "--sso-session", "s1"),  # signed in by the AWS CLI v2
                    cli(aws_v2, "sts", "get-caller-identity", "--profile", "p1"),  # used through keyrack
                    cli(aws_v2, "sso", "logout"))
    assert home.sandbox.count("RegisterClient", client_name="keyrack") == 0  # keyrack signed nobody in
    left = json.loads(home.keyrack("status", "p1", "--json").stdout)  # (the session is over now)
    assert left["state"] == "locked"
    assert shown[0] == "[[locked] p1]"
    assert shown[1] == "[[unlocked] p1 ?]"  # a token keyrack has not read: signed in, time unknown
    assert re.fullmatch(r"\[\[unlocked\] p1 (59|60)m\]", shown[2]), shown  # its access token, no refresh token
    assert shown[3] == "[[locked] p1]"


def test_a_refresh_by_the_aws_cli_keeps_the_sign_in_s_end_in_the_prompt_and_status(
        home: Home, aws_v2, bash_hook: Path) -> None:
    managed(home)
    assert home.keyrack("unlock", "p1").returncode == 0
    before = json.loads(home.keyrack("status", "p1", "--json").stdout)
    token = json.loads(home.token_file("s1").read_text())
    expire = ("import json, sys; p = sys.argv[1]; t = json.load(open(p)); t['expiresAt'] = '2020-01-01T00:00:00Z'; "
              "json.dump(t, open(p, 'w'))")
    home.config.write_text(home.config.read_text() + NATIVE)
    shown = prompts(home, bash_hook,
                    shlex.join(["python3", "-c", expire, str(home.token_file("s1"))]),  # time passes...
                    cli(aws_v2, "sts", "get-caller-identity", "--profile", "native"),  # the CLI refreshes
                    cli(aws_v2, "sts", "get-caller-identity", "--profile", "p1"))  # keyrack sees it
    renewed = json.loads(home.token_file("s1").read_text())
    assert renewed["refreshToken"] != token["refreshToken"]  # the CLI refreshed (and rotated) it
    after = json.loads(home.keyrack("status", "p1", "--json").stdout)
    assert after["session_end"] == before["session_end"]  # a refresh keeps the sign-in's end
    # The shell counts from its whole second (up to 1 s more than status saw) and the commands take
    # time (less): from a second more to two minutes less than status said, never the CLI token's hour.
    near = {f"[[unlocked] p1 {time_left.render(before['seconds_left'] + d)}]" for d in range(-120, 2)}
    assert all(line in near for line in shown), shown


def views(home: Home, hook: Path) -> list[str]:
    """Time left as status --json, status, list and the prompt show it, in that order."""
    got = json.loads(home.keyrack("status", "p1", "--json").stdout)
    assert got["state"] == "unlocked", got
    text = home.keyrack("status", "p1").stdout
    listed = {line.split()[0]: line.split()[-1] for line in home.keyrack("list").stdout.splitlines()[1:]}
    prompt = prompts(home, hook)[0]
    return [time_left.render(got["seconds_left"]), re.search(r"unlocked, (\S+) left", text).group(1),
            listed["p1"], re.fullmatch(r"\[\[unlocked\] p1 (\S+)\]", prompt).group(1)]


def agree(shown: list[str]) -> str:
    """All four the same (or a minute less for a later one, if the clock moved on meanwhile)."""
    assert len(set(shown)) <= 2 and shown[-1] in shown, shown
    return shown[0]


def test_status_list_and_prompt_agree_after_keyrack_s_own_sign_in(home: Home, bash_hook: Path) -> None:
    managed(home)
    assert home.keyrack("unlock", "p1").returncode == 0
    # The session (8 h by default), not the access token's hour.
    assert agree(views(home, bash_hook)) in ("7h59m", "8h00m")


def test_status_list_and_prompt_agree_on_an_aws_cli_sign_in(home: Home, aws_v2, bash_hook: Path) -> None:
    managed(home)
    assert run_cli(home, aws_v2, "sso", "login", "--sso-session", "s1") == 0
    assert agree(views(home, bash_hook)) in ("59m", "1h00m")  # the CLI's token has no refresh token here


def run_cli(home: Home, aws_v2: tuple[str, ...], *args: str) -> int:
    from harness import run

    return run([*aws_v2, *args], env=home.env, timeout=120).returncode


def test_status_list_and_prompt_agree_on_an_expired_access_token_with_a_working_refresh_token(
        home: Home, bash_hook: Path) -> None:
    managed(home)
    token = home.sandbox.issue_session(client_name="botocore-client-s1")
    # Signed in by another tool 90 min ago (its one-hour access token ran out 30 min ago): it renews
    # until the 8-hour session's end, 6h30m from now, not "expired".
    write_cli_v2_token("s1", {**token, "expiresAt": cache.iso_z(time.time() - 1800)}, env=home.env)
    assert agree(views(home, bash_hook)) in ("6h29m", "6h30m")


def test_status_list_and_prompt_agree_without_a_refresh_token(home: Home, bash_hook: Path) -> None:
    managed(home)
    token = {k: v for k, v in home.sandbox.issue_session(refresh=False).items() if k != "refreshToken"}
    write_cli_v2_token("s1", token, env=home.env)
    assert agree(views(home, bash_hook)) in ("59m", "1h00m")  # the access token is all there is
