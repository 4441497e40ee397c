"""A person at a terminal: each real shell, interactive in tmux, with the segment in its prompt.

The prompt changes as keyrack's state files change: nothing → locked (after
`keyrack use`) → unlocked with minutes → locked (token deleted) → nothing
(after `keyrack use --clear`).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from shell_support import (SHELLS, Tmux, make_env, render_hook, require, source, write_config,
                                 write_profile_state, write_session_state)

SETUP = {
    "bash": (["bash", "--noprofile", "--norc", "-i"],
             "PS1='${KEYRACK_PROMPT:+($KEYRACK_PROMPT) }bash$ '"),
    "zsh": (["zsh", "-f", "-i"],
            "setopt prompt_subst; PS1='${KEYRACK_PROMPT:+($KEYRACK_PROMPT) }zsh$ '"),
    "fish": (["fish", "--no-config", "--private", "-i"],
             "function fish_prompt; set -l s (keyrack_prompt); test -n \"$s\"; and printf '(%s) ' $s; "
             "printf 'fish$ '; end; function fish_greeting; end"),
}


@pytest.fixture
def term(request, tmp_path: Path):
    shell = request.param
    require(shell)
    require("tmux")
    env = make_env(tmp_path, TERM="xterm", KEYRACK_PROMPT_ASCII="1")
    write_config(env, {"acme.prod": "acme"})
    hook = render_hook(shell, tmp_path, env)
    argv, prompt = SETUP[shell]
    t = Tmux(argv, env, tmp_path)
    t.shell, t.env = shell, env  # type: ignore[attr-defined]
    t.type(f"{source(shell, hook)}; {prompt}")
    t.send("Enter")
    try:
        yield t
    finally:
        t.close()


@pytest.mark.parametrize("term", SHELLS, indirect=True)
def test_the_prompt_follows_the_lock_state(term, tmp_path):
    shell, env = term.shell, term.env
    term.wait_last(rf"{shell}\$")

    write_profile_state(env, "acme.prod", "acme")
    term.type("keyrack use acme.prod")
    term.send("Enter")
    term.wait_last(rf"\(\[locked\] acme\.prod\) {shell}\$")

    token = tmp_path / "token.json"
    token.write_text("{}")
    write_session_state(env, "acme", "unlocked", left=42 * 60 + 30, token=token)
    term.send("Enter")
    term.wait_last(rf"\(\[unlocked\] acme\.prod 42m\) {shell}\$")

    token.unlink()  # `aws sso logout` elsewhere
    term.send("Enter")
    term.wait_last(rf"\(\[locked\] acme\.prod\) {shell}\$")

    term.type("keyrack use --clear")
    term.send("Enter")
    screen = term.wait_last(rf"{shell}\$")
    assert "Traceback" not in screen and "error" not in screen.lower()
