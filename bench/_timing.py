"""Timing commands the way a user's machine runs them, against a baseline from the same run.

Every figure is a median of N wall-clock runs of a real subprocess. Commands
compared with each other are run interleaved (A, B, A, B, ...), so a busy
machine slows both alike and the ratio stays meaningful when the absolute
numbers do not.

    times = measure({"keyrack": argv1, "python": argv2}, runs=50, env=env)
    row = Row("credential_process hit", times["keyrack"], times["python"], Target("<=", 2.5))
    print(table([row]))
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class BenchError(RuntimeError):
    """A benchmarked command failed; the message has its exit code and last stderr line."""


@dataclass(frozen=True)
class Timing:
    name: str
    samples: tuple[float, ...]  # seconds, one per run

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def median_ms(self) -> float:
        return self.median * 1000


@dataclass(frozen=True)
class Target:
    """A goal: op is "<=" (at most) or ">=" (at least), for the ratio subject/baseline,
    or with diff=True for the difference subject - baseline in seconds."""

    op: str
    value: float
    diff: bool = False

    def met(self, measured: float) -> bool:
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{self.op} {seconds(self.value, sign=True)}" if self.diff else f"{self.op} {self.value:g}x"


def seconds(value: float, sign: bool = False) -> str:
    """A duration for people: ms below a second, s above."""
    plus = "+" if sign else ""
    if abs(value) < 1:
        return f"{value * 1000:{plus}.1f} ms"
    return f"{value:{plus}.2f} s"


@dataclass(frozen=True)
class Row:
    """One line of results: subject vs baseline, ratio = subject median / baseline median."""

    what: str
    subject: Timing
    baseline: Timing | None = None
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median == 0:
            return None
        return self.subject.median / self.baseline.median

    @property
    def delta(self) -> float | None:
        """subject - baseline, in seconds."""
        return None if self.baseline is None else self.subject.median - self.baseline.median

    @property
    def met(self) -> bool | None:
        measured = self.delta if self.target is not None and self.target.diff else self.ratio
        if self.target is None or measured is None:
            return None
        return self.target.met(measured)

    def as_dict(self) -> dict[str, object]:
        return {
            "what": self.what,
            "subject": self.subject.name,
            "median_ms": round(self.subject.median_ms, 2),
            "runs": len(self.subject.samples),
            "baseline": self.baseline.name if self.baseline else None,
            "baseline_median_ms": round(self.baseline.median_ms, 2) if self.baseline else None,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "delta_s": round(self.delta, 3) if self.delta is not None else None,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "note": self.note,
        }


def run_once(argv: Sequence[str], env: Mapping[str, str] | None = None, check: bool = True) -> float:
    """Seconds for one run, output captured through pipes as an SDK captures a credential_process."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        raise BenchError(f"{argv[0]} exited {proc.returncode}: {last[:300]}")
    return elapsed


def measure(commands: Mapping[str, Sequence[str]], runs: int, env: Mapping[str, str] | None = None,
            warmup: int = 2) -> dict[str, Timing]:
    """Median-ready samples for each command, run interleaved after `warmup` unrecorded rounds."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name, argv in commands.items():
            elapsed = run_once(argv, env)
            if i >= warmup:
                samples[name].append(elapsed)
    return {name: Timing(name, tuple(s)) for name, s in samples.items()}


def timed(name: str, fn, runs: int = 1) -> Timing:  # fn: Callable[[], object]
    """Samples of an in-process callable (for things that are not one command, like a herd)."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return Timing(name, tuple(out))


def machine() -> str:
    cpus = os.cpu_count() or 0
    return f"{platform.system()} {platform.release()}, {platform.machine()}, {cpus} CPU, Python {platform.python_version()}"


def _ms(t: Timing | None) -> str:
    return "" if t is None else f"{t.median_ms:.1f}"


def table(rows: Sequence[Row]) -> str:
    """A Markdown table: readable in a terminal and pasteable into RESULTS.md."""
    lines = ["| what | median ms | baseline | baseline ms | ratio (or difference) | target | met |",
             "|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        if r.target is not None and r.target.diff and r.delta is not None:
            ratio = seconds(r.delta, sign=True)
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        baseline = r.baseline.name if r.baseline else ""
        what = r.what + (f" ({r.note})" if r.note else "")
        lines.append(f"| {what} | {_ms(r.subject)} | {baseline} | {_ms(r.baseline)} | {ratio} | "
                     f"{r.target or ''} | {met} |")
    return "\n".join(lines)
