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


# -- layers: keyrack's modules import one another without a circle ----------------


def keyrack_imports() -> dict[str, set[str]]:
    """module -> the keyrack_sh modules it imports anywhere in its source (top level or in a function)."""
    import ast
    from pathlib import Path

    import keyrack_sh

    root = Path(keyrack_sh.__file__).parent
    modules = {".".join(("keyrack_sh", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
               for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                # `from keyrack_sh import gate` is an edge to the module gate; `from x.y import f`, to x.y.
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        # The package's own __init__ is no edge: importing keyrack_sh.x always runs it, and it imports nothing.
        graph[name] = {m for m in found if m in modules and m != name and m != "keyrack_sh"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_keyrack_modules_import_one_another_without_a_circle() -> None:
    graph = keyrack_imports()
    assert "keyrack_sh.hotpath" in graph["keyrack_sh.gate"]  # the parser sees imports at all
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    # Guards the guard: a circle through a function-level import is found.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_shared_low_modules_import_no_keyrack_module() -> None:
    graph = keyrack_imports()
    assert graph["keyrack_sh.hotpath"] == {"keyrack_sh.safe_io"}  # the one safe read
    assert graph["keyrack_sh.safe_io"] == {"keyrack_sh.errors"}  # only when refusing
    assert graph["keyrack_sh.fast"] == {"keyrack_sh.hotpath", "keyrack_sh.gate"}
