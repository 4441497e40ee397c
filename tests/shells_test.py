"""keyrack_sh.shells: quoting per shell, rendering, shell detection, the start-up cache and its rc line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyrack_sh import __version__, shells
from shell_support import SHELLS, make_env, require, run_shell, source

AWKWARD = ["", "plain", "a b", "it's", 'say "hi"', "$(touch pwned)", "`touch pwned`", "a;b&c|d",
           "back\\slash", "trailing\\", "\\'", "new\nline", "tab\there", "prød ✓", "*", "~", "-n", "%s", "{}"]


@pytest.fixture
def shenv(tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path)


@pytest.mark.parametrize("shell", SHELLS)
def test_quoted_values_come_back_byte_for_byte_from_the_real_shell(shell, shenv, tmp_path):
    require(shell)
    quote = shells.QUOTERS[shell]
    script = "\n".join(f"printf '%s\\0' {quote(v)}" for v in AWKWARD)
    r = run_shell(shell, script, shenv, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.split("\0")[:-1] == AWKWARD
    assert not (tmp_path / "pwned").exists()


def test_safe_words_stay_bare_and_others_are_quoted():
    assert shells.sh_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert shells.sh_quote("a b") == "'a b'"
    assert shells.fish_quote("trailing\\") == "'trailing\\\\'"
    assert shells.fish_quote("it's") == "'it\\'s'"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("prompt", [True, False])
def test_every_template_renders_completely(shell, prompt):
    text = shells.render(shells.build_context(shell, prompt=prompt))
    assert not re.search(r"\{\{ |\{%-? | -?%\}| \}\}", text), "unrendered jinja"
    assert f"keyrack {__version__} hook for {shell}" in text
    assert ("__keyrack_prompt_update" in text) is prompt
    assert "keyrack()" in text or "function keyrack " in text


SAFE_UNFILTERED = {"ctx.version", "ctx.template_id", '"{"'}


@pytest.mark.parametrize("shell", SHELLS)
def test_every_value_in_a_template_goes_through_the_shell_s_quoting(shell):
    text = shells.template_path(shell).read_text()
    for expr in re.findall(r"\{\{(.*?)\}\}", text):
        expr = expr.strip()
        assert expr in SAFE_UNFILTERED or re.search(r"\|\s*(q|words)$", expr), f"unquoted: {{{{ {expr} }}}}"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_hook_runs_keyrack_by_its_absolute_path(shell):
    ctx = shells.build_context(shell)
    assert os.path.isabs(ctx.cli[0])
    assert shells.QUOTERS[shell](ctx.cli[0]) in shells.render(ctx)


def test_the_bash_hook_passes_shellcheck(tmp_path):
    require("shellcheck")
    for prompt in (True, False):
        for cache in (None, tmp_path / "init.bash"):
            hook = tmp_path / "hook.bash"
            ctx = shells.build_context("bash", prompt=prompt, cache_file=cache)
            hook.write_text(shells.render(ctx))
            r = subprocess.run(["shellcheck", str(hook)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout


def test_the_zsh_and_fish_hooks_parse(tmp_path):
    for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])):
        require(shell)
        for prompt in (True, False):
            for cache in (None, tmp_path / f"init.{shell}"):
                hook = tmp_path / f"hook.{shell}"
                hook.write_text(shells.render(shells.build_context(shell, prompt=prompt, cache_file=cache)))
                r = subprocess.run([*check, str(hook)], capture_output=True, text=True, timeout=60)
                assert (r.returncode, r.stderr) == (0, ""), (shell, r.stderr)


def test_the_fish_hook_and_completion_are_fish_indent_clean(tmp_path):
    require("fish")
    texts = {"completion": shells.completion_path("fish").read_text()}
    for prompt in (True, False):
        for cache in (None, tmp_path / "init.fish"):
            texts[f"hook prompt={prompt} cache={cache}"] = shells.render(
                shells.build_context("fish", prompt=prompt, cache_file=cache))
    for what, text in texts.items():
        r = subprocess.run(["fish_indent"], input=text, capture_output=True, text=True, timeout=60)
        assert r.stdout == text, what


# -- which shell ---------------------------------------------------------------
@pytest.mark.parametrize("shell", SHELLS)
def test_init_without_a_shell_detects_the_calling_shell(shell, shenv):
    require(shell)
    # `; true`: so the shell forks the CLI instead of exec-ing it (the shell must be its parent).
    r = run_shell(shell, f"{sys.executable} -m keyrack_sh init; true", shenv)
    assert r.returncode == 0 and f"hook for {shell}" in r.stdout[:200]


def test_an_unknown_shell_is_one_clear_line_and_exit_2(shenv):
    shenv["SHELL"] = "/bin/tcsh"
    r = subprocess.run(["sh", "-c", f"{sys.executable} -m keyrack_sh init"], env=shenv, capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.count("\n") == 1 and "keyrack init bash|zsh|fish" in r.stderr


def test_an_unknown_shell_argument_is_an_argparse_error(shenv):
    r = subprocess.run([sys.executable, "-m", "keyrack_sh", "init", "tcsh"], env=shenv, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "tcsh" in r.stderr


def test_detection_falls_back_to_dollar_shell(monkeypatch):
    import shellingham

    def fail() -> tuple[str, str]:
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", fail)
    monkeypatch.setenv("SHELL", "/usr/local/bin/zsh")
    assert shells.detect_shell() == "zsh"


# -- the start-up cache ----------------------------------------------------------
def _write(shell: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keyrack_sh", "init", shell, "--write", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("shell", SHELLS)
def test_init_write_prints_an_rc_line_that_loads_the_hook_without_python(shell, shenv):
    require(shell)
    r = _write(shell, shenv)
    assert (r.returncode, r.stderr) == (0, "")
    line = r.stdout.rstrip("\n")
    assert "\n" not in line
    cached = Path(shenv["XDG_CACHE_HOME"]) / "keyrack" / f"init.{shell}"
    assert cached.is_file() and str(cached) in line
    assert f"keyrack {__version__} hook for {shell}" in cached.read_text()
    # With PATH emptied, only builtins and the cached file can define keyrack.
    env = {**shenv, "PATH": "/nonexistent"}
    check = "functions -q keyrack_prompt; and echo ok" if shell == "fish" else "typeset -f __keyrack_prompt_update >/dev/null && echo ok"
    r = run_shell(shell, f"{line}\n{check}", env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_rc_line_falls_back_to_rendering_when_the_file_is_missing(shell, shenv):
    require(shell)
    line = shells.rc_line(shell, Path(shenv["XDG_CACHE_HOME"]) / "keyrack" / f"init.{shell}")
    r = run_shell(shell, f"{line}\nkeyrack --version", shenv)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout == f"keyrack {__version__}\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_stale_cached_hook_rewrites_itself_once(shell, shenv):
    require(shell)
    assert _write(shell, shenv).returncode == 0
    cached = Path(shenv["XDG_CACHE_HOME"]) / "keyrack" / f"init.{shell}"
    old = time.time() - 10 * 86400  # older than the template and the package: as after an upgrade
    cached.write_text(cached.read_text() + "# stale marker\n")
    os.utime(cached, (old, old))
    check = "functions -q keyrack; and echo ok" if shell == "fish" else "typeset -f keyrack >/dev/null && echo ok"
    r = run_shell(shell, f"{source(shell, cached)}\n{check}", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    assert "# stale marker" not in cached.read_text() and cached.stat().st_mtime > old + 86400
    # Fresh now: sourcing again does not rewrite it.
    before = cached.stat().st_mtime_ns
    r = run_shell(shell, f"{source(shell, cached)}\n{check}", {**shenv, "PATH": "/nonexistent"})
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    assert cached.stat().st_mtime_ns == before


def test_the_no_prompt_choice_survives_a_rewrite(shenv):
    require("bash")
    assert _write("bash", shenv, "--no-prompt").returncode == 0
    cached = Path(shenv["XDG_CACHE_HOME"]) / "keyrack" / "init.bash"
    os.utime(cached, (0, 0))
    r = run_shell("bash", f"{source('bash', cached)}\necho \"[${{PROMPT_COMMAND-}}]\"", shenv)
    assert (r.returncode, r.stdout, r.stderr) == (0, "[]\n", "")
    assert "__keyrack_prompt_update" not in cached.read_text()


def test_rc_line_quotes_an_awkward_cache_path():
    line = shells.rc_line("bash", Path("/tmp/it's here/init.bash"))
    assert "'/tmp/it'\\''s here/init.bash'" in line
    line = shells.rc_line("fish", Path("/tmp/it's here/init.fish"))
    assert "'/tmp/it\\'s here/init.fish'" in line
