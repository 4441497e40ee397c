"""`keyrack status` and `keyrack list`: local files only, fast on big configs."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pytest
from conftest import TestHome
from harness import run_keyrack, write_profile

from keyrack_sh import time_left
from keyrack_sh.sandbox import Sandbox

BENCH = Path(__file__).resolve().parent.parent / "bench"


def two_profiles(home: TestHome) -> None:
    home.config.write_text("[profile mine]\nregion = eu-west-1\n\n")  # not keyrack's
    write_profile("prod", "111111111111", "AdminRole", region="eu-west-1")
    write_profile("stage", "222222222222", "Developer", region=None)


def test_list_shows_only_keyrack_profiles(isolated_home: TestHome) -> None:
    two_profiles(isolated_home)
    proc = run_keyrack("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["PROFILE", "SSO-SESSION", "ACCOUNT", "ROLE", "REGION", "LEFT"]
    assert [line.split() for line in lines[1:]] == [
        ["prod", "sandbox", "111111111111", "AdminRole", "eu-west-1", "locked"],
        ["stage", "sandbox", "222222222222", "Developer", "-", "locked"]]
    rows = json.loads(run_keyrack("list", "--json").stdout)
    assert rows == [
        {"profile": "prod", "session": "sandbox", "account_id": "111111111111", "role_name": "AdminRole",
         "region": "eu-west-1", "state": "locked", "seconds_left": 0},
        {"profile": "stage", "session": "sandbox", "account_id": "222222222222", "role_name": "Developer",
         "region": None, "state": "locked", "seconds_left": 0},
    ]


def test_list_and_status_on_no_config(isolated_home: TestHome) -> None:
    for command in ("list", "status"):
        proc = run_keyrack(command)
        assert proc.returncode == 0 and "no keyrack profiles" in proc.stdout
        assert json.loads(run_keyrack(command, "--json").stdout) == []


def test_status_follows_unlock_and_relock_without_calling_aws(sandbox: Sandbox, isolated_home: TestHome) -> None:
    two_profiles(isolated_home)
    assert json.loads(run_keyrack("status", "prod", "--json").stdout)["state"] == "locked"
    assert sandbox.calls == []

    assert run_keyrack("unlock", "prod").returncode == 0
    calls = len(sandbox.calls)
    before = time.time()
    got = json.loads(run_keyrack("status", "prod", "--json").stdout)
    assert got["state"] == "unlocked" and got["refreshable"] is True
    # The access token's real expiry (the sandbox issues one-hour tokens)...
    assert before + 3600 - 120 < got["access_expires"] <= before + 3600
    # ...and the refresh token carries the session further.
    assert got["session_end"] > got["access_expires"]
    table = run_keyrack("status").stdout
    # The same time left as --json said (or a minute less, if the clock moved on in between).
    assert any(f"unlocked, {time_left.render(got['seconds_left'] - d)} left" in table for d in (0, 60)), table
    assert len([line for line in table.splitlines() if "unlocked" in line]) == 2  # both share the session
    assert len(sandbox.calls) == calls  # status never calls AWS

    assert run_keyrack("relock", "prod").returncode == 0
    assert json.loads(run_keyrack("status", "stage", "--json").stdout)["state"] == "locked"


@pytest.mark.parametrize("name,message", [("nope", "is not in"), ("mine", "not managed by keyrack"),
                                          ("bad;name", "invalid profile name")])
def test_status_of_a_profile_keyrack_does_not_know_is_one_line_exit_2(
        isolated_home: TestHome, name: str, message: str) -> None:
    two_profiles(isolated_home)
    proc = run_keyrack("status", name)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_a_broken_config_is_named_by_line(isolated_home: TestHome) -> None:
    isolated_home.config.write_text("[profile a]\nregion = x\n[profile a]\n")
    for command in ("status", "list"):
        proc = run_keyrack(command)
        assert proc.returncode == 2 and "line 3" in proc.stderr


def cpu_seconds(*args: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = run_keyrack(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def test_2000_profiles_work_within_a_generous_cpu_budget(isolated_home: TestHome) -> None:
    # CPU time, not wall time, and generous (about 10x what an idle machine takes): a guard
    # against a quadratic path, not a speed target; speed is judged in bench/config_bench.py.
    sys.path.insert(0, str(BENCH))
    from config_bench import big_config

    isolated_home.config.write_text(big_config(2000))
    assert len(json.loads(run_keyrack("list", "--json").stdout)) == 2000
    assert min(cpu_seconds("status") for _ in range(3)) < 5
    assert min(cpu_seconds("list") for _ in range(3)) < 5
    assert min(cpu_seconds("set", "bench0001", "--start-url", "https://s1.awsapps.com/start", "--sso-region",
                           "us-east-1", "--account-id", f"90000000000{i}", "--role-name", "Role1",
                           "--no-verify", "--yes") for i in range(3)) < 10


def test_one_hand_broken_profile_does_not_hide_the_others(isolated_home: TestHome) -> None:
    two_profiles(isolated_home)
    isolated_home.config.write_text(isolated_home.config.read_text()
                                    + "\n[profile half]\nkeyrack_sso_session = sandbox\n")
    for command in ("list", "status"):
        proc = run_keyrack(command, "--json")
        assert proc.returncode == 0, proc.stderr
        assert [r["profile"] for r in json.loads(proc.stdout)] == ["prod", "stage"]
        assert "warning: profile 'half' lacks keyrack_account_id, keyrack_role_name" in proc.stderr
    assert run_keyrack("status", "half").returncode == 2
