"""Run every benchmark in bench/ and rewrite bench/RESULTS.md with what they printed.

    python bench/run_all.py            # full runs (a few minutes), rewrites bench/RESULTS.md
    python bench/run_all.py --quick    # tiny runs that prove each bench works; prints, writes nothing
    python bench/run_all.py --only credential_process_bench --output /tmp/r.md

Each bench is a script run in a fresh process (`python bench/<name>.py ARGS`);
its stdout (a Markdown table) goes into RESULTS.md under its name, beside the
machine, the date, the commit and the command that reproduces it.
"""
from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from _timing import machine  # noqa: E402

# name -> (what it measures, full args, quick args). Scripts not present yet are skipped and listed.
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "credential_process_bench": (
        "credential_process: cache hit, aws-sso-util, AWS CLI v1, herd",
        [], ["--quick", "--no-install"]),
    "prompt_bench": ("prompt segment cost per prompt, per shell", [], ["--quick"]),
    "startup_bench": ("shell start-up time added by the hook", [], ["--quick"]),
    "config_bench": ("status, list, set on a config with 2,000 profiles",
                     [], ["--profiles", "50", "--runs", "1", "--quick"]),
    "console_bench": ("keyrack console --url vs keyrack export, unlocked", [], ["--quick"]),
    "organisation_bench": ("listing 500 accounts x 4 roles: concurrency 8 vs the same calls sequentially / 8",
                           [], ["--quick"]),
    "sync_bench": ("keyrack sync of 500x4 (its own work), then hit/status/list/completion with 2,000 profiles",
                   [], ["--quick"]),
    "server_bench": ("credential server: served request vs credential_process hit, 8-client throughput, RSS",
                     [], ["--quick"]),
}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_bench(name: str, args: list[str], timeout: float) -> tuple[int, str, float]:
    """(exit code, stdout or the error, seconds) of one bench script."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args], cwd=str(REPO),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 1, f"timed out after {timeout:.0f} s", time.perf_counter() - start
    took = time.perf_counter() - start
    body = proc.stdout.strip()
    if proc.returncode != 0:
        # Some benches exit 1 when a target is missed, after printing their table: keep both.
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        body += f"\n\nexit {proc.returncode}" + (f":\n\n```\n{tail}\n```" if tail else " (a target was missed)")
    return proc.returncode, body.strip(), took


def render(sections: list[tuple[str, str, list[str], int, str, float]], quick: bool, missing: list[str]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# keyrack benchmarks",
        "",
        f"- machine: {machine()}",
        f"- date: {now}, commit {_commit()}",
        f"- reproduce: `python bench/run_all.py{' --quick' if quick else ''}` (from the repository root)",
        "- every figure is a median of fresh processes; ratios compare with a baseline measured in the",
        "  same run, interleaved, so they hold on a busy machine when absolute times do not.",
        "",
    ]
    if quick:
        lines += ["**Quick mode: a handful of runs each, to prove the benches work; not for quoting.**", ""]
    for name, what, args, code, body, took in sections:
        command = " ".join(["python", f"bench/{name}.py", *args])
        lines += [f"## {name}: {what}", "", f"`{command}` ({took:.0f} s)", "", body, ""]
    if missing:
        lines += ["## Not run", "", *[f"- `bench/{m}.py` is not in this checkout" for m in missing], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs; print, and write only with --output")
    parser.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only this bench (repeatable)")
    parser.add_argument("--output", type=Path, help="where to write the results (default: bench/RESULTS.md)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per bench (default 1800)")
    args = parser.parse_args(argv)

    chosen = args.only or list(BENCHES)
    sections, missing, failed = [], [], 0
    for name in chosen:
        what, full, quick = BENCHES[name]
        if not (BENCH / f"{name}.py").exists():
            missing.append(name)
            continue
        bench_args = quick if args.quick else full
        print(f"running bench/{name}.py {' '.join(bench_args)}".rstrip(), file=sys.stderr, flush=True)
        code, body, took = run_bench(name, bench_args, args.timeout)
        failed += code != 0
        sections.append((name, what, bench_args, code, body, took))

    text = render(sections, args.quick, missing)
    output = args.output or (None if args.quick else BENCH / "RESULTS.md")
    if output is None:
        print(text)
    else:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(output)
        print(f"wrote {output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
