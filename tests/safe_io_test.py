"""Hostile local state: FIFOs, links to /dev/zero, huge files, folders, other users' files and
folders, umask 000, planted links at names keyrack owns, damaged answers, hostile settings.
Never a hang, never a MemoryError or traceback, never a wrong answer; one line naming the file."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)

from keyrack_sh import atomic, cache, hotpath, safe_io
from keyrack_sh.errors import UserError

NOBODY = 65534  # another user: tests run as root in CI, and root can chown to anyone
NO_SIGN_IN = cache.SignIn("-", "-.-")  # these tests are about the write, not the binding


def hostile(kind: str, path: Path) -> None:
    """Put a hostile thing where keyrack expects one of its files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(20 << 20)
    elif kind == "folder":
        path.mkdir()
    else:
        raise AssertionError(kind)


KINDS = ("fifo", "dev-zero", "huge", "folder")


# -- the one safe read ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_read_gives_nothing_for_a_fifo_a_device_a_huge_file_or_a_folder_and_says_why(
        tmp_path: Path, kind: str) -> None:
    target = tmp_path / "f"
    hostile(kind, target)
    assert safe_io.read(target) is None  # returns at once: a FIFO is opened without blocking
    assert safe_io.read(target, follow=True) is None
    assert safe_io.problem(target, follow=True)


