"""prompt_state: the secretless files the prompt reads, each with a link named after its content,
so a shell can tell with one `-ef` test that the file it read is still the current one."""
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


def links(kind: str) -> list[str]:
    return sorted(os.listdir(paths.prompt_dir() / "links" / kind))


def test_each_write_links_the_file_under_a_name_made_of_its_content_and_drops_the_old_link() -> None:
    prompt_state.write_session("acme", locked=False, access_expires=100, session_end=200, token_file="/t")
    first = paths.prompt_session_file("acme")
    assert first.read_text() == "unlocked 100 200 /t\n"
    assert links("sessions") == ["acme@unlocked-100-200"]
    assert os.path.samefile(first, paths.prompt_link("sessions", "acme", "unlocked-100-200"))
    before = first.stat().st_ino

    prompt_state.mark_locked("acme")
    assert paths.prompt_session_file("acme").stat().st_ino != before  # a new file, never an edit in place
    assert links("sessions") == ["acme@locked-0-0"]
    assert os.path.samefile(paths.prompt_session_file("acme"), paths.prompt_link("sessions", "acme", "locked-0-0"))


def test_the_same_content_written_again_is_a_new_file_and_its_link_follows() -> None:
    prompt_state.write_profile("acme.prod", "acme")
    old = paths.prompt_profile_file("acme.prod").stat().st_ino
    prompt_state.write_profile("acme.prod", "acme")
    link = paths.prompt_link("profiles", "acme.prod", "acme")
    assert paths.prompt_profile_file("acme.prod").stat().st_ino != old
    assert os.path.samefile(paths.prompt_profile_file("acme.prod"), link)
    assert links("profiles") == ["acme.prod@acme"]


def test_other_names_links_are_left_alone_and_remove_drops_only_its_own() -> None:
    prompt_state.write_profile("acme.prod", "acme")
    prompt_state.write_profile("acme.prod2", "acme")
    prompt_state.write_profile("acme.prod", "other")
    assert links("profiles") == ["acme.prod2@acme", "acme.prod@other"]
    prompt_state.remove_profile("acme.prod")
    assert not paths.prompt_profile_file("acme.prod").exists()
    assert links("profiles") == ["acme.prod2@acme"]


def test_the_files_and_links_are_private_and_the_completions_see_only_profile_names() -> None:
    prompt_state.write_profile("acme.prod", "acme")
    prompt_state.mark_locked("acme")
    for path in (paths.prompt_profile_file("acme.prod"), paths.prompt_session_file("acme")):
        assert path.stat().st_mode & 0o777 == 0o600
    for folder in ("links", "links/profiles", "links/sessions", "profiles", "sessions"):
        assert (paths.prompt_dir() / folder).stat().st_mode & 0o777 == 0o700
    assert os.listdir(paths.prompt_dir() / "profiles") == ["acme.prod"]  # what `keyrack <TAB>` lists


def test_a_profile_file_written_before_links_existed_is_linked_at_the_next_lookup() -> None:
    from keyrack_sh import engine
    from keyrack_sh.profiles import Profile

    path = paths.prompt_profile_file("acme.prod")
    path.parent.mkdir(parents=True)
    path.write_text("acme\n")  # as an older keyrack left it: no link, so every prompt reads it
    assert not prompt_state.linked_profile("acme.prod", "acme")
    engine._mark_managed(Profile("acme.prod", "acme", "111111111111", "ReadOnly"))
    assert prompt_state.linked_profile("acme.prod", "acme")


def test_a_failed_set_restores_only_a_session_name_it_can_trust() -> None:
    from keyrack_sh.commands import set as set_command

    set_command._restore_prompt_file("acme.prod", b"acme\n")
    assert prompt_state.linked_profile("acme.prod", "acme")
    set_command._restore_prompt_file("acme.prod", b"../../x\n")  # not a name keyrack writes
    assert not paths.prompt_profile_file("acme.prod").exists()
    assert links("profiles") == []
    prompt_state.write_profile("acme.prod", "acme")  # and nothing is wedged afterwards
    assert prompt_state.linked_profile("acme.prod", "acme")


def test_a_key_that_is_not_a_name_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError):
        prompt_state.write_profile("acme.prod", "a/b")
    assert not paths.prompt_profile_file("acme.prod").exists()
