"""How fast status, list and set (without network) are on a config with 2,000 profiles.

    python bench/config_bench.py [--profiles 2000] [--runs 7]

Prints the median wall time of each command, run as a user runs it
(`python -m keyrack_sh ...`, a fresh process each time), in a temp HOME.
Targets (issue 4): status and list < 0.5 s, set --no-verify < 1 s.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"status": 0.5, "list": 0.5, "set --no-verify": 1.0}


def big_config(n: int) -> str:
    from keyrack_sh.resources import credential_process_command

    out = ["# a big, busy config\n[default]\nregion = eu-west-1\n"]
    for i in range(n):
        out.append(f"\n[profile bench{i:04d}]\n# managed by keyrack\n"
                   f"credential_process = {credential_process_command(f'bench{i:04d}')}\n"
                   f"keyrack_sso_session = s{i % 10}\nkeyrack_account_id = {100000000000 + i}\n"
                   f"keyrack_role_name = Role{i % 7}\nregion = eu-west-1\n")
    for s in range(10):
        out.append(f"\n[sso-session s{s}]\nsso_start_url = https://s{s}.awsapps.com/start\n"
                   f"sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n")
    return "".join(out)


CPU: list[float] = []  # user+sys seconds of each child, meaningful on a busy machine


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "keyrack_sh", *argv], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"keyrack {' '.join(argv)} failed: {proc.stderr.strip()}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that proves the bench works: targets shown, not judged")
    opts = parser.parse_args()
    set_argv = ["set", "bench0001", "--start-url", "https://s1.awsapps.com/start", "--sso-region", "us-east-1",
                "--role-name", "Role1", "--no-verify", "--yes", "--account-id"]
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / ".aws").mkdir(mode=0o700)
        config = home / ".aws" / "config"
        config.write_text(big_config(opts.profiles), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYRACK_"))}
        env.update(HOME=str(home), AWS_CONFIG_FILE=str(config), AWS_EC2_METADATA_DISABLED="true")
        for name, argv in (("status", ["status"]), ("list", ["list"])):
            CPU.clear()
            wall[name] = timed(argv, env, opts.runs)
            cpu[name] = statistics.median(CPU)
        # The account alternates between runs, so every run really rewrites the profile.
        CPU.clear()
        wall["set --no-verify"] = statistics.median(
            timed([*set_argv, f"{900000000000 + r % 2}"], env, 1) for r in range(opts.runs))
        cpu["set --no-verify"] = statistics.median(CPU)
    ok = True
    print(f"config bench: {opts.profiles} profiles in one config, {opts.runs} fresh processes each, "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    print("| command | median wall ms | median CPU ms | target (wall) | met |")
    print("|---|---:|---:|---|---|")
    for name, seconds in wall.items():
        within = seconds < TARGETS[name]
        ok &= within
        print(f"| keyrack {name} | {seconds * 1000:.0f} | {cpu[name] * 1000:.0f} | "
              f"< {TARGETS[name] * 1000:.0f} ms | {'yes' if within else '**no**'} |")
    print()
    print("CPU is user+sys of the keyrack process: on a shared machine it is the figure that holds.")
    # A smoke run on a busy machine proves the bench works, not the speed: only a full run judges.
    return 0 if ok or opts.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
