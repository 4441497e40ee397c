"""The credential server (keyrack_sh/server/): real clients through `exec` and `serve`, hostile requests."""
from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import aws_v2, client, client_command, go_identity, node_identity  # noqa: F401 (fixtures)
from engine_support import Home, arn, assert_one_line_failure, home  # noqa: F401 (fixture)
from harness import kill_group, run, write_cli_v2_token
from keyrack_sh.sandbox import Sandbox, SandboxConfig
from keyrack_sh.sandbox.state import Lifetimes

AWS_CLI_V2 = "/usr/bin/aws"
WHO = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
# botocore names the provider that answered: the container provider, not a profile or keys.
METHOD = "import boto3; print(boto3.Session().get_credentials().method)"


# -- exec -----------------------------------------------------------------------


def test_exec_child_gets_the_role_through_the_server_with_no_keys_or_profile(home: Home) -> None:
    code = (WHO + "; " + METHOD + "; import os; print(sorted(k for k in os.environ if k.startswith('AWS_')"
            " and ('KEY' in k or 'PROFILE' in k or k == 'AWS_SESSION_TOKEN')));"
            "print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'].startswith('http://127.0.0.1:'))")
    proc = home.keyrack("exec", "p2", "--", sys.executable, "-c", code, AWS_PROFILE="p1",
                        AWS_ACCESS_KEY_ID="AKIASTALE", AWS_SECRET_ACCESS_KEY="stale")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [arn("222222222222", "Developer"), "container-role", "[]", "True"]


def test_exec_through_the_server_passes_the_exit_code_and_a_signal_through(home: Home) -> None:
    assert home.keyrack("exec", "p1", "--", sys.executable, "-c", "raise SystemExit(7)").returncode == 7
    killed = home.keyrack("exec", "p1", "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 15)")
    assert killed.returncode == 128 + 15


