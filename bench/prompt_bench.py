"""What the prompt segment costs per prompt, in each real shell.

    python bench/prompt_bench.py            # 1,000 renders per state and shell
    python bench/prompt_bench.py --quick    # 50, to prove it works
    python bench/prompt_bench.py --json

bash and zsh time every render inside the shell with $EPOCHREALTIME (a builtin
clock, no process), so each figure is a median of single renders; the
baseline is the same loop calling an empty function, measured in the same run.
fish has no sub-millisecond builtin clock: it is judged on CPU time per render
(a loop of renders minus a loop of empty calls, user + system time from
wait4), and its wall time is shown as the median over batches of the time per
render minus the same batch calling an empty function. Every shell also gets
the CPU figure, which a busy machine does not inflate.

Targets (issue 5): under 50 µs per render in bash and zsh, under 500 µs in fish.
The state files are those of docs/ARCHITECTURE.md, in a temporary HOME.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import machine  # noqa: E402

TARGET_US = {"bash": 50.0, "zsh": 50.0, "fish": 500.0}
STATES = ("unlocked", "locked", "no profile")


def _home(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    prompt = home / ".aws" / "keyrack" / "prompt"
    (prompt / "profiles").mkdir(parents=True)
    (prompt / "sessions").mkdir(parents=True)
    token = home / ".aws" / "sso" / "cache" / "token.json"
    token.parent.mkdir(parents=True)
    token.write_text("{}")
    (prompt / "profiles" / "acme.prod").write_text("acme\n")
    now = int(time.time())
    (prompt / "sessions" / "acme").write_text(f"unlocked {now + 3600} {now + 8 * 3600} {token}\n")
    (prompt / "profiles" / "acme.locked").write_text("locked-session\n")
    (prompt / "sessions" / "locked-session").write_text(f"locked 0 0 {token}\n")
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


PROFILE_FOR = {"unlocked": "acme.prod", "locked": "acme.locked", "no profile": ""}


def _hook(shell: str, tmp: Path, env: dict[str, str]) -> Path:
    out = subprocess.run([sys.executable, "-m", "keyrack_sh", "init", shell], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    path = tmp / f"hook.{shell}"
    path.write_text(out.stdout)
    return path


def _per_render_us(shell: str, hook: Path, fn: str, profile: str, n: int, env: dict[str, str]) -> list[float]:
    """bash/zsh: microseconds of each of n calls of `fn`, timed inside the shell."""
    pre = "zmodload zsh/datetime; " if shell == "zsh" else ""
    script = (f"{pre}source '{hook}'; __bench_noop() {{ :; }}; AWS_PROFILE='{profile}'; "
              f"for ((i = 0; i < {n}; i++)); do s=$EPOCHREALTIME; {fn}; e=$EPOCHREALTIME; "
              "echo \"$s $e\"; done")
    argv = ["bash", "--noprofile", "--norc", "-c", script] if shell == "bash" else ["zsh", "-f", "-c", script]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=600).stdout
    samples = []
    for line in out.splitlines():
        s, e = (float(x.replace(",", ".")) for x in line.split())
        samples.append((e - s) * 1e6)
    return samples


def _fish_batch_us(hook: Path, fn: str, profile: str, batch: int, batches: int, env: dict[str, str]) -> list[float]:
    """fish: per-render microseconds of each batch (wall time of `batch` calls, divided)."""
    out = []
    for _ in range(batches):
        script = (f"source '{hook}'; function __bench_noop; end; set -gx AWS_PROFILE '{profile}'; "
                  f"for i in (seq {batch}); {fn}; end")
        start = time.perf_counter()
        subprocess.run(["fish", "--no-config", "--private", "-c", script], env=env, check=True,
                       capture_output=True, timeout=600)
        out.append((time.perf_counter() - start) * 1e6 / batch)
    return out


def _loop_argv(shell: str, hook: Path, fn: str, profile: str, n: int) -> list[str]:
    if shell == "fish":
        return ["fish", "--no-config", "--private", "-c",
                f"source '{hook}'; function __bench_noop; end; set -gx AWS_PROFILE '{profile}'; "
                f"for i in (seq {n}); {fn}; end"]
    script = (f"source '{hook}'; __bench_noop() {{ :; }}; AWS_PROFILE='{profile}'; "
              f"for ((i = 0; i < {n}; i++)); do {fn}; done")
    return ["bash", "--noprofile", "--norc", "-c", script] if shell == "bash" else ["zsh", "-f", "-c", script]


def _cpu_s(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) the process used: unlike wall time, not inflated by a busy machine."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{argv[0]} failed ({status})")
    return usage.ru_utime + usage.ru_stime


def _cpu_per_render_us(shell: str, hook: Path, profile: str, n: int, env: dict[str, str]) -> float:
    """CPU µs per render: (n renders - n empty calls) / n, the lower of 3 interleaved tries each."""
    subject, baseline = [], []
    for _ in range(3):
        subject.append(_cpu_s(_loop_argv(shell, hook, "__keyrack_prompt_update", profile, n), env))
        baseline.append(_cpu_s(_loop_argv(shell, hook, "__bench_noop", profile, n), env))
    return (min(subject) - min(baseline)) * 1e6 / n


def bench(n: int, shells: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="keyrack-prompt-bench-") as d:
        tmp = Path(d)
        env = _home(tmp)
        for shell in shells:
            if not shutil.which(shell):
                rows.append({"shell": shell, "state": "-", "note": "not installed"})
                continue
            hook = _hook(shell, tmp, env)
            for state in STATES:
                profile = PROFILE_FOR[state]
                if shell == "fish":
                    batch, batches = max(n // 20, 5), 20
                    # Interleave subject and baseline batches so load hits both alike.
                    subject, baseline = [], []
                    for _ in range(batches):
                        subject += _fish_batch_us(hook, "__keyrack_prompt_update", profile, batch, 1, env)
                        baseline += _fish_batch_us(hook, "__bench_noop", profile, batch, 1, env)
                    renders = batch * batches
                else:
                    subject = _per_render_us(shell, hook, "__keyrack_precmd", profile, n, env)
                    baseline = _per_render_us(shell, hook, "__bench_noop", profile, n, env)
                    renders = n
                cpu = _cpu_per_render_us(shell, hook, profile, max(n, 200), env)
                med, base = statistics.median(subject), statistics.median(baseline)
                # fish: judged on CPU per render, since it has no sub-millisecond builtin clock and
                # its batch wall times carry process start-up noise.
                cost = cpu if shell == "fish" else med
                rows.append({
                    "shell": shell, "state": state, "renders": renders,
                    "median_us": round(med, 1), "baseline_us": round(base, 1),
                    "ratio": round(med / base, 2) if base else None,
                    "cost_us": round(cost, 1), "cpu_us": round(cpu, 1), "target_us": TARGET_US[shell],
                    "met": cost < TARGET_US[shell],
                })
    return rows


def _loop_ns() -> float:
    """CPU ns of one empty bash loop iteration: how fast this machine is, for reading the rest."""
    n = 200_000
    return _cpu_s(["bash", "--noprofile", "--norc", "-c", f"for ((i = 0; i < {n}; i++)); do :; done"],
                  dict(os.environ)) * 1e9 / n


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| shell | state | renders | median µs | baseline (empty function) µs | ratio | cost µs | CPU µs | target | met |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        if "median_us" not in r:
            lines.append(f"| {r['shell']} | {r['note']} | | | | | | | | |")
            continue
        met = "yes" if r["met"] else "**no**"
        lines.append(f"| {r['shell']} | {r['state']} | {r['renders']} | {r['median_us']} | {r['baseline_us']} | "
                     f"{r['ratio']}x | {r['cost_us']} | {r['cpu_us']} | < {r['target_us']:g} µs | {met} |")
    lines.append("")
    lines.append("cost (judged): bash and zsh, the median of single renders (`__keyrack_precmd`, timed with "
                 "$EPOCHREALTIME); fish, CPU per render. fish's median is over batches of (batch time / renders) "
                 "minus the same batch of empty-function calls. CPU: user+system time of a loop of renders minus a loop of empty "
                 "calls, per render (not inflated by other processes). Machine speed, same run: an empty "
                 f"bash loop iteration takes {_loop_ns():.0f} ns. {machine()}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 renders instead of 1,000")
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--shell", action="append", choices=("bash", "zsh", "fish"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = bench(50 if args.quick else args.renders, args.shell or ["bash", "zsh", "fish"])
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