def test_read_never_follows_a_link_where_keyrack_owns_the_name(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    os.chmod(tmp_path / "real", 0o600)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert safe_io.read(tmp_path / "link") is None
    assert "symbolic link" in (safe_io.problem(tmp_path / "link") or "")
    assert safe_io.read(tmp_path / "link", follow=True) == b"x"  # the user's names (a dotfile config) may be links


def test_read_refuses_a_file_another_user_owns_or_can_write(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a file to another uid")
    path = tmp_path / "creds"
    path.write_bytes(b"planted")
    os.chown(path, NOBODY, -1)
    assert safe_io.read(path) is None
    assert "owned by uid 65534" in (safe_io.problem(path) or "")
    os.chown(path, 0, -1)
    os.chmod(path, 0o666)
    assert safe_io.read(path) is None
    os.chmod(path, 0o600)
    assert safe_io.read(path) == b"planted"


def test_a_missing_file_is_absent_without_a_problem(tmp_path: Path) -> None:
    assert safe_io.read(tmp_path / "none") is None
    assert safe_io.problem(tmp_path / "none") is None


# -- folders ---------------------------------------------------------------------------------


def test_every_folder_keyrack_creates_is_0700_whatever_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRACK_HOME", str(tmp_path / "a" / "keyrack"))
    monkeypatch.setenv("HOME", str(tmp_path / "h"))  # no ~/.aws yet: keyrack makes it
    old = os.umask(0)
    try:
        cache.write_client("s1", {"clientId": "c", "clientSecret": "s", "expiresAt": time.time() + 60})
        cache.write_token("s1", {"accessToken": "t", "expiresAt": cache.iso_z(time.time() + 60)})
    finally:
        os.umask(old)
    home = Path(os.environ["HOME"])
    for folder in (tmp_path / "a", tmp_path / "a" / "keyrack", tmp_path / "a" / "keyrack" / "clients",
                   home / ".aws", home / ".aws" / "sso", home / ".aws" / "sso" / "cache"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@pytest.mark.parametrize("where", ["keyrack", "keyrack/creds", ".aws/sso/cache"])
def test_a_world_writable_folder_is_refused_with_the_chmod_that_fixes_it(where: str) -> None:
    folder = Path(os.environ["HOME"]) / ".aws" / where if where != ".aws/sso/cache" else Path(
        os.environ["HOME"]) / where
    folder.mkdir(parents=True)
    os.chmod(folder, 0o777)
    with pytest.raises(UserError) as caught:
        if where == ".aws/sso/cache":
            cache.write_token("s1", {"accessToken": "t", "expiresAt": cache.iso_z(time.time() + 60)})
        else:
            cache.write_role_creds("p", "s1", "1", "r", _payload(time.time() + 3600), "0:0:0:0", NO_SIGN_IN)
    line = caught.value.render()
    assert str(folder) in line and f"chmod go-w {folder}" in line
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777  # refused, not silently changed


def test_a_folder_of_another_user_is_refused_with_the_chown_that_fixes_it() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another uid")
    folder = Path(os.environ["HOME"]) / ".aws" / "keyrack" / "creds"
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, NOBODY, -1)  # what a `sudo -E keyrack ...` leaves, seen from the other side
    with pytest.raises(UserError) as caught:
        cache.write_role_creds("p", "s1", "1", "r", _payload(time.time() + 3600), "0:0:0:0", NO_SIGN_IN)
    assert f"sudo chown -R {os.getuid()} {folder}" in caught.value.render()


def test_a_symlinked_folder_inside_keyrack_home_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    (outside / "generation@1").write_text("not keyrack's")
    prompt = Path(os.environ["HOME"]) / ".aws" / "keyrack" / "prompt"
    prompt.mkdir(parents=True, mode=0o700)
    (prompt / "links").symlink_to(outside)
    from keyrack_sh import prompt_state

    with pytest.raises(UserError, match="symbolic link"):
        prompt_state.write_profile("p", "s1")
    assert (outside / "generation@1").read_text() == "not keyrack's"


def test_a_planted_link_at_a_lock_path_is_named(tmp_path: Path) -> None:
    from keyrack_sh import lock, paths

    paths.locks_dir().mkdir(parents=True, mode=0o700)
    paths.session_lock("s1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError) as caught:
        with lock.session_lock("s1", timeout=0):
            pass
    assert str(paths.session_lock("s1")) in caught.value.render()
    assert not (tmp_path / "elsewhere").exists()


def test_a_relative_keyrack_home_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrack_sh import paths

    monkeypatch.setenv("KEYRACK_HOME", "rel/keyrack")
    with pytest.raises(UserError, match="KEYRACK_HOME='rel/keyrack' is not an absolute path"):
        paths.keyrack_home()
    assert hotpath.cached("p") is None


# -- temp files of writers killed half-way -----------------------------------------------------


def test_temp_files_left_by_a_killed_writer_go_at_the_next_write_and_never_are_looser() -> None:
    creds = cache.write_role_creds  # the secret-bearing write
    creds("p", "s1", "1", "r", _payload(time.time() + 3600), "0:0:0:0", NO_SIGN_IN)
    folder = Path(os.environ["HOME"]) / ".aws" / "keyrack" / "creds"
    left = folder / ".p.abc123.tmp"  # what kill -9 between mkstemp and os.replace leaves
    left.write_text("keyrack-creds 3 ... secret")
    os.chmod(left, 0o600)
    old = time.time() - 2 * atomic.STALE_TEMP_AGE
    os.utime(left, (old, old))
    creds("p", "s1", "1", "r", _payload(time.time() + 3600), "0:0:0:0", NO_SIGN_IN)
    assert not left.exists()
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())


def test_relock_removes_the_sessions_temp_files_too(home: Home) -> None:
    assert home.credential_process("p1").returncode == 0
    folder = home.creds_file("p1").parent
    left = folder / ".p1.xyz789.tmp"
    left.write_bytes(home.creds_file("p1").read_bytes())
    os.chmod(left, 0o600)
    assert home.keyrack("relock", "p1").returncode == 0
    assert not left.exists()


# -- the hit serves only a well-formed, unexpired answer ----------------------------------------


def _payload(expires: float) -> dict:
    return {"Version": 1, "AccessKeyId": "ASIAHARD", "SecretAccessKey": "hard-secret",
            "SessionToken": "hard-token", "Expiration": cache.iso_z(expires)}


def _stored(home: Home, profile: str = "p1") -> tuple[str, str]:
    assert home.credential_process(profile).returncode == 0
    header, payload = home.creds_file(profile).read_text().splitlines()
    return header, payload


@pytest.mark.parametrize("damage", [
    "{this is not json}",
    '{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "2099-01-01T00:00:00Z"}',
    "EXPIRED",
    "",
])
def test_a_creds_file_whose_answer_is_damaged_is_a_miss_and_gets_rewritten(home: Home, damage: str) -> None:
    header, payload = _stored(home)
    if damage == "EXPIRED":
        damage = json.dumps({**json.loads(payload), "Expiration": "2001-01-01T00:00:00Z"}, separators=(", ", ": "))
    home.creds_file("p1").write_text(header + "\n" + damage + "\n")
    proc = home.credential_process("p1")
    assert proc.returncode == 0, proc.stderr
    served = json.loads(proc.stdout)  # never the damaged line
    assert cache.parse_time(served["Expiration"]) > time.time()
    assert home.creds_file("p1").read_text().splitlines()[1] != damage


@pytest.mark.parametrize("kind", KINDS)
def test_the_credential_process_never_hangs_or_crashes_on_hostile_state_files(home: Home, kind: str) -> None:
    assert home.credential_process("p1").returncode == 0
    for target in (home.creds_file("p1"),
                   home.root / ".aws" / "keyrack" / "prompt" / "profiles" / "p1",
                   home.root / ".aws" / "keyrack" / "prompt" / "sessions" / "s1"):
        hostile(kind, target)
    proc = home.credential_process("p1", timeout=60)  # a hang would time out and fail here
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    if kind == "folder":
        assert_one_line_failure(proc, 2, "is a folder")
    else:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["AccessKeyId"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_token_file_is_a_locked_session_never_a_hang(home: Home, kind: str) -> None:
    assert home.credential_process("p1").returncode == 0
    hostile(kind, home.token_file("s1"))
    proc = home.keyrack("status", "--json", timeout=60)
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 2), proc.stderr


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e300", "soon"])
def test_a_hostile_timeout_setting_is_one_line_naming_it(home: Home, value: str) -> None:
    home.creds_file("p1").parent.mkdir(parents=True, exist_ok=True)
    proc = home.credential_process("p1", KEYRACK_LOCK_TIMEOUT=value)
    assert_one_line_failure(proc, 2, "KEYRACK_LOCK_TIMEOUT")


@pytest.mark.parametrize("kind", KINDS)
def test_a_config_that_is_a_fifo_a_device_huge_or_a_folder_is_one_line_naming_it(home: Home, kind: str) -> None:
    config = home.root / "hostile-config"
    hostile(kind, config)
    for proc in (home.keyrack("status", AWS_CONFIG_FILE=str(config)),
                 home.credential_process("p1", AWS_CONFIG_FILE=str(config))):
        assert_one_line_failure(proc, 2, str(config))


# -- what the files say: a token keyrack cannot use, credentials the local clock calls expired ---


@pytest.mark.parametrize("garbage", ["line\nbreak", "x" * 100_000, 42])
def test_a_token_with_a_future_expiry_but_a_garbage_access_token_is_a_locked_session_unlock_repairs(
        home: Home, garbage: object) -> None:
    assert home.keyrack("unlock", "p1").returncode == 0
    token = json.loads(home.token_file("s1").read_text())
    home.token_file("s1").write_text(json.dumps({**token, "accessToken": garbage}))
    status = home.keyrack("status", "--json", "p1")
    assert "Traceback" not in status.stderr
    assert '"locked"' in status.stdout.replace(" ", "") or "locked" in status.stdout, status.stdout
    proc = home.keyrack("unlock", "p1")
    assert proc.returncode == 0, proc.stderr
    assert cache.usable_access_token(json.loads(home.token_file("s1").read_text())["accessToken"])
    assert home.credential_process("p1").returncode == 0


def test_role_credentials_already_expired_by_the_local_clock_say_the_clock_is_wrong(home: Home) -> None:
    assert home.keyrack("unlock", "p1").returncode == 0
    home.sandbox.skew_clock(-2 * 3600)  # this machine's clock is two hours ahead of AWS's
    try:
        proc = home.credential_process("p1")
    finally:
        home.sandbox.skew_clock(0)
    assert_one_line_failure(proc, 2, "the clock is wrong", "timedatectl")
    assert not home.creds_file("p1").exists()


def test_a_closed_stdout_is_an_exit_code_and_one_line_never_a_traceback(home: Home) -> None:
    import shlex
    import subprocess

    from keyrack_sh import resources

    argv = shlex.split(resources.credential_process_command("p1"))
    for _ in ("miss", "hit"):
        proc = subprocess.run(argv, env=home.env, stdout=None, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True, timeout=60, close_fds=True, preexec_fn=lambda: os.close(1))
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") <= 1
        assert home.credential_process("p1").returncode == 0  # the next pass is a hit


def test_an_inherited_signing_in_variable_is_named_as_the_cause(home: Home) -> None:
    proc = home.credential_process("p1", KEYRACK_SIGNING_IN="s1")
    assert_one_line_failure(proc, 2, "KEYRACK_SIGNING_IN=s1", "unset KEYRACK_SIGNING_IN")


# -- folders keyrack may not write: a read-only HOME, another user's, `sudo -E` leftovers -------------

# Root may write anywhere: without these capabilities it meets modes and owners as any user does.
POWERLESS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _as_a_user(home: Home, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    import shutil

    from harness import run

    prefix: list[str] = []
    if os.getuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux) to run as root without its powers over files")
        prefix = POWERLESS
    return run(prefix + argv, env={**home.env, **env}, timeout=60)


def _keyrack(home: Home, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import sys

    return _as_a_user(home, [sys.executable, "-m", "keyrack_sh", *args], **env)


def _credential_process(home: Home, **env: str) -> subprocess.CompletedProcess[str]:
    import shlex

    from keyrack_sh import resources

    return _as_a_user(home, shlex.split(resources.credential_process_command("p1")), **env)


def test_a_read_only_home_is_one_line_naming_it_and_the_chmod(home: Home, tmp_path: Path) -> None:
    import shutil

    config = tmp_path / "config"  # the config elsewhere; ~/.aws does not exist yet
    shutil.move(str(home.config), config)
    shutil.rmtree(home.root / ".aws")
    os.chmod(home.root, 0o500)
    try:
        for proc in (_keyrack(home, "unlock", "p1", AWS_CONFIG_FILE=str(config)),
                     _credential_process(home, AWS_CONFIG_FILE=str(config))):
            assert_one_line_failure(proc, 2, f"{home.root} is not writable by you (mode 0500)",
                                    f"chmod u+rwx {home.root}")
            assert "PermissionError" not in proc.stderr
    finally:
        os.chmod(home.root, 0o700)


def test_set_into_a_read_only_aws_folder_is_one_line_naming_it_and_the_chmod(home: Home, tmp_path: Path) -> None:
    aws = home.root / ".aws"
    before = home.config.read_bytes()
    keyrack_home = tmp_path / "keyrack"  # writable: only the config's folder is shut
    os.chmod(aws, 0o500)
    try:
        proc = _keyrack(home, "set", "p1", "--region", "ap-south-1", "--no-verify", "--yes",
                        KEYRACK_HOME=str(keyrack_home))
        assert proc.returncode == 2, proc.stderr  # (stdout has set's plan: what it was about to write)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("keyrack: cannot write "), proc.stderr
        assert f"{aws} is not writable by you (mode 0500)" in proc.stderr and f"chmod u+rwx {aws}" in proc.stderr
    finally:
        os.chmod(aws, 0o700)
    assert home.config.read_bytes() == before


@pytest.mark.parametrize("folder", ["", "creds", "locks", "prompt"])
def test_a_keyrack_folder_left_read_only_is_one_line_naming_it_and_the_chmod(home: Home, folder: str) -> None:
    assert home.credential_process("p1").returncode == 0
    where = home.root / ".aws" / "keyrack" / folder if folder else home.root / ".aws" / "keyrack"
    os.chmod(where, 0o500)
    try:
        procs = [_keyrack(home, "relock", "p1")]  # takes the lock, removes creds, writes the prompt state
        if folder in ("", "locks"):
            home.creds_file("p1").unlink()  # a miss: the credential_process takes the session's lock
            procs.append(_credential_process(home))
        for proc in procs:
            assert_one_line_failure(proc, 2, f"{where} is not writable by you (mode 0500)", f"chmod u+rwx {where}")
            assert "PermissionError" not in proc.stderr
    finally:
        os.chmod(where, 0o700)


def test_a_keyrack_home_of_another_user_is_one_line_naming_it_and_the_chown(home: Home, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another uid")
    elsewhere = tmp_path / "keyrack"
    elsewhere.mkdir(mode=0o700)
    os.chown(elsewhere, NOBODY, NOBODY)
    for proc in (_keyrack(home, "unlock", "p1", KEYRACK_HOME=str(elsewhere)),
                 _credential_process(home, KEYRACK_HOME=str(elsewhere))):
        assert_one_line_failure(proc, 2, f"{elsewhere} is owned by uid {NOBODY}",
                                f"sudo chown -R {os.getuid()} {elsewhere}")
    assert list(elsewhere.iterdir()) == []


def test_folders_left_by_a_sudo_keyrack_are_one_line_naming_the_folder_and_the_chown(home: Home) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give folders to another uid")
    assert home.keyrack("unlock", "p1").returncode == 0
    # `sudo -E keyrack ...` as another user wrote ~/.aws and all below it: seen from the user, someone
    # else's folders (here the other is uid 65534, keyrack runs as root without its powers over files).
    aws = home.root / ".aws"
    for path in [aws, *aws.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        if path.is_dir():
            os.chmod(path, 0o700)  # as keyrack creates them: the user cannot even look inside
    for proc in (_keyrack(home, "unlock", "p1"), _keyrack(home, "relock", "p1"), _credential_process(home)):
        # Even the config in it cannot be read: the line names the folder that shuts keyrack out.
        assert_one_line_failure(proc, 2, f"{aws} is owned by uid {NOBODY}, not by you",
                                f"sudo chown -R {os.getuid()} {aws}")
        assert "PermissionError" not in proc.stderr
