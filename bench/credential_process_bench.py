"""How fast keyrack answers an AWS SDK, measured as the SDK runs it.

    python bench/credential_process_bench.py [--runs 30] [--herd 32,64] [--quick] [--no-peers]

Everything runs in keyrack demo's World: a scratch HOME, the sandbox IAM
Identity Center and moto STS on 127.0.0.1, a browser that approves. The
profile is written by a real `keyrack set` (roundtrip included); each figure
is a median of fresh processes, interleaved with its baseline in the same run.

- hit: the profile's `credential_process` line, shlex-split and run as botocore
  runs it, vs `python -I -S -c pass` (the floor of any Python helper). Target <= 1.5x.
- peer: `aws-sso-util credential-process --profile P` on its own cache hit
  (installed into a benchmark-only venv, KEYRACK_BENCH_VENV, default
  /tmp/keyrack-bench-venv), vs keyrack's hit. Target: keyrack >= 10x faster.
- AWS CLI v1: `aws sts get-caller-identity` against moto through keyrack vs
  the same call with static keys in the config. Target <= 1.10x.
- herd: N concurrent credential_process runs on a locked session vs one
  credential_process that signs in alone. Target: within 1 s, one sign-in.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _timing import BenchError, Row, Target, Timing, machine, measure, table  # noqa: E402

from keyrack_sh.demo import ACCOUNT_ID, PROFILE, REGION, ROLE_NAME, World  # noqa: E402

PEER_PACKAGE = "aws-sso-util"
STATIC = "static"
PEER = "ssu"

# Run inside the peer's venv: seed aws-sso-util's role-credential cache (the
# AWS CLI's ~/.aws/cli/cache, keyed by botocore's SSOCredentialFetcher) exactly
# as its own credential-process reads it, so its run is a cache hit.
_SEED_PEER = r"""
import json, os, sys
from botocore.credentials import JSONFileCache, SSOCredentialFetcher
start_url, sso_region, account, role, creds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
cache = JSONFileCache(os.path.expanduser(os.path.join("~", ".aws", "cli", "cache")))
fetcher = SSOCredentialFetcher(start_url, sso_region, role, account, client_creator=None, cache=cache,
                               token_loader=lambda **_: None)
fetcher._write_to_cache({"ProviderType": "sso", "Credentials": {
    "AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
    "SessionToken": creds["SessionToken"], "Expiration": creds["Expiration"]}})
