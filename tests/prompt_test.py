"""The prompt segment in real bash, zsh and fish, driven by the state files of the prompt contract.

Per docs/ARCHITECTURE.md: prompt/profiles/<profile> holds the sso-session name;
prompt/sessions/<session> holds `<locked|unlocked> <access_expires> <session_end> <token_file>`.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from keyrack_sh import shells
from shell_support import (SHELLS, make_env, require, run_shell, shell_argv, source,
                                 write_profile_state, write_session_state)

M = 60
H = 3600
SLACK = 30  # seconds of headroom so a slow test run still shows the same minute


@pytest.fixture
def shenv(tmp_path: Path) -> dict[str, str]:
    env = make_env(tmp_path)
    env["AWS_PROFILE"] = "acme.prod"
    return env


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "home" / ".aws" / "sso" / "cache" / "0123abcd.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    return path


def segment(shell: str, hook: Path, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run one prompt update in `shell` and return KEYRACK_PROMPT; the shell must say nothing else."""
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    r = run_shell(shell, f"{source(shell, hook)}\n{update}\nprintf '[%s]' \"$KEYRACK_PROMPT\"", env, cwd=cwd)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    m = re.fullmatch(r"\[(.*)\]", r.stdout, re.S)
    assert m, r.stdout
    return m.group(1)


@pytest.mark.parametrize("shell", SHELLS)
def test_nothing_without_an_active_keyrack_profile(shell, hooks, shenv):
    require(shell)
    assert segment(shell, hooks[shell], shenv) == ""  # AWS_PROFILE has no profile file
    del shenv["AWS_PROFILE"]
    write_profile_state(shenv, "acme.prod", "acme")
    assert segment(shell, hooks[shell], shenv) == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_locked_unlocked_expiring_and_locked_again(shell, hooks, shenv, token):
    require(shell)
    write_profile_state(shenv, "acme.prod", "acme")
    assert segment(shell, hooks[shell], shenv) == "🔒 acme.prod"  # no session file yet

    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    assert segment(shell, hooks[shell], shenv) == "🔓 acme.prod 42m"

    write_session_state(shenv, "acme", "unlocked", left=3 * H + 5 * M + SLACK, token=token)
    assert segment(shell, hooks[shell], shenv) == "🔓 acme.prod 3h05m"

    write_session_state(shenv, "acme", "unlocked", left=9 * M + SLACK, token=token)
    assert segment(shell, hooks[shell], shenv) == "⌛ acme.prod 9m"

    write_session_state(shenv, "acme", "locked", left=0, token=token)
    assert segment(shell, hooks[shell], shenv) == "🔒 acme.prod"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_session_ended_outside_keyrack_shows_locked(shell, hooks, shenv, token):
    require(shell)
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=2 * H, token=token)
    assert segment(shell, hooks[shell], shenv) == "🔓 acme.prod 2h00m"
    token.unlink()  # `aws sso logout`
    assert segment(shell, hooks[shell], shenv) == "🔒 acme.prod"
    token.write_text("{}")
    write_session_state(shenv, "acme", "unlocked", left=-5, token=token)  # session end has passed
    assert segment(shell, hooks[shell], shenv) == "🔒 acme.prod"


@pytest.mark.parametrize("shell", SHELLS)
def test_ascii_symbols_off_utf8_or_when_asked(shell, hooks, shenv, token):
    require(shell)
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    assert segment(shell, hooks[shell], {**shenv, "LANG": "C"}) == "[unlocked] acme.prod 42m"
    assert segment(shell, hooks[shell], {**shenv, "KEYRACK_PROMPT_ASCII": "1"}) == "[unlocked] acme.prod 42m"
    write_session_state(shenv, "acme", "unlocked", left=5 * M + SLACK, token=token)
    assert segment(shell, hooks[shell], {**shenv, "LANG": "C"}) == "[expiring] acme.prod 5m"
    write_session_state(shenv, "acme", "locked", left=0, token=token)
    assert segment(shell, hooks[shell], {**shenv, "LANG": "C"}) == "[locked] acme.prod"


