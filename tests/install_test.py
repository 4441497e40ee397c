"""install.sh, run for real in a temporary HOME: venv, link, rc lines, uninstall.

One install is shared by the module (pip takes a few seconds); the tests run
in file order and the last one uninstalls it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keyrack_sh import __version__

REPO = Path(__file__).resolve().parent.parent
INSTALL_SH = REPO / "install.sh"
MARKER = "# added by keyrack install.sh"
SHELL_BINS = {name: shutil.which(name) for name in ("bash", "zsh", "fish")}
BASHRC = b"# my bashrc\nexport EDITOR=vi\n"
ZSHRC_NO_NEWLINE = b"setopt autocd"  # no final newline: uninstall must restore exactly this


# The machine's network settings (CA bundles, proxies, package index) reach pip, pipx and uv.
_NETWORK_PREFIXES = ("SSL_", "PIP_", "UV_", "REQUESTS_", "CURL_")


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: only system folders on PATH, so ~/.local/bin is not on it."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith(_NETWORK_PREFIXES) or k.lower().endswith("_proxy")}
    env.update({
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHON": sys.executable,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    })
    env.update(extra)
    return env


def _install(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(INSTALL_SH), *args], env=_env(home, **extra),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every file (bytes), symlink (target) and folder under root."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


def _rc_files(home: Path) -> dict[str, Path]:
    return {"bash": home / ".bashrc", "zsh": home / ".zshrc", "fish": home / ".config/fish/config.fish"}


def _gated_python(root: Path) -> tuple[Path, Path]:
    """A PYTHON that, asked to create the venv, first waits (60 s at most) for a gate file: the test
    opens the gate once it has read the step's line, so that line provably came before the step."""
    gate = root / "gate"
    wrapper = root / "python"
    wrapper.write_text(f"""#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
    i=0
    while [ ! -e '{gate}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
exec '{sys.executable}' "$@"
""")
    wrapper.chmod(0o755)
    return wrapper, gate


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("install-home")
    (home / ".bashrc").write_bytes(BASHRC)
    (home / ".zshrc").write_bytes(ZSHRC_NO_NEWLINE)
    aws = home / ".aws"
    aws.mkdir()
    (aws / "config").write_text("[profile mine]\nregion = eu-west-1\n")
    before = _tree(home)
    python, gate = _gated_python(tmp_path_factory.mktemp("gated-python"))
    proc = subprocess.Popen(["sh", str(INSTALL_SH), "--yes"], env=_env(home, PYTHON=str(python)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, venv_there_at_its_line = [], None
    try:
        for line in proc.stdout:
            lines.append(line)
            if "venv: creating" in line:
                venv_there_at_its_line = (home / ".local/share/keyrack/venv").exists()
                gate.touch()
        err = proc.stderr.read()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines), err)
    assert result.returncode == 0, result.stderr
    return home, before, result, venv_there_at_its_line


def test_install_links_a_working_keyrack(installed):
    home, _, _, _ = installed
    link = home / ".local/bin/keyrack"
    assert link.is_symlink()
    assert os.readlink(link) == str(home / ".local/share/keyrack/venv/bin/keyrack")
    out = subprocess.run([str(link), "--version"], capture_output=True, text=True, timeout=60,
                         env=_env(home))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"keyrack {__version__}"


