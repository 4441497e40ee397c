"""`keyrack demo`: the whole product, offline, in a scratch folder, narrated.

`World` is the stage: a temporary folder that is HOME (and AWS_CONFIG_FILE,
caches, XDG dirs) for every child process, the bundled IAM Identity Center
sandbox and an STS (moto when importable, else the sandbox's own) on
127.0.0.1, and a browser whose user approves every sign-in. keyrack runs as a
user runs it: `python -m keyrack_sh ...` in a subprocess. bench/ borrows the
same World.

This process points its own HOME and AWS_* variables at the scratch folder
too, before it starts any server: the user's ~/.aws is never read or written.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

PROFILE = "demo"
ACCOUNT_ID = "111111111111"
ROLE_NAME = "AdminRole"
REGION = "eu-west-1"
HERD = 8

# The user in front of the demo's "browser" approves: it fetches the sign-in
# URL and follows the redirect to keyrack's loopback listener. It returns at
# once, as a browser launcher does, and leaves the fetch to a child.
_BROWSER = '''#!{python} -I
"""keyrack demo's browser: the user at it approves every sign-in."""
import os, sys, urllib.request
if os.fork() == 0:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))  # loopback: no proxy
    try:
        opener.open(sys.argv[1], timeout=60).read()
    except Exception:
        pass
    os._exit(0)
