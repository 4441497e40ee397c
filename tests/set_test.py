"""`keyrack set` end to end: the local IAM Identity Center, moto STS, real boto3 and the AWS CLI v1.

Every run is a subprocess in the test's private HOME (botocore fixes its cache
path at import). The config's bytes are compared exactly: outside keyrack's
sections nothing may change, and after a failure nothing at all.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import TestHome
from harness import assumed_role_arn, aws_cli_identity, boto3_identity, run_keyrack

from keyrack_sh import config_writer
from keyrack_sh.sandbox import Sandbox

RICH = (Path(__file__).parent / "fixtures" / "rich_config").read_bytes()
AUTH = "authorization_code"
ACCOUNT, ROLE = "111111111111", "AdminRole"
SESSION = "keyrack-sandbox"  # derived from https://keyrack-sandbox.awsapps.com/start


def set_args(sandbox: Sandbox, profile: str = "acme.prod", account: str = ACCOUNT, role: str = ROLE,
             *extra: str) -> list[str]:
    return ["set", profile, "--start-url", sandbox.start_url, "--sso-region", sandbox.region,
            "--account-id", account, "--role-name", role, "--region", "eu-west-1", *extra]


def keyrack_set(sandbox: Sandbox, *extra: str, profile: str = "acme.prod", account: str = ACCOUNT,
                role: str = ROLE) -> subprocess.CompletedProcess[str]:
    return run_keyrack(*set_args(sandbox, profile, account, role, *extra), timeout=120)


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prompt_file(home: TestHome, profile: str) -> Path:
    return home.keyrack / "prompt" / "profiles" / profile


@pytest.fixture()
def rich(isolated_home: TestHome) -> TestHome:
    isolated_home.config.write_bytes(RICH)
    return isolated_home


def test_fresh_set_on_an_empty_config_runs_the_roundtrip_and_both_consumers_work(
        sandbox: Sandbox, isolated_home: TestHome) -> None:
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stdout.splitlines() if line.startswith(("├─", "└─"))]
    assert [s.split()[1:4] for s in steps] == [["✓", "1", "unlock"], ["✓", "2", "relock"],
                                              ["✓", "3", "unlock"], ["✓", "4", "verify"]]
    assert "\033[" not in proc.stdout  # no colour without a terminal
    assert assumed_role_arn(ACCOUNT, ROLE) in steps[-1]
    assert sandbox.count("RegisterClient") == 1
    assert sandbox.count("CreateToken", grant_type=AUTH) == 2
    assert sandbox.count("Logout") == 1
    assert sandbox.consent_count() == 1 and sandbox.sign_ins() == 2
    assert boto3_identity("acme.prod") == assumed_role_arn(ACCOUNT, ROLE)
    assert aws_cli_identity("acme.prod") == assumed_role_arn(ACCOUNT, ROLE)
    assert prompt_file(isolated_home, "acme.prod").read_text() == f"{SESSION}\n"
    proof = json.loads((isolated_home.keyrack / "proven" / f"{SESSION}.json").read_text())
    assert proof["session"] == SESSION and not set(proof.values()) & sandbox.minted_secrets()
    assert (isolated_home.keyrack / "proven" / f"{SESSION}.json").stat().st_mode & 0o777 == 0o600
    # Success leaves the session unlocked.
    status = json.loads(run_keyrack("status", "acme.prod", "--json").stdout)
    assert status["state"] == "unlocked"


def test_fresh_set_on_a_rich_config_keeps_every_other_byte(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    after = rich.config.read_bytes()
    assert after.startswith(RICH)
    assert b"[profile acme.prod]" in after[len(RICH):]
    assert boto3_identity("acme.prod") == assumed_role_arn(ACCOUNT, ROLE)
    assert aws_cli_identity("acme.prod") == assumed_role_arn(ACCOUNT, ROLE)
    assert (rich.aws / "config.keyrack.bak").read_bytes() == RICH


def test_json_output_for_scripts(sandbox: Sandbox) -> None:
    proc = keyrack_set(sandbox, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and out["verified"] and out["arn"] == assumed_role_arn(ACCOUNT, ROLE)
    assert [s["step"] for s in out["steps"]] == ["unlock", "relock", "unlock", "verify"]
    assert (out["profile_action"], out["session_action"]) == ("add", "add")


def test_same_values_again_change_nothing(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox, "--no-verify").returncode == 0
    written = rich.config.read_bytes()
    proc = keyrack_set(sandbox, "--no-verify")
    assert proc.returncode == 0, proc.stderr
    assert rich.config.read_bytes() == written
    assert "profile acme.prod unchanged" in proc.stdout
    assert sandbox.calls == []


def test_changed_values_need_yes_without_a_terminal(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox, "--no-verify").returncode == 0
    written = rich.config.read_bytes()
    proc = keyrack_set(sandbox, "--no-verify", role="ReadOnly")
    assert proc.returncode == 2
    assert "-keyrack_role_name = AdminRole" in proc.stdout and "+keyrack_role_name = ReadOnly" in proc.stdout
    assert proc.stderr.count("\n") == 1 and "--yes" in proc.stderr
    assert rich.config.read_bytes() == written
    proc = keyrack_set(sandbox, "--yes", role="ReadOnly")
    assert proc.returncode == 0, proc.stderr
    assert rich.config.read_bytes() == written.replace(b"= AdminRole", b"= ReadOnly")
    assert boto3_identity("acme.prod") == assumed_role_arn(ACCOUNT, "ReadOnly")


def test_an_unmanaged_profile_of_that_name_is_not_overwritten_without_yes(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_set(sandbox, "--no-verify", profile="legacy-sso")
    assert proc.returncode == 2
    assert "keyrack does not manage it" in proc.stderr
    assert rich.config.read_bytes() == RICH
    proc = keyrack_set(sandbox, "--yes", profile="legacy-sso")
    assert proc.returncode == 0, proc.stderr
    assert boto3_identity("legacy-sso") == assumed_role_arn(ACCOUNT, ROLE)


@pytest.mark.parametrize("step,number,code,arrange,role", [
    ("unlock", 1, 2, lambda sb: setattr(sb, "behaviour", "deny"), ROLE),
    ("relock", 2, 1, lambda sb: sb.fail("Logout", "TooManyRequestsException", times=5), ROLE),
    ("unlock", 1, 2, lambda sb: None, "NotAssignedRole"),
    ("verify", 4, 1, "sts-down", ROLE),
], ids=["denied-sign-in", "logout-error", "role-not-assigned", "sts-failure"])
def test_a_failing_step_restores_the_exact_bytes_and_names_the_step(
        sandbox: Sandbox, rich: TestHome, env: dict[str, str], step: str, number: int, code: int, arrange,
        role: str) -> None:
    if arrange == "sts-down":
        env["AWS_ENDPOINT_URL_STS"] = f"http://127.0.0.1:{closed_port()}"  # the sandbox itself mints via moto
    else:
        arrange(sandbox)
    proc = run_keyrack(*set_args(sandbox, "acme.prod", ACCOUNT, role), env=env, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert rich.config.read_bytes() == RICH
    assert not prompt_file(rich, "acme.prod").exists()
    failed = [line for line in proc.stdout.splitlines() if "✗" in line]
    assert len(failed) == 1 and f"{number} {step}" in failed[0]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"keyrack: set acme.prod failed at step {number} ({step})"), last
    assert "back as it was" in last and "hint:" in last
    assert "Traceback" not in proc.stderr
    # The brand-new sso-session leaves no sign-in behind: no token, no prompt state.
    session = config_writer.derive_session_name(sandbox.start_url)
    assert not list((rich.root / ".aws" / "sso" / "cache").glob("*.json")), session
    assert not (rich.root / ".aws" / "keyrack" / "prompt" / "sessions" / session).exists()


def test_a_failed_update_puts_the_previous_profile_back(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox).returncode == 0
    before = rich.config.read_bytes()
    logouts = sandbox.count("Logout")
    proc = keyrack_set(sandbox, "--yes", role="NotAssignedRole")
    assert proc.returncode == 2
    assert "failed at step 1 (unlock): role 'NotAssignedRole' is not yours in account 111111111111; " \
           "yours there: AdminRole, ReadOnly" in proc.stderr
    assert "--role-name AdminRole" in proc.stderr.split("hint:")[1]
    assert sandbox.count("Logout") == logouts  # failed before any relock
    assert rich.config.read_bytes() == before
    assert prompt_file(rich, "acme.prod").read_text() == f"{SESSION}\n"
    assert boto3_identity("acme.prod") == assumed_role_arn(ACCOUNT, ROLE)


def test_a_credentials_file_section_of_the_same_name_fails_verify(sandbox: Sandbox, rich: TestHome) -> None:
    rich.credentials.write_text("[acme.prod]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n")
    proc = keyrack_set(sandbox)
    assert proc.returncode == 2
    assert "not from keyrack" in proc.stderr and "credentials" in proc.stderr
    assert rich.config.read_bytes() == RICH


def test_eight_concurrent_sets_leave_all_eight_profiles_and_everything_else(
        sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "keyrack_sh",
                               *set_args(sandbox, f"p{i}.par", f"{i:012d}", ROLE, "--no-verify")],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    results = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert [rc for _, rc in results] == [0] * 8, results
    after = rich.config.read_bytes()
    assert after.startswith(RICH)
    out = json.loads(run_keyrack("list", "--json").stdout)
    assert sorted(r["profile"] for r in out) == [f"p{i}.par" for i in range(8)]
    assert {r["account_id"] for r in out} == {f"{i:012d}" for i in range(8)}
    assert after.count(f"[sso-session {SESSION}]".encode()) == 1


def test_an_unparsable_config_is_named_by_line_and_left_alone(sandbox: Sandbox, isolated_home: TestHome) -> None:
    broken = b"[default]\nregion = eu-west-1\nthis is not a key value line\n"
    isolated_home.config.write_bytes(broken)
    proc = keyrack_set(sandbox)
    assert proc.returncode == 2
    assert "line 3" in proc.stderr and proc.stderr.count("\n") == 1
    assert isolated_home.config.read_bytes() == broken
    assert sandbox.calls == []


def test_without_a_terminal_missing_values_name_the_flags(sandbox: Sandbox, isolated_home: TestHome) -> None:
    proc = run_keyrack("set", "acme.prod", "--start-url", sandbox.start_url)
    assert proc.returncode == 2
    assert "missing --sso-region, --account-id, --role-name" in proc.stderr
    assert not isolated_home.config.exists()
    assert sandbox.calls == []


def test_set_then_remove_leaves_the_config_as_it_was(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox).returncode == 0
    proc = run_keyrack("remove", "acme.prod", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert rich.config.read_bytes() == RICH
    assert not prompt_file(rich, "acme.prod").exists()
    assert sandbox.count("Logout") == 2  # the roundtrip's, then remove's relock of the last profile
    assert not (rich.keyrack / "proven" / f"{SESSION}.json").exists()  # a new session proves itself again
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    assert "2 relock" in proc.stdout and sandbox.count("Logout") == 3


def steps_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [" ".join(line.split()[1:4]) for line in proc.stdout.splitlines() if line.startswith(("├─", "└─"))]


def test_a_proven_session_is_verified_without_signing_out(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox).returncode == 0
    assert (sandbox.count("Logout"), sandbox.sign_ins()) == (1, 2)
    # Another profile on the same sso-session: no sign-out, no browser (the session is unlocked).
    proc = keyrack_set(sandbox, profile="acme.staging", account="222222222222", role="Developer")
    assert proc.returncode == 0, proc.stderr
    assert steps_of(proc) == ["✓ 1 unlock", "✓ 2 verify"]
    assert proc.stdout.splitlines()[-3].startswith("└─ ✓ 2 verify")
    assert "passed its roundtrip before, so it was not signed out" in proc.stdout
    assert "already signed in" in proc.stdout
    assert (sandbox.count("Logout"), sandbox.sign_ins()) == (1, 2)
    assert boto3_identity("acme.staging") == assumed_role_arn("222222222222", "Developer")
    # A re-run of the first, as JSON.
    proc = keyrack_set(sandbox, "--json")
    out = json.loads(proc.stdout)
    assert out["verified"] and out["roundtrip"] is False and isinstance(out["proven_at"], int)
    assert [s["step"] for s in out["steps"]] == ["unlock", "verify"]
    assert (sandbox.count("Logout"), sandbox.sign_ins()) == (1, 2)
    # Locked meanwhile: one browser trip, still no sign-out.
    assert run_keyrack("relock", "acme.prod").returncode == 0
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    assert steps_of(proc) == ["✓ 1 unlock", "✓ 2 verify"]
    assert (sandbox.count("Logout"), sandbox.sign_ins()) == (2, 3)
    # --roundtrip forces the whole roundtrip.
    proc = keyrack_set(sandbox, "--roundtrip")
    assert proc.returncode == 0, proc.stderr
    assert steps_of(proc) == ["✓ 1 unlock", "✓ 2 relock", "✓ 3 unlock", "✓ 4 verify"]
    assert (sandbox.count("Logout"), sandbox.sign_ins()) == (3, 4)


def test_a_new_client_registration_runs_the_roundtrip_again(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox).returncode == 0
    (rich.keyrack / "clients" / f"{SESSION}.json").unlink()  # as when the registration expired
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    assert steps_of(proc) == ["✓ 1 unlock", "✓ 2 relock", "✓ 3 unlock", "✓ 4 verify"]
    assert sandbox.count("RegisterClient") == 2 and sandbox.count("Logout") == 2
    assert steps_of(keyrack_set(sandbox)) == ["✓ 1 unlock", "✓ 2 verify"]  # the new one is proven now


def test_a_registration_with_another_expiry_is_proven_again(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox).returncode == 0
    client_file = rich.keyrack / "clients" / f"{SESSION}.json"
    client = json.loads(client_file.read_text())
    client["expiresAt"] = int(client["expiresAt"]) + 86400  # registered again under the same client id
    client_file.write_text(json.dumps(client))
    proc = keyrack_set(sandbox)
    assert proc.returncode == 0, proc.stderr
    assert steps_of(proc) == ["✓ 1 unlock", "✓ 2 relock", "✓ 3 unlock", "✓ 4 verify"]
    assert sandbox.count("Logout") == 2


def test_an_account_the_user_does_not_have_fails_at_once_listing_theirs(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_set(sandbox, account="999999999999")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "failed at step 1 (unlock): account 999999999999 is not one of yours" in last
    assert "yours: Production (111111111111), Staging (222222222222)" in last
    assert "back as it was" in last and "--account-id 111111111111" in last
    assert steps_of(proc) == ["✗ 1 unlock"] and sandbox.sign_ins() == 1  # no relock, no second trip
    assert rich.config.read_bytes() == RICH


# -- hostile input: exit 2, one line, the file untouched, no network -----------
HOSTILE = ["a\nb", "a\rb", "[x]", "a]b", 'a"b', "a'b", "$(id)", "`id`", "a;b", "a b", "a|b", "a&b", "a#b",
           "-x", "x" * 10240, "caf\u00e9", "\udcff\udcfe", "", "a\\b", "a=b\n[default]"]
FIELDS = ["PROFILE", "--start-url", "--sso-region", "--account-id", "--role-name", "--region", "--sso-session"]


def argv_with(sandbox: Sandbox, field: str, value: str) -> list[str]:
    values = {"PROFILE": "acme.prod", "--start-url": sandbox.start_url, "--sso-region": sandbox.region,
              "--account-id": ACCOUNT, "--role-name": ROLE, "--region": "eu-west-1", "--sso-session": "acme"}
    values[field] = value
    argv = ["set", values.pop("PROFILE")]
    for flag, v in values.items():
        argv += [f"{flag}={v}" if v.startswith("-") else flag, *([] if v.startswith("-") else [v])]
    return argv + ["--yes"]


@pytest.mark.parametrize("field", FIELDS)
def test_hostile_values_exit_2_in_one_line_and_change_nothing(sandbox: Sandbox, rich: TestHome, field: str) -> None:
    for value in HOSTILE:
        if field == "PROFILE" and value.startswith("-"):
            continue  # a leading dash makes it an option; argparse's own exit 2 is checked below
        proc = run_keyrack(*argv_with(sandbox, field, value))
        assert proc.returncode == 2, (field, value, proc.stderr)
        assert proc.stdout == "" and proc.stderr.count("\n") == 1, (field, value, proc.stderr)
        assert proc.stderr.startswith("keyrack: ") and len(proc.stderr) < 400
        assert rich.config.read_bytes() == RICH
    assert sandbox.calls == []
    assert not (rich.keyrack / "prompt").exists()


def test_a_leading_dash_is_never_a_profile_name(sandbox: Sandbox, rich: TestHome) -> None:
    proc = run_keyrack("set", "--", "-rf", "--start-url", sandbox.start_url)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert rich.config.read_bytes() == RICH


def test_non_utf8_argv_bytes(sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    argv = [sys.executable.encode(), b"-m", b"keyrack_sh", b"set", b"acme\xff\xfe", b"--start-url",
            sandbox.start_url.encode(), b"--sso-region", b"us-east-1", b"--account-id", ACCOUNT.encode(),
            b"--role-name", b"Admin\x80"]
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.count(b"\n") == 1 and b"Traceback" not in proc.stderr
    assert rich.config.read_bytes() == RICH
    assert sandbox.calls == []


# In-process (fast): cli.main stops at validation, before any file or network.
hostile_text = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=20), st.sampled_from(["\n", "\r", "[", "]", '"', "'", "$(", "`", ";", " ", "\x00", "\udcff",
                                           "\u00e9", "#", "\\", "|", "&", "<", ">", "*", "\t"]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=hostile_text)
def test_property_no_hostile_value_gets_past_validation(
        sandbox: Sandbox, rich: TestHome, capsys: pytest.CaptureFixture[str], field: str, value: str) -> None:
    from keyrack_sh.cli import main

    capsys.readouterr()
    try:
        code = main(argv_with(sandbox, field, value))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (field, value, err)
    assert err.count("\n") == 1 and err.startswith("keyrack: ")
    assert rich.config.read_bytes() == RICH
    assert sandbox.calls == []


def test_a_rerun_for_one_change_takes_the_rest_from_the_config(sandbox: Sandbox, rich: TestHome) -> None:
    assert keyrack_set(sandbox, "--no-verify").returncode == 0
    proc = run_keyrack("set", "acme.prod", "--role-name", "ReadOnly", "--yes", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert boto3_identity("acme.prod") == assumed_role_arn(ACCOUNT, "ReadOnly")
    profile = [line for line in rich.config.read_text().splitlines() if line.startswith(("keyrack_", "region"))]
    assert profile[-4:] == [f"keyrack_sso_session = {SESSION}", f"keyrack_account_id = {ACCOUNT}",
                            "keyrack_role_name = ReadOnly", "region = eu-west-1"]


def test_a_held_config_lock_is_waited_for_boundedly(sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    from filelock import FileLock

    lock_file = rich.keyrack / "locks" / "config.lock"
    lock_file.parent.mkdir(parents=True)
    env["KEYRACK_CONFIG_LOCK_TIMEOUT"] = "0.5"
    with FileLock(str(lock_file)):
        proc = run_keyrack(*set_args(sandbox, "acme.prod", ACCOUNT, ROLE, "--no-verify"), env=env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "locked for 0.5 s; nothing changed" in proc.stderr
    assert rich.config.read_bytes() == RICH
    # Released: the same command goes through.
    assert run_keyrack(*set_args(sandbox, "acme.prod", ACCOUNT, ROLE, "--no-verify"), env=env).returncode == 0


def test_a_failure_with_json_still_prints_json(sandbox: Sandbox, rich: TestHome) -> None:
    sandbox.behaviour = "deny"
    proc = keyrack_set(sandbox, "--json")
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["failed_step"] == "unlock" and "denied" in out["error"]
    assert [s["ok"] for s in out["steps"]] == [False]
    assert rich.config.read_bytes() == RICH


def test_values_taken_from_the_config_are_validated_too(sandbox: Sandbox, isolated_home: TestHome) -> None:
    assert keyrack_set(sandbox, "--no-verify").returncode == 0
    edited = isolated_home.config.read_text().replace("keyrack_role_name = AdminRole",
                                                      "keyrack_role_name = Admin Role $(id)")
    isolated_home.config.write_text(edited)
    proc = run_keyrack("set", "acme.prod", "--region", "us-west-2", "--yes")
    assert proc.returncode == 2 and "invalid role name" in proc.stderr
    assert isolated_home.config.read_text() == edited


def test_no_verify_still_warns_about_what_would_beat_keyrack(
        sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    rich.credentials.write_text("[acme.prod]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n")
    env["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
    proc = run_keyrack(*set_args(sandbox), "--no-verify", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "warning: AWS_ACCESS_KEY_ID is set" in proc.stderr
    assert f"warning: [acme.prod] in {rich.credentials}" in proc.stderr
    proc = run_keyrack(*set_args(sandbox, "acme.dev"), "--no-verify", "--json", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert any("AWS_ACCESS_KEY_ID" in w for w in json.loads(proc.stdout)["warnings"])


def test_keyrack_no_tty_means_no_prompt_even_on_a_terminal(
        sandbox: Sandbox, rich: TestHome, env: dict[str, str]) -> None:
    from remove_test import run_on_a_terminal

    env["KEYRACK_NO_TTY"] = "1"
    code, out = run_on_a_terminal([*set_args(sandbox, "legacy-sso"), "--no-verify"], env, answer="y\n")
    assert code == 2 and "not changing it without --yes" in out and "[y/N]" not in out
    assert rich.config.read_bytes() == RICH


def test_a_take_over_keeps_the_original_under_its_own_name(sandbox: Sandbox, rich: TestHome) -> None:
    proc = keyrack_set(sandbox, "--yes", "--no-verify", profile="legacy-sso")
    assert proc.returncode == 0, proc.stderr
    kept = [p for p in rich.aws.iterdir() if p.name.startswith("config.keyrack.bak.")]
    assert len(kept) == 1 and kept[0].read_bytes() == RICH
    assert f"kept in {kept[0]}" in proc.stdout
    assert keyrack_set(sandbox, "--no-verify", profile="other").returncode == 0  # rewrites config.keyrack.bak
    assert kept[0].read_bytes() == RICH


def test_a_failure_after_someone_else_wrote_does_not_claim_back_as_it_was() -> None:
    from keyrack_sh import config_writer
    from keyrack_sh.commands import set as set_cmd
    from keyrack_sh.errors import ServiceError
    from keyrack_sh.roundtrip import Result, RoundtripFailure

    plan = config_writer.plan_set(RICH.decode(), config_writer.SetRequest(
        profile="acme.prod", start_url="https://acme.awsapps.com/start", sso_region="us-east-1",
        account_id=ACCOUNT, role_name=ROLE), Path("/tmp/config-under-test"))
    failure = RoundtripFailure("verify", ServiceError("STS down"), Result())
    merged = set_cmd._failed(plan, failure, config_writer.MERGED).message
    assert "back as it was" not in merged and "another writer" in merged and "kept" in merged
    assert "back as it was" in set_cmd._failed(plan, failure, config_writer.RESTORED).message


# -- custom (vanity) start URLs -----------------------------------------------------------

PORTAL = "https://ssoins-7223c4f9117b4c94.portal.eu-west-1.app.aws"


@pytest.fixture()
def vanity(tmp_path: Path):
    """An https "vanity domain" on localhost (a certificate the subprocess trusts via SSL_CERT_FILE)
    whose answer the test chooses: redirects[path] = (status, Location or None). Records each request."""
    import http.server
    import ssl
    import threading

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    answers: dict[str, tuple[int, str | None]] = {}
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen.append((self.command, self.path, dict(self.headers)))
            status, location = answers.get(self.path, (404, None))
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"base": f"https://localhost:{server.server_address[1]}", "answers": answers, "seen": seen,
           "cert": str(cert)}
    server.shutdown()
    server.server_close()


def test_a_vanity_start_url_is_followed_once_to_the_aws_portal_it_redirects_to(
        vanity: dict, sts: str, isolated_home: TestHome, env: dict[str, str]) -> None:
    vanity["answers"]["/start"] = (302, PORTAL + "/start/#/")
    with Sandbox(start_url=PORTAL, region="eu-west-1", sts_endpoint=sts) as portal:
        env = {**env, **portal.env(), "SSL_CERT_FILE": vanity["cert"]}
        proc = run_keyrack("set", "acme.prod", "--start-url", vanity["base"] + "/start", "--account-id", ACCOUNT,
                           "--role-name", ROLE, "--region", "eu-west-1", env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"redirects to the AWS access portal {PORTAL}/start/ (SSO region eu-west-1)" in proc.stdout
        # IAM Identity Center saw only its own URL: the sign-in and the roundtrip passed there.
        assert portal.count("StartDeviceAuthorization") + portal.count("CreateToken", grant_type=AUTH) >= 1
        assert boto3_identity("acme.prod", env=env) == assumed_role_arn(ACCOUNT, ROLE)
    config = isolated_home.config.read_text()
    assert f"sso_start_url = {PORTAL}/start/\n" in config and "sso_region = eu-west-1\n" in config
    assert vanity["base"] not in config
    # One blind request: no cookie, no credentials, nothing of the user's.
    assert [(m, p) for m, p, _ in vanity["seen"]] == [("HEAD", "/start")]
    assert not {"cookie", "authorization"} & {h.lower() for h in vanity["seen"][0][2]}


@pytest.mark.parametrize("answer, said", [
    ((200, None), "does not redirect to one (HTTP 200)"),
    ((302, "https://evil.example/start"), "not an https AWS access portal URL"),
    ((301, "http://acme.awsapps.com/start"), "not an https AWS access portal URL"),
    ((302, "https://acme.awsapps.com/elsewhere"), "not an https AWS access portal URL"),
])
def test_a_vanity_url_that_leads_nowhere_aws_is_refused_in_one_line(
        vanity: dict, isolated_home: TestHome, env: dict[str, str], answer: tuple, said: str) -> None:
    vanity["answers"]["/start"] = answer
    proc = run_keyrack("set", "acme.prod", "--start-url", vanity["base"] + "/start", "--sso-region", "us-east-1",
                       "--account-id", ACCOUNT, "--role-name", ROLE, env={**env, "SSL_CERT_FILE": vanity["cert"]})
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and said in proc.stderr
    assert not isolated_home.config.exists()


def test_an_unreachable_vanity_url_is_a_transient_failure(isolated_home: TestHome, env: dict[str, str]) -> None:
    proc = run_keyrack("set", "acme.prod", "--start-url", f"https://localhost:{closed_port()}/start",
                       "--sso-region", "us-east-1", "--account-id", ACCOUNT, "--role-name", ROLE, env=env)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot reach the start URL" in proc.stderr and not isolated_home.config.exists()


# -- other partitions -----------------------------------------------------------------------

@pytest.mark.parametrize("start_url, region, partition, console", [
    ("https://d-9067c0ffee.awsapps.cn/start", "cn-north-1", "aws-cn", "https://console.amazonaws.cn/"),
    ("https://start.us-gov-home.awsapps.com/directory/d-9067c0ffee", "us-gov-west-1", "aws-us-gov",
     "https://console.amazonaws-us-gov.com/"),
])
def test_a_china_or_govcloud_portal_proves_the_role_by_its_partitions_arn_and_console(
        isolated_home: TestHome, env: dict[str, str], start_url: str, region: str, partition: str,
        console: str) -> None:
    import re
    import urllib.request

    # The sandbox's own STS answers as the partition's STS does (arn:aws-cn:, arn:aws-us-gov:).
    with Sandbox(start_url=start_url, region=region) as portal:
        env = {**env, **portal.env()}
        proc = run_keyrack("set", "far", "--start-url", start_url, "--sso-region", region, "--account-id", ACCOUNT,
                           "--role-name", ROLE, "--region", "eu-west-1", "--json", env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["arn"] == f"arn:{partition}:sts::{ACCOUNT}:assumed-role/{ROLE}/alice"
        # The profile's region is only the page's: the console is the partition of the accounts.
        proc = run_keyrack("console", "far", "--url", env=env)
        assert proc.returncode == 0, proc.stderr
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(proc.stdout.strip(), timeout=30) as resp:
            page = dict(re.findall(r'<dd id="(\w+)">([^<]*)</dd>', resp.read().decode("utf-8")))
        assert page["destination"].startswith(console) and page["role"] == ROLE