def test_install_venv_is_complete_not_borrowing_site_packages(installed):
    home, _, _, _ = installed
    python = home / ".local/share/keyrack/venv/bin/python"
    code = "import boto3, configupdater, filelock, jinja2, shellingham, keyrack_sh, sys; print(sys.prefix)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60,
                         env=_env(home))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(home / ".local/share/keyrack/venv")
    cfg = (home / ".local/share/keyrack/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg


def test_install_shows_each_step_as_it_happens(installed):
    home, _, result, venv_there_at_its_line = installed
    lines = result.stdout.splitlines()
    assert lines[0] == f"Installing keyrack from {REPO} (venv)"
    venv = home / ".local/share/keyrack/venv"
    steps = [f"  venv: creating {venv}",
             "  pip: installing keyrack and its dependencies into the venv (about 20 s)",
             f"  command: {home}/.local/bin/keyrack -> {venv}/bin/keyrack"]
    assert lines[1:4] == steps
    assert venv_there_at_its_line is False  # the line was out before the venv was made
    hooks = [line for line in lines if line.startswith("  hook: ")]
    assert len(hooks) == sum(1 for path in SHELL_BINS.values() if path)
    assert f"  hook: created {home}/.config/fish/config.fish with one line" in hooks or not SHELL_BINS["fish"]
    assert any(line.startswith("  completions: ") for line in lines)
    # the temp HOME's bin folder is not on the test's PATH
    assert any("is not on your PATH" in line for line in lines)
    assert lines[-2] == f"Installed keyrack {__version__}. Undo: {REPO}/install.sh --uninstall"
    assert result.stderr == ""


def test_the_last_line_works_in_the_same_terminal(installed, tmp_path):
    """The printed command runs as printed in the shell that ran install.sh (PATH unchanged, no hook),
    and the demo it starts leaves nothing behind."""
    home, _, result, _ = installed
    last = result.stdout.splitlines()[-1]
    prefix = "Try it now, in this terminal: "
    assert last == f"{prefix}{home}/.local/bin/keyrack demo --shell"
    scratch = tmp_path / "demo-tmp"
    scratch.mkdir()
    out = subprocess.run(["sh", "-c", last[len(prefix):]], input='echo "profile=$AWS_PROFILE"\nexit\n',
                         capture_output=True, text=True, env=_env(home, TMPDIR=str(scratch)), timeout=180,
                         cwd=scratch)
    assert out.returncode == 0, out.stderr
    assert "assumed-role/AdminRole/alice" in out.stdout
    # the demo's own closing hint works in this terminal too
    assert f"Done. Try it yourself: {home}/.local/bin/keyrack demo --shell" in out.stdout
    assert "profile=demo" in out.stdout
    assert "demo shell closed: servers stopped, scratch folder removed" in out.stdout
    assert list(scratch.iterdir()) == []


def test_install_adds_one_marked_line_per_installed_shell(installed):
    home, _, _, _ = installed
    for shell, rc in _rc_files(home).items():
        if not SHELL_BINS[shell]:
            assert not rc.exists()
            continue
        text = rc.read_text()
        assert text.count(MARKER) == 1, (shell, text)
    assert (home / ".bashrc").read_bytes().startswith(BASHRC)
    assert (home / ".zshrc").read_bytes().startswith(ZSHRC_NO_NEWLINE + b"\n")


def test_rc_lines_source_a_pre_rendered_hook_without_starting_python(installed):
    home, _, _, _ = installed
    for shell, rc in _rc_files(home).items():
        if not SHELL_BINS[shell]:
            continue
        hook = home / ".cache" / "keyrack" / f"init.{shell}"
        assert hook.is_file(), f"keyrack init {shell} --write did not render {hook}"
        line = next(line for line in rc.read_text().splitlines() if MARKER in line)
        assert str(hook) in line


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_interactive_shell_loads_the_hook(installed, shell, tmp_path):
    if not SHELL_BINS[shell]:
        pytest.skip(f"{shell} is not installed")
    home, _, _, _ = installed
    # fish keeps history and universal variables in XDG_DATA_HOME: outside HOME,
    # so the uninstall test still sees exactly the HOME it started with
    env = _env(home, XDG_DATA_HOME=str(tmp_path / "shell-data"))
    probe = {
        "bash": ["bash", "-i", "-c", "type -t keyrack"],
        "zsh": ["zsh", "-i", "-c", "whence -w keyrack"],
        "fish": ["fish", "-i", "-c", "functions -q keyrack; and echo function"],
    }[shell]
    out = subprocess.run(probe, capture_output=True, text=True, timeout=60, env=env,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("function"), (out.stdout, out.stderr)
    assert "keyrack:" not in out.stderr


def test_installing_twice_changes_nothing(installed):
    home, _, _, _ = installed
    rcs_before = {p: p.read_bytes() for p in _rc_files(home).values() if p.exists()}
    link_before = os.readlink(home / ".local/bin/keyrack")
    again = _install(home, "--yes")
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in rcs_before} == rcs_before
    assert os.readlink(home / ".local/bin/keyrack") == link_before
    assert "already has keyrack's line" in again.stdout


def test_uninstall_removes_exactly_what_install_added(installed):
    home, before, _, _ = installed
    result = _install(home, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert "Uninstalled keyrack" in result.stdout
    assert result.stderr == ""  # [profile mine] is not keyrack's: no warning
    # byte for byte the home it found: rc files, ~/.aws, no leftover folders
    assert _tree(home) == before
    again = _install(home, "--uninstall")
    assert again.returncode == 0 and "nothing to do" in again.stdout


# -- uninstall after the user kept working: their rc lines, their keyrack profiles ---------
AWS_CONFIG_WITH_PROFILES = """\
[profile mine]
region = eu-west-1

[profile acme.prod]
credential_process = {venv}/bin/python3 -I -S {venv}/keyrack_sh/fast.py acme.prod
keyrack_sso_session = acme
keyrack_account_id = 111122223333
keyrack_role_name = AdminRole

[profile acme.dev]
credential_process = {venv}/bin/python3 -I -S {venv}/keyrack_sh/fast.py acme.dev
keyrack_sso_session = acme
keyrack_account_id = 444455556666
keyrack_role_name = ReadOnly

[sso-session acme]
sso_start_url = https://acme.awsapps.com/start
sso_region = us-east-1
"""


def _uninstall_on_a_terminal(home: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """--uninstall with a terminal on stdin, typing `answer`."""
    master, slave = os.openpty()
    try:
        os.write(master, answer.encode())
        proc = subprocess.run(["sh", str(INSTALL_SH), "--uninstall"], env=_env(home), stdin=slave,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return proc


@pytest.fixture(scope="module")
def uninstalled_after_edits(tmp_path_factory: pytest.TempPathFactory):
    """An rc file with no final newline and keyrack profiles in ~/.aws/config; install, the user
    appends a line to the rc file, --uninstall declined on a terminal, then --uninstall for real."""
    home = tmp_path_factory.mktemp("edited-home")
    (home / ".bashrc").write_bytes(b"export FOO=1")
    # files that were there, empty, before the install: they stay; the symlink stays a symlink
    (home / "dotfiles").mkdir()
    (home / "dotfiles/zshrc").write_bytes(b"")
    (home / ".zshrc").symlink_to("dotfiles/zshrc")
    (home / ".config/fish").mkdir(parents=True)
    (home / ".config/fish/config.fish").write_bytes(b"")
    venv = home / ".local/share/keyrack/venv"
    (home / ".aws").mkdir()
    # keys are case-insensitive to configparser: only the installed keyrack (not the plain scan) sees this one
    config = (AWS_CONFIG_WITH_PROFILES.format(venv=venv)
              + "\n[profile acme.ops]\nKEYRACK_SSO_SESSION = acme\nkeyrack_account_id = 777788889999\n"
              "keyrack_role_name = Ops\n").encode()
    (home / ".aws/config").write_bytes(config)
    installed = _install(home, "--yes")
    assert installed.returncode == 0, installed.stderr
    with open(home / ".bashrc", "ab") as f:  # echo 'alias y=2' >> ~/.bashrc
        f.write(b"alias y=2\n")
    declined = _uninstall_on_a_terminal(home, "n\n")
    venv_after_declined = venv.is_dir()
    gone = _install(home, "--uninstall")
    return home, config, declined, venv_after_declined, gone


def test_uninstall_keeps_a_line_added_after_keyracks_on_its_own_line(uninstalled_after_edits):
    home, _, _, _, gone = uninstalled_after_edits
    assert gone.returncode == 0, gone.stderr
    # keyrack's line is not the last one any more: only it goes, the newline before it stays
    assert (home / ".bashrc").read_bytes() == b"export FOO=1\nalias y=2\n"


def test_uninstall_keeps_rc_files_that_were_there_even_empty_and_symlinks_stay_links(uninstalled_after_edits):
    home, _, _, _, gone = uninstalled_after_edits
    assert gone.returncode == 0, gone.stderr
    assert (home / ".config/fish/config.fish").read_bytes() == b""
    assert os.readlink(home / ".zshrc") == "dotfiles/zshrc"
    assert (home / "dotfiles/zshrc").read_bytes() == b""
    for shell, rc in _rc_files(home).items():
        if SHELL_BINS[shell]:
            assert f"removed keyrack's line from {rc}" in gone.stdout


def test_the_install_edited_a_symlinked_rc_file_through_the_link(tmp_path):
    """~/.zshrc is still the user's link and keyrack's line is in its target."""
    home = tmp_path / "install-home"
    (home / "dotfiles").mkdir(parents=True)
    (home / "dotfiles/zshrc").write_bytes(b"")
    (home / ".zshrc").symlink_to("dotfiles/zshrc")
    # install.sh's rc edit alone, as it runs it, without a second full install
    edit = subprocess.run(["sh", "-c", 'sed -n "/^rc_edit()/,/^}/p" "$0" > "$1"; . "$1"; '
                           'py=$PYTHON; MARKER="# added by keyrack install.sh"; rc_edit add "$2" "echo hook"',
                           str(INSTALL_SH), str(tmp_path / "rc_edit.sh"), str(home / ".zshrc")],
                          env=_env(home), capture_output=True, text=True)
    assert edit.returncode == 0, edit.stderr
    assert os.readlink(home / ".zshrc") == "dotfiles/zshrc"
    assert (home / "dotfiles/zshrc").read_text() == f"echo hook  {MARKER}\n"


WARNING = ("install.sh: warning: these keyrack profiles in {config} will fail once keyrack is uninstalled: "
           "{names}\n"
           "install.sh: {config} is not edited; run 'keyrack remove PROFILE' for each before uninstalling, "
           "or reinstall to use them again\n")
NAMES = "acme.prod, acme.dev, acme.ops"


def test_uninstall_names_the_keyrack_profiles_it_breaks_and_leaves_the_config_alone(uninstalled_after_edits):
    home, config, _, _, gone = uninstalled_after_edits
    assert gone.returncode == 0, gone.stderr
    # acme.ops too: the installed keyrack was asked, not the plain scan
    assert gone.stderr == WARNING.format(config=home / ".aws/config", names=NAMES)
    assert gone.stdout.splitlines()[-1] == (f"Uninstalled keyrack ({home / '.aws/config'} was not edited: "
                                            "the keyrack profiles named above fail until you reinstall).")
    assert (home / ".aws/config").read_bytes() == config
    assert not (home / ".local/share/keyrack").exists()


def test_uninstall_on_a_terminal_asks_before_breaking_keyrack_profiles(uninstalled_after_edits):
    home, _, declined, venv_after_declined, _ = uninstalled_after_edits
    assert declined.returncode == 2
    assert "Uninstall anyway? [y/N]" in declined.stdout
    assert declined.stderr == (WARNING.format(config=home / ".aws/config", names=NAMES)
                               + "install.sh: nothing removed\n")
    assert venv_after_declined


def test_uninstall_without_the_keyrack_scans_the_config_for_its_profiles(tmp_path):
    """The venv is already gone (or broken): the warning comes from a plain scan of AWS_CONFIG_FILE."""
    home = tmp_path / "install-home"
    data = home / ".local/share/keyrack"
    data.mkdir(parents=True)
    (data / "install-manifest").write_text(f"dir\t{data}\n")
    config = tmp_path / "aws-config"
    config.write_text(AWS_CONFIG_WITH_PROFILES.format(venv=data / "venv"))
    result = _install(home, "--uninstall", AWS_CONFIG_FILE=str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == WARNING.format(config=config, names="acme.prod, acme.dev")
    assert not data.exists()


# -- refusals: one line, exit 2, nothing changed ------------------------------------------
def _fake_python(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fakepython"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_too_old_python_is_refused_with_the_version(tmp_path):
    fake = _fake_python(tmp_path, 'echo 3.8\n')
    home = tmp_path / "install-home"
    home.mkdir()
    result = _install(home, "--yes", PYTHON=str(fake))
    assert result.returncode == 2
    assert "needs Python >= 3.10" in result.stderr and "is 3.8" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert list(home.iterdir()) == []


def test_missing_venv_module_names_the_debian_package(tmp_path):
    fake = _fake_python(tmp_path, 'case "$2" in *ensurepip*) exit 1 ;; *) echo 3.11 ;; esac\n')
    home = tmp_path / "install-home"
    home.mkdir()
    result = _install(home, "--yes", PYTHON=str(fake))
    assert result.returncode == 2
    assert result.stderr == (f"install.sh: Python's venv module is missing for {fake} "
                             "(hint: sudo apt-get install python3-venv)\n")
    assert result.stdout == ""
    assert list(home.iterdir()) == []


# BSD (macOS) sed, stat, mktemp, readlink, grep and find differ from GNU's: only flags both have.
GNU_ONLY = [r"\bsed\s+(-[a-zA-Z]*i|--)", r"\bstat\b", r"\breadlink\s+-", r"\bgrep\s+-[a-zA-Z]*P",
            r"\bmktemp(\s+-[a-zA-Z]+)*\s*(\)|$)", r"\bfind\b.*-(printf|regextype)", r"\bdate\s+-d", r"\bsort\s+-[a-zA-Z]*V",
            r"\bxargs\s+-r", r"\bcp\s+-[a-zA-Z]*[a]", r"\bhead\s+-c", r"\btimeout\b", r"\brealpath\b"]


def test_install_sh_uses_no_gnu_only_tool_or_flag():
    import re

    parts = INSTALL_SH.read_text().split("PYEOF")  # the shell around the one Python heredoc
    shell_lines = (parts[0] + parts[-1]).splitlines()
    found = [(pat, line.strip()) for line in shell_lines if not line.lstrip().startswith("#")
             for pat in GNU_ONLY if re.search(pat, line)]
    assert found == []


def test_a_foreign_keyrack_in_the_bin_dir_is_not_replaced_unasked(tmp_path):
    home = tmp_path / "install-home"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "keyrack").write_text("#!/bin/sh\necho someone else's\n")
    result = _install(home, "--bin-dir", str(bin_dir))
    assert result.returncode == 2
    assert "not keyrack's link" in result.stderr and "--yes" in result.stderr
    assert (bin_dir / "keyrack").read_text() == "#!/bin/sh\necho someone else's\n"
    assert sorted(p.name for p in home.iterdir()) == ["bin"]


@pytest.mark.parametrize("args, message", [
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--bin-dir"], "--bin-dir needs a folder"),
    (["--from", "/nonexistent"], "is not a keyrack checkout"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, args, message):
    home = tmp_path / "install-home"
    home.mkdir()
    result = _install(home, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert list(home.iterdir()) == []


def test_pipx_flag_without_pipx_says_so(tmp_path):
    result = _install(tmp_path, "--pipx", "--yes", PATH="/nonexistent-bin:/bin")
    # PATH holds no pipx; sh and python come from absolute paths
    assert result.returncode == 2
    assert "pipx is not on PATH" in result.stderr


def test_help_lists_every_flag(tmp_path):
    result = _install(tmp_path, "--help")
    assert result.returncode == 0
    for flag in ("--bin-dir", "--no-modify-rc", "--pipx", "--uv", "--uninstall", "--yes"):
        assert flag in result.stdout


def test_install_sh_is_posix_and_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    assert INSTALL_SH.read_text().startswith("#!/bin/sh\n")
    out = subprocess.run(["shellcheck", "--shell=sh", str(INSTALL_SH)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_piped_into_sh_from_the_checkout_with_no_rc_changes(tmp_path):
    """`cat install.sh | sh -s -- ...` from the clone: installs from the current folder, rc files untouched."""
    home = tmp_path / "install-home"
    home.mkdir()
    (home / ".bashrc").write_bytes(BASHRC)
    bin_dir = tmp_path / "mybin"
    env = _env(home, PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin")
    result = subprocess.run(["sh", "-s", "--", "--yes", "--no-modify-rc", "--bin-dir", str(bin_dir)],
                            input=INSTALL_SH.read_text(), cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"from {REPO}" in result.stdout
    assert "rc files left alone (--no-modify-rc)" in result.stdout
    assert "is not on your PATH" not in result.stdout  # --bin-dir is on this PATH
    out = subprocess.run([str(bin_dir / "keyrack"), "--version"], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == f"keyrack {__version__}"
    assert (home / ".bashrc").read_bytes() == BASHRC
    assert not (home / ".zshrc").exists() and not (home / ".config").exists()

    gone = subprocess.run(["sh", str(INSTALL_SH), "--uninstall"], env=env, capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    assert not (bin_dir / "keyrack").exists()
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]


@pytest.fixture(scope="module")
def tools_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin folder with real pipx and uv, from the package index, outside any HOME under test."""
    venv = tmp_path_factory.mktemp("tools") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pipx", "uv"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"pipx/uv not installable here: {proc.stderr.strip()[-200:]}")
    return venv / "bin"


@pytest.mark.parametrize("tool", ["pipx", "uv"])
def test_pipx_and_uv_flags_install_with_that_tool_and_uninstall_through_it(tool, tools_bin, tmp_path):
    home = tmp_path / "install-home"
    home.mkdir()
    env_path = f"{tools_bin}:/usr/local/bin:/usr/bin:/bin"
    result = _install(home, f"--{tool}", "--yes", "--no-modify-rc", PATH=env_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Installing keyrack from {REPO} ({tool})\n  {tool}: installing keyrack")
    assert f"Installed keyrack {__version__}. Undo:" in result.stdout
    assert result.stderr == ""  # the tool's own chatter stays in its log
    link = home / ".local/bin/keyrack"
    out = subprocess.run([str(link), "--version"], capture_output=True, text=True, env=_env(home))
    assert out.stdout.strip() == f"keyrack {__version__}"

    gone = _install(home, "--uninstall", PATH=env_path)
    assert gone.returncode == 0, gone.stderr
    assert f"{'pipx uninstall' if tool == 'pipx' else 'uv tool uninstall'} keyrack-sh" in gone.stdout
    assert not link.exists() and not link.is_symlink()
    assert not (home / ".local/share/keyrack").exists()
