"""keyrack's caches: AWS CLI v2 token files, client registrations, role
credentials; private modes; corrupt files count as absent."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from keyrack_sh import cache, paths


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KEYRACK_HOME", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return tmp_path


CLIENT = {"clientId": "cid", "clientSecret": "csecret", "expiresAt": int(time.time()) + 86400}


def creds(expires_in: float, key: str = "ASIA1") -> dict:
    return {"Version": 1, "AccessKeyId": key, "SecretAccessKey": "s", "SessionToken": "t",
            "Expiration": cache.iso_z(time.time() + expires_in)}


def test_a_token_is_written_in_the_aws_cli_v2_format_privately(private_home: Path) -> None:
    token = cache.make_token(start_url="https://x.awsapps.com/start", region="eu-west-1", access_token="at",
                             expires_in=3600, refresh_token="rt", client=CLIENT)
    cache.write_token("acme", token)
    path = paths.token_file("acme")
    assert path.parent == private_home / ".aws" / "sso" / "cache"
    on_disk = json.loads(path.read_text())
    assert set(on_disk) == {"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret",
                            "registrationExpiresAt", "refreshToken"}
    assert on_disk["expiresAt"].endswith("Z") and on_disk["registrationExpiresAt"].endswith("Z")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert cache.read_token("acme") == on_disk


@pytest.mark.parametrize("content", ["", "{", '{"accessToken": "at"}', '["not", "an", "object"]',
                                     '{"accessToken": "at", "expiresAt": "soon"}', "\xff\xfe"])
def test_a_corrupt_or_half_written_token_counts_as_absent(content: str) -> None:
    path = paths.token_file("acme")
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))
    assert cache.read_token("acme") is None


def test_times_in_other_tools_formats_are_understood() -> None:
    assert cache.parse_time("2026-11-27T12:00:00Z") == cache.parse_time("2026-11-27T12:00:00+00:00")
    assert cache.parse_time("2026-11-27T12:00:00UTC") == cache.parse_time("2026-11-27T12:00:00Z")
    assert cache.parse_time("2026-11-27T12:00:00.123456Z") == pytest.approx(cache.parse_time("2026-11-27T12:00:00Z") + 0.123456)
    assert cache.iso_z(cache.parse_time("2026-11-27T12:00:00Z")) == "2026-11-27T12:00:00Z"


def test_a_refresh_token_keeps_an_expired_session_alive_until_its_registration_ends() -> None:
    base = {"accessToken": "at", "expiresAt": cache.iso_z(time.time() - 10)}
    assert not cache.token_might_work(base)
    live = {**base, "refreshToken": "rt", "clientId": "c", "clientSecret": "s",
            "registrationExpiresAt": cache.iso_z(time.time() + 100)}
    assert cache.token_might_work(live)
    assert not cache.token_might_work({**live, "registrationExpiresAt": cache.iso_z(time.time() - 1)})


def signed_in(session: str, access: str = "at", refresh: str | None = "rt") -> cache.SignIn:
    """A token file for `session` (one sign-in), and the sign-in role credentials get bound to."""
    token = {"accessToken": access, "expiresAt": cache.iso_z(time.time() + 3600)}
    if refresh:
        token["refreshToken"] = refresh
    cache.write_token(session, token)
    return cache.sign_in_of(session, token)


def test_role_credentials_are_shared_by_profiles_of_the_same_role_only(private_home: Path) -> None:
    s1 = signed_in("s1")
    signed_in("s2")
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600, "ASIAA"), "1:2:3", s1)
    cache.write_role_creds("b", "s1", "111111111111", "ReadOnly", creds(3600, "ASIAB"), "1:2:3", s1)
    cache.write_role_creds("c", "s1", "111111111111", "Admin", creds(600, "ASIAC"), "1:2:3", s1)
    assert cache.find_role_creds("s1", "111111111111", "Admin", 960)[0]["AccessKeyId"] == "ASIAA"
    assert cache.find_role_creds("s1", "111111111111", "ReadOnly", 960)[0]["AccessKeyId"] == "ASIAB"
    assert cache.find_role_creds("s2", "111111111111", "Admin", 960) is None
    assert cache.find_role_creds("s1", "111111111111", "Admin", 4000) is None
    assert paths.creds_file("a").stat().st_mode & 0o777 == 0o600


def test_the_creds_file_has_the_header_the_hot_path_reads() -> None:
    c = creds(3600)
    s1 = signed_in("s1")
    cache.write_role_creds("p", "s1", "111111111111", "Admin", c, "9:8:7", s1)
    header, payload = paths.creds_file("p").read_text().splitlines()
    st = paths.token_file("s1").stat()
    assert header.split() == ["keyrack-creds", "4", str(int(cache.parse_time(c["Expiration"]))), "s1",
                              "111111111111", "Admin", "9:8:7", paths.token_file("s1").name,
                              f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}", s1.lineage, "p"]
    assert json.loads(payload) == c
    assert "at" not in s1.lineage.split(".") and len(s1.lineage) == 33  # digests, not the tokens


def test_a_signed_out_sessions_role_credentials_are_found_by_no_one() -> None:
    # `aws sso logout` deletes the token file and nothing else.
    s1 = signed_in("s1")
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600), "1:2:3", s1)
    assert cache.find_role_creds("s1", "111111111111", "Admin", 960) is not None
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:3", 960) is not None
    # Only the profile's own, exactly matching file counts as its own.
    assert cache.own_role_creds("b", "s1", "111111111111", "Admin", "1:2:3", 960) is None
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:4", 960) is None
    paths.token_file("s1").unlink()
    assert cache.find_role_creds("s1", "111111111111", "Admin", 960) is None
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:3", 960) is None


def test_credentials_of_an_earlier_sign_in_are_never_found_after_a_new_one() -> None:
    # `aws sso logout` then `aws sso login` (or another user signing in): a new token file.
    s1 = signed_in("s1")
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600), "1:2:3", s1)
    signed_in("s1", access="at2", refresh="rt2")
    assert cache.find_role_creds("s1", "111111111111", "Admin", 960) is None
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:3", 960) is None


@pytest.mark.parametrize("renewal", ["same refresh token", "same access token"])
def test_the_same_sign_in_rewritten_by_another_tool_is_still_found_but_not_served_as_is(renewal: str) -> None:
    s1 = signed_in("s1")
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600), "1:2:3", s1)
    if renewal == "same refresh token":  # a refresh that did not rotate the refresh token
        signed_in("s1", access="at2", refresh="rt")
    else:  # the file rewritten with the same token (the AWS CLI v2 writes in place)
        signed_in("s1", access="at", refresh=None)
    found = cache.find_role_creds("s1", "111111111111", "Admin", 960)
    assert found is not None and found[1].stamp != s1.stamp  # re-bound to the file as it is now
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:3", 960) is None


def test_keyrack_s_own_refresh_keeps_the_sign_ins_credentials_served() -> None:
    old = {"accessToken": "at", "refreshToken": "rt", "expiresAt": cache.iso_z(time.time() + 30)}
    cache.write_token("s1", old)
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600), "1:2:3", cache.sign_in_of("s1", old))
    cache.write_role_creds("b", "s1", "111111111111", "Admin", creds(3600), "1:2:3",
                           cache.SignIn("-", "0123456789abcdef.fedcba9876543210"))  # another sign-in's
    new = {"accessToken": "at2", "refreshToken": "rt2", "expiresAt": cache.iso_z(time.time() + 3600)}
    cache.write_token("s1", new)
    cache.rebind_role_creds("s1", old, cache.sign_in_of("s1", new))
    assert cache.own_role_creds("a", "s1", "111111111111", "Admin", "1:2:3", 960) is not None
    assert cache.own_role_creds("b", "s1", "111111111111", "Admin", "1:2:3", 960) is None


def test_removing_a_sessions_role_credentials_leaves_other_sessions() -> None:
    cache.write_role_creds("a", "s1", "111111111111", "Admin", creds(3600), "1:2:3", signed_in("s1"))
    cache.write_role_creds("b", "s2", "111111111111", "Admin", creds(3600), "1:2:3", signed_in("s2"))
    assert cache.remove_role_creds_of_session("s1") == [paths.creds_file("a")]
    assert not paths.creds_file("a").exists() and paths.creds_file("b").exists()


# -- a token file another tool is rewriting in place (the AWS CLI v2: truncate, then write) ----

def whole_token() -> str:
    return json.dumps({"startUrl": "https://x.awsapps.com/start", "region": "eu-west-1", "accessToken": "at",
                       "expiresAt": cache.iso_z(time.time() + 3600), "refreshToken": "rt"})


def test_a_token_file_that_becomes_whole_while_it_is_looked_at_again_is_read_whole() -> None:
    path = paths.token_file("acme")
    path.parent.mkdir(parents=True)
    whole = whole_token()
    path.write_text(whole[:30])  # cut short, as the CLI's in-place rewrite leaves it for a moment
    looks = []

    def pause(seconds: float) -> None:
        looks.append(seconds)
        if len(looks) == 2:
            path.write_text(whole)  # the writer finishes

    assert cache.read_token("acme", pause=pause) == json.loads(whole)
    assert len(looks) == 2


@pytest.mark.parametrize("content", ["", "{", "cut"])
def test_a_token_file_that_stays_half_written_is_absent_after_a_few_brief_looks(content: str) -> None:
    path = paths.token_file("acme")
    path.parent.mkdir(parents=True)
    path.write_text(whole_token()[:30] if content == "cut" else content)
    looks: list[float] = []
    assert cache.read_token("acme", pause=looks.append) is None
    assert looks == [cache.HALF_WRITTEN_PAUSE] * cache.HALF_WRITTEN_LOOKS
    assert sum(looks) <= 0.02  # bounded: a few ms in all, never a hang


def test_a_whole_but_unusable_or_missing_token_file_is_not_looked_at_again() -> None:
    looks: list[float] = []
    assert cache.read_token("acme", pause=looks.append) is None  # no file at all
    path = paths.token_file("acme")
    path.parent.mkdir(parents=True)
    path.write_text('{"accessToken": "at"}')
    assert cache.read_token("acme", pause=looks.append) is None
    assert looks == []
