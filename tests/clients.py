"""The real AWS clients other than boto3 and the AWS CLI v1, ready to run against the sandbox.

- `aws_v2`: the AWS CLI v2 (/usr/bin/aws, Debian 2.9.19, called by path: a v1 `aws`
  may come first on PATH). It predates AWS_ENDPOINT_URL_*, so AWS_DATA_PATH points
  it at endpoint rule sets for sts, sso and sso-oidc that answer with the sandbox
  and moto (session-scoped; the credential_process it runs inherits them, harmlessly).
- `go_identity`: tests/clients/go/identity.go (AWS SDK for Go v2, GOPATH mode,
  offline) built once per test session into a pytest temp dir.
- `node_identity`: tests/clients/node/identity.js (AWS SDK for JavaScript v3); its
  node_modules come from `npm ci` in tests/clients/node (.ci/run does it once).

Each client is an argv prefix; `client_arn(argv, env, profile)` runs one and returns
the ARN STS reports (the Go and JS programs read AWS_PROFILE, as Terraform does).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from harness import HarnessError, run
from keyrack_sh.sandbox.cli_data import write_aws_data_path

SOURCES = Path(__file__).resolve().parent / "clients"
AWS_CLI_V2 = Path("/usr/bin/aws")
@pytest.fixture(scope="session")
def aws_v2(tmp_path_factory: pytest.TempPathFactory, sandbox) -> tuple[str, ...]:
    """The AWS CLI v2 as an argv prefix, pointed at the sandbox and moto through AWS_DATA_PATH."""
    if not AWS_CLI_V2.exists() or b"aws-cli/2." not in subprocess.run(
            [AWS_CLI_V2, "--version"], capture_output=True).stdout:
        pytest.skip("the AWS CLI v2 is not installed at /usr/bin/aws (Debian: apt install awscli)")
    data = write_aws_data_path(tmp_path_factory.mktemp("aws-data-path"), sandbox.env())
    return ("env", f"AWS_DATA_PATH={data}", "AWS_PAGER=", str(AWS_CLI_V2))


@pytest.fixture(scope="session")
def go_identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """tests/clients/go/identity.go, built once per session (GOPATH mode, no network)."""
    go = shutil.which("go")
    sdk = Path("/usr/share/gocode/src/github.com/aws/aws-sdk-go-v2")
    if go is None or not sdk.is_dir():
        pytest.skip("Go or the AWS SDK for Go v2 is missing (Debian: apt install golang-go "
                    "golang-github-aws-aws-sdk-go-v2-dev)")
    out = tmp_path_factory.mktemp("go-client")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(out), "GO111MODULE": "off",
           "GOPATH": "/usr/share/gocode", "GOPROXY": "off", "GOFLAGS": "",
           "GOCACHE": str(out / "cache"), "CGO_ENABLED": "0"}
    binary = out / "identity"
    proc = subprocess.run([go, "build", "-o", str(binary), str(SOURCES / "go" / "identity.go")], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise HarnessError(f"go build of the test client failed:\n{proc.stderr}")
    return (str(binary),)


@pytest.fixture(scope="session")
def node_identity() -> tuple[str, ...]:
    """tests/clients/node/identity.js with the JS SDK v3 that `npm ci` installed beside it."""
    node = shutil.which("node")
    if node is None or not (SOURCES / "node" / "node_modules" / "@aws-sdk" / "client-sts").is_dir():
        pytest.skip("the AWS SDK for JavaScript v3 is not installed (run: npm ci --prefix tests/clients/node)")
    return (node, str(SOURCES / "node" / "identity.js"))


def client_command(client: Sequence[str], profile: str | None) -> list[str]:
    """The argv that makes `client` print the caller's ARN (the CLI v2 takes --profile too)."""
    if client[-1].endswith("aws"):
        return [*client, "sts", "get-caller-identity", "--query", "Arn", "--output", "text",
                *(["--profile", profile] if profile else [])]
    return list(client)


def client_env(env: Mapping[str, str], profile: str | None) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k != "AWS_PROFILE"}
    if profile:
        out["AWS_PROFILE"] = profile
    return out


def client_arn(client: Sequence[str], env: Mapping[str, str], profile: str | None,
               timeout: float = 120) -> str:
    """Run `client` for `profile` (None: the default profile) and return the ARN it printed."""
    proc = run(client_command(client, profile), env=client_env(env, profile), timeout=timeout)
    if proc.returncode != 0:
        raise HarnessError(f"{client[-1]} for profile {profile!r} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout.strip()


def spawn_client(client: Sequence[str], env: Mapping[str, str], profile: str | None) -> subprocess.Popen[str]:
    """Start `client` for `profile` as a herd member (own session, no terminal)."""
    return subprocess.Popen(client_command(client, profile), env=client_env(env, profile), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.fixture(params=["aws-cli-v2", "go-sdk-v2", "js-sdk-v3"])
def client(request: pytest.FixtureRequest) -> Iterator[tuple[str, ...]]:
    """Each real client in turn (use as a parameterised fixture)."""
    name = {"aws-cli-v2": "aws_v2", "go-sdk-v2": "go_identity", "js-sdk-v3": "node_identity"}[request.param]
    yield request.getfixturevalue(name)
