"""How fast `keyrack console --url` answers on an unlocked session, against `keyrack export`.

    python bench/console_bench.py [--runs 20] [--quick] [--json]

In keyrack demo's World (a scratch HOME, the sandbox on 127.0.0.1 with its
federation endpoint, moto STS), on a profile written by a real `keyrack set`:
`keyrack console PROFILE --url` (cached role credentials, one getSigninToken
call to the sandbox) vs `keyrack export PROFILE` (the same engine hit, no
network), interleaved in the same run. Target: console <= 2x export.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _timing import BenchError, Row, Target, machine, measure, table  # noqa: E402

from keyrack_sh.demo import PROFILE, World  # noqa: E402


def run(runs: int) -> list[Row]:
    with World() as world:
        world.set_profile(PROFILE, "--auto-unlock", "always")
        keyrack = [sys.executable, "-m", "keyrack_sh"]
        commands = {"keyrack console --url": [*keyrack, "console", PROFILE, "--url"],
                    "keyrack export": [*keyrack, "export", PROFILE]}
        for argv in commands.values():  # the first export may renew the role credentials: not timed
            world.run(argv)
        times = measure(commands, runs=runs, env=world.env)
        assert world.sandbox is not None
        calls = world.sandbox.count("GetSigninToken")
    return [Row("console --url on an unlocked session", times["keyrack console --url"], times["keyrack export"],
                Target("<=", 2.0), note=f"{calls} getSigninToken calls for {runs + 3} console runs")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the bench works")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    try:
        rows = run(3 if args.quick else args.runs)
    except BenchError as exc:
        print(f"console_bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(f"console bench on {machine()}\n")
        print(table(rows))
    return 0  # the table says whether the target was met; a busy machine is not an error


if __name__ == "__main__":
    raise SystemExit(main())
