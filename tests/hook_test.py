"""The shell hook in real bash, zsh and fish: loads silently, `keyrack use`, pass-through, polite install."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from keyrack_sh import shells
from shell_support import (SHELLS, render_hook, require, run_shell, source, write_config,
                                 write_profile_state)

HOSTILE = [
    "$(touch pwned)",
    "`touch pwned`",
    "a;touch pwned",
    "a'b",
    'a"b',
    "a\nb",
    "a\\",
    "../../etc/passwd",
    "-rf",
    "prød",
    "a b",
    "*",
]


@pytest.fixture
def shenv(tmp_path: Path) -> dict[str, str]:
    from shell_support import make_env

    return make_env(tmp_path)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_hook_loads_in_strict_mode_with_no_output(shell, hooks, shenv):
    require(shell)
    check = "functions -q keyrack; and functions -q keyrack_prompt" if shell == "fish" else "typeset -f keyrack >/dev/null"
    r = run_shell(shell, f"{source(shell, hooks[shell])}\n{check}", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_eval_of_keyrack_init_works_as_documented(shell, shenv):
    require(shell)
    import sys

    cli = f"{sys.executable} -m keyrack_sh"
    line = {
        "bash": f'eval "$({cli} init bash)"',
        "zsh": f'eval "$({cli} init zsh)"',
        "fish": f"{cli} init fish | source",
    }[shell]
    r = run_shell(shell, f"{line}\nkeyrack --version", shenv)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("keyrack ") and r.stderr == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_keyrack_use_sets_and_clears_aws_profile(shell, hooks, shenv):
    require(shell)
    write_config(shenv, {"acme.prod": "acme"})
    show = 'echo "[$AWS_PROFILE]"' if shell != "fish" else 'echo "[$AWS_PROFILE]"'
    unset_ok = "set -q AWS_PROFILE; or echo unset" if shell == "fish" else 'echo "${AWS_PROFILE-unset}"'
    r = run_shell(shell, "\n".join([source(shell, hooks[shell]), "keyrack use acme.prod", show,
                                    "keyrack use --clear", unset_ok]), shenv)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout == "[acme.prod]\nunset\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name,why", [("nope", "is not in"), ("theirs", "not managed by keyrack")])
def test_keyrack_use_refuses_a_profile_that_is_not_keyrack_s(shell, name, why, hooks, shenv):
    require(shell)
    write_config(shenv, {"acme.prod": "acme"}, foreign=("theirs",))
    shenv["AWS_PROFILE"] = "acme.prod"
    status = "echo status=$status" if shell == "fish" else "echo status=$?"
    r = run_shell(shell, f"{source(shell, hooks[shell])}\nkeyrack use {name}\n{status}\n"
                         'echo "[$AWS_PROFILE]"', shenv, strict=False)
    assert r.stdout == "status=2\n[acme.prod]\n"
    assert len(r.stderr.splitlines()) == 1 and why in r.stderr and r.stderr.startswith("keyrack: ")


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_names_given_to_keyrack_use_are_never_executed(shell, hooks, shenv, tmp_path):
    require(shell)
    write_config(shenv, {"acme.prod": "acme"})
    shenv["AWS_PROFILE"] = "acme.prod"
    q = shells.QUOTERS[shell]
    status = "echo status=$status" if shell == "fish" else "echo status=$?"
    lines = [source(shell, hooks[shell])]
    for name in HOSTILE:
        lines += [f"keyrack use {q(name)}", status]
    lines.append('echo "[$AWS_PROFILE]"')
    r = run_shell(shell, "\n".join(lines), shenv, strict=False, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert r.stdout.splitlines() == ["status=2"] * len(HOSTILE) + ["[acme.prod]"]
    errors = r.stderr.splitlines()
    assert len(errors) == len(HOSTILE) and all(e.startswith("keyrack: ") for e in errors)


@pytest.mark.parametrize("shell", SHELLS)
def test_keyrack_use_outside_the_hook_says_how_to_install_it(shell, shenv):
    import subprocess
    import sys

    write_config(shenv, {"acme.prod": "acme"})
    r = subprocess.run([sys.executable, "-m", "keyrack_sh", "use", "acme.prod"], env=shenv,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "keyrack init" in r.stderr


# -- pass-through -----------------------------------------------------------------
STUB = """#!/bin/sh
# A stand-in CLI: prints its arguments one per line, exits with the code in $KEYRACK_STUB_EXIT.
for a in "$@"; do printf '<%s>\\n' "$a"; done
exit "${KEYRACK_STUB_EXIT:-0}"
"""


def _stub_hook(shell: str, tmp_path: Path) -> Path:
    """The real template, rendered with the CLI path pointing at a stub in an awkward folder."""
    folder = tmp_path / "we ird'$(touch pwned)\\dir"
    folder.mkdir()
    stub = folder / "keyrack"
    stub.write_text(STUB)
    stub.chmod(0o755)
    ctx = dataclasses.replace(shells.build_context(shell), cli=(str(stub),))
    path = tmp_path / f"stub-hook.{shell}"
    path.write_text(shells.render(ctx))
    return path


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("code", [0, 1, 2, 130])
def test_every_other_subcommand_passes_through_with_its_exit_code(shell, code, shenv, tmp_path):
    require(shell)
    hook = _stub_hook(shell, tmp_path)
    shenv["KEYRACK_STUB_EXIT"] = str(code)
    status = "echo status=$status" if shell == "fish" else "echo status=$?"
    q = shells.QUOTERS[shell]
    r = run_shell(shell, f"{source(shell, hook)}\nkeyrack unlock {q('a b')} {q('$(x)')} --json\n{status}",
                  shenv, strict=False, cwd=tmp_path)
    assert r.stdout == f"<unlock>\n<a b>\n<$(x)>\n<--json>\nstatus={code}\n"
    assert r.stderr == "" and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_real_cli_s_exit_codes_pass_through(shell, hooks, shenv):
    require(shell)
    status = "echo status=$status" if shell == "fish" else "echo status=$?"
    r = run_shell(shell, "\n".join([source(shell, hooks[shell]),
                                    "keyrack --version >/dev/null", status,
                                    "keyrack no-such-command 2>/dev/null", status,
                                    "keyrack init bash >/dev/null", status]), shenv, strict=False)
    assert r.stdout == "status=0\nstatus=2\nstatus=0\n", r.stderr


# -- polite install -----------------------------------------------------------------
def test_bash_prepends_to_a_string_prompt_command_once_and_keeps_it(hooks, shenv):
    require("bash")
    r = run_shell("bash", "\n".join([
        "PROMPT_COMMAND='echo mine'",
        source("bash", hooks["bash"]), source("bash", hooks["bash"]),
        'printf "%s\\n" "$PROMPT_COMMAND"',
        "eval \"$PROMPT_COMMAND\"",
    ]), shenv)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "__keyrack_precmd;echo mine\nmine\n"


def test_bash_prepends_to_an_array_prompt_command(hooks, shenv):
    require("bash")
    r = run_shell("bash", "\n".join([
        "PROMPT_COMMAND=('echo one' 'echo two')",
        source("bash", hooks["bash"]), source("bash", hooks["bash"]),
        'printf "%s|" "${PROMPT_COMMAND[@]}"',
    ]), shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "__keyrack_precmd|echo one|echo two|", "")


def test_bash_uses_bash_preexec_s_precmd_functions_when_present(hooks, shenv):
    require("bash")
    r = run_shell("bash", "\n".join([
        "__bp_imported=defined; precmd_functions=(theirs); PROMPT_COMMAND='__bp_precmd_invoke_cmd'",
        source("bash", hooks["bash"]), source("bash", hooks["bash"]),
        'printf "%s|" "${precmd_functions[@]}" "$PROMPT_COMMAND"',
    ]), shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "__keyrack_precmd|theirs|__bp_precmd_invoke_cmd|", "")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_prompt_hook_keeps_the_exit_status(shell, hooks, shenv):
    require(shell)
    r = run_shell(shell, f"{source(shell, hooks[shell])}\n(exit 7) || __keyrack_precmd || echo kept=$?",
                  shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "kept=7\n", "")


def test_zsh_adds_one_precmd_hook_first_and_keeps_others(hooks, shenv):
    require("zsh")
    r = run_shell("zsh", "\n".join([
        "autoload -Uz add-zsh-hook; theirs() { :; }; add-zsh-hook precmd theirs",
        source("zsh", hooks["zsh"]), source("zsh", hooks["zsh"]),
        'print -r -- "${(j:|:)precmd_functions}"',
    ]), shenv)
    # no compinit here: the one-time completion hint runs last, at the first prompt only
    assert (r.returncode, r.stdout, r.stderr) == (0, "__keyrack_precmd|theirs|__keyrack_compinit_hint\n", "")


def test_fish_updates_the_segment_on_the_fish_prompt_event(hooks, shenv):
    require("fish")
    write_profile_state(shenv, "acme.prod", "acme")
    shenv.update(AWS_PROFILE="acme.prod", KEYRACK_PROMPT_ASCII="1")
    r = run_shell("fish", f"{source('fish', hooks['fish'])}\necho \"[$KEYRACK_PROMPT]\"\nemit fish_prompt\n"
                          "echo \"[$KEYRACK_PROMPT]\" (keyrack_prompt)", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "[]\n[[locked] acme.prod] [locked] acme.prod\n", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_no_prompt_leaves_the_prompt_alone(shell, shenv, tmp_path):
    require(shell)
    hook = render_hook(shell, tmp_path, shenv, "--no-prompt")
    check = {"bash": 'echo "[${PROMPT_COMMAND-}]"',
             "zsh": 'echo "[${precmd_functions-}]"',
             "fish": "functions -q __keyrack_prompt_update; or echo '[]'"}[shell]
    r = run_shell(shell, f"{source(shell, hook)}\n{check}", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "[]\n", "")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_doctor_says_once_when_a_later_rc_line_dropped_the_prompt_hook(shell, hooks, shenv):
    require(shell)
    write_config(shenv, {"acme.prod": "acme"})
    drop = "PROMPT_COMMAND=''" if shell == "bash" else "precmd_functions=()"
    r = run_shell(shell, f"{source(shell, hooks[shell])}\n{drop}\nkeyrack use acme.prod\nkeyrack use acme.prod", shenv)
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "prompt hook is gone" in r.stderr
    r = run_shell(shell, f"{source(shell, hooks[shell])}\nkeyrack use acme.prod", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_keyrack_use_notes_environment_keys_that_would_win_over_the_profile(shell, hooks, shenv):
    require(shell)
    write_config(shenv, {"acme.prod": "acme"})
    shenv["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
    r = run_shell(shell, f"{source(shell, hooks[shell])}\nkeyrack use acme.prod\necho \"[$AWS_PROFILE]\"", shenv)
    assert (r.returncode, r.stdout) == (0, "[acme.prod]\n")
    assert r.stderr.count("\n") == 1 and "unset AWS_ACCESS_KEY_ID" in r.stderr and "AKIAEXAMPLE" not in r.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_an_old_keyrack_alias_does_not_break_the_hook(shell, hooks, shenv):
    require(shell)
    pre = "shopt -s expand_aliases; " if shell == "bash" else ""
    r = run_shell(shell, f"{pre}alias keyrack='echo aliased'\n{source(shell, hooks[shell])}\nkeyrack --version", shenv)
    assert (r.returncode, r.stderr) == (0, "") and r.stdout.startswith("keyrack ")
