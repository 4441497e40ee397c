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

from keyrack_sh import cache, gate, hotpath, paths, resources

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


def store(profile: str = "fastp", expires_in: float = 3600, stamp: str | None = None, token: bool = True) -> dict:
    """The profile's creds file, and (unless `token` is False) the session's SSO token file."""
    token_record = {"accessToken": "t", "expiresAt": cache.iso_z(time.time() + 3600)}
    if token:
        cache.write_token("s1", token_record)
    creds = {**PAYLOAD, "Expiration": cache.iso_z(time.time() + expires_in)}
    cache.write_role_creds(profile, "s1", "111111111111", "AdminRole", creds,
                           paths.config_stamp() if stamp is None else stamp, cache.sign_in_of("s1", token_record))
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
            assert hotpath.keyrack_home() == str(paths.keyrack_home())
            assert hotpath.config_file() == str(paths.config_file())
            assert hotpath.creds_file("p.x") == str(paths.creds_file("p.x"))
            assert gate.gate_file("p.x") == str(paths.gate_file("p.x"))
            assert hotpath.config_stamp() == paths.config_stamp()
            # The token file the hot path stats is the one paths (and botocore) name.
            assert hotpath.sso_cache_dir() + "/" + paths.token_file("s1").name == str(paths.token_file("s1"))


def test_the_header_names_the_sessions_token_file_and_the_stamp_has_ctime(home: dict[str, str]) -> None:
    store()
    header = paths.creds_file("fastp").read_text().splitlines()[0].split()
    assert header[:2] == ["keyrack-creds", "4"]
    assert header[7] == paths.token_file("s1").name
    assert header[10] == "fastp"
    st = os.stat(home["AWS_CONFIG_FILE"])
    assert header[6] == f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    st = paths.token_file("s1").stat()  # the sign-in the credentials belong to: the token file's version
    assert header[8] == f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


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


@pytest.mark.parametrize("why", ["nearly expired", "config edited", "torn file", "signed out", "never signed in",
                                 "format 1", "format 2", "format 3", "mtime restored", "signed in again",
                                 "token rewritten in place"])
def test_a_stale_entry_is_a_miss_that_reaches_the_slow_path(home: dict[str, str], why: str) -> None:
    if why == "nearly expired":
        store(expires_in=19 * 60)
    elif why == "config edited":
        store()
        with open(home["AWS_CONFIG_FILE"], "a") as f:
            f.write("\n")
    elif why == "signed out":  # `aws sso logout` deletes the token file
        store()
        paths.token_file("s1").unlink()
    elif why == "never signed in":
        store(token=False)
    elif why == "signed in again":  # `aws sso logout` + `aws sso login`, or a relock + unlock: a new file
        store()
        cache.write_token("s1", {"accessToken": "t2", "expiresAt": cache.iso_z(time.time() + 3600)})
    elif why == "token rewritten in place":  # the AWS CLI v2 truncates and rewrites: same inode
        store()
        token = paths.token_file("s1")
        text = token.read_text()
        time.sleep(0.01)
        with open(token, "r+") as f:
            f.truncate(0)
            f.write(text.replace('"t"', '"u"'))
    elif why == "format 3":  # a file written before the sign-in was in the header
        store()
        path = paths.creds_file("fastp")
        header, payload = path.read_text().split("\n", 1)
        fields = header.split()
        old = fields[:8] + fields[10:]
        old[1] = "3"
        path.write_text(" ".join(old) + "\n" + payload)
    elif why == "format 2":  # a file written before the profile's own name was in the header
        store()
        path = paths.creds_file("fastp")
        header, payload = path.read_text().split("\n", 1)
        old = header.split()[:8]
        old[1] = "2"
        path.write_text(" ".join(old) + "\n" + payload)
    elif why == "format 1":  # a file written before the token file was in the header
        store()
        path = paths.creds_file("fastp")
        header, payload = path.read_text().split("\n", 1)
        old = header.split()[:7]
        old[1] = "1"
        old[6] = old[6].rsplit(":", 1)[0]  # the old stamp had no ctime
        path.write_text(" ".join(old) + "\n" + payload)
    elif why == "mtime restored":  # a same-size edit with the mtime put back (cp -p, touch -r)
        store()
        config = home["AWS_CONFIG_FILE"]
        before = os.stat(config)
        time.sleep(0.05)
        text = open(config).read()
        with open(config, "r+") as f:  # in place: same inode, same size, another role
            f.write(text.replace("AdminRole", "OtherRole"))
        os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(config)
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    else:
        path = store() and paths.creds_file("fastp")
        path.write_bytes(path.read_bytes()[:-20])
    proc = run_fast(home, "fastp")
    # The slow path finds no sso-session s1 in the config: one line, exit 2, stdout empty.
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("keyrack: profile 'fastp': sso-session 's1' is not in")
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
    banned = {"json", "re", "boto3", "botocore", "filelock", "jinja2", "configupdater", "site"}
    assert not {m for m in imported if m.split(".")[0] in banned}
    # Of keyrack, only the package (a version string), the low module the stages share and the safe read.
    assert {m for m in imported if m.startswith("keyrack_sh")} == {"keyrack_sh", "keyrack_sh.hotpath",
                                                                   "keyrack_sh.safe_io"}


def test_the_miss_imports_keyrack_only_after_the_cache_said_no(home: dict[str, str]) -> None:
    proc = run_fast(home, "fastp", extra=("-X", "importtime"))
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "keyrack_sh.credential_process" in imported
    assert proc.returncode == 2


def test_nothing_site_prints_while_starting_the_slow_path_reaches_the_sdks_stdout(
        home: dict[str, str], tmp_path: Path) -> None:
    # A copy of the package beside a sitecustomize that prints, as a .pth line or
    # sitecustomize of a user's Python may: site runs only once stdout is set aside.
    import shutil

    root = tmp_path / "install"
    shutil.copytree(resources.fast_entry().parent, root / "keyrack_sh",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "sitecustomize.py").write_text("print('NOISE FROM SITE')\n")
    argv = [sys.executable, "-I", "-S", str(root / "keyrack_sh" / "fast.py"), "fastp"]
    proc = subprocess.run(argv, env=home, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True)
    assert b"NOISE FROM SITE" in proc.stderr  # site did run, on the miss
    assert proc.stdout == b""  # and nothing but an answer ever reaches stdout
    assert proc.returncode == 2


def test_a_file_written_for_another_profile_is_never_served(home: dict[str, str]) -> None:
    # On a case-insensitive file system (macOS) creds/Fastp and creds/fastp are one file.
    store()
    shutil_copy = __import__("shutil").copyfile
    shutil_copy(paths.creds_file("fastp"), paths.creds_file("Fastp"))
    proc = run_fast(home, "Fastp")
    assert proc.stdout == b"" and proc.returncode == 2
    assert run_fast(home, "fastp").returncode == 0  # its own profile still hits