@pytest.mark.parametrize("shell", SHELLS)
def test_format_threshold_symbols_and_keyrack_home_are_the_user_s(shell, hooks, shenv, tmp_path, token):
    require(shell)
    shenv["KEYRACK_HOME"] = str(tmp_path / "else where's \\ [x]")
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    env = {**shenv, "KEYRACK_PROMPT_FORMAT": "aws(%p|%t|%s) &", "KEYRACK_PROMPT_WARN": str(H),
           "KEYRACK_PROMPT_EXPIRING": "!"}
    assert segment(shell, hooks[shell], env) == "aws(acme.prod|42m|!) &"
    assert segment(shell, hooks[shell], {**shenv, "KEYRACK_PROMPT_FORMAT": "%p"}) == "acme.prod"


HOSTILE_VALUES = ["$(touch pwned)", "`touch pwned`", "a[$(touch pwned)]", "x;touch pwned", "../../etc",
                  "a b", "*", "'", '"', "\\", "prød", "a\nb", "-x"]


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_profile_names_show_nothing_and_run_nothing(shell, hooks, shenv, tmp_path):
    require(shell)
    for value in HOSTILE_VALUES:
        assert segment(shell, hooks[shell], {**shenv, "AWS_PROFILE": value}, cwd=tmp_path) == ""
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_state_files_and_settings_run_nothing(shell, hooks, shenv, tmp_path, token):
    require(shell)
    profile = write_profile_state(shenv, "acme.prod", "acme")
    session = write_session_state(shenv, "acme", "unlocked", left=H, token=token)
    for line in ["unlocked a[$(touch pwned)] a[$(touch pwned)] $(touch pwned)",
                 "unlocked 1 $(touch pwned)", "unlocked 1 1+$(touch pwned)", "unlocked 9999999999999999999 x",
                 "$(touch pwned)", "", "unlocked\n"]:
        session.write_text(line)
        assert segment(shell, hooks[shell], shenv, cwd=tmp_path) == "🔒 acme.prod"
    for name in ["$(touch pwned)", "../sessions/acme", "a b"]:
        profile.write_text(name + "\n")
        assert segment(shell, hooks[shell], shenv, cwd=tmp_path) == "🔒 acme.prod"
    profile.write_text("acme\n")
    session.write_text(f"unlocked 1 {int(__import__('time').time()) + 42 * M + SLACK} {token}\n")
    env = {**shenv, "KEYRACK_PROMPT_WARN": "a[$(touch pwned)]", "KEYRACK_PROMPT_FORMAT": "$(touch pwned) %p %t",
           "KEYRACK_PROMPT_UNLOCKED": "`touch pwned`"}
    assert segment(shell, hooks[shell], env, cwd=tmp_path) == "$(touch pwned) acme.prod 42m"
    assert segment(shell, hooks[shell], {**shenv, "KEYRACK_HOME": "$(touch pwned)"}, cwd=tmp_path) == ""
    assert not (tmp_path / "pwned").exists()


def _hostile(kind: str, path: Path) -> None:
    import os

    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)  # a read of it would wait forever for a writer
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(20 << 20)  # 20 MB of NUL bytes, which bash's read skips without counting
    else:
        path.mkdir()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "folder"])
@pytest.mark.parametrize("shell", SHELLS)
def test_a_fifo_a_device_a_huge_file_or_a_folder_in_the_state_files_never_hangs_the_prompt(
        shell, hooks, shenv, token, kind):
    require(shell)
    profile = write_profile_state(shenv, "acme.prod", "acme")
    session = write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    generation = session.parent.parent / "generation"
    _hostile(kind, generation)  # nothing vouched for: the files are read, and still tell the truth
    assert segment(shell, hooks[shell], shenv) == "🔓 acme.prod 42m"
    _hostile(kind, session)
    assert segment(shell, hooks[shell], shenv) == "🔒 acme.prod"  # a session state it cannot read: locked
    _hostile(kind, profile)
    assert segment(shell, hooks[shell], shenv) in ("", "🔒 acme.prod")  # never unlocked, never a hang


