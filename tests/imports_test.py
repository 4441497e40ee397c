"""`import keyrack_sh` and the CLI edge stay light: heavy libraries load only
inside the code paths that need them."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "jinja2", "configupdater", "filelock", "shellingham")

_PROBE = """
import json, sys, runpy
sys.argv = ["keyrack"] + json.loads(sys.argv[1])
try:
    {action}
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)), file=sys.__stderr__)
"""


def loaded_heavy_modules(action: str, argv: list[str]) -> list[str]:
    code = _PROBE.format(action=action, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(argv)],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_importing_the_package_loads_nothing_heavy() -> None:
    assert loaded_heavy_modules("import keyrack_sh", []) == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["set", "--help"], ["init", "--help"],
                                  ["credential-process", "--help"], ["bogus-command"]])
def test_the_cli_edge_loads_nothing_heavy(argv: list[str]) -> None:
    action = "from keyrack_sh.cli import main; main(sys.argv[1:])"
    assert loaded_heavy_modules(action, argv) == []


def test_the_probe_itself_sees_heavy_imports() -> None:
    # Guards the guard: if the probe could not see an import, the tests above would pass vacuously.
    assert "jinja2" in loaded_heavy_modules("import jinja2", [])
