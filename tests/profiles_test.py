"""The profile model: what keyrack reads from the config, and what it refuses to trust."""
from __future__ import annotations

from pathlib import Path

import pytest

from keyrack_sh import profiles
from keyrack_sh.errors import UserError

GOOD = """\
[profile prod]
credential_process = /bin/true prod
keyrack_sso_session = acme
keyrack_account_id = 111122223333
keyrack_role_name = Admin
region = eu-west-1

[sso-session acme]
sso_start_url = https://acme.awsapps.com/start
sso_region = us-east-1
"""


def load(tmp_path: Path, text: str) -> profiles.AwsConfig:
    path = tmp_path / "config"
    path.write_text(text, encoding="utf-8")
    return profiles.load(path)


def test_a_keyrack_profile_and_its_session_read_back(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    profile = config.profile("prod")
    assert (profile.session, profile.account_id, profile.role_name, profile.region) == (
        "acme", "111122223333", "Admin", "eu-west-1")
    assert config.session("acme").start_url == "https://acme.awsapps.com/start"
    assert config.profile_names() == ["prod"]


@pytest.mark.parametrize("key, value, what", [
    ("keyrack_sso_session", "../../../../.bashrc", "sso-session name"),
    ("keyrack_sso_session", "a/b", "sso-session name"),
    ("keyrack_account_id", "١١١١٢٢٢٢٣٣٣٣", "account id"),  # Arabic-Indic digits are not digits here
    ("keyrack_role_name", "Admin/../../x", "role name"),
    ("region", "us_east_1", "region"),
])
def test_a_hand_edited_value_that_could_escape_keyrack_s_folders_is_refused(
        tmp_path: Path, key: str, value: str, what: str) -> None:
    text = GOOD.replace(next(line for line in GOOD.splitlines() if line.startswith(key)), f"{key} = {value}")
    config = load(tmp_path, text)
    with pytest.raises(UserError, match=rf"profile 'prod' of .*config: invalid {what}"):
        config.profile("prod")


def test_an_sso_session_with_an_unsafe_name_is_never_keyrack_s(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD + "\n[sso-session ../evil]\nsso_start_url = https://x.awsapps.com/start\n"
                                   "sso_region = us-east-1\n")
    assert config.session_names() == ["acme"]
    with pytest.raises(UserError, match="invalid sso-session name"):
        config.session("../evil")


def test_a_malformed_sso_region_is_a_user_error_naming_the_session(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD.replace("sso_region = us-east-1", "sso_region = us_east_1"))
    with pytest.raises(UserError, match=r"sso-session 'acme' of .*: invalid sso_region 'us_east_1'"):
        config.session("acme")


def test_a_keyrack_managed_default_profile_is_listed(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD.replace("[profile prod]", "[default]"))
    assert config.profile_names() == ["default"]
    assert config.profile("default").account_id == "111122223333"


def test_a_broken_file_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"config, line 2"):
        load(tmp_path, "[profile a]\nno equals sign here\n")


@pytest.mark.parametrize("header", ["profile x", "profile   x", 'profile "x"', "profile 'x y'", "profile a\\ b",
                                    'profile "x', "profile\tx", "profile\xa0x", "profile\x0bx", "profilex y",
                                    "default", "profile default", "profile", "profile x y", "sso-session s",
                                    'sso-session "s"', "sso-session  s ", "services s", "preview"])
def test_a_section_header_means_to_keyrack_what_it_means_to_botocore(header: str) -> None:
    from botocore.configloader import build_profile_map

    read = build_profile_map({header: {"k": "v"}})
    expected = ([("profile", n) for n in read["profiles"]] + [("sso-session", n) for n in read["sso_sessions"]])
    assert [profiles.section_key(header)] == (expected or [None])
