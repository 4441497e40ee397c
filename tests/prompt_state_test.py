"""prompt_state: the secretless files the prompt reads, and the generation that tells a shell,
with one stat, whether keyrack has written any of them since it last read them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from keyrack_sh import paths, prompt_state


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KEYRACK_HOME", raising=False)
    return tmp_path


def generation() -> str:
    return paths.prompt_generation_file().read_text().strip()


def links() -> list[str]:
    return sorted(os.listdir(paths.prompt_dir() / "links"))


def test_every_write_bumps_the_generation_whose_link_names_the_current_file_alone() -> None:
    prompt_state.write_session("acme", locked=False, access_expires=100, session_end=200, token_file="/t")
    assert paths.prompt_session_file("acme").read_text() == "unlocked 100 200 /t\n"
    first = generation()
    assert links() == [f"generation@{first}"]
    assert os.path.samefile(paths.prompt_generation_file(), paths.prompt_generation_link(first))

    for write in (lambda: prompt_state.mark_locked("acme"), lambda: prompt_state.write_profile("acme.prod", "acme"),
                  lambda: prompt_state.write_profile("acme.prod", "acme"), lambda: prompt_state.remove_profile("acme.prod"),
                  lambda: prompt_state.remove_session("acme")):
        before = generation()
        write()
        assert generation() != before
        assert links() == [f"generation@{generation()}"]  # the shells that read `before` read again
    assert not paths.prompt_profile_file("acme.prod").exists()
    assert not paths.prompt_session_file("acme").exists()


def test_removing_what_is_not_there_changes_nothing() -> None:
    prompt_state.write_profile("acme.prod", "acme")
    before = generation()
    prompt_state.remove_profile("someone.else")
    assert generation() == before


def test_the_files_and_the_link_are_private_and_the_completions_see_only_profile_names() -> None:
    prompt_state.write_profile("acme.prod", "acme")
    prompt_state.mark_locked("acme")
    for path in (paths.prompt_profile_file("acme.prod"), paths.prompt_session_file("acme"),
                 paths.prompt_generation_file()):
        assert path.stat().st_mode & 0o777 == 0o600
    for folder in ("links", "profiles", "sessions"):
        assert (paths.prompt_dir() / folder).stat().st_mode & 0o777 == 0o700
    assert os.listdir(paths.prompt_dir() / "profiles") == ["acme.prod"]  # what `keyrack <TAB>` lists


def test_a_failed_set_restores_only_a_session_name_it_can_trust() -> None:
    from keyrack_sh.commands import set as set_command

    set_command._restore_prompt_file("acme.prod", b"acme\n")
    assert paths.prompt_profile_file("acme.prod").read_text() == "acme\n"
    set_command._restore_prompt_file("acme.prod", b"../../x\n")  # not a name keyrack writes
    assert not paths.prompt_profile_file("acme.prod").exists()


def test_a_writer_that_fails_half_way_leaves_no_link_so_shells_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    prompt_state.write_profile("acme.prod", "acme")
    old = generation()

    def dies() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prompt_state, "_bump_generation", dies)
    with pytest.raises(OSError):
        prompt_state.write_profile("acme.prod", "other")
    assert paths.prompt_profile_file("acme.prod").read_text() == "other\n"
    assert generation() == old and links() == []  # the shells that read `old` find no link: they read


def test_concurrent_writers_leave_the_current_generation_linked() -> None:
    import subprocess
    import sys

    code = ("from keyrack_sh import prompt_state\n"
            "for _ in range(15):\n    prompt_state.mark_locked('acme')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ)) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    assert links() == [f"generation@{generation()}"]
    assert os.path.samefile(paths.prompt_generation_file(), paths.prompt_generation_link(generation()))
