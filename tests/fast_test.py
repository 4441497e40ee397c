"""The credential_process hot path: a cache hit prints the stored answer with
nothing but builtins loaded; anything else goes to the slow path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyrack_sh import cache, fast, paths, resources

PAYLOAD = {"Version": 1, "AccessKeyId": "ASIAFASTTEST", "SecretAccessKey": "fast-secret",
           "SessionToken": "fast-session-token", "Expiration": cache.iso_z(time.time() + 3600)}
CONFIG = """\
[profile fastp]
keyrack_sso_session = s1
keyrack_account_id = 111111111111
keyrack_role_name = AdminRole
"""


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private HOME with a config holding one keyrack profile; returns a subprocess env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYRACK_"))}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"), KEYRACK_AUTO_UNLOCK="never")
    (tmp_path / "config").write_text(CONFIG)
    for k in list(os.environ):
        if k.startswith(("AWS_", "KEYRACK_")):
            monkeypatch.delenv(k)
    for k in ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(k, env[k])
    return env


def store(profile: str = "fastp", expires_in: float = 3600, stamp: str | None = None) -> dict:
    creds = {**PAYLOAD, "Expiration": cache.iso_z(time.time() + expires_in)}
    cache.write_role_creds(profile, "s1", "111111111111", "AdminRole", creds,
                           paths.config_stamp() if stamp is None else stamp)
    return creds


def run_fast(env: dict[str, str], *args: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-I", "-S", *extra, str(resources.fast_entry()), *args]
    return subprocess.run(argv, env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True)


def test_fast_resolves_paths_exactly_like_paths_module(home: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    for keyrack_home in (None, str(tmp_path / "kh"), "~/elsewhere"):
        for config in (None, str(tmp_path / "config"), "~/cfg"):
            for var, value in (("KEYRACK_HOME", keyrack_home), ("AWS_CONFIG_FILE", config)):
                if value is None:
                    monkeypatch.delenv(var, raising=False)
                else:
                    monkeypatch.setenv(var, value)
            assert fast.keyrack_home() == str(paths.keyrack_home())
            assert fast.config_file() == str(paths.config_file())
            assert fast.creds_file("p.x") == str(paths.creds_file("p.x"))
            assert fast.config_stamp() == paths.config_stamp()


def test_a_hit_prints_the_stored_json_and_nothing_else(home: dict[str, str]) -> None:
    creds = store()
    proc = run_fast(home, "fastp")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == creds
    assert proc.stdout.count(b"\n") == 1
    assert proc.stderr == b""


def test_the_cli_entry_answers_a_hit_the_same(home: dict[str, str]) -> None:
    creds = store()
    proc = subprocess.run([sys.executable, "-m", "keyrack_sh", "credential-process", "fastp"], env=home,
                          capture_output=True, timeout=60, start_new_session=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == creds


@pytest.mark.parametrize("why", ["nearly expired", "config edited", "torn file"])
def test_a_stale_entry_is_a_miss_that_reaches_the_slow_path(home: dict[str, str], why: str) -> None:
    if why == "nearly expired":
        store(expires_in=19 * 60)
    elif why == "config edited":
        store()
        with open(home["AWS_CONFIG_FILE"], "a") as f:
            f.write("\n")
    else:
        path = store() and paths.creds_file("fastp")
        path.write_bytes(path.read_bytes()[:-20])
    proc = run_fast(home, "fastp")
    # The slow path finds no sso-session s1 in the config: one line, exit 2, stdout empty.
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("keyrack: sso-session 's1' is not in")
    assert proc.stderr.count(b"\n") == 1


@pytest.mark.parametrize("name", ["../fastp", "fastp/../x", "-x", "", ".hidden"])
def test_a_name_that_is_not_a_profile_name_never_reads_a_file(home: dict[str, str], name: str) -> None:
    store()
    proc = run_fast(home, name)
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.startswith(b"keyrack: ")


def test_the_hit_imports_no_heavy_module_and_not_json_or_re(home: dict[str, str]) -> None:
    store()
    proc = run_fast(home, "fastp", extra=("-X", "importtime"))
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "encodings" in imported  # the probe sees imports at all
    banned = {"json", "re", "boto3", "botocore", "filelock", "jinja2", "configupdater", "site", "keyrack_sh"}
    assert not {m for m in imported if m.split(".")[0] in banned}


def test_the_miss_imports_keyrack_only_after_the_cache_said_no(home: dict[str, str]) -> None:
    proc = run_fast(home, "fastp", extra=("-X", "importtime"))
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "keyrack_sh.credential_process" in imported
    assert proc.returncode == 2