'''

# One SDK call, as any boto3 program makes it: the profile's credential_process runs underneath.
_SDK_CALL = ("import boto3, sys; "
             "print(boto3.Session(profile_name=sys.argv[1]).client('sts').get_caller_identity()['Arn'])")

_SCRUB_PREFIXES = ("AWS_", "KEYRACK_", "XDG_")
_SCRUB_NAMES = ("BROWSER", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV_PROMPT")


def scratch_home_env(home: Path, browser: Path) -> dict[str, str]:
    """A user nobody else touches: HOME, the AWS files and the XDG folders inside `home`, no
    instance metadata, and `browser` as the browser (the demo's and the tests' stage)."""
    return {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "BROWSER": str(browser),
    }


def _start_moto() -> tuple[object | None, str | None]:
    """A moto STS server on 127.0.0.1, or (None, None) when moto is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None, None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


class World:
    """Scratch HOME + sandbox + STS on 127.0.0.1 + an approving browser; gone after stop()."""

    def __init__(self, use_moto: bool = True) -> None:
        self.use_moto = use_moto
        self.root: Path | None = None
        self.sandbox = None  # keyrack_sh.sandbox.Sandbox once started
        self.sts_endpoint: str | None = None
        self.sts_kind = ""
        self.env: dict[str, str] = {}
        self._moto: object | None = None
        self._saved_environ: dict[str, str] | None = None
        self._steps: set[subprocess.Popen[str]] = set()  # running now (a herd runs several at once)
        self._steps_guard = threading.Lock()
        self._stopping = False

    # -- life ---------------------------------------------------------------
    def start(self) -> World:
        self.root = Path(tempfile.mkdtemp(prefix="keyrack-demo-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        assert self.root is not None
        home = self.root / "home"
        (home / ".aws").mkdir(parents=True, mode=0o700)
        browser = self.root / "browser"
        browser.write_text(_BROWSER.format(python=sys.executable))
        browser.chmod(0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
        env.update(scratch_home_env(home, browser))
        env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        # This process too: anything in it that reads ~/.aws (botocore in moto) reads the scratch one.
        self._saved_environ = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)

        from keyrack_sh.sandbox import Sandbox, SandboxConfig

        if self.use_moto:
            self._moto, self.sts_endpoint = _start_moto()
        self.sandbox = Sandbox(SandboxConfig(sts_endpoint=self.sts_endpoint)).start()
        self.sts_kind = "moto" if self.sts_endpoint else "the sandbox's own STS (moto is not installed)"
        self.sts_endpoint = self.sandbox.sts_endpoint
        env.update(self.sandbox.env())
        os.environ.update(self.sandbox.env())
        self.env = env

    def stop(self) -> None:
        # Everything a step started first: a credential_process forks its worker into a group of
        # its own (so that it outlives an impatient SDK), and that worker would go on writing
        # into the scratch folder after it is removed.
        with self._steps_guard:
            self._stopping = True
            steps = list(self._steps)
        for step in steps:
            _end_session(step)
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self._moto is not None:
            self._moto.stop()  # type: ignore[attr-defined]
            self._moto = None
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where things are ------------------------------------------------------
    @property
    def home(self) -> Path:
        assert self.root is not None, "the world is not started"
        return self.root / "home"

    @property
    def config_file(self) -> Path:
        return self.home / ".aws" / "config"

    # -- running things as a user does -------------------------------------------
    def run(self, argv: Sequence[str], timeout: float = 120, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        # Its own session, so no controlling terminal: what keyrack would tell a
        # person at /dev/tty (browser URLs) is captured, not mixed into the narration.
        with self._steps_guard:
            if self._stopping:
                raise KeyboardInterrupt  # the demo is ending: no new step (a herd's other threads)
            step = subprocess.Popen(list(argv), env={**self.env, **(env or {})}, cwd=str(self.home), text=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
            self._steps.add(step)
        try:
            stdout, stderr = step.communicate(timeout=timeout)
        except BaseException:
            _end_session(step)
            raise
        finally:
            with self._steps_guard:
                self._steps.discard(step)
        proc = subprocess.CompletedProcess(step.args, step.returncode, stdout, stderr)
        if check and proc.returncode != 0:
            from keyrack_sh.errors import ServiceError

            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ServiceError(f"demo step failed: {shlex.join(argv[:4])} exited {proc.returncode}: {last}")
        return proc

    def keyrack(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "keyrack_sh", *args], timeout=timeout, check=check)

    def sdk_call(self, profile: str = PROFILE) -> str:
        """An STS GetCallerIdentity from a fresh boto3 process; returns the ARN."""
        return self.run([sys.executable, "-c", _SDK_CALL, profile]).stdout.strip()

    def credential_process_argv(self, profile: str = PROFILE) -> list[str]:
        """The profile's credential_process, split as botocore splits it."""
        import configparser

        parser = configparser.RawConfigParser()
        parser.read(self.config_file)
        return shlex.split(parser.get(f"profile {profile}", "credential_process"))

    def set_profile(self, profile: str = PROFILE, *extra: str) -> subprocess.CompletedProcess[str]:
        """`keyrack set` for an account/role the sandbox assigns, roundtrip included."""
        assert self.sandbox is not None
        return self.keyrack("set", profile, "--start-url", self.sandbox.start_url,
                            "--sso-region", self.sandbox.region, "--account-id", ACCOUNT_ID,
                            "--role-name", ROLE_NAME, "--region", REGION, "--yes", *extra)

    def prompt(self, profile: str = PROFILE) -> str:
        """The prompt segment, rendered by keyrack's real bash hook with AWS_PROFILE=profile."""
        hook = self.keyrack("init", "bash").stdout
        script = hook + '\n__keyrack_prompt_update\nprintf "%s" "$KEYRACK_PROMPT"\n'
        proc = self.run(["bash", "--noprofile", "--norc", "-c", script], env={"AWS_PROFILE": profile})
        return proc.stdout


# -- the narrated demo -----------------------------------------------------------------
class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def title(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")

    def detail(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.say(f"   {line}")


def _end_session(step: subprocess.Popen[str]) -> None:
    """Kill every process of `step`'s session (it is its session's leader) and wait until they are gone."""
    members = {step.pid, *_session_members(step.pid)}
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        step.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while members and time.monotonic() < deadline:
        members = {pid for pid in members if _alive(pid)}
        if members:
            time.sleep(0.02)


def _session_members(sid: int) -> list[int]:
    """The processes whose session is `sid`: from /proc on Linux, else `pgrep -s` (macOS)."""
    if not os.path.isdir("/proc/self"):
        try:
            listing = subprocess.run(["pgrep", "-s", str(sid)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [int(pid) for pid in listing.split() if pid.isdigit()]
    found = []
    for entry in os.scandir("/proc"):
        fields = _proc_stat(entry.name) if entry.name.isdigit() else None
        if fields is not None and len(fields) > 3 and fields[3] == str(sid).encode():  # state ppid pgrp session
            found.append(int(entry.name))
    return found


def _proc_stat(pid: str) -> list[bytes] | None:
    """/proc/<pid>/stat's fields after the command name, None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """Still running (a zombie writes nothing more: it counts as gone)."""
    if os.path.isdir("/proc/self"):
        fields = _proc_stat(str(pid))
        return bool(fields) and fields[0] != b"Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _prompt_line(world: World) -> str:
    segment = world.prompt()
    return f"prompt with AWS_PROFILE={PROFILE}: {segment!r}" if segment else \
        f"prompt with AWS_PROFILE={PROFILE}: '' (no segment: not a keyrack profile yet)"


def narrate(world: World, out: TextIO = sys.stdout) -> None:
    """Run every step against a started world, narrating to `out`."""
    sb = world.sandbox
    assert sb is not None
    n = _Narrator(out)
    n.say("keyrack demo: the whole flow against a local IAM Identity Center, offline.")
    n.say(f"   scratch HOME {world.home} (your ~/.aws is not read or written)")
    n.say(f"   IAM Identity Center sandbox on {sb.endpoint}, user {sb.user}, start URL {sb.start_url}")
    n.say(f"   STS on {world.sts_endpoint}: {world.sts_kind}")

    n.title("The prompt segment before setup")
    n.detail(_prompt_line(world))

    n.title(f"keyrack set {PROFILE}: write the profile, then prove it works (the roundtrip)")
    n.detail(f"$ keyrack set {PROFILE} --start-url {sb.start_url} --sso-region {sb.region} "
             f"--account-id {ACCOUNT_ID} --role-name {ROLE_NAME} --region {REGION} --auto-unlock always")
    proc, took = _timed(lambda: world.set_profile(PROFILE, "--auto-unlock", "always"))
    n.detail(proc.stdout)  # type: ignore[attr-defined]
    consents, sign_ins = sb.consent_count(), sb.sign_ins()
    n.detail(f"took {took:.1f} s. The browser showed the one-time \"Allow access to keyrack?\" consent "
             f"{consents} time(s), here at setup, never again; sign-ins so far: {sign_ins}.")
    n.detail("--auto-unlock always lets SDK calls sign in by themselves even without a terminal "
             "(the default, tty, signs in only where a person is at one).")

    n.title("The prompt segment after setup")
    n.detail(_prompt_line(world))

    n.title("An SDK call through credential_process: locked, lazy unlock, then cached hits")
    world.keyrack("relock", PROFILE)
    n.detail(f"after keyrack relock: {_prompt_line(world)}")
    before = sb.sign_ins()
    arn, took_first = _timed(lambda: world.sdk_call())
    n.detail(f"boto3 sts get-caller-identity -> {arn}")
    n.detail(f"first call (locked: credential_process signed in by itself): {_ms(took_first)}, "
             f"sign-ins +{sb.sign_ins() - before}")
    _, took_second = _timed(lambda: world.sdk_call())
    n.detail(f"second call (cached): {_ms(took_second)}, most of it Python importing boto3")
    argv = world.credential_process_argv()
    hits = sorted(_timed(lambda: world.run(argv))[1] for _ in range(5))
    n.detail(f"the credential_process alone on a cache hit: {_ms(hits[2])} (median of 5)")
    n.detail(f"after the call: {_prompt_line(world)}")

    n.title(f"A herd: {HERD} SDK processes at once on a locked session")
    world.keyrack("relock", PROFILE)
    before = sb.sign_ins()
    with ThreadPoolExecutor(HERD) as pool:
        arns, took = _timed(lambda: list(pool.map(lambda _: world.sdk_call(), range(HERD))))
    agree = len(set(arns)) == 1  # type: ignore[arg-type]
    n.detail(f"{HERD} calls answered in {took:.1f} s, all as the same role: {'yes' if agree else 'NO'}")
    n.detail(f"sign-ins: +{sb.sign_ins() - before} (one process signed in; the others waited at the "
             f"lock, then read the credentials it cached)")

    n.title(f"keyrack console {PROFILE} --service s3: the AWS console as the role, from the same session")
    before, opened = sb.sign_ins(), []
    proc = world.keyrack("console", PROFILE, "--service", "s3")  # the sign-in URL goes to the browser only
    n.detail(proc.stdout)
    for _ in range(200):  # the browser follows the URL in the background
        opened = sb.console_sessions()
        if opened:
            break
        time.sleep(0.05)
    for c in opened:
        n.detail(f"the browser landed on the console as {c['role_name']} in account {c['account_id']}: "
                 f"{c['destination']} (region {c['region']}); sign-ins +{sb.sign_ins() - before}")

    n.title(f"keyrack exec {PROFILE} -- a child that outlives its first credentials (a local credential server)")
    sb.set_lifetimes(role_credentials=4)  # the sandbox issues 4-s role credentials from now on
    for cached in (world.home / ".aws" / "keyrack" / "creds").glob("*"):
        cached.unlink()  # forget the hour-long role credentials cached so far (not the sign-in)
    before, fetched = sb.sign_ins(), sb.count("GetRoleCredentials")
    child = ("import boto3, time\ns = boto3.Session(); sts = s.client('sts'); keys, n, end = set(), 0, time.time() + 10\n"
             "while time.time() < end:\n    sts.get_caller_identity(); n += 1\n"
             "    keys.add(s.get_credentials().get_frozen_credentials().access_key); time.sleep(0.25)\n"
             "print(f'{n} STS calls over 10 s, none failed, {len(keys)} different keys')")
    proc = world.keyrack("exec", PROFILE, "--", sys.executable, "-c", child, check=False)
    n.detail(proc.stdout.strip() or proc.stderr.strip())
    n.detail(f"with 4-s credentials: renewed {sb.count('GetRoleCredentials') - fetched} times through keyrack's "
             f"engine, sign-ins +{sb.sign_ins() - before}; the child had a URL and a token, never keys")
    sb.set_lifetimes(role_credentials=3600)

    n.title(f"keyrack relock {PROFILE}: sign out at AWS, delete the tokens")
    proc = world.keyrack("relock", PROFILE)
    n.detail(proc.stdout)
    n.detail(_prompt_line(world))

    n.say(f"\nDone. Try it yourself: {_this_keyrack()} demo --shell")


def _this_keyrack() -> str:
    """How to run this keyrack again from the same terminal: `keyrack` when PATH finds this one,
    else the path it was started by (right after install.sh, ~/.local/bin is not on PATH yet)."""
    started = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(started) != "keyrack":
        return f"{shlex.quote(sys.executable)} -m keyrack_sh"
    found = shutil.which("keyrack")
    if found and os.path.realpath(found) == os.path.realpath(started):
        return "keyrack"
    return shlex.quote(started)


def _shell_argv(world: World, shell: str) -> tuple[list[str], dict[str, str]]:
    """Argv and extra env that start `shell` interactively with the hook and a prompt showing the segment."""
    assert world.root is not None
    hook = world.keyrack("init", shell).stdout
    banner = (f"keyrack demo shell: AWS_PROFILE={PROFILE}; try `keyrack status`, `keyrack use {PROFILE}`, "
              f"`keyrack relock {PROFILE}`, `aws sts get-caller-identity`. Leave with `exit`.")
    if shell == "fish":
        conf = world.home / ".config" / "fish"
        conf.mkdir(parents=True, exist_ok=True)
        # A fish that finds no generated_completions folder starts generating completions from
        # every man page, detached: it outlives the shell and refills the removed scratch folder.
        (world.home / ".local" / "share" / "fish" / "generated_completions").mkdir(parents=True, exist_ok=True)
        (conf / "config.fish").write_text(hook + f"\necho {shlex.quote(banner)}\n"
                                          "function fish_right_prompt; echo $KEYRACK_PROMPT; end\n")
        return ["fish", "-i"], {}
    if shell == "zsh":
        zdot = world.root / "zdotdir"
        zdot.mkdir(exist_ok=True)
        (zdot / ".zshrc").write_text(hook + f"\nprint -r -- {shlex.quote(banner)}\nsetopt prompt_subst\n"
                                     "PROMPT='${KEYRACK_PROMPT:+$KEYRACK_PROMPT }%~ %# '\n")
        return ["zsh", "-i"], {"ZDOTDIR": str(zdot)}
    rc = world.root / "bashrc"
    rc.write_text(hook + f"\nprintf '%s\\n' {shlex.quote(banner)}\n"
                  "PS1='${KEYRACK_PROMPT:+$KEYRACK_PROMPT }\\w\\$ '\n")
    return ["bash", "--rcfile", str(rc), "-i"], {}


def open_shell(world: World) -> int:
    """The user's own shell inside the demo; returns its exit status."""
    from keyrack_sh import shells
    from keyrack_sh.errors import UserError

    try:
        shell = shells.detect_shell()
    except UserError:
        shell = "bash"  # a shell keyrack has no hook for: the demo still gets one it has
    argv, extra = _shell_argv(world, shell)
    # The suggested `aws sts get-caller-identity` works with an AWS CLI that ignores
    # AWS_ENDPOINT_URL_* too (Debian 12's v2, 2.9.19): rule sets through AWS_DATA_PATH.
    from keyrack_sh.sandbox.cli_data import write_aws_data_path

    assert world.root is not None and world.sandbox is not None
    data = write_aws_data_path(world.root / "aws-data", world.sandbox.env())
    # fish keeps runtime files in $XDG_RUNTIME_DIR, else in $TMPDIR/fish.$USER: in the scratch folder too.
    runtime = world.root / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**world.env, **extra, "AWS_PROFILE": PROFILE, "AWS_DATA_PATH": str(data),
           "XDG_RUNTIME_DIR": str(runtime)}
    # ^C belongs to the shell (it cancels the line there), not to the demo
    # that must outlive it to clean up. A no-op handler, not SIG_IGN: an
    # ignored signal would stay ignored in the shell and everything it runs.
    import signal

    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        return subprocess.run(argv, env=env, cwd=str(world.home)).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def run(shell: bool = False, out: TextIO = sys.stdout) -> int:
    started = time.perf_counter()
    with World() as world:
        narrate(world, out)
        print(f"(demo took {time.perf_counter() - started:.1f} s)", file=out, flush=True)
        if shell:
            open_shell(world)
            print("demo shell closed: servers stopped, scratch folder removed", file=out)
    return 0
