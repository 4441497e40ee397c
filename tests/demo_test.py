"""`keyrack demo`, run as a user runs it, with a HOME whose ~/.aws must stay untouched."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SENTINEL_CONFIG = "[profile demo]\nregion = ap-south-1\n# the user's own profile named like the demo's\n"
SENTINEL_CREDENTIALS = "[demo]\naws_access_key_id = AKIASENTINEL\naws_secret_access_key = sentinel\n"


def _sentinel_home(root: Path) -> Path:
    """A HOME with a read-only ~/.aws: config, credentials, an SSO token and keyrack state."""
    home = root / "user-home"
    aws = home / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    (aws / "keyrack" / "prompt").mkdir(parents=True)
    (aws / "config").write_text(SENTINEL_CONFIG)
    (aws / "credentials").write_text(SENTINEL_CREDENTIALS)
    (aws / "sso" / "cache" / "0123.json").write_text('{"accessToken": "sentinel"}\n')
    for dirpath, dirnames, filenames in os.walk(aws, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)
    return home


def _snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p.relative_to(root))] = (None if p.is_dir() else p.read_bytes(), st.st_mtime_ns, st.st_mode)
    return out


def _demo_env(home: Path, tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYRACK_", "XDG_"))}
    env.pop("BROWSER", None)
    env.update(HOME=str(home), TMPDIR=str(tmpdir), LANG="C.UTF-8", SHELL="/bin/bash")
    return env


@pytest.fixture()
def sentinel(tmp_path: Path):
    home = _sentinel_home(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    before = _snapshot(home / ".aws")
    yield home, tmpdir, before
    for dirpath, _, _ in os.walk(home):
        os.chmod(dirpath, 0o755)  # let pytest clean up


def _run_demo(env: dict[str, str], *args: str, strace_log: Path | None = None, input: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "keyrack_sh", "demo", *args]
    if strace_log is not None:
        argv = ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(strace_log), *argv]
    return subprocess.run(argv, env=env, text=True, capture_output=True, timeout=timeout,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def test_demo_narrates_every_step_offline(sentinel):
    home, tmpdir, before = sentinel
    proc = _run_demo(_demo_env(home, tmpdir))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    # the stage: servers on loopback only
    endpoints = re.findall(r"https?://[^\s/]+", out.split("\n1. ")[0])
    assert any(e.startswith("http://127.0.0.1:") for e in endpoints)
    assert all(e.startswith("http://127.0.0.1:") for e in endpoints if not e.endswith("awsapps.com"))
    # 1. before setup there is no segment
    assert "1. The prompt segment before setup" in out
    assert "'' (no segment: not a keyrack profile yet)" in out
    # 2. set with the roundtrip; consent exactly once, at setup
    assert "2. keyrack set demo" in out
    for step in ("1 unlock", "2 relock", "3 unlock", "4 verify"):
        assert step in out
    assert "assumed-role/AdminRole/alice" in out
    assert re.search(r"consent 1 time\(s\), here at setup", out)
    # 3. the prompt turns unlocked
    assert re.search(r"3\. The prompt segment after setup\n.*'(🔓|\[unlocked\]) demo \d+h\d\dm'", out)
    # 4. locked -> lazy unlock (one sign-in) -> cached
    section4 = out.split("\n4. ")[1].split("\n5. ")[0]
    assert re.search(r"after keyrack relock: .*'(🔒|\[locked\]) demo'", section4)
    assert re.search(r"first call \(locked: credential_process signed in by itself\): \d+ ms, sign-ins \+1",
                     section4)
    assert re.search(r"second call \(cached\): \d+ ms", section4)
    assert re.search(r"credential_process alone on a cache hit: \d+ ms", section4)
    # 5. the herd causes one sign-in
    section5 = out.split("\n5. ")[1].split("\n6. ")[0]
    assert "all as the same role: yes" in section5
    assert "sign-ins: +1 " in section5
    # 6. the console as the role, from the same session: no sign-in
    section6 = out.split("\n6. ")[1].split("\n7. ")[0]
    assert "opened the AWS console as AdminRole in account 111111111111 (profile demo)" in section6
    assert re.search(r"landed on the console as AdminRole in account 111111111111: "
                     r"https://console\.aws\.amazon\.com/s3/home\?region=eu-west-1 .*sign-ins \+0", section6)
    assert "SigninToken" not in out
    # 7. relock, and the prompt turns locked
    section7 = out.split("\n7. ")[1]
    assert "relocked sso-session keyrack-sandbox: signed out at AWS" in section7
    assert re.search(r"'(🔒|\[locked\]) demo'", section7)

    # nothing of the user's was touched, and the scratch folder is gone
    assert _snapshot(home / ".aws") == before
    scratch = re.search(r"scratch HOME (\S+)/home", out).group(1)
    assert scratch.startswith(str(tmpdir))
    assert not Path(scratch).exists()
    assert list(tmpdir.iterdir()) == []


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_demo_never_opens_the_users_aws_folder(sentinel, tmp_path):
    home, tmpdir, before = sentinel
    log = tmp_path / "strace.log"
    proc = _run_demo(_demo_env(home, tmpdir), strace_log=log, timeout=180)
    assert proc.returncode == 0, proc.stderr
    real_aws = str(home / ".aws")
    touched = [line for line in log.read_text().splitlines() if real_aws in line]
    assert touched == []
    # the log did see the scratch config: the probe can see a file access at all
    assert "/.aws/config" in log.read_text()
    assert _snapshot(home / ".aws") == before


def test_demo_shell_opens_with_the_hook_and_cleans_up_on_exit(sentinel):
    home, tmpdir, before = sentinel
    # The shell reads its commands from stdin; these work in bash, zsh and fish alike.
    commands = 'echo "profile=$AWS_PROFILE"\ntype keyrack\nkeyrack status\ngrep SigIgn /proc/self/status\nexit\n'
    proc = _run_demo(_demo_env(home, tmpdir), "--shell", input=commands)
    assert proc.returncode == 0, proc.stderr
    # ^C still works in what the shell runs: the demo did not leave SIGINT ignored
    ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", proc.stdout).group(1), 16)
    assert not ignored & (1 << (2 - 1))
    assert "profile=demo" in proc.stdout
    assert re.search(r"keyrack is a (shell )?function", proc.stdout)
    assert re.search(r"demo\s+keyrack-sandbox\s+111111111111\s+AdminRole", proc.stdout)
    assert "demo shell closed: servers stopped, scratch folder removed" in proc.stdout
    assert list(tmpdir.iterdir()) == []
    assert _snapshot(home / ".aws") == before


def _processes_inside(folder: Path) -> list[str]:
    """Command lines of the processes whose working folder is under `folder` (removed or not)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cwd = os.readlink(proc / "cwd")
            if cwd.startswith(str(folder)):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue  # gone, or not ours
    return found


