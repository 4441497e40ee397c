"""The engine's local view (session_info, policy) and its promise about
secrets: only in 0600 caches and on the stdout of commands that print them."""
from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from engine_support import Home, home  # noqa: F401 (fixture)

from harness import files_containing
from keyrack_sh import cache, engine, paths, prompt_state
from keyrack_sh.errors import UserError
from keyrack_sh.profiles import Profile


def token(expires_in: float, refresh: bool = True, reg_in: float = 90 * 86400) -> dict:
    client = {"clientId": "c", "clientSecret": "s", "expiresAt": time.time() + reg_in}
    return cache.make_token(start_url="https://x.awsapps.com/start", region="us-east-1", access_token="at",
                            expires_in=expires_in, refresh_token="rt" if refresh else None, client=client)


def test_no_token_is_locked() -> None:
    info = engine.session_info("s1")
    assert info.locked and info.state == "locked" and info.token_file == str(paths.token_file("s1"))


def test_a_valid_token_without_refresh_ends_with_the_access_token() -> None:
    t = token(3600, refresh=False)
    cache.write_token("s1", t)
    info = engine.session_info("s1")
    assert not info.locked and not info.has_refresh_token
    assert info.session_end == info.access_expires == int(cache.token_expiry(t))


def test_an_expired_access_token_with_a_refresh_token_is_still_unlocked() -> None:
    cache.write_token("s1", token(-60))
    prompt_state.write_session("s1", locked=False, access_expires=int(time.time() - 60),
                               session_end=int(time.time() + 3600), token_file=str(paths.token_file("s1")))
    info = engine.session_info("s1")
    assert not info.locked and info.has_refresh_token
    assert info.session_end == pytest.approx(time.time() + 3600, abs=5)


def test_the_session_end_is_capped_by_the_client_registration() -> None:
    cache.write_token("s1", token(600, reg_in=1800))
    prompt_state.write_session("s1", locked=False, access_expires=int(time.time() + 600),
                               session_end=int(time.time() + 8 * 3600), token_file="x")
    assert engine.session_info("s1").session_end == pytest.approx(time.time() + 1800, abs=5)


def test_policy_environment_beats_profile_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Profile(name="p", session="s", account_id="111111111111", role_name="R", auto_unlock="never")
    assert engine.policy_for(p) == "never"
    assert engine.policy_for(Profile(name="p", session="s", account_id="1", role_name="R")) == "tty"
    monkeypatch.setenv("KEYRACK_AUTO_UNLOCK", "always")
    assert engine.policy_for(p) == "always"
    monkeypatch.setenv("KEYRACK_AUTO_UNLOCK", "sometimes")
    with pytest.raises(UserError, match="KEYRACK_AUTO_UNLOCK='sometimes'"):
        engine.policy_for(p)


def test_bad_timeouts_are_user_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRACK_LOCK_TIMEOUT", "soon")
    with pytest.raises(UserError, match="KEYRACK_LOCK_TIMEOUT"):
        engine.lock_timeout()


def test_no_secret_leaks_to_stderr_logs_prompt_state_or_any_non_private_file(home: Home) -> None:
    outputs = []

    def keep(proc):
        outputs.append(proc.stderr)
        return proc

    keep(home.credential_process("p1"))
    keep(home.credential_process("p2"))
    token_path = home.token_file("s1")
    t = json.loads(token_path.read_text())
    token_path.write_text(json.dumps({**t, "expiresAt": "2020-01-01T00:00:00Z"}))
    token_path.chmod(0o600)
    keep(home.keyrack("export", "q1", "--format", "json"))  # signs in s2
    keep(home.credential_process("nope"))  # forbidden role
    home.sandbox.fail("GetRoleCredentials", "InternalServerException", times=10, status=500)
    home.creds_file("p1").unlink()
    keep(home.credential_process("p1"))  # refresh, then 500s
    home.sandbox.clear_faults()
    keep(home.keyrack("unlock", "p1", "--json"))
    keep(home.keyrack("relock", "q1"))
    home.sandbox.behaviour = "deny"
    keep(home.credential_process("q1"))
    secrets = home.sandbox.minted_secrets()
    assert len(secrets) > 8  # the scan has something to find
    assert home.sandbox.count("CreateToken", grant_type="refresh_token") >= 1
    for err in outputs:
        assert not any(s in err for s in secrets), err
    holders = files_containing(home.root, secrets)
    assert holders  # the caches do hold them...
    for path in holders:  # ...but only 0600 files in 0700 folders
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        # ~/.aws is the user's; every folder keyrack (or the CLI v2 cache) owns below it is private.
        for folder in path.relative_to(home.root).parents:
            if folder not in (Path("."), Path(".aws")):
                assert stat.S_IMODE((home.root / folder).stat().st_mode) & 0o077 == 0, folder
        assert "prompt" not in path.parts and "logs" not in path.parts and "locks" not in path.parts
    assert not files_containing(home.root / ".aws" / "keyrack" / "prompt", secrets)


def test_a_token_from_another_tool_gets_a_stable_estimated_session_end() -> None:
    t = token(1800)  # as `aws sso login` would leave it: refreshable, signed in ~30 min ago
    cache.write_token("s1", t)
    first = engine.session_info("s1").session_end
    time.sleep(1.1)
    assert engine.session_info("s1").session_end == first
    assert first == pytest.approx(cache.token_expiry(t) - 3600 + 8 * 3600, abs=2)
