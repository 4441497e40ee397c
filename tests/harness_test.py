"""The harness helpers do what the other tests rely on them to do."""
from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import time

import pytest

from harness import (
    assumed_role_arn,
    aws_cli_identity,
    boto3_identity,
    credential_process_line,
    python,
    read_cli_v2_token,
    run,
    run_credential_process,
    run_keyrack,
    token_path,
    write_cli_v2_token,
    write_profile,
)
from keyrack_sh import profiles, resources


def test_write_profile_writes_what_keyrack_reads(isolated_home, sandbox):
    write_profile("prod", "111111111111", "AdminRole", region="eu-west-1", keyrack_auto_unlock="never")
    write_profile("dev", "222222222222", "Developer", keyrack_login="device")
    config = profiles.load()
    assert config.profile_names() == ["prod", "dev"]
    prod = config.profile("prod")
    assert (prod.session, prod.account_id, prod.role_name, prod.region, prod.auto_unlock) == (
        "sandbox", "111111111111", "AdminRole", "eu-west-1", "never")
    assert config.profile("dev").login == "device"
    session = config.session("sandbox")
    assert (session.start_url, session.region, session.scopes) == (
        sandbox.start_url, sandbox.region, ("sso:account:access",))
    raw = config.raw_profile("prod")
    assert not [k for k in raw if k.startswith("sso_")]  # sso_* keys would beat credential_process
    assert raw["credential_process"] == resources.credential_process_command("prod")


def test_write_profile_updates_in_place_and_keeps_other_bytes(isolated_home):
    isolated_home.config.write_text("# mine\n[default]\nregion = eu-west-1 \n\n")
    write_profile("prod", "111111111111", "AdminRole", keyrack_auto_unlock="never")
    write_profile("prod", "111111111111", "ReadOnly", keyrack_auto_unlock=None)
    text = isolated_home.config.read_text()
    assert text.startswith("# mine\n[default]\nregion = eu-west-1 \n\n")
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("profile prod", "keyrack_role_name") == "ReadOnly"
    assert not parser.has_option("profile prod", "keyrack_auto_unlock")
    assert text.count("[sso-session sandbox]") == 1


def test_credential_process_line_is_run_exactly(isolated_home, env, tmp_path):
    write_profile("p")
    assert credential_process_line("p") == resources.credential_process_command("p")
    # swap in a stand-in helper to see argv and environment as an SDK passes them
    probe = tmp_path / "probe.py"
    probe.write_text("import json, os, sys; print(json.dumps([sys.argv[1:], os.environ['HOME']]))")
    write_profile("p", credential_process=f"{sys.executable} {probe} p 'two words'")
    proc = run_credential_process("p", env=env)
    assert json.loads(proc.stdout) == [["p", "two words"], str(isolated_home.root)]


def test_run_keyrack_has_no_terminal_and_closed_stdin(env):
    proc = run_keyrack("--version", env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("keyrack ")
    probe = python("import os, sys\n"
                   "try:\n    os.open('/dev/tty', os.O_RDWR); print('tty')\n"
                   "except OSError:\n    print('no tty')\n"
                   "print(repr(sys.stdin.read()))\n", env=env)
    assert probe.stdout.split("\n")[:2] == ["no tty", "''"]


def test_run_kills_the_whole_process_group_on_timeout(tmp_path):
    pidfile = tmp_path / "grandchild"
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            "time.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run([sys.executable, "-c", code], timeout=2)
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild outlived the timeout")


def test_cli_v2_token_cache_round_trip(isolated_home, sandbox, env):
    token = sandbox.issue_session("botocore-client-x")
    path = write_cli_v2_token("x", token, env)
    assert path == token_path("x", env)
    assert path.parent == isolated_home.aws / "sso" / "cache"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_cli_v2_token("x", env) == token
    assert token["expiresAt"].endswith("Z") and token["refreshToken"].startswith("aor")


def test_real_consumers_reach_the_sandbox_through_an_sso_profile(isolated_home, sandbox, env):
    """boto3 and the AWS CLI v1, with botocore's own SSO provider: the harness's consumer helpers work."""
    write_cli_v2_token("interop", sandbox.issue_session("botocore-client-interop"), env)
    isolated_home.config.write_text(
        "[profile sso]\nsso_session = interop\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n"
        "region = us-east-1\n\n"
        f"[sso-session interop]\nsso_start_url = {sandbox.start_url}\nsso_region = {sandbox.region}\n")
    arn = assumed_role_arn("111111111111", "ReadOnly")
    assert boto3_identity("sso", env) == arn
    assert aws_cli_identity("sso", env) == arn
    assert sandbox.count("GetRoleCredentials") == 2


def test_importing_the_sandbox_stays_light():
    """`keyrack demo` imports the sandbox; only the moto minter may load botocore."""
    code = ("import sys, keyrack_sh.sandbox, keyrack_sh.sandbox.server\n"
            "from keyrack_sh.sandbox import Sandbox\n"
            "with Sandbox() as sb: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto', 'flask')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
