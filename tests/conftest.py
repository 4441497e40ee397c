"""Fixtures every test gets: a private HOME, the sandbox IAM Identity Center and moto STS.

- `sts`: a moto STS server on 127.0.0.1 (session-scoped).
- `sandbox`: keyrack_sh.sandbox.Sandbox on 127.0.0.1, minting role credentials
  with moto's AssumeRole (session-scoped; reset before every test).
- `isolated_home` (autouse): per test a temp HOME, with os.environ of the pytest
  process changed too: AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, XDG_* in
  the temp dir, every inherited AWS_*/KEYRACK_* variable and BROWSER gone,
  AWS_EC2_METADATA_DISABLED=true, the three endpoint overrides pointing at the
  sandbox and moto, and BROWSER = the test browser (tests/bin/browser.py).
  No test can read or write the real ~/.aws or reach AWS.
- `env`: a copy of that environment, for subprocesses (see tests/harness.py).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import install_browser
from keyrack_sh.sandbox import Sandbox, SandboxConfig

SCRUBBED_PREFIXES = ("AWS_", "KEYRACK_")
SCRUBBED_NAMES = ("BROWSER", "TEST_BROWSER_MODE", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
                  "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_DIRS", "XDG_DATA_DIRS",
                  # A suite run over SSH or under WSL signs in as a local one does (remote.py).
                  "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "WSL_DISTRO_NAME", "WSL_INTEROP")


@pytest.fixture(scope="session")
def sts() -> Iterator[str]:
    """A moto STS endpoint URL (moto's server binds 0.0.0.0:5000 unless told otherwise)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def sandbox(sts: str) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(sts_endpoint=sts)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox: Sandbox) -> Iterator[None]:
    sandbox.reset()
    yield
    sandbox.release_hangs()


@dataclass(frozen=True)
class TestHome:
    """Where one test's user lives. `root` is HOME; the browser lives outside it."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    root: Path
    tmp: Path
    browser: Path

    @property
    def aws(self) -> Path:
        return self.root / ".aws"

    @property
    def config(self) -> Path:
        return self.aws / "config"

    @property
    def credentials(self) -> Path:
        return self.aws / "credentials"

    @property
    def keyrack(self) -> Path:
        return self.aws / "keyrack"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> TestHome:
    root = tmp_path / "home"
    (root / ".aws").mkdir(parents=True)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    browser = install_browser(tmp_path / "browser")
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES) or name in SCRUBBED_NAMES:
            monkeypatch.delenv(name)
    from keyrack_sh.demo import scratch_home_env

    settings = {**scratch_home_env(root, browser), "XDG_RUNTIME_DIR": str(runtime), **sandbox.env()}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return TestHome(root=root, tmp=tmp_path, browser=browser)


@pytest.fixture()
def env(isolated_home: TestHome) -> dict[str, str]:
    """The environment a subprocess under test gets (a copy: change it freely)."""
    return dict(os.environ)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hook rendered once per test module for each shell (bash, zsh, fish): shell -> file."""
    from shell_support import SHELLS, make_env, render_hook

    tmp = tmp_path_factory.mktemp("hooks")
    env = make_env(tmp)
    return {shell: render_hook(shell, tmp, env) for shell in SHELLS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI every tool a test needs is installed (.ci/run), so a skip there is a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where .ci/run installs every test dependency: {report.longrepr}"