def test_demo_shell_from_fish_leaves_nothing_behind(sentinel, tmp_path):
    """fish's first interactive run generates completions from every man page in a detached process
    that outlives the shell: the demo's fish must not start it, or it refills the removed folder."""
    from shell_support import Tmux, require

    require("fish")
    require("tmux")
    home, tmpdir, before = sentinel
    fish = shutil.which("fish")
    outer_runtime = tmp_path / "outer-run"  # the test's own fish keeps its runtime files here
    outer_runtime.mkdir(mode=0o700)
    env = {**_demo_env(home, tmpdir), "SHELL": fish, "TERM": "xterm", "XDG_RUNTIME_DIR": str(outer_runtime)}
    demo = f"{shlex.quote(sys.executable)} -m keyrack_sh demo --shell; echo demo-exited-$status; sleep 600"
    term = Tmux([fish, "--no-config", "-c", demo], env, tmp_path)  # a real terminal: fish is interactive
    try:
        term.wait_for(r"keyrack demo shell: AWS_PROFILE=demo", timeout=240)
        term.type('echo "in-$AWS_PROFILE-"(status is-interactive; and echo interactive)')
        term.send("Enter")
        term.wait_for(r"^in-demo-interactive$")
        term.type("exit")
        term.send("Enter")
        screen = term.wait_for(r"^demo-exited-0$", timeout=60)
        assert "demo shell closed: servers stopped, scratch folder removed" in screen
        assert _processes_inside(tmpdir) == []
        assert list(tmpdir.iterdir()) == []
    finally:
        term.close()
    assert _snapshot(home / ".aws") == before


def test_the_suggested_aws_command_works_with_debians_aws_cli_v2(sentinel):
    """The banner suggests `aws sts get-caller-identity`; Debian 12's AWS CLI v2 (2.9.19) ignores
    AWS_ENDPOINT_URL_*, and must still reach the demo's STS (called by path: a v1 may come first)."""
    aws_v2 = Path("/usr/bin/aws")
    if not aws_v2.exists() or b"aws-cli/2." not in subprocess.run([aws_v2, "--version"],
                                                                 capture_output=True).stdout:
        pytest.skip("the AWS CLI v2 is not installed at /usr/bin/aws (Debian: apt install awscli)")
    home, tmpdir, before = sentinel
    proc = _run_demo(_demo_env(home, tmpdir), "--shell",
                     input="/usr/bin/aws sts get-caller-identity --query Arn --output text\nexit\n")
    assert proc.returncode == 0, proc.stderr
    assert "`aws sts get-caller-identity`" in proc.stdout  # what the banner suggests
    assert re.search(r"^arn:aws:sts::111111111111:assumed-role/AdminRole/\S+$", proc.stdout, re.M), proc.stdout
    assert list(tmpdir.iterdir()) == []


def test_without_moto_the_sandbox_answers_sts_itself():
    """An installed keyrack has no moto: the demo's STS is then the sandbox's own, and still proves the role."""
    from keyrack_sh.demo import World

    saved = dict(os.environ)
    with World(use_moto=False) as world:
        assert world.sts_kind.startswith("the sandbox's own STS")
        assert world.sts_endpoint == world.sandbox.endpoint
        world.set_profile("demo", "--auto-unlock", "always")
        assert world.sdk_call().startswith("arn:aws:sts::111111111111:assumed-role/AdminRole/")
        root = world.root
    assert not root.exists()
    assert dict(os.environ) == saved  # the demo's own environment change is undone


def test_a_terminated_demo_still_stops_its_servers_and_removes_its_folder(sentinel):
    import signal
    import socket

    home, tmpdir, before = sentinel
    proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", "demo"], env=_demo_env(home, tmpdir),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("2. keyrack set"):
                break  # mid-demo: servers up, a keyrack set in flight
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "keyrack: interrupted"
    port = int(re.search(r"sandbox on http://127\.0\.0\.1:(\d+)", "".join(seen)).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert list(tmpdir.iterdir()) == []
    assert _snapshot(home / ".aws") == before
    # Nothing it started lives on (a credential_process's worker, in a group of its own, would write
    # into the removed folder again): every step ran with its cwd in the scratch home.
    assert processes_working_in(tmpdir) == []


def processes_working_in(folder: Path) -> list[str]:
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd").startswith(str(folder)):
                left.append((entry / "cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
    return left