# -- one shell, many prompts: the last render is reused only while it is still true ---------
_WRITER = """
import os, sys, time
from keyrack_sh import prompt_state
what, now = sys.argv[1], int(time.time())
if what in ("unlocked", "locked"):  # keyrack read the token file: its line carries the file's mtime
    try:
        seen = os.stat(sys.argv[3]).st_mtime_ns
    except OSError:
        seen = None
    prompt_state.write_session("acme", locked=what == "locked", access_expires=now + 600,
                               session_end=now + int(sys.argv[2]), token_file=sys.argv[3], token_mtime_ns=seen)
elif what == "relock":
    prompt_state.mark_locked("acme")
elif what == "remove":
    prompt_state.remove_profile("acme.prod")
else:
    prompt_state.write_profile("acme.prod", "acme")
"""


def _keyrack_writes(what: str, *args: str) -> str:
    """A shell line in which keyrack's own prompt_state (not the test) writes the state files."""
    import shlex
    import sys

    return shlex.join([sys.executable, "-c", _WRITER, what, *args])


@pytest.mark.parametrize("shell", SHELLS)
def test_within_one_shell_every_change_shows_at_the_very_next_prompt(shell, hooks, shenv, token):
    require(shell)
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    steps = [
        ("profile", ()), ("unlocked", (str(42 * M + SLACK), str(token))),
        (None, ()), (None, ()),  # unchanged: the same segment twice more
        ("unlocked", (str(3 * H + 5 * M + SLACK), str(token))),  # a refresh, within the same second
        ("relock", ()), ("unlocked", (str(9 * M + SLACK), str(token))),
        ("rm", ()),  # `aws sso logout`
        ("remove", ()), ("profile", ()),
    ]
    lines = [source(shell, hooks[shell])]
    for what, args in steps:
        if what == "rm":
            lines.append(f"rm {shells.QUOTERS[shell](str(token))}")
        elif what is not None:
            lines.append(_keyrack_writes(what, *args))
        lines.append(show)
    r = run_shell(shell, "\n".join(lines), shenv, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "[🔒 acme.prod]", "[🔓 acme.prod 42m]", "[🔓 acme.prod 42m]", "[🔓 acme.prod 42m]",
        "[🔓 acme.prod 3h05m]", "[🔒 acme.prod]", "[⌛ acme.prod 9m]", "[🔒 acme.prod]", "[]", "[🔒 acme.prod]",
    ]


# A newline, a run of spaces, both quotes, `$`, a backslash and a trailing space.
ODD_HOME = "home of 'o\"dd'  $USER\\\nline two "


