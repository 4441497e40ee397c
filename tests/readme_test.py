"""The README stays true: its commands, flags, files and settings exist in the code."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from keyrack_sh import profiles
from keyrack_sh.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subparsers() -> dict:
    return build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]


def test_the_first_lines_give_the_install_and_demo_command_and_the_test_command() -> None:
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./install.sh --yes && ~/.local/bin/keyrack demo", "bash .ci/run"]
    assert README.index("```sh") < 1200  # right after the two-sentence introduction


def test_ci_runs_exactly_the_test_command_the_readme_names() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ran = [line for line in ci.splitlines() if "-m pytest" in line]
    assert ran == [".venv/bin/python -m pytest -q"]
    assert "`.venv/bin/python -m pytest -q`" in README
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines()[1].startswith("bash .ci/run ")  # the README's command 2


def test_ci_never_installs_into_the_system_interpreter() -> None:
    """Debian 12's python3 is EXTERNALLY-MANAGED: pip runs only in the project's own .venv."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pips = [line.strip() for line in ci.splitlines() if re.search(r"\bpip\b", line) and not line.lstrip().startswith("#")]
    assert pips and all(line.startswith(".venv/bin/python -m pip ") for line in pips), pips
    assert "python3 -m venv .venv" in ci


def test_every_subcommand_is_in_the_commands_table() -> None:
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for name in _subparsers():
        assert f"`keyrack {name}" in table, name


def test_every_flag_the_table_names_exists() -> None:
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    subs = _subparsers()
    for row in table.splitlines():
        m = re.match(r"\| `keyrack ([a-z-]+)([^`]*)`", row)
        if not m:
            continue
        known = {o for a in subs[m.group(1)]._actions for o in a.option_strings}
        for flag in re.findall(r"--[a-z][a-z-]*", m.group(2)):
            assert flag in known, f"keyrack {m.group(1)} {flag}"


def test_the_config_example_is_a_profile_keyrack_reads() -> None:
    ini = README.split("```ini", 1)[1].split("```", 1)[0]
    parser = configparser.RawConfigParser()
    parser.read_string(ini)
    config = profiles.AwsConfig(parser, Path("README.md"))
    profile = config.profile("acme.prod")
    session = config.session(profile.session)
    assert (profile.account_id, profile.role_name, session.start_url) == (
        "111122223333", "AdministratorAccess", "https://acme.awsapps.com/start")
    assert not [k for k in config.raw_profile("acme.prod") if k.startswith("sso_")]


def test_every_keyrack_setting_the_readme_names_is_read_by_the_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in
                     [*ROOT.glob("keyrack_sh/**/*.py"), *ROOT.glob("shell/*")])
    for name in set(re.findall(r"KEYRACK_[A-Z_]+[A-Z]", README)):
        assert name in code, name
