"""`keyrack export` and `keyrack exec`: the credentials reach other programs."""
from __future__ import annotations

import json
import shutil
import sys

import pytest

from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)

from harness import run

IDENTITY = "import boto3; print(boto3.client('sts', region_name='us-east-1').get_caller_identity()['Arn'])"


def test_export_env_evaluated_by_bash_gives_the_roles_identity(home: Home) -> None:
    proc = home.keyrack("export", "p1")
    assert proc.returncode == 0, proc.stderr
    env = {**home.env, "AWS_PROFILE": "p2"}
    script = f"{proc.stdout}\n{sys.executable} -c \"{IDENTITY}\"; echo \"profile=${{AWS_PROFILE-unset}}\""
    out = run(["bash", "--noprofile", "--norc", "-euc", script], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [arn("111111111111", "AdminRole"), "profile=unset"]


def test_export_fish_is_valid_fish(home: Home) -> None:
    proc = home.keyrack("export", "p1", "--format", "fish")
    assert proc.returncode == 0, proc.stderr
    out = run(["fish", "--no-config", "-c", proc.stdout + "\necho $AWS_REGION; set -q AWS_PROFILE; or echo noprofile"],
              env={**home.env, "AWS_PROFILE": "p2"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["eu-west-1", "noprofile"]


def test_export_json_is_the_credential_process_object(home: Home) -> None:
    proc = home.keyrack("export", "p1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    assert creds["Version"] == 1 and creds["AccessKeyId"].startswith("ASIA")


def test_exec_static_runs_the_command_with_the_credentials_and_without_aws_profile(home: Home) -> None:
    proc = home.keyrack("exec", "p2", "--static", "--", sys.executable, "-c",
                        IDENTITY + "; import os; print(os.environ.get('AWS_PROFILE', 'unset'), "
                                   "os.environ['AWS_REGION'], os.environ['AWS_CREDENTIAL_EXPIRATION'][-1])",
                        AWS_PROFILE="p1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == arn("222222222222", "Developer")
    assert lines[1] == "unset eu-west-1 Z"


def test_exec_passes_the_exit_code_through(home: Home) -> None:
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert proc.returncode == 7


def test_exec_of_a_missing_command_exits_127_and_a_non_executable_one_126(home: Home, tmp_path) -> None:
    # The shell's convention, as for any wrapper that passes exit codes through.
    assert_one_line_failure(home.keyrack("exec", "p1", "--", "no-such-command-xyz"), 127, "command not found")
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    assert_one_line_failure(home.keyrack("exec", "p1", "--", str(script)), 126, "permission denied")


def test_exec_without_a_command_is_a_user_error(home: Home) -> None:
    assert_one_line_failure(home.keyrack("exec", "p1"), 2, "no command")


def test_exec_on_a_locked_session_with_policy_never_runs_nothing(home: Home, tmp_path) -> None:
    marker = tmp_path / "ran"
    proc = home.keyrack("exec", "p1", "--", "touch", str(marker), KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "keyrack unlock p1")
    assert not marker.exists()


def test_exec_and_export_hand_out_credentials_with_at_least_50_minutes_when_the_role_allows(home: Home) -> None:
    # A child process cannot renew what it is given: cached credentials with 40 minutes
    # left are fine for an SDK (which asks again) but not for a long `terraform apply`.
    home.sandbox.set_lifetimes(role_credentials=40 * 60)
    cached = json.loads(home.credential_process("p1").stdout)
    home.sandbox.set_lifetimes(role_credentials=3600)
    fetched = home.sandbox.count("GetRoleCredentials")
    proc = home.keyrack("exec", "p1", "--static", "--", sys.executable, "-c",
                        "import os; print(os.environ['AWS_CREDENTIAL_EXPIRATION'])")
    assert proc.returncode == 0, proc.stderr
    assert home.sandbox.count("GetRoleCredentials") == fetched + 1
    assert proc.stdout.strip() > cached["Expiration"]
    # Now cached with an hour left: export reuses them, no new fetch.
    assert json.loads(home.keyrack("export", "p1", "--format", "json").stdout)["Expiration"] == proc.stdout.strip()
    assert home.sandbox.count("GetRoleCredentials") == fetched + 1


# -- the account ID, for account-ID-based endpoints -------------------------------------

ACCOUNT_ID_ENDPOINT = """
import boto3, botocore.config
class Sent(Exception):
    pass
def stop(request, **kwargs):
    raise Sent(request.url)  # the URL botocore chose; nothing leaves the machine
session = boto3.Session(profile_name="p2")
print(session.get_credentials().account_id)
ddb = session.client("dynamodb", region_name="us-east-1",
                     config=botocore.config.Config(account_id_endpoint_mode="required"))
ddb.meta.events.register("before-send", stop)
try:
    ddb.list_tables()
except Sent as sent:
    print(sent)
"""


def test_the_credential_process_answer_carries_the_account_id(home: Home) -> None:
    first = home.credential_process("p2")  # the slow path's answer
    hit = home.credential_process("p2")  # the hot path's, from creds/p2
    assert first.returncode == hit.returncode == 0, first.stderr + hit.stderr
    assert json.loads(first.stdout)["AccountId"] == json.loads(hit.stdout)["AccountId"] == "222222222222"


def test_botocore_reads_the_account_id_and_dynamodb_s_required_account_endpoint_works(home: Home) -> None:
    proc = home.python(ACCOUNT_ID_ENDPOINT)
    assert proc.returncode == 0, proc.stderr  # without AccountId: "AccountIdEndpointMode is required but ..."
    assert proc.stdout.splitlines() == ["222222222222", "https://222222222222.ddb.us-east-1.amazonaws.com/"]


def test_exec_sets_aws_account_id(home: Home) -> None:
    proc = home.keyrack("exec", "p2", "--", sys.executable, "-c", "import os; print(os.environ['AWS_ACCOUNT_ID'])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "222222222222"


# -- every export format, evaluated where it is meant to be ------------------------------

SHOW = ("AWS_ACCOUNT_ID", "AWS_REGION", "AWS_CREDENTIAL_EXPIRATION")


def exported(home: Home, fmt: str) -> str:
    proc = home.keyrack("export", "p2", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh"])
@pytest.mark.parametrize("fmt", ["env", "env-no-export"])
def test_export_env_formats_evaluated_by_sh_shells_give_the_role_and_the_account(home: Home, shell: str,
                                                                                 fmt: str) -> None:
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    check = IDENTITY if fmt == "env" else IDENTITY.replace("import boto3;", "import os, boto3;")
    # env-no-export sets shell variables only: the child sees them once the script exports them.
    script = exported(home, fmt) + ("" if fmt == "env" else f"export {' '.join(SHOW)} AWS_ACCESS_KEY_ID "
                                    "AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION\n")
    script += f'{sys.executable} -c "{check}"\n' + "".join(f'echo "${name}"\n' for name in SHOW)
    script += 'echo "profile=${AWS_PROFILE-unset}"\n'
    out = run([shell, "-f" if shell == "zsh" else "--norc", "-euc", script], env={**home.env, "AWS_PROFILE": "p1"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [arn("222222222222", "Developer"), "222222222222", "eu-west-1"]
    assert lines[3].endswith("Z") and lines[4] == "profile=unset"


def test_export_env_no_export_sets_no_environment_of_its_own(home: Home) -> None:
    out = run(["bash", "--norc", "-euc", exported(home, "env-no-export") + "env"], env=home.env)
    assert out.returncode == 0, out.stderr
    assert "AWS_ACCESS_KEY_ID=" not in out.stdout and "AWS_ACCOUNT_ID=" not in out.stdout


def test_export_dotenv_is_read_by_sh_and_by_python_dotenv_style_parsing(home: Home) -> None:
    text = exported(home, "dotenv")
    pairs = dict(line.split("=", 1) for line in text.splitlines())
    assert pairs["AWS_ACCOUNT_ID"] == "222222222222" and "AWS_PROFILE" not in pairs
    out = run(["bash", "--norc", "-euc", f"set -a; . /dev/stdin <<'EOF'\n{text}EOF\nset +a\n"
               f'{sys.executable} -c "{IDENTITY}"'], env={**home.env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == arn("222222222222", "Developer")


def test_export_fish_sets_the_account_and_the_role_in_fish(home: Home) -> None:
    if not shutil.which("fish"):
        pytest.skip("fish is not installed")
    script = exported(home, "fish") + f"\n{sys.executable} -c \"{IDENTITY}\"\necho $AWS_ACCOUNT_ID\n"
    out = run(["fish", "--no-config", "-c", script], env={**home.env, "AWS_PROFILE": "p1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [arn("222222222222", "Developer"), "222222222222"]


def test_export_powershell_is_quoted_for_powershell(home: Home) -> None:
    # pwsh is in none of Debian's, npm's or PyPI's registries: a golden check of the lines instead.
    text = exported(home, "powershell")
    creds = json.loads(exported(home, "json"))
    lines = text.splitlines()
    assert f"$Env:AWS_ACCESS_KEY_ID = '{creds['AccessKeyId']}'" in lines
    assert f"$Env:AWS_SESSION_TOKEN = '{creds['SessionToken']}'" in lines
    assert "$Env:AWS_ACCOUNT_ID = '222222222222'" in lines
    assert "Remove-Item -ErrorAction SilentlyContinue Env:AWS_PROFILE" in lines
    from keyrack_sh.commands.export import render

    assert render("powershell", {}, {"X": "it's"}) == "$Env:X = 'it''s'\n"


def test_export_json_carries_the_account_id(home: Home) -> None:
    assert json.loads(exported(home, "json"))["AccountId"] == "222222222222"
