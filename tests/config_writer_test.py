"""The config writer keeps every byte it does not own, and reads back as asked."""
from __future__ import annotations

import configparser
import hashlib
import os
import stat
from pathlib import Path

import pytest

from keyrack_sh import config_writer, profiles, resources
from keyrack_sh.config_writer import SetRequest, plan_remove, plan_set
from keyrack_sh.errors import KeyrackError, UserError

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_text(encoding="utf-8")
P = Path("/tmp/config-under-test")

ACME = SetRequest(profile="acme.prod", start_url="https://acme.awsapps.com/start", sso_region="us-east-1",
                  account_id="111122223333", role_name="AdminRole", region="eu-west-1")


def sections(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read_string(text)
    return {s: dict(parser.items(s)) for s in parser.sections()}


def test_fresh_config_reads_back_as_botocore_would() -> None:
    plan = plan_set(None, ACME, P)
    assert (plan.profile_action, plan.session_action) == ("add", "add")
    got = sections(plan.after)
    assert got["profile acme.prod"] == {
        "credential_process": resources.credential_process_command("acme.prod"),
        "keyrack_sso_session": "acme", "keyrack_account_id": "111122223333",
        "keyrack_role_name": "AdminRole", "region": "eu-west-1",
    }
    assert got["sso-session acme"] == {"sso_start_url": "https://acme.awsapps.com/start",
                                       "sso_region": "us-east-1", "sso_registration_scopes": "sso:account:access"}
    # The managed-by note is a comment line of its own, never inline (botocore keeps inline ones).
    assert "# managed by keyrack" in plan.after
    assert not any("#" in v for v in got["profile acme.prod"].values())


def test_rich_config_keeps_every_other_byte() -> None:
    plan = plan_set(RICH, ACME, P)
    assert plan.after.startswith(RICH)
    added = plan.after[len(RICH):]
    assert added.startswith("\n[profile acme.prod]\n")
    assert "[sso-session acme]" in added


def test_no_sso_keys_in_the_profile_so_credential_process_wins() -> None:
    raw = sections(plan_set(RICH, ACME, P).after)["profile acme.prod"]
    assert not [k for k in raw if k.startswith("sso_")]


def test_same_values_again_is_byte_identical() -> None:
    first = plan_set(RICH, ACME, P).after
    again = plan_set(first, ACME, P)
    assert again.after == first
    assert not again.changed and again.profile_action == "unchanged" and not again.needs_confirmation


def test_changed_values_update_in_place_and_need_confirmation() -> None:
    first = plan_set(RICH, ACME, P).after
    plan = plan_set(first, SetRequest(**{**ACME.__dict__, "role_name": "ReadOnly"}), P)
    assert plan.profile_action == "update" and plan.needs_confirmation
    assert plan.after == first.replace("keyrack_role_name = AdminRole", "keyrack_role_name = ReadOnly")
    assert "-keyrack_role_name = AdminRole\n+keyrack_role_name = ReadOnly\n" in plan.diff()


def test_flags_not_given_keep_what_the_profile_says() -> None:
    first = plan_set(None, ACME, P).after
    plan = plan_set(first, SetRequest(**{**ACME.__dict__, "region": None}), P)
    assert plan.after == first


def test_profiles_with_the_same_start_url_share_one_session() -> None:
    text = plan_set(None, ACME, P).after
    plan = plan_set(text, SetRequest(**{**ACME.__dict__, "profile": "acme.dev", "account_id": "444455556666"}), P)
    assert plan.session_action == "reuse" and plan.session.name == "acme"
    assert plan.after.count("[sso-session") == 1


def test_an_aws_cli_sso_session_with_the_same_url_is_reused() -> None:
    req = SetRequest(profile="corp.admin", start_url="https://corp.awsapps.com/start", sso_region="eu-central-1",
                     account_id="123456789012", role_name="Admin")
    plan = plan_set(RICH, req, P)
    assert (plan.session.name, plan.session_action) == ("corp", "reuse")
    assert plan.after.startswith(RICH) and plan.after.count("[sso-session") == RICH.count("[sso-session")


def test_a_session_name_unfit_for_file_names_is_not_reused() -> None:
    text = "[sso-session ../../evil]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-east-1\n"
    plan = plan_set(text, ACME, P)
    assert (plan.session.name, plan.session_action) == ("acme", "add")
    assert plan.after.startswith(text)


def test_a_taken_session_name_gets_a_suffix() -> None:
    req = SetRequest(profile="x", start_url="https://corp.awsapps.com/start", sso_region="us-west-2",
                     account_id="123456789012", role_name="Admin")
    plan = plan_set(RICH, req, P)
    assert plan.session.name == "corp-2" and plan.session_action == "add"


def test_moving_a_profile_to_another_start_url_takes_keyracks_unused_session_along() -> None:
    text = plan_set(RICH, ACME, P).after
    moved = plan_set(text, SetRequest(**{**ACME.__dict__, "start_url": "https://other.awsapps.com/start"}), P)
    got = sections(moved.after)
    assert "sso-session acme" not in got and got["profile acme.prod"]["keyrack_sso_session"] == "other"
    assert "-[sso-session acme]" in moved.diff()
    # ...but not while another profile still uses it.
    text = plan_set(text, SetRequest(**{**ACME.__dict__, "profile": "acme.dev"}), P).after
    moved = plan_set(text, SetRequest(**{**ACME.__dict__, "start_url": "https://other.awsapps.com/start"}), P)
    assert "sso-session acme" in sections(moved.after)


def test_explicit_session_name() -> None:
    plan = plan_set(None, SetRequest(**{**ACME.__dict__, "session": "work"}), P)
    assert plan.session.name == "work"
    assert sections(plan.after)["profile acme.prod"]["keyrack_sso_session"] == "work"


@pytest.mark.parametrize("url,name", [
    ("https://acme.awsapps.com/start", "acme"),
    ("https://d-9067c0ffee.awsapps.com/start/", "d-9067c0ffee"),
    ("https://sso.example.com:8443/start", "sso.example.com"),
])
def test_derived_session_names(url: str, name: str) -> None:
    assert config_writer.derive_session_name(url) == name


def test_taking_over_an_unmanaged_profile_drops_the_keys_that_would_win() -> None:
    req = SetRequest(profile="legacy-sso", start_url="https://legacy.awsapps.com/start", sso_region="us-east-1",
                     account_id="999988887777", role_name="ReadOnly")
    plan = plan_set(RICH, req, P)
    assert plan.profile_action == "take over" and plan.needs_confirmation
    raw = sections(plan.after)["profile legacy-sso"]
    assert not [k for k in raw if k.startswith("sso_")]
    assert raw["region"] == "us-east-2"  # the user's own keys stay
    others = {k: v for k, v in sections(plan.after).items() if k not in ("profile legacy-sso", "sso-session legacy")}
    assert others == {k: v for k, v in sections(RICH).items() if k != "profile legacy-sso"}


def test_profile_with_odd_spacing_is_found_as_botocore_finds_it() -> None:
    req = SetRequest(**{**ACME.__dict__, "profile": "spaced"})
    plan = plan_set(RICH, req, P)
    assert plan.profile_action == "take over"
    assert plan.after.count("profile   spaced]") == 1 and "[profile spaced]" not in plan.after


def test_a_crlf_config_stays_crlf() -> None:
    crlf = RICH.replace("\n", "\r\n")
    plan = plan_set(crlf, ACME, P)
    assert plan.after.startswith(crlf) and "\n" not in plan.after.replace("\r\n", "")
    assert plan_set(plan.after, ACME, P).after == plan.after
    assert plan_remove(plan.after, "acme.prod", P).after == crlf


def test_unparsable_config_names_the_line() -> None:
    broken = "[profile a]\nregion = x\n[profile a]\nregion = y\n"
    with pytest.raises(UserError, match="line 3"):
        plan_set(broken, ACME, P)
    with pytest.raises(UserError, match="line 2"):
        plan_set("[default]\nthis line has no equals sign\n", ACME, P)


def test_remove_takes_out_exactly_what_set_added() -> None:
    after = plan_set(RICH, ACME, P).after
    plan = plan_remove(after, "acme.prod", P)
    assert plan.session_removed and plan.last_of_session
    assert plan.after == RICH


def test_remove_keeps_a_session_another_profile_uses() -> None:
    text = plan_set(None, ACME, P).after
    text = plan_set(text, SetRequest(**{**ACME.__dict__, "profile": "acme.dev"}), P).after
    plan = plan_remove(text, "acme.prod", P)
    assert not plan.session_removed and not plan.last_of_session
    assert "[sso-session acme]" in plan.after and "[profile acme.dev]" in plan.after


def test_remove_never_touches_a_session_keyrack_did_not_create() -> None:
    req = SetRequest(profile="corp.admin", start_url="https://corp.awsapps.com/start", sso_region="eu-central-1",
                     account_id="123456789012", role_name="Admin")
    plan = plan_remove(plan_set(RICH, req, P).after, "corp.admin", P)
    assert not plan.session_removed and plan.after == RICH


def test_remove_refuses_unmanaged_and_unknown_profiles() -> None:
    with pytest.raises(UserError, match="not managed"):
        plan_remove(RICH, "legacy-sso", P)
    with pytest.raises(UserError, match="not in"):
        plan_remove(RICH, "nope", P)


# -- writing ------------------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / ".aws" / "config"))
    monkeypatch.delenv("KEYRACK_HOME", raising=False)
    return tmp_path


def test_new_config_is_private(home: Path) -> None:
    config_writer.apply(ACME)
    config = home / ".aws" / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert profiles.load(config).profile("acme.prod").role_name == "AdminRole"


def test_existing_mode_is_kept_and_the_old_version_backed_up(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text(RICH, encoding="utf-8")
    os.chmod(config, 0o644)
    config_writer.apply(ACME)
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    backup = config.with_name("config.keyrack.bak")
    assert backup.read_text(encoding="utf-8") == RICH
    assert stat.S_IMODE(backup.stat().st_mode) == 0o644


def test_a_symlinked_config_is_written_through(home: Path) -> None:
    real = home / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text(RICH, encoding="utf-8")
    (home / ".aws").mkdir()
    (home / ".aws" / "config").symlink_to(real)
    config_writer.apply(ACME)
    assert (home / ".aws" / "config").is_symlink()
    assert "[profile acme.prod]" in real.read_text(encoding="utf-8")


def test_restore_puts_back_the_exact_bytes(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_bytes(RICH.encode())
    plan = config_writer.apply(ACME)
    config_writer.restore(plan)
    assert config.read_bytes() == RICH.encode()


def test_restore_of_a_new_file_removes_it(home: Path) -> None:
    plan = config_writer.apply(ACME)
    config_writer.restore(plan)
    assert not (home / ".aws" / "config").exists()


def test_restore_after_a_move_brings_the_old_session_back(home: Path) -> None:
    config = home / ".aws" / "config"
    config_writer.apply(ACME)
    before = config.read_text(encoding="utf-8")
    plan = config_writer.apply(SetRequest(**{**ACME.__dict__, "start_url": "https://other.awsapps.com/start"}))
    config_writer.apply(SetRequest(**{**ACME.__dict__, "profile": "bystander"}))  # someone writes meanwhile
    config_writer.restore(plan)
    got = sections(config.read_text(encoding="utf-8"))
    assert got["profile acme.prod"] == sections(before)["profile acme.prod"]
    assert got["sso-session acme"] == sections(before)["sso-session acme"]
    assert "profile bystander" in got


def test_restore_keeps_what_another_writer_added_meanwhile(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_bytes(RICH.encode())
    plan = config_writer.apply(ACME)
    other = config_writer.apply(SetRequest(**{**ACME.__dict__, "profile": "other"}))
    config_writer.restore(plan)
    got = sections(config.read_text(encoding="utf-8"))
    assert "profile acme.prod" not in got and "profile other" in got and "sso-session acme" in got
    assert other.session.name == "acme"


@pytest.mark.parametrize("field,value", [
    ("role_name", "x\nregion = evil"),
    ("account_id", "111122223333\n[profile other]\ncredential_process = /bin/evil"),
    ("start_url", "https://acme.awsapps.com/start\nsso_region = eu-west-1"),
])
def test_even_unvalidated_values_cannot_inject_lines(field: str, value: str) -> None:
    # validate.py stops these first; the writer still refuses what does not read back as asked.
    with pytest.raises(KeyrackError):
        plan_set(RICH, SetRequest(**{**ACME.__dict__, field: value}), P)


# -- review fixes: remove keeps what keyrack did not write ---------------------
LEGACY = SetRequest(profile="legacy-sso", start_url="https://legacy.awsapps.com/start", sso_region="us-east-1",
                    account_id="999988887777", role_name="ReadOnly")


def test_removing_a_taken_over_profile_gives_back_the_users_own_keys_byte_for_byte() -> None:
    taken = plan_set(RICH, LEGACY, P)
    assert "taken over" in taken.after
    plan = plan_remove(taken.after, "legacy-sso", P)
    assert not plan.profile_removed and plan.given_back
    assert plan.after == RICH


# -- the give-back: what a take-over moved out of the way comes back exactly ------------------------
SESSION_FORM = ("[profile work]\nsso_session = corp\n# the account the team shares\n"
                "sso_account_id = 111122223333\n; and its role\nsso_role_name = AdminRole\nregion = eu-west-2\n"
                "output = json\n\n[sso-session corp]\nsso_start_url = https://acme.awsapps.com/start\n"
                "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n")
WORK = SetRequest(profile="work", start_url="https://acme.awsapps.com/start", sso_region="us-east-1",
                  account_id="111122223333", role_name="AdminRole")


@pytest.mark.parametrize("text", [
    SESSION_FORM,
    SESSION_FORM.replace("\n", "\r\n"),
    SESSION_FORM.replace("region = eu-west-2\n", ""),  # keyrack adds the region: remove takes it out again
    SESSION_FORM.replace("output = json\n", "output = json\ncredential_process = /opt/my-helper --x\n"),
    SESSION_FORM.replace("sso_session = corp\n", "sso_session = corp\nrole_arn = arn:aws:iam::1:role/x\n"
                         "source_profile = other\n"),
    SESSION_FORM.replace("[profile work]\n", "[profile work]\n# made by aws configure sso\n"),
])
@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_set_then_remove_is_the_users_file_byte_for_byte(text: str, region: str | None) -> None:
    taken = plan_set(text, SetRequest(**{**WORK.__dict__, "region": region}), P)
    raw = sections(taken.after)["profile work"]
    assert not [k for k in raw if k.startswith("sso_") or k in ("role_arn", "source_profile")]
    assert raw["credential_process"] == resources.credential_process_command("work")
    assert raw["keyrack_sso_session"] == "corp"  # the user's own session, reused
    assert plan_remove(taken.after, "work", P).after == text


# The user's own comments that read like keyrack's records or marker: a take-over must not take them
# for its own (a remove made `#keyrack kept: output = text` a live key and deleted `cli_pager =`).
LOOKALIKES = ("#keyrack kept: output = text\n#keyrack added: cli_pager\ncli_pager =\n"
              ";keyrack kept: region = us-east-1\n; my notes\n#keyrack kept: sso_role_name = ReadOnly\n"
              "#keyrack added: region\n# managed by keyrack (taken over) one day\n")


@pytest.mark.parametrize("where", ["top", "middle", "end"])
@pytest.mark.parametrize("region", [None, "eu-west-1"])
@pytest.mark.parametrize("crlf", [False, True])
def test_the_users_comments_that_look_like_keyracks_records_come_back_as_comments(
        where: str, region: str | None, crlf: bool) -> None:
    at = {"top": "[profile work]\n", "middle": "sso_role_name = AdminRole\n", "end": "output = json\n"}[where]
    text = SESSION_FORM.replace(at, at + LOOKALIKES, 1)
    text = text.replace("\n", "\r\n") if crlf else text
    taken = plan_set(text, SetRequest(**{**WORK.__dict__, "region": region}), P)
    raw = sections(taken.after)["profile work"]
    assert raw["cli_pager"] == "" and "output" in raw and not [k for k in raw if k.startswith("sso_")]
    again = plan_set(taken.after, SetRequest(**{**WORK.__dict__, "region": "ap-south-1"}), P)
    for after in (taken.after, again.after):
        removed = plan_remove(after, "work", P)
        assert removed.given_back
        assert hashlib.sha256(removed.after.encode()).hexdigest() == hashlib.sha256(text.encode()).hexdigest()


def test_a_record_looking_comment_in_a_section_keyrack_wrote_is_left_as_it_is() -> None:
    # Not a take-over: nothing is given back, the user's comment and key stay as they wrote them.
    written = plan_set(None, WORK, P).after
    edited = written.replace("keyrack_role_name = AdminRole\n",
                             "keyrack_role_name = AdminRole\n#keyrack kept: output = text\noutput = json\n")
    removed = plan_remove(edited, "work", P)
    assert not removed.given_back
    assert removed.after.startswith("[profile work]\n#keyrack kept: output = text\noutput = json\n")
    assert sections(removed.after)["profile work"] == {"output": "json"}


def test_the_kept_lines_stay_where_they_were_in_the_section() -> None:
    taken = plan_set(SESSION_FORM, WORK, P).after
    section = taken.split("[profile work]\n")[1].split("\n\n")[0]
    assert section.splitlines()[1:6] == ["#keyrack kept: sso_session = corp", "# the account the team shares",
                                         "#keyrack kept: sso_account_id = 111122223333", "; and its role",
                                         "#keyrack kept: sso_role_name = AdminRole"]


def test_a_later_set_keeps_the_users_original_not_keyracks_last_value() -> None:
    first = plan_set(SESSION_FORM, SetRequest(**{**WORK.__dict__, "region": "eu-west-1"}), P).after
    second = plan_set(first, SetRequest(**{**WORK.__dict__, "region": "ap-south-1", "role_name": "ReadOnly"}), P)
    assert sections(second.after)["profile work"]["region"] == "ap-south-1"
    assert second.after.count("#keyrack kept: region") == 1
    assert plan_remove(second.after, "work", P).after == SESSION_FORM


def test_a_multi_line_value_is_kept_and_given_back_whole() -> None:
    text = "[profile work]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-east-1\n" \
           "sso_account_id = 111122223333\nsso_role_name = AdminRole\nsso_registration_scopes =\n" \
           "    sso:account:access\n    extra:scope\nregion = eu-west-2\n"
    taken = plan_set(text, WORK, P)
    assert "#keyrack kept:     extra:scope\n" in taken.after
    assert plan_remove(taken.after, "work", P).after == text


def test_a_taken_over_default_section_is_never_deleted() -> None:
    text = "[default]\nregion = eu-west-1\noutput = json\n"
    taken = plan_set(text, SetRequest(**{**ACME.__dict__, "profile": "default", "region": None}), P).after
    plan = plan_remove(taken, "default", P)
    assert sections(plan.after) == {"default": {"region": "eu-west-1", "output": "json"}}


def test_a_key_the_user_added_to_keyracks_profile_stays_after_remove() -> None:
    text = plan_set(None, ACME, P).after.replace("region = eu-west-1\n", "region = eu-west-1\noutput = json\n")
    plan = plan_remove(text, "acme.prod", P)
    assert sections(plan.after)["profile acme.prod"] == {"region": "eu-west-1", "output": "json"}


def test_remove_keeps_the_comment_lines_that_precede_the_next_section() -> None:
    # configupdater counts these lines into the section above them; they belong to the one below.
    text = plan_set(RICH, ACME, P).after
    text = text.replace("[sso-session acme]", "# the next one is for the acme SSO\n[sso-session acme]")
    text += "\n; about my profile below\n[profile mine]\nregion = us-west-2\n"
    plan = plan_remove(text, "acme.prod", P)
    assert plan.session_removed and "[profile acme.prod]" not in plan.after
    assert "# the next one is for the acme SSO\n" in plan.after
    assert "; about my profile below\n[profile mine]\nregion = us-west-2\n" in plan.after
    assert plan.after.startswith(RICH)


def test_moving_a_profile_to_another_session_keeps_the_comments_of_the_section_after_the_old_one() -> None:
    text = plan_set(RICH, ACME, P).after + "\n; about my profile below\n[profile mine]\nregion = us-west-2\n"
    moved = SetRequest(**{**ACME.__dict__, "start_url": "https://other.awsapps.com/start"})
    plan = plan_set(text, moved, P)
    assert "[sso-session acme]" not in plan.after  # keyrack's old session, used by nobody now, goes
    assert "; about my profile below\n[profile mine]\nregion = us-west-2\n" in plan.after
    assert plan.after.startswith(RICH)


def test_the_files_closing_comments_stay_when_the_last_section_goes() -> None:
    text = plan_set(RICH, ACME, P).after + "\n# end of my config\n"
    plan = plan_remove(text, "acme.prod", P)
    assert plan.session_removed and plan.after.endswith("# end of my config\n")


def test_the_pre_takeover_original_survives_later_writes(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text(RICH, encoding="utf-8")
    plan = config_writer.apply(LEGACY)
    assert plan.backup is not None and plan.backup.name.startswith("config.keyrack.bak.")
    config_writer.apply(ACME)  # a later, unrelated write replaces config.keyrack.bak
    config_writer.apply(SetRequest(**{**ACME.__dict__, "profile": "other"}))
    assert config.with_name("config.keyrack.bak").read_text(encoding="utf-8") != RICH
    assert plan.backup.read_text(encoding="utf-8") == RICH


# -- duplicates, the user's sso-session, read-only files, re-planning -----------
def test_two_sections_botocore_reads_as_one_profile_are_refused_by_line() -> None:
    text = "[profile x]\nregion = a\n\n[profile  x]\nregion = b\n"
    with pytest.raises(UserError, match=r"lines 1 and 4"):
        plan_set(text, SetRequest(**{**ACME.__dict__, "profile": "x"}), P)
    managed = plan_set(None, ACME, P).after + "\n[profile   acme.prod]\nregion = b\n"
    with pytest.raises(UserError, match=r"\[profile acme.prod\] \(lines 1 and \d+\)"):
        plan_remove(managed, "acme.prod", P)
    dup_session = "[sso-session work]\nsso_region = a\n[sso-session  work]\nsso_region = b\n"
    with pytest.raises(UserError, match=r"lines 1 and 3"):
        plan_set(dup_session, SetRequest(**{**ACME.__dict__, "session": "work"}), P)


def test_an_explicit_sso_session_the_user_wrote_is_not_rewritten() -> None:
    req = SetRequest(**{**ACME.__dict__, "session": "corp"})  # corp points at corp.awsapps.com in RICH
    with pytest.raises(UserError, match="not written by keyrack") as info:
        plan_set(RICH, req, P)
    assert "--sso-session" in (info.value.hint or "")
    # keyrack's own session of that name may still be updated (with confirmation).
    mine = plan_set(None, req, P).after
    plan = plan_set(mine, SetRequest(**{**req.__dict__, "sso_region": "eu-west-1"}), P)
    assert plan.session_action == "update" and plan.needs_confirmation


def test_last_of_session_counts_aws_cli_profiles_using_it() -> None:
    req = SetRequest(profile="corp.admin", start_url="https://corp.awsapps.com/start", sso_region="eu-central-1",
                     account_id="123456789012", role_name="Admin")
    plan = plan_remove(plan_set(RICH, req, P).after, "corp.admin", P)
    assert not plan.last_of_session  # [profile uses-corp] has sso_session = corp: no sign-out


def test_a_read_only_config_is_not_replaced(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text(RICH, encoding="utf-8")
    os.chmod(config, 0o444)
    with pytest.raises(UserError, match="read-only") as info:
        config_writer.apply(ACME)
    assert info.value.exit_code == 2
    assert config.read_text(encoding="utf-8") == RICH and stat.S_IMODE(config.stat().st_mode) == 0o444
    assert not list(config.parent.glob("config.keyrack.bak*"))


def test_a_take_over_that_appeared_while_asking_is_refused(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text(RICH, encoding="utf-8")
    seen = []

    def approve(plan: config_writer.Plan) -> None:
        seen.append(plan.profile_action)  # "add": nothing to ask; meanwhile the user writes the profile
        config.write_text(RICH + "\n[profile acme.prod]\nregion = us-west-1\n", encoding="utf-8")

    with pytest.raises(UserError, match="not approved"):
        config_writer.apply(ACME, approve)
    assert seen == ["add"]
    assert config.read_text(encoding="utf-8").endswith("[profile acme.prod]\nregion = us-west-1\n")


def test_restore_says_when_it_had_to_merge(home: Path) -> None:
    plan = config_writer.apply(ACME)
    assert config_writer.restore(plan) == config_writer.RESTORED
    plan = config_writer.apply(ACME)
    config_writer.apply(SetRequest(**{**ACME.__dict__, "profile": "other"}))
    assert config_writer.restore(plan) == config_writer.MERGED


# -- set then remove leaves the user's last bytes as they were (blank lines, a missing line end) --------
ENDINGS = ["k = v\n", "k = v\n\n", "k = v\n\n\n", "k = v", "k = v\r\n\r\n", "k = v\n# closing note\n\n"]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("also", [False, True])  # a second keyrack profile on the session, removed first or last
def test_a_profile_keyrack_added_then_removed_leaves_the_files_end_byte_for_byte(ending: str, also: bool) -> None:
    text = "[profile mine]\n" + ending
    text = text.replace("\n", "\r\n") if "\r\n" in ending else text
    added = plan_set(text, WORK, P).after
    assert sections(added)["profile mine"]["k"] == "v"
    if also:
        added = plan_set(added, SetRequest(**{**WORK.__dict__, "profile": "other"}), P).after
        assert plan_remove(plan_remove(added, "work", P).after, "other", P).after == text
        added = plan_set(text, SetRequest(**{**WORK.__dict__, "profile": "other"}), P).after
        added = plan_set(added, WORK, P).after
        added = plan_remove(added, "other", P).after
    assert plan_remove(added, "work", P).after == text


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_a_taken_over_profile_given_back_ends_the_file_as_it_did(ending: str, region: str | None) -> None:
    text = ("[profile work]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-east-1\n"
            "sso_account_id = 111122223333\nsso_role_name = AdminRole\n" + ending)
    text = text.replace("\n", "\r\n") if "\r\n" in ending else text
    taken = plan_set(text, SetRequest(**{**WORK.__dict__, "region": region}), P)
    assert taken.session_action == "add"  # appended after the taken-over section
    assert plan_remove(taken.after, "work", P).after == text