def test_exec_stops_its_server_when_the_command_exits(home: Home) -> None:
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c",
                        "import os; print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])")
    assert proc.returncode == 0, proc.stderr
    port = int(proc.stdout.split(":")[2].split("/")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_exec_of_a_missing_command_through_the_server_exits_127(home: Home) -> None:
    assert_one_line_failure(home.keyrack("exec", "p1", "--", "no-such-command-xyz"), 127, "command not found")


def test_aws_cli_v1_in_an_exec_child_uses_the_server(home: Home) -> None:
    proc = home.keyrack("exec", "q1", "--", sys.executable, "-m", "awscli", "sts", "get-caller-identity",
                        "--output", "json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"] == arn("111111111111", "ReadOnly")


@pytest.mark.skipif(not os.access(AWS_CLI_V2, os.X_OK), reason="AWS CLI v2 not installed")
def test_aws_cli_v2_in_an_exec_child_uses_the_server(home: Home) -> None:
    # CLI v2 2.9 reads no AWS_ENDPOINT_URL_*: the STS endpoint is given per call.
    proc = home.keyrack("exec", "p2", "--", AWS_CLI_V2, "sts", "get-caller-identity", "--output", "json",
                        "--endpoint-url", home.env["AWS_ENDPOINT_URL_STS"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"] == arn("222222222222", "Developer")


def test_every_real_client_in_an_exec_child_gets_the_role_from_the_server(home: Home, client) -> None:
    # AWS CLI v2, Go SDK v2 (endpointcreds in the default chain), JS SDK v3 (fromContainerMetadata/fromHttp).
    proc = home.keyrack("exec", "p2", "--", *client_command(client, None), AWS_PROFILE="p1", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == arn("222222222222", "Developer")


def test_a_new_sdk_session_after_a_relock_fails_with_keyracks_message(home: Home, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (f"import boto3, os, time, pathlib\n{WHO}\n"
            f"pathlib.Path({str(go)!r}).touch()\n"
            f"while os.path.exists({str(go)!r}): time.sleep(0.05)\n"
            "try:\n    print(boto3.Session().client('sts').get_caller_identity()['Arn'])\n"
            "except Exception as exc:\n    print('failed:', exc)\n")
    out, err, returncode = _relock_while_child_runs(home, code, go)
    assert returncode == 0, err
    first, second = out.splitlines()
    assert first == arn("111111111111", "AdminRole")
    assert second.startswith("failed:") and "was relocked" in second and "keyrack unlock p1" in second
    assert "AccessKey" not in second


# -- renewal with short-lived role credentials ----------------------------------------


@pytest.fixture()
def short(home: Home) -> Iterator[tuple[Home, Sandbox]]:
    """The home, pointed at a sandbox of its own (its own STS checks expiry) issuing 6-s role credentials."""
    with Sandbox(SandboxConfig(lifetimes=Lifetimes(role_credentials=6))) as sb:
        yield Home(home.root, {**home.env, **sb.env()}, sb), sb


def test_a_child_calling_sts_for_over_two_lifetimes_never_fails_and_signs_in_once(short) -> None:
    home, sb = short
    code = ("import boto3, time\nsts = boto3.client('sts')\nn = 0\nstart = time.time()\n"
            "while time.time() - start < 15:\n    sts.get_caller_identity(); n += 1; time.sleep(0.2)\n"
            "print(n)\n")
    proc = home.keyrack("exec", "p1", "--", sys.executable, "-c", code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 10
    assert sb.count("CreateToken") == 1  # one sign-in, at the start
    assert sb.count("GetRoleCredentials") >= 3  # renewed at least twice while it ran


def test_a_relock_mid_run_fails_the_next_sdk_call_with_keyracks_message(short, tmp_path: Path) -> None:
    home, _sb = short
    go = tmp_path / "go"
    code = (f"import boto3, os, time, pathlib\nsts = boto3.client('sts')\nprint(sts.get_caller_identity()['Arn'])\n"
            f"pathlib.Path({str(go)!r}).touch()\n"
            f"while os.path.exists({str(go)!r}): time.sleep(0.05)\n"
            "time.sleep(2)\n"  # botocore refreshes 6-s credentials at every call from now on
            "try:\n    sts.get_caller_identity(); print('served stale')\n"
            "except Exception as exc:\n    print('failed:', exc)\n")
    out, err, _returncode = _relock_while_child_runs(home, code, go)
    lines = out.splitlines()
    assert lines[0] == arn("111111111111", "AdminRole"), err
    assert lines[1].startswith("failed:") and "was relocked" in lines[1], lines


# -- serve ------------------------------------------------------------------------------


class Served:
    def __init__(self, home: Home, *profiles: str) -> None:
        self.proc = _start([sys.executable, "-m", "keyrack_sh", "serve", *profiles, "--format", "json"], home.env)
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        self.info = json.loads(line)
        self.token = self.info["token"]
        self.url = self.info["urls"][profiles[0]]
        self.port = int(self.url.split(":")[2].split("/")[0])
        self.path = "/" + self.url.split("/", 3)[3]

    def stop(self) -> None:
        kill_group(self.proc.pid)
        self.proc.communicate()


@pytest.fixture()
def served(home: Home) -> Iterator[Served]:
    s = Served(home, "p1", "p2")
    yield s
    s.stop()


def _relock_while_child_runs(home: Home, code: str, go: Path) -> tuple[str, str, int]:
    """Run `code` under `keyrack exec p1`; relock once it has created `go`, then let it go on past."""
    child = _start([sys.executable, "-m", "keyrack_sh", "exec", "p1", "--", sys.executable, "-c", code], home.env)
    try:
        _wait_for(go.exists, child)
        assert home.keyrack("relock", "p1").returncode == 0
        go.unlink()
        out, err = child.communicate(timeout=60)
    finally:
        kill_group(child.pid)
    return out, err, child.returncode


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, env=env, text=True, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _request(port: int, head: str, timeout: float = 10) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _content_end(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}")


def _content_end(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data)


def _get(s: Served, *, token: str | None = "good", host: str | None = None, extra: str = "",
         path: str | None = None) -> tuple[int, dict]:
    lines = [f"GET {path or s.path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{s.port}'}"]
    if token is not None:
        lines.append(f"Authorization: {s.token if token == 'good' else token}")
    return _request(s.port, "\r\n".join(lines) + "\r\n" + extra + "Connection: close\r\n\r\n")


def _good(s: Served) -> None:
    status, body = _get(s)
    assert status == 200 and body["AccessKeyId"].startswith("ASIA") and body["AccountId"] == "111111111111"


def test_serve_answers_the_container_protocol_with_one_path_per_profile(served: Served) -> None:
    status, body = _get(served)
    assert status == 200
    assert sorted(body) == ["AccessKeyId", "AccountId", "Expiration", "SecretAccessKey", "Token"]
    status, other = _get(served, path="/" + served.info["urls"]["p2"].split("/", 3)[3])
    assert status == 200 and other["AccountId"] == "222222222222"


def test_serve_after_another_tools_new_sign_in_serves_that_sign_ins_credentials(home: Home, served: Served) -> None:
    status, first = _get(served)
    assert status == 200
    # `aws sso logout` + `aws sso login` by someone else: the token file is simply there again, anew.
    home.sandbox.user = "bob"
    write_cli_v2_token("s1", home.sandbox.issue_session(client_name="botocore-client-s1"), env=home.env)
    status, again = _get(served)
    assert status == 200
    assert again["AccessKeyId"] != first["AccessKeyId"]  # never the ended sign-in's credentials


def test_serve_env_output_evaluated_by_bash_gives_boto3_the_role(home: Home) -> None:
    proc = _start([sys.executable, "-m", "keyrack_sh", "serve", "p2"], home.env)
    try:
        exports = "".join(iter(proc.stdout.readline, "unset AWS_PROFILE;\n")) + "unset AWS_PROFILE;\n"
        script = f"{exports}\n{sys.executable} -c \"{WHO}\""
        out = run(["bash", "--noprofile", "--norc", "-euc", script], env={**home.env, "AWS_PROFILE": "p1"})
    finally:
        kill_group(proc.pid)
        proc.communicate()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == arn("222222222222", "Developer")


@pytest.mark.parametrize("case", ["missing token", "wrong token", "wrong host", "rebinding host", "origin",
                                  "unknown path", "post"])
def test_hostile_requests_are_refused_without_credentials_or_profile_names(served: Served, case: str) -> None:
    if case == "post":
        status, body = _request(served.port, f"POST {served.path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                                             f"Authorization: {served.token}\r\nContent-Length: 0\r\n\r\n")
    else:
        status, body = _get(served, **{
            "missing token": {"token": None},
            "wrong token": {"token": served.token[:-1] + ("A" if served.token[-1] != "A" else "B")},
            "wrong host": {"host": f"127.0.0.1:{served.port + 1}"},
            "rebinding host": {"host": f"attacker.example:{served.port}"},
            "origin": {"extra": "Origin: https://attacker.example\r\n"},
            "unknown path": {"path": "/creds/q1"},
        }[case])
    assert status in {"missing token": (401,), "unknown path": (404,), "post": (405,)}.get(case, (403,))
    text = json.dumps(body)
    assert "ASIA" not in text and "Secret" not in text and "p1" not in text and "q1" not in text
    _good(served)


def test_a_one_megabyte_header_is_refused_and_the_server_keeps_serving(served: Served) -> None:
    status, body = _get(served, extra="X-Big: " + "a" * (1 << 20) + "\r\n")
    assert status == 431 and "ASIA" not in json.dumps(body)
    _good(served)


def test_a_thousand_idle_connections_do_not_lock_out_a_good_client(served: Served) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    idle = []
    try:
        for _ in range(1000):
            try:
                idle.append(socket.create_connection(("127.0.0.1", served.port), timeout=10))
            except OSError:
                pass  # the server's backlog is full: refused, which is fine
        _good(served)
        for sock in idle[:200]:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # half a request, then nothing
        _good(served)
    finally:
        for sock in idle:
            sock.close()
    assert served.proc.poll() is None


def test_a_slowloris_client_is_cut_off_and_others_are_served_meanwhile(served: Served) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    cut = False
    try:
        sock.sendall(f"GET {served.path} HTTP/1.1\r\n".encode())
        started = time.monotonic()
        while time.monotonic() - started < 30:
            try:
                sock.sendall(b"X-Slow: a\r\n")
                _good(served)
                time.sleep(0.5)
                if sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                    cut = True
                    break
            except BlockingIOError:
                continue
            except OSError:
                cut = True
                break
    finally:
        sock.close()
    assert cut
    _good(served)


def test_serve_stops_when_its_sessions_are_relocked_and_says_so(home: Home) -> None:
    s = Served(home, "p1")
    try:
        assert home.keyrack("relock", "p1").returncode == 0
        _, err = s.proc.communicate(timeout=30)
    finally:
        s.stop()
    assert s.proc.returncode == 0
    assert "relocked" in err and s.token not in err


def test_serve_refuses_a_profile_it_does_not_know(home: Home) -> None:
    proc = home.keyrack("serve", "nosuchprofile")
    assert proc.returncode == 2 and proc.stdout == ""