"""


def peer_venv() -> Path:
    return Path(os.environ.get("KEYRACK_BENCH_VENV") or "/tmp/keyrack-bench-venv")


def ensure_peer(install: bool) -> Path | None:
    """aws-sso-util in its own venv (never keyrack's): its path, or None when absent and not installing."""
    venv = peer_venv()
    exe = venv / "bin" / "aws-sso-util"
    if exe.exists():
        return exe
    if not install:
        return None
    for argv in ([sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  PEER_PACKAGE]):
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(f"could not install {PEER_PACKAGE} into {venv}: {proc.stderr.strip()[-300:]}")
    return exe if exe.exists() else None


def aws_cli() -> list[str] | None:
    """The AWS CLI v1 of this interpreter: its `aws` script beside it (no pyenv shim in the timing),
    else `python -m awscli`. Never whichever `aws` is first on PATH (Debian's v2 may be)."""
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return [str(beside)]
    if importlib.util.find_spec("awscli") is not None:
        return [sys.executable, "-m", "awscli"]
    return None


def _cached_creds(world: World) -> dict:
    out = world.run(world.credential_process_argv()).stdout
    return json.loads(out)


def _append_config(world: World, text: str) -> None:
    with open(world.config_file, "a", encoding="utf-8") as f:
        f.write(text)


def bench_hit(world: World, runs: int, peer: Path | None) -> list[Row]:
    hit = world.credential_process_argv()
    floor = [sys.executable, "-I", "-S", "-c", "pass"]
    commands = {"keyrack credential_process": hit, "python -I -S -c pass": floor}
    if peer is not None:
        commands["aws-sso-util credential-process"] = [str(peer), "credential-process", "--profile", PEER]
    t = measure(commands, runs, env=world.env)
    rows = [Row("credential_process cache hit", t["keyrack credential_process"], t["python -I -S -c pass"],
                Target("<=", 1.5))]
    if peer is not None:
        rows.append(Row("aws-sso-util on its cache hit, vs keyrack", t["aws-sso-util credential-process"],
                        t["keyrack credential_process"], Target(">=", 10)))
    return rows


def bench_aws_cli(world: World, runs: int) -> list[Row]:
    aws = aws_cli()
    if aws is None:
        return []
    call = [*aws, "sts", "get-caller-identity", "--output", "json"]
    t = measure({"via keyrack": [*call, "--profile", PROFILE], "static keys": [*call, "--profile", STATIC]},
                runs, env=world.env, warmup=1)
    return [Row("AWS CLI v1 sts get-caller-identity", t["via keyrack"], t["static keys"], Target("<=", 1.10))]


def _locked(world: World) -> None:
    world.keyrack("relock", PROFILE)


def _run_herd(world: World, size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds per process) of `size` credential_process runs started at once."""
    argv = world.credential_process_argv()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # No controlling terminal (like an SDK in an editor or CI): the sign-in notice goes to stderr.
    procs = [subprocess.Popen(argv, env=world.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True) for _ in range(size)]
    results = [p.communicate(timeout=120) for p in procs]
    elapsed = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime) / size
    failed = [(p.returncode, err) for p, (_, err) in zip(procs, results) if p.returncode != 0]
    if failed:
        code, err = failed[0]
        raise BenchError(f"{len(failed)} of {size} credential_process runs failed (exit {code}): "
                         f"{err.decode('utf-8', 'replace').strip()[-300:]}")
    keys = {json.loads(out)["AccessKeyId"] for out, _ in results}
    if len(keys) != 1:
        raise BenchError(f"the herd got {len(keys)} different credentials, expected one")
    return elapsed, cpu


def bench_herd(world: World, size: int, runs: int) -> list[Row]:
    sb = world.sandbox
    assert sb is not None
    single, herd, sign_ins, cpu = [], [], [], []
    for _ in range(runs):
        _locked(world)
        single.append(_run_herd(world, 1)[0])
        _locked(world)
        before = sb.sign_ins()
        wall, per_process = _run_herd(world, size)
        herd.append(wall)
        cpu.append(per_process)
        sign_ins.append(sb.sign_ins() - before)
    # CPU per process shows why a herd takes longer than one sign-in on few cores.
    note = (f"sign-ins per herd: {', '.join(map(str, sign_ins))}; "
            f"CPU per process {statistics.median(cpu) * 1000:.0f} ms on {os.cpu_count()} CPU")
    return [Row(f"herd of {size} on a locked session", Timing(f"{size} at once", tuple(herd)),
                Timing("one alone", tuple(single)), Target("<=", 1.0, diff=True), note=note)]


def setup(world: World, peer: Path | None) -> None:
    world.set_profile(PROFILE, "--auto-unlock", "always")
    creds = _cached_creds(world)
    assert world.sandbox is not None
    _append_config(world, (
        f"\n[profile {STATIC}]\nregion = {REGION}\naws_access_key_id = {creds['AccessKeyId']}\n"
        f"aws_secret_access_key = {creds['SecretAccessKey']}\naws_session_token = {creds['SessionToken']}\n"
    ))
    if peer is not None:
        _append_config(world, (
            f"\n[profile {PEER}]\nsso_start_url = {world.sandbox.start_url}\n"
            f"sso_region = {world.sandbox.region}\nsso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE_NAME}\n"
            f"region = {REGION}\ncredential_process = {peer} credential-process --profile {PEER}\n"
        ))
        python = peer.parent / "python"
        world.run([str(python), "-c", _SEED_PEER, world.sandbox.start_url, world.sandbox.region, ACCOUNT_ID,
                   ROLE_NAME, json.dumps(creds)])
    # The config changed: the first keyrack run re-stamps its cache (no network); not timed.
    _cached_creds(world)


def run(runs: int, herd: list[int], herd_runs: int, cli_runs: int, peers: bool, install_peers: bool) -> list[Row]:
    peer = ensure_peer(install_peers) if peers else None
    with World() as world:
        setup(world, peer)
        rows = bench_hit(world, runs, peer)
        rows += bench_aws_cli(world, cli_runs)
        for size in herd:
            rows += bench_herd(world, size, herd_runs)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per command for the hit (default 30)")
    parser.add_argument("--cli-runs", type=int, default=10, help="runs per AWS CLI command (default 10)")
    parser.add_argument("--herd", type=lambda v: [int(n) for n in v.split(",")], default=[32, 64],
                        help="processes in each herd, comma-separated (default 32,64)")
    parser.add_argument("--herd-runs", type=int, default=3, help="herds to time (default 3)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the bench works")
    parser.add_argument("--no-peers", action="store_true", help="leave out aws-sso-util")
    parser.add_argument("--no-install", action="store_true",
                        help="use aws-sso-util only if already in KEYRACK_BENCH_VENV, never pip install it")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.cli_runs, args.herd, args.herd_runs = 3, 1, [4], 1
    try:
        rows = run(args.runs, args.herd, args.herd_runs, args.cli_runs, peers=not args.no_peers,
                   install_peers=not args.no_install)
    except BenchError as exc:
        print(f"credential_process_bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(f"credential_process bench on {machine()}\n")
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
