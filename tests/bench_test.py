"""bench/: the timing helper, and each bench script in its tiny mode (a smoke run, not a measurement)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402
from _timing import BenchError, Row, Target, Timing, measure, table  # noqa: E402


def _bench(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# -- the helper -----------------------------------------------------------------------
def test_measure_times_every_command_the_same_number_of_times():
    times = measure({"true": ["true"], "python": [sys.executable, "-c", "pass"]}, runs=3, warmup=1)
    assert set(times) == {"true", "python"}
    assert all(len(t.samples) == 3 and t.median > 0 for t in times.values())
    # starting Python costs more than /bin/true: the clock sees real processes
    assert times["python"].median > times["true"].median


def test_a_failing_command_stops_the_bench_with_its_exit_code():
    with pytest.raises(BenchError, match="exited 3"):
        measure({"fails": ["sh", "-c", "echo boom >&2; exit 3"]}, runs=1, warmup=0)


def test_rows_judge_ratios_and_differences_against_their_targets():
    fast, slow = Timing("fast", (0.010, 0.011, 0.012)), Timing("slow", (0.100, 0.200, 0.300))
    assert Row("x", fast, slow, Target("<=", 2.5)).ratio == pytest.approx(0.011 / 0.2)
    assert Row("x", fast, slow, Target("<=", 2.5)).met is True
    assert Row("x", slow, fast, Target("<=", 2.5)).met is False
    assert Row("x", slow, fast, Target(">=", 10)).met is True
    herd = Row("herd", Timing("32", (1.9,)), Timing("1", (1.0,)), Target("<=", 1.0, diff=True))
    assert herd.delta == pytest.approx(0.9) and herd.met is True
    rendered = table([herd, Row("y", slow, fast, Target("<=", 2.5))])
    assert "| herd | 1900.0 | 1 | 1000.0 | +900.0 ms | <= +1.00 s | yes |" in rendered
    assert str(Target("<=", 0.01, diff=True)) == "<= +10.0 ms"
    assert "**no**" in rendered


# -- the scripts, tiny --------------------------------------------------------------------
def test_credential_process_bench_quick_measures_every_comparison():
    proc = _bench("credential_process_bench.py", "--quick", "--no-peers", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["what"]: r for r in json.loads(proc.stdout)}
    hit = rows["credential_process cache hit"]
    assert hit["baseline"] == "python -I -S -c pass" and hit["runs"] == 3 and hit["median_ms"] > 0
    assert hit["target"] == "<= 1.5x" and isinstance(hit["met"], bool)
    cli = rows["AWS CLI v1 sts get-caller-identity"]
    assert cli["baseline"] == "static keys" and cli["ratio"] > 0
    herd = rows["herd of 4 on a locked session"]
    # correctness, not speed: the herd caused exactly one sign-in
    assert herd["note"].startswith("sign-ins per herd: 1;")


@pytest.mark.parametrize("name", [n for n in run_all.BENCHES if n != "credential_process_bench"])
def test_other_bench_scripts_run_in_their_quick_mode(name):
    script = BENCH / f"{name}.py"
    if not script.exists():
        pytest.skip(f"bench/{name}.py is not in this checkout")
    proc = _bench(f"{name}.py", *run_all.BENCHES[name][2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_run_all_writes_results_with_machine_date_and_reproduce_command(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = _bench("run_all.py", "--quick", "--only", "config_bench", "--output", str(out))
    text = out.read_text() if out.exists() else ""
    assert proc.returncode == 0, proc.stderr + text
    assert text.startswith("# keyrack benchmarks\n")
    assert "- machine: Linux" in text and "- date: " in text
    assert "- reproduce: `python bench/run_all.py --quick`" in text
    assert "## config_bench:" in text and "Quick mode" in text


def test_the_aws_cli_bench_runs_this_interpreters_v1_whatever_aws_is_first_on_path(tmp_path, monkeypatch):
    import credential_process_bench

    other = tmp_path / "aws"
    other.write_text("#!/bin/sh\nexit 7\n")  # Debian's v2, or anything else, first on PATH
    other.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/local/bin:/usr/bin:/bin")
    argv = credential_process_bench.aws_cli()
    assert argv is not None and str(other) not in argv and "/usr/bin/aws" not in argv
    proc = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "aws-cli/1." in proc.stdout + proc.stderr


def test_organisation_bench_lists_everything_within_its_concurrency():
    proc = _bench("organisation_bench.py", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    listing, sequential, throttled = report["rows"]
    assert listing["what"] == "list 40x2 (42 calls), concurrency 8"  # 2 account pages + 40 role lists
    assert listing["baseline"] == "sequential / 8" and listing["target"] == "<= 2x"
    assert sequential["subject"] == "sequential" and throttled["note"] != "42 calls"  # throttling cost calls
    in_flight = int(report["notes"][0].split("most calls in flight at once: ")[1].split()[0])
    assert 1 <= in_flight <= 8
