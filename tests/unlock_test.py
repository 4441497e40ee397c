"""`keyrack unlock`: explicit sign-in, whatever the auto-unlock policy."""
from __future__ import annotations

import json
import time

from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)


def test_unlock_signs_in_even_with_policy_never_and_prints_the_session_end(home: Home) -> None:
    proc = home.keyrack("unlock", "p1", KEYRACK_AUTO_UNLOCK="never")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("unlocked sso-session s1 (profile p1) until ")
    assert "7h59m left" in proc.stdout or "8h00m left" in proc.stdout
    assert home.sandbox.sign_ins() == 1
    assert home.sandbox.consent_count("keyrack-s1") == 1  # the consent screen names keyrack
    # Now any SDK call works with auto-unlock off.
    assert home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never").returncode == 0


def test_unlock_when_already_unlocked_is_a_no_op_that_says_so(home: Home) -> None:
    assert home.keyrack("unlock", "p1").returncode == 0
    proc = home.keyrack("unlock", "p2")
    assert proc.returncode == 0
    assert "already unlocked" in proc.stdout
    assert home.sandbox.sign_ins() == 1


def test_unlock_json_reports_the_new_state(home: Home) -> None:
    proc = home.keyrack("unlock", "p1", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["state"] == "unlocked" and info["signed_in"] is True and info["has_refresh_token"] is True
    assert info["session_end"] - time.time() > 7.9 * 3600
    assert info["access_expires"] - time.time() > 3000
    assert info["profile"] == "p1" and info["session"] == "s1"
    line = home.prompt_line("s1").split()
    assert line[0] == "unlocked" and int(line[1]) == info["access_expires"] and int(line[2]) == info["session_end"]
    assert line[3] == str(home.token_file("s1"))


def test_unlock_with_a_device_code_and_no_browser_prints_the_code(home: Home) -> None:
    proc = home.keyrack("unlock", "p1", "--device-code", "--no-browser", "--json", timeout=30,
                        KEYRACK_SIGNIN_TIMEOUT="3")
    # Nobody visits the URL (no browser): the sign-in times out, having shown where to go.
    assert_one_line_failure(proc, 2, "timed out after 3 s")
    assert "/device?user_code=" in proc.stderr and "confirm the code" in proc.stderr
    assert home.sandbox.count("StartDeviceAuthorization") == 1


def test_unlock_with_device_code_and_a_browser_approves(home: Home) -> None:
    proc = home.keyrack("unlock", "p1", "--device-code")
    assert proc.returncode == 0, proc.stderr
    assert home.sandbox.approvals[0][0] == "device"


def test_a_denied_unlock_is_one_line_exit_2(home: Home) -> None:
    home.sandbox.behaviour = "deny"
    assert_one_line_failure(home.keyrack("unlock", "p1"), 2, "denied")
    assert not home.token_file("s1").exists()


def test_unlock_of_an_unknown_profile(home: Home) -> None:
    assert_one_line_failure(home.keyrack("unlock", "ghost"), 2, "'ghost'")
    assert home.sandbox.calls == []


def test_a_silent_refresh_renews_the_access_token_but_keeps_the_session_end(home: Home) -> None:
    info = json.loads(home.keyrack("unlock", "p1", "--json").stdout)
    token = json.loads(home.token_file("s1").read_text())
    home.token_file("s1").write_text(json.dumps({**token, "expiresAt": "2020-01-01T00:00:00Z"}))
    assert home.credential_process("p2", KEYRACK_AUTO_UNLOCK="never").returncode == 0
    state, access, end, _ = home.prompt_line("s1").split()
    assert state == "unlocked" and int(end) == info["session_end"]
    assert int(access) > time.time() + 3000
    assert home.sandbox.sign_ins() == 1