@pytest.mark.parametrize("shell", SHELLS)
def test_a_home_with_a_newline_and_odd_characters_shows_a_live_session_as_unlocked(shell, tmp_path):
    import sys

    require(shell)
    home = tmp_path / ODD_HOME
    env = make_env(tmp_path, HOME=str(home), AWS_PROFILE="acme.prod", AWS_CONFIG_FILE=str(home / ".aws" / "config"))
    del env["XDG_CACHE_HOME"]  # the hook's cache file under ~/.cache too, as most users have it
    token = home / ".aws" / "sso" / "cache" / "0123abcd.json"
    token.parent.mkdir(parents=True)
    token.write_text("{}")
    # As install.sh sets it up: `keyrack init SHELL --write` renders the hook, the rc line sources it.
    rc = subprocess.run([sys.executable, "-m", "keyrack_sh", "init", shell, "--write"], env=env,
                        capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert (home / ".cache" / "keyrack" / f"init.{shell}").is_file()
    q = shells.QUOTERS[shell]

    def keyrack_writes(*args: str) -> str:
        return " ".join(q(word) for word in (sys.executable, "-c", _WRITER, *args))

    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    lines = [rc, keyrack_writes("profile"), show, keyrack_writes("unlocked", str(42 * M + SLACK), str(token)),
             show, show, f"rm {q(str(token))}", show]
    r = run_shell(shell, "\n".join(lines), env, timeout=60)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == ["[🔒 acme.prod]", "[🔓 acme.prod 42m]", "[🔓 acme.prod 42m]", "[🔒 acme.prod]"]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_token_file_another_tool_writes_or_removes_shows_at_the_very_next_prompt(shell, hooks, shenv):
    """`aws sso login` / a refresh / `aws sso logout` by another tool, with keyrack's line unchanged."""
    require(shell)
    from keyrack_sh import paths

    home = Path(shenv["HOME"])
    token = home / ".aws" / "sso" / "cache" / (hashlib.sha1(b"acme").hexdigest() + ".json")
    assert str(token).endswith(str(paths.token_file("acme").relative_to(paths.home())))
    token.parent.mkdir(parents=True)
    q = shells.QUOTERS[shell](str(token))
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    # A builtin: in place, as the AWS CLI v2 rewrites it. fish compares whole seconds (`path mtime`).
    other_tool_writes = ("sleep 1.1; " if shell == "fish" else "") + f"printf '{{}}' > {q}"
    steps = [
        _keyrack_writes("profile"),  # `keyrack set`: the session's line names its token file
        other_tool_writes,  # `aws sso login`: signed in, for a time keyrack has not read yet
        "",  # unchanged
        _keyrack_writes("unlocked", str(42 * M + SLACK), str(token)),  # keyrack read it
        "",
        other_tool_writes,  # a refresh by another tool: the sign-in's end stands
        _keyrack_writes("locked", "0", str(token)),  # keyrack read it: expired, no refresh token
        "",
        other_tool_writes,  # signed in again elsewhere
        f"rm {q}",  # `aws sso logout`
        "",
    ]
    lines = [source(shell, hooks[shell])]
    for step in steps:
        lines += [step, show] if step else [show]
    r = run_shell(shell, "\n".join(lines), shenv, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "[🔒 acme.prod]", "[🔓 acme.prod ?]", "[🔓 acme.prod ?]", "[🔓 acme.prod 42m]", "[🔓 acme.prod 42m]",
        "[🔓 acme.prod 42m]", "[🔒 acme.prod]", "[🔒 acme.prod]", "[🔓 acme.prod ?]", "[🔒 acme.prod]",
        "[🔒 acme.prod]",
    ]


SET = {"bash": "export {name}={value}", "zsh": "export {name}={value}", "fish": "set -gx {name} {value}"}
UNSET = {"bash": "unset {name}", "zsh": "unset {name}", "fish": "set -e {name}"}


@pytest.mark.parametrize("shell", SHELLS)
def test_within_one_shell_the_segment_follows_the_profile_and_the_settings(shell, hooks, shenv, token):
    require(shell)
    q = shells.QUOTERS[shell]
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    subprocess.run(_keyrack_writes("profile"), shell=True, env=shenv, check=True)
    subprocess.run(_keyrack_writes("unlocked", str(42 * M + SLACK), str(token)), shell=True, env=shenv, check=True)
    locked = write_profile_state(shenv, "acme.locked", "nobody")  # a session never unlocked: locked

    def set_(name: str, value: str) -> str:
        return SET[shell].format(name=name, value=q(value))

    lines = [source(shell, hooks[shell]), show,
             set_("KEYRACK_PROMPT_FORMAT", "%p|%t"), show,
             set_("KEYRACK_PROMPT_FORMAT", "%p"), set_("KEYRACK_PROMPT_WARN", "%t|"), show,
             UNSET[shell].format(name="KEYRACK_PROMPT_FORMAT"), UNSET[shell].format(name="KEYRACK_PROMPT_WARN"),
             set_("LANG", "C"), show, set_("LANG", "C.UTF-8"),
             set_("AWS_PROFILE", "someone.else"), show,
             set_("AWS_PROFILE", "acme.locked"), show,
             set_("KEYRACK_PROMPT_LOCKED", ""), show, UNSET[shell].format(name="KEYRACK_PROMPT_LOCKED"), show,
             set_("AWS_PROFILE", "acme.prod"), show]
    r = run_shell(shell, "\n".join(lines), shenv, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "[🔓 acme.prod 42m]", "[acme.prod|42m]", "[acme.prod]", "[[unlocked] acme.prod 42m]", "[]",
        "[🔒 acme.locked]", "[ acme.locked]", "[🔒 acme.locked]", "[🔓 acme.prod 42m]",
    ]
    assert locked.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_minutes_left_move_on_while_nothing_else_changes(shell, hooks, shenv, token):
    require(shell)
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    # 42 min 5 s left, then 8 s later 41 min: fish's clock (boot time + uptime) may lag by a second.
    lines = [source(shell, hooks[shell]), _keyrack_writes("profile"),
             _keyrack_writes("unlocked", str(42 * M + 5), str(token)), show, "sleep 8", show]
    r = run_shell(shell, "\n".join(lines), shenv, timeout=60)
    assert r.stdout.splitlines() == ["[🔓 acme.prod 42m]", "[🔓 acme.prod 41m]"], r.stderr


def test_bash_options_and_an_unset_clock_never_bend_the_reuse(hooks, shenv, token, tmp_path):
    require("bash")
    subprocess.run(_keyrack_writes("profile"), shell=True, env=shenv, check=True)
    subprocess.run(_keyrack_writes("unlocked", str(42 * M + SLACK), str(token)), shell=True, env=shenv, check=True)
    write_profile_state(shenv, "Acme.prod", "nobody")  # another profile, locked, differing only in case
    show = "__keyrack_precmd; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    lines = [source("bash", hooks["bash"]), "shopt -s nocasematch", show, "AWS_PROFILE=Acme.prod", show,
             "AWS_PROFILE=acme.prod", show,
             # Unset, $EPOCHSECONDS is no clock: never reuse (and never evaluate what it holds).
             "unset EPOCHSECONDS", show, "EPOCHSECONDS='a[$(touch pwned)]'", show]
    r = run_shell("bash", "\n".join(lines), shenv, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout.splitlines() == ["[🔓 acme.prod 42m]", "[🔒 Acme.prod]", "[🔓 acme.prod 42m]",
                                     "[🔓 acme.prod 42m]", "[🔓 acme.prod 42m]"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("date", ["on PATH", "missing"])
def test_bash_without_epochseconds_or_printf_time_falls_back_quietly(hooks, shenv, token, tmp_path, date):
    """macOS's /bin/bash 3.2 has neither $EPOCHSECONDS nor printf's %(...)T: emulated here with both
    gone for the whole shell. The segment is still right and nothing is printed at any prompt; with no
    clock at all (no `date` either) it shows locked, never unlocked."""
    require("bash")
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    if date == "missing":
        bare = tmp_path / "bare-bin"
        bare.mkdir()
        shenv = {**shenv, "PATH": str(bare)}
    show = "__keyrack_precmd; echo \"[$KEYRACK_PROMPT]\""
    lines = ["unset EPOCHSECONDS", "enable -n printf", source("bash", hooks["bash"]), show, show]
    r = run_shell("bash", "\n".join(lines), shenv)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    want = "[🔓 acme.prod 42m]" if date == "on PATH" else "[🔒 acme.prod]"
    assert r.stdout.splitlines() == [want, want]


@pytest.mark.parametrize("shell", SHELLS)
def test_an_unchanged_state_is_not_read_again_at_each_prompt(shell, hooks, shenv, tmp_path, token):
    require(shell)
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    subprocess.run(_keyrack_writes("profile"), shell=True, env=shenv, check=True)
    subprocess.run(_keyrack_writes("unlocked", str(42 * M + SLACK), str(token)), shell=True, env=shenv, check=True)
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    script = "\n".join([source(shell, hooks[shell])] + [f"{update}; printf '[%s]' \"$KEYRACK_PROMPT\""] * 5)
    out = tmp_path / "opens.txt"
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", str(out),
                        *shell_argv(shell, script)], env=shenv, capture_output=True, text=True, timeout=60)
    assert r.stdout == "[🔓 acme.prod 42m]" * 5, r.stderr
    opened = [line for line in out.read_text().splitlines() if "/prompt/" in line]
    # The first prompt reads the generation, the profile's and the session's files; the next four nothing.
    assert len(opened) == 3 and "/prompt/generation" in opened[0], "\n".join(opened)


