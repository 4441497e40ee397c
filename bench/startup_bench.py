"""Shell start-up time added by keyrack's hook line, per shell.

    python bench/startup_bench.py            # 40 interleaved runs per variant
    python bench/startup_bench.py --quick    # 3, to prove it works
    python bench/startup_bench.py --json

Each run starts an interactive shell that sources an rc file and exits:
    bash --noprofile --norc -i -c '. RC; exit'
    zsh -f -i -c '. RC; exit'
    fish --no-config -i -c 'source RC; exit'
with RC one of: empty (the baseline), the line `keyrack init SHELL --write`
prints (sources the pre-rendered hook: no Python), or the plain
`eval "$(keyrack init SHELL)"` (renders the hook with Python every time).
The variants run interleaved, so a busy machine slows them alike.
Target (issue 5): under 10 ms added with the pre-rendered hook.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Row, Target, measure, table  # noqa: E402

ADDED_MS_TARGET = 10.0


def _argv(shell: str, rc: Path) -> list[str]:
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-i", "-c", f". '{rc}'; exit"]
    if shell == "zsh":
        return ["zsh", "-f", "-i", "-c", f". '{rc}'; exit"]
    return ["fish", "--no-config", "-i", "-c", f"source '{rc}'; exit"]


def bench(runs: int, shells: list[str]) -> list[Row]:
    from keyrack_sh import shells as hooks

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="keyrack-startup-bench-") as d:
        tmp = Path(d)
        home = tmp / "home"
        (home / ".aws").mkdir(parents=True)
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "TERM": "dumb", "XDG_CACHE_HOME": str(tmp / "cache"), "XDG_CONFIG_HOME": str(tmp / "config"),
               "XDG_DATA_HOME": str(tmp / "data")}
        for shell in shells:
            if not shutil.which(shell):
                continue
            write = subprocess.run([sys.executable, "-m", "keyrack_sh", "init", shell, "--write"], env=env,
                                   capture_output=True, text=True, check=True, timeout=60)
            rc = {"none": tmp / f"none.{shell}", "cached": tmp / f"cached.{shell}",
                  "eval": tmp / f"eval.{shell}"}
            rc["none"].write_text("\n")
            rc["cached"].write_text(write.stdout)
            cli = " ".join(hooks.QUOTERS[shell](a) for a in hooks.cli_argv())
            rc["eval"].write_text(f"{cli} init fish | source\n" if shell == "fish"
                                  else f'eval "$({cli} init {shell})"\n')
            times = measure({name: _argv(shell, path) for name, path in rc.items()}, runs=runs, env=env)
            for variant, what in (("cached", "pre-rendered hook (keyrack init --write)"),
                                  ("eval", "eval of keyrack init (Python each start)")):
                delta_ms = (times[variant].median - times["none"].median) * 1000
                rows.append(Row(f"{shell} -i with the {what}", times[variant], times["none"],
                                Target("<=", ADDED_MS_TARGET / 1000, diff=True) if variant == "cached" else None,
                                note=f"added {delta_ms:.1f} ms"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 40")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--shell", action="append", choices=("bash", "zsh", "fish"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = bench(3 if args.quick else args.runs, args.shell or ["bash", "zsh", "fish"])
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(table(rows))
        print()
        print("Baseline: the same shell sourcing an empty rc file. Target: at most +10 ms with the "
              "pre-rendered hook; the eval row is for comparison.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
