"""`keyrack relock`: Logout at the portal, then only that session's files go."""
from __future__ import annotations

import json

from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)


def unlock_both(home: Home) -> None:
    for profile in ("p1", "p2", "q1"):
        assert home.credential_process(profile).returncode == 0


def test_relock_logs_out_and_removes_only_that_sessions_token_and_credentials(home: Home) -> None:
    unlock_both(home)
    calls = home.sandbox.count("GetRoleCredentials")
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0, proc.stderr
    assert "relocked sso-session s1: signed out at AWS; removed 3 local file(s)" in proc.stdout
    assert home.sandbox.count("Logout") == 1
    assert not home.token_file("s1").exists()
    assert not home.creds_file("p1").exists() and not home.creds_file("p2").exists()
    assert home.prompt_line("s1").startswith("locked ")
    # The other session is untouched and still answers from its cache.
    assert home.token_file("s2").exists() and home.creds_file("q1").exists()
    assert home.prompt_line("s2").startswith("unlocked ")
    assert home.credential_process("q1").returncode == 0
    assert home.sandbox.count("GetRoleCredentials") == calls
    # And the relocked one is locked for real.
    assert_one_line_failure(home.credential_process("p1", KEYRACK_AUTO_UNLOCK="never"), 2, "keyrack unlock p1")


def test_the_logout_ends_the_server_side_session(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    token = json.loads(home.token_file("s1").read_text())
    assert home.keyrack("relock", "--session", "s1").returncode == 0
    # The old token no longer works at the portal: restore it and ask for another role.
    home.token_file("s1").write_text(json.dumps(token))
    home.token_file("s1").chmod(0o600)
    proc = home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "keyrack unlock p2")


def test_a_failed_server_logout_is_reported_and_local_state_still_cleared(home: Home) -> None:
    unlock_both(home)
    home.sandbox.fail("Logout", "InternalServerException", times=10, status=500)
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0, proc.stderr
    assert "server sign-out not done" in proc.stdout and "InternalServerException" in proc.stdout
    assert not home.token_file("s1").exists() and not home.creds_file("p1").exists()
    assert home.token_file("s2").exists()


def test_relock_all_json(home: Home) -> None:
    unlock_both(home)
    proc = home.keyrack("relock", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    results = {r["session"]: r for r in json.loads(proc.stdout)}
    assert set(results) == {"s1", "s2"}
    assert all(r["logged_out"] for r in results.values())
    assert home.sandbox.count("Logout") == 2
    assert not home.token_file("s1").exists() and not home.token_file("s2").exists()


def test_relocking_a_locked_session_is_harmless(home: Home) -> None:
    proc = home.keyrack("relock", "p1")
    assert proc.returncode == 0
    assert "already locked" in proc.stdout
    assert home.sandbox.count("Logout") == 0


def test_relock_of_an_unknown_profile_is_a_one_line_user_error(home: Home) -> None:
    assert_one_line_failure(home.keyrack("relock", "ghost"), 2, "'ghost'")
