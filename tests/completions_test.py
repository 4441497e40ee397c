"""Completions in their real shells, loaded by the hook, kept in step with cli.build_parser()."""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest

from keyrack_sh import cli, shells
from shell_support import (SHELLS, Tmux, make_env, require, run_shell, source,
                                 write_profile_state)

PROFILE_COMMANDS = ("set", "unlock", "relock", "status", "credential-process", "use", "export", "exec", "serve", "remove")


def _parser_surface() -> dict[str, list[str]]:
    """Every subcommand with its visible flags, from the real argparse definitions."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [opt for action in p._actions if action.help != argparse.SUPPRESS
                   for opt in action.option_strings]
            for name, p in sub.choices.items()}


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_files_mention_every_subcommand_and_flag(shell):
    text = shells.completion_path(shell).read_text()
    words = set(re.findall(r"(?<![\w-])-{0,2}[A-Za-z][\w-]*", text))
    if shell == "fish":  # fish spells flags as `-l name` / `-s y`
        words |= {f"--{w}" for w in re.findall(r"-l ([\w-]+)", text)}
        words |= {f"-{w}" for w in re.findall(r"-s (\w)\b", text)}
    if shell == "zsh":  # brace expansion: {--yes,-y}
        words |= {w for group in re.findall(r"\{([^}]*)\}", text) for w in group.split(",")}
    missing = [f"{cmd} {flag}".strip() for cmd, flags in _parser_surface().items()
               for flag in ["", *flags] if (flag or cmd) not in words]
    assert missing == []
    for value in (*cli.SHELLS, *cli.EXPORT_FORMATS):
        assert value in words


def test_the_completion_files_pass_their_linters():
    import subprocess

    for tool, argv in (("shellcheck", ["shellcheck", str(shells.completion_path("bash"))]),
                       ("zsh", ["zsh", "-n", str(shells.completion_path("zsh"))]),
                       ("fish", ["fish", "--no-execute", str(shells.completion_path("fish"))])):
        require(tool)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), argv


@pytest.fixture
def shenv(tmp_path: Path) -> dict[str, str]:
    env = make_env(tmp_path)
    for name in ("acme.prod", "acme.dev", "other"):
        write_profile_state(env, name, "acme")
    (Path(env["HOME"]) / ".aws" / "keyrack" / "prompt" / "sessions").mkdir(parents=True, exist_ok=True)
    (Path(env["HOME"]) / ".aws" / "keyrack" / "prompt" / "sessions" / "acme").write_text("locked 0 0 \n")
    return env


# -- bash -----------------------------------------------------------------------
def _bash_complete(hook: Path, env: dict[str, str], line: str, before: str = ":") -> list[str]:
    """What bash's programmable completion offers for `line` (the cursor at its end)."""
    script = "\n".join([
        before,
        source("bash", hook),
        'read -r -a COMP_WORDS <<<"$LINE"',
        '[[ $LINE == *" " ]] && COMP_WORDS+=("")',
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=$LINE; COMP_POINT=${#LINE}",
        "_keyrack keyrack \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    r = run_shell("bash", script, {**env, "LINE": line})
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return sorted(r.stdout.split())


def test_bash_registers_the_completion_when_the_hook_loads(hooks, shenv):
    require("bash")
    r = run_shell("bash", f"{source('bash', hooks['bash'])}\ncomplete -p keyrack", shenv)
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "complete -F _keyrack keyrack", "")


@pytest.mark.parametrize("line,expected", [
    ("keyrack ", ["console", "credential-process", "demo", "exec", "export", "init", "list", "relock", "remove",
                  "serve", "set", "status", "sync", "unlock", "use"]),
    ("keyrack un", ["unlock"]),
    ("keyrack unlock ", ["acme.dev", "acme.prod", "other"]),
    ("keyrack use acme.", ["acme.dev", "acme.prod"]),
    ("keyrack unlock acme.prod ", []),
    ("keyrack init ", ["bash", "fish", "zsh"]),
    ("keyrack export acme.prod --format ", ["dotenv", "env", "env-no-export", "fish", "json", "powershell"]),
    ("keyrack relock --session ", ["acme"]),
    ("keyrack set --auto-unlock ", ["always", "never", "tty"]),
    ("keyrack init --", ["--help", "--no-prompt", "--write"]),
    ("keyrack relock --", ["--all", "--help", "--json", "--session"]),
    ("keyrack status --", ["--all", "--help", "--json"]),
    ("keyrack list ", []),
    ("keyrack sync --sso-session ", ["acme"]),
    ("keyrack sync --pr", ["--prefix", "--prune"]),
    ("keyrack sync --template ", []),
    ("keyrack sync ", []),
])
def test_bash_completes(hooks, shenv, line, expected):
    require("bash")
    assert _bash_complete(hooks["bash"], shenv, line) == expected


def test_bash_completes_exec_without_bash_4_builtins(hooks, shenv):
    """macOS's /bin/bash 3.2 has no mapfile/readarray: emulated by disabling them."""
    require("bash")
    old = "enable -n mapfile readarray"
    assert "echo" in _bash_complete(hooks["bash"], shenv, "keyrack exec acme.prod -- ech", before=old)
    hook = str(hooks["bash"])
    assert _bash_complete(hooks["bash"], shenv, f"keyrack exec acme.prod -- cat {hook[:-2]}", before=old) == [hook]


# -- fish -----------------------------------------------------------------------
def _fish_complete(hook: Path, env: dict[str, str], line: str) -> list[str]:
    q = shells.fish_quote
    r = run_shell("fish", f"{source('fish', hook)}\ncomplete -C {q(line)}", env)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return sorted(row.split("\t")[0] for row in r.stdout.splitlines())


@pytest.mark.parametrize("line,expected", [
    ("keyrack un", ["unlock"]),
    ("keyrack unlock ", ["acme.dev", "acme.prod", "other"]),
    ("keyrack use acme.", ["acme.dev", "acme.prod"]),
    ("keyrack unlock acme.prod ", []),
    ("keyrack init ", ["bash", "fish", "zsh"]),
    ("keyrack export acme.prod --format ", ["dotenv", "env", "env-no-export", "fish", "json", "powershell"]),
    ("keyrack relock --session ", ["acme"]),
    ("keyrack sync --sso-session ", ["acme"]),
    ("keyrack init --", ["--help", "--no-prompt", "--write"]),
    ("keyrack status --", ["--all", "--help", "--json"]),
])
def test_fish_completes(hooks, shenv, line, expected):
    require("fish")
    assert _fish_complete(hooks["fish"], shenv, line) == expected


def test_fish_lists_every_subcommand(hooks, shenv):
    require("fish")
    offered = set(_fish_complete(hooks["fish"], shenv, "keyrack "))
    assert set(_parser_surface()) <= offered


# -- zsh (a real interactive zsh in tmux: compinit, then TAB) ------------------------
@pytest.fixture
def zsh_term(hooks, shenv, tmp_path):
    require("zsh")
    require("tmux")
    term = Tmux(["zsh", "-f", "-i"], {**shenv, "TERM": "xterm"}, tmp_path)
    term.type(f"PS1='zsh> '; autoload -Uz compinit; compinit -u -D; {source('zsh', hooks['zsh'])}; echo ready")
    term.send("Enter")
    term.wait_for(r"^ready$")
    term.wait_last(r"zsh>")
    yield term
    term.close()


def test_zsh_completes_subcommands_profiles_and_values(zsh_term):
    zsh_term.type("keyrack unl")
    zsh_term.send("Tab")
    zsh_term.wait_for(r"^zsh> keyrack unlock\s*$")
    zsh_term.send("Tab")
    screen = zsh_term.wait_for(r"acme\.prod")
    assert "acme.dev" in screen and "other" in screen
    zsh_term.send("C-c")
    zsh_term.wait_last(r"zsh>")
    zsh_term.type("keyrack export acme.prod --format ")
    zsh_term.send("Tab")
    screen = zsh_term.wait_for(r"\bpowershell\s*$")
    assert all(f in screen.split() for f in ("dotenv", "env", "env-no-export", "fish", "json")), screen
    zsh_term.send("C-c")
    zsh_term.wait_last(r"zsh>")
    zsh_term.type("keyrack init z")
    zsh_term.send("Tab")
    zsh_term.wait_for(r"^zsh> keyrack init zsh\s*$")


def _zsh_first_prompts(hook: Path, env: dict[str, str], before: str = ":", after: str = ":") -> subprocess.CompletedProcess[str]:
    """Source the hook between `before` and `after` (the rest of a ~/.zshrc), then run two prompts' precmd."""
    prompt = "for f in $precmd_functions; do $f; done"
    return run_shell("zsh", "\n".join([before, source("zsh", hook), after, prompt, prompt,
                                       "if (( ${+_comps} )); then print -r -- ${_comps[keyrack]-none}; else print none; fi"]), env)


HINT = ("keyrack: zsh completes nothing until compinit runs "
        "(hint: add 'autoload -Uz compinit && compinit' to ~/.zshrc before keyrack's line)\n")


def test_zsh_without_compinit_says_once_what_to_add(hooks, shenv):
    require("zsh")
    (Path(shenv["XDG_CACHE_HOME"]) / "keyrack").mkdir(parents=True, exist_ok=True)
    first = _zsh_first_prompts(hooks["zsh"], shenv)
    assert (first.returncode, first.stdout, first.stderr) == (0, "none\n", HINT)
    again = _zsh_first_prompts(hooks["zsh"], shenv)  # the next shell of the same user
    assert (again.returncode, again.stdout, again.stderr) == (0, "none\n", "")


@pytest.mark.parametrize("where", ["before", "after"])
def test_zsh_completion_registers_with_compinit_before_or_after_the_hook(hooks, shenv, where):
    require("zsh")
    compinit = "autoload -Uz compinit; compinit -u -D"
    r = _zsh_first_prompts(hooks["zsh"], shenv, **{where: compinit})
    assert (r.returncode, r.stdout, r.stderr) == (0, "_keyrack\n", "")


# -- speed: TAB over 2,000 profiles -----------------------------------------------------
MANY = 2000


@pytest.fixture
def many(shenv):
    folder = Path(shenv["HOME"]) / ".aws" / "keyrack" / "prompt" / "profiles"
    for i in range(MANY):
        (folder / f"team{i:04d}.prod").write_text("acme\n")
    return shenv


# Completing 2000 profiles: every name offered. How fast is bench/'s to judge, not a test's.
def test_bash_lists_2000_profiles(hooks, many):
    require("bash")
    script = "\n".join([
        source("bash", hooks["bash"]),
        "COMP_WORDS=(keyrack unlock ''); COMP_CWORD=2",
        "_keyrack",
        'echo "${#COMPREPLY[@]}"',
    ])
    r = run_shell("bash", script, many)
    assert int(r.stdout) == MANY + 3, r.stdout


def test_fish_lists_2000_profiles(hooks, many):
    require("fish")
    script = "\n".join([
        source("fish", hooks["fish"]),
        "complete -C 'keyrack list ' >/dev/null",
        "set -l n (count (complete -C 'keyrack unlock '))",
        "echo $n",
    ])
    r = run_shell("fish", script, many)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert int(r.stdout) == MANY + 3, r.stdout


def test_zsh_globs_2000_profiles(hooks, many):
    require("zsh")
    comp = shells.completion_path("zsh")
    script = "\n".join([
        f"source {shells.sh_quote(str(comp))} 2>/dev/null || :",  # defines the helpers (compadd is absent)
        "local -a reply; _keyrack_names profiles",
        "echo $#reply",
    ])
    r = run_shell("zsh", script, many, strict=False)
    assert int(r.stdout) == MANY + 3, r.stdout