# -- the per-prompt cost ----------------------------------------------------------
def _stub_path(tmp_path: Path) -> Path:
    """A PATH of failing stubs: any external command a prompt ran would leave a mark."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("date", "cat", "stat", "head", "sed", "awk", "cut", "tr", "printf", "test", "python3",
                 "keyrack", "mkdir", "touch", "rm", "ls", "find", "basename", "dirname", "expr"):
        (stubs / name).write_text(f"#!/bin/sh\n/usr/bin/touch {shells.sh_quote(str(stubs))}/ran-{name}\nexit 97\n")
        (stubs / name).chmod(0o755)
    return stubs


def _trace(shell: str, script: str, env: dict[str, str], out: Path) -> list[str]:
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not installed")
    r = subprocess.run([strace, "-f", "-qq", "-e", "trace=execve,clone,clone3,fork,vfork", "-o", str(out),
                        *shell_argv(shell, script)], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return out.read_text().splitlines()


def _spawns(lines: list[str]) -> tuple[list[str], list[str]]:
    execs = [line for line in lines if " execve(" in line]
    forks = [line for line in lines if re.search(r" (clone3?|v?fork)\(", line) and "CLONE_THREAD" not in line]
    return execs, forks


ROUNDS = 6


def _prompt_rounds(shell: str, hook: Path, token: Path) -> str:
    """Source the hook, then draw prompts through every state, ending each with a print."""
    update = "__keyrack_precmd" if shell != "fish" else "emit fish_prompt"
    lines = [source(shell, hook)]
    for _ in range(ROUNDS // 2):
        lines += [update, "printf '[%s]' \"$KEYRACK_PROMPT\""]
    return "\n".join(lines)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_bash_and_zsh_prompts_start_no_process_at_all(shell, hooks, shenv, tmp_path, token):
    require(shell)
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    stubs = _stub_path(tmp_path)
    shenv["PATH"] = str(stubs)
    script = _prompt_rounds(shell, hooks[shell], token)
    lines = _trace(shell, script, shenv, tmp_path / "strace.txt")
    execs, forks = _spawns(lines)
    assert len(execs) == 1 and forks == [], "\n".join(lines)  # the shell's own execve only
    assert not list(stubs.glob("ran-*"))
    r = run_shell(shell, script, shenv)
    assert r.stdout == "[🔓 acme.prod 42m]" * (ROUNDS // 2)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_watching_the_token_file_for_other_tools_starts_no_process_either(shell, hooks, shenv, tmp_path, token):
    """Locked with a token file another tool wrote, locked with none, and keyrack's own line."""
    require(shell)
    write_profile_state(shenv, "acme.prod", "acme")
    stubs = _stub_path(tmp_path)
    script = _prompt_rounds(shell, hooks[shell], token)
    for state, shown in [("locked", "[🔓 acme.prod ?]"), ("gone", "[🔒 acme.prod]"), ("locked", "[🔒 acme.prod]")]:
        if state == "gone":
            token.unlink()
        write_session_state(shenv, "acme", "locked", left=0, token=token)
        if shown.endswith("?]"):
            token.write_text('{"expiresAt": "later"}')  # written after keyrack's line
            os.utime(token, ns=(0, token.stat().st_mtime_ns + 1))
        if state == "locked" and not token.exists():
            token.write_text("{}")
            write_session_state(shenv, "acme", "locked", left=0, token=token)
        lines = _trace(shell, script, {**shenv, "PATH": str(stubs)}, tmp_path / f"strace-{state}.txt")
        execs, forks = _spawns(lines)
        assert len(execs) == 1 and forks == [], "\n".join(lines)
        assert run_shell(shell, script, shenv).stdout == shown * (ROUNDS // 2)
    assert not list(stubs.glob("ran-*"))


def test_fish_prompt_starts_at_most_one_process_and_none_on_linux(hooks, shenv, tmp_path, token):
    """At most one (`date`, where there is no /proc); on Linux, none: boot time + /proc/uptime."""
    require("fish")
    write_profile_state(shenv, "acme.prod", "acme")
    write_session_state(shenv, "acme", "unlocked", left=42 * M + SLACK, token=token)
    script = _prompt_rounds("fish", hooks["fish"], token)
    stubs = _stub_path(tmp_path)
    shenv["PATH"] = str(stubs)
    lines = _trace("fish", script, shenv, tmp_path / "strace.txt")
    execs, forks = _spawns(lines)
    draws = ROUNDS // 2
    assert len(execs) <= 1 + draws and len(forks) <= draws, "\n".join(lines)
    if Path("/proc/uptime").exists():
        assert len(execs) == 1 and forks == [], "\n".join(lines)
        assert not list(stubs.glob("ran-*"))
    r = run_shell("fish", script, shenv)
    assert r.stdout == "[🔓 acme.prod 42m]" * draws
    # Locked: nothing to time, so never a process.
    write_session_state(shenv, "acme", "locked", left=0, token=token)
    execs, forks = _spawns(_trace("fish", script, shenv, tmp_path / "strace2.txt"))
    assert len(execs) == 1 and forks == []


# -- end to end: the engine writes the state, the shell shows it -------------------------
@pytest.mark.parametrize("shell", SHELLS)
def test_unlock_relock_and_logout_against_the_sandbox_show_in_the_prompt(shell, hooks, env, sandbox, tmp_path):
    """`keyrack unlock` (real sign-in against the sandbox, through the shell function), relock, and a
    deleted token file, each seen by the next prompt with the right minutes."""
    require(shell)
    from harness import token_path, write_profile

    write_profile("acme.prod", session="acme", env=env)
    write_profile_state(env, "acme.prod", "acme")  # as `keyrack set` leaves it
    # Short access tokens, a 42 min 50 s session: the prompt must show the session end, not the token's.
    sandbox.set_lifetimes(access=600)
    env.update(KEYRACK_SESSION_DURATION=str(42 * M + 50), KEYRACK_PROMPT_ASCII="1")
    status = "echo status=$status" if shell == "fish" else "echo status=$?"
    update = "emit fish_prompt" if shell == "fish" else "__keyrack_precmd"
    show = f"{update}; printf '[%s]\\n' \"$KEYRACK_PROMPT\""
    script = "\n".join([source(shell, hooks[shell]),
                        "keyrack use acme.prod", show,
                        "keyrack unlock acme.prod >/dev/null", status, show])
    r = run_shell(shell, script, env, strict=False, timeout=120)
    assert r.stdout.splitlines() == ["[[locked] acme.prod]", "status=0", "[[unlocked] acme.prod 42m]"], r.stderr

    relock = "\n".join([source(shell, hooks[shell]), "keyrack use acme.prod",
                        "keyrack relock acme.prod >/dev/null", status, show])
    r = run_shell(shell, relock, env, strict=False, timeout=120)
    assert r.stdout.splitlines() == ["status=0", "[[locked] acme.prod]"], r.stderr

    # Unlocked again, then the token file vanishes (`aws sso logout`): locked at the next prompt.
    r = run_shell(shell, "\n".join([source(shell, hooks[shell]), "keyrack use acme.prod",
                                    "keyrack unlock acme.prod >/dev/null", show]), env, strict=False, timeout=120)
    assert r.stdout.splitlines() == ["[[unlocked] acme.prod 42m]"], r.stderr
    token_path("acme", env).unlink()
    r = run_shell(shell, "\n".join([source(shell, hooks[shell]), "keyrack use acme.prod", show]), env)
    assert r.stdout.splitlines() == ["[[locked] acme.prod]"], r.stderr
