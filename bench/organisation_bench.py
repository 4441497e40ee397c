"""How long listing a whole organisation takes, against the same calls made one after another.

    python bench/organisation_bench.py [--org 500x4] [--latency 0.02] [--runs 5] [--quick] [--json]

The sandbox serves ACCOUNTSxROLES (state.organisation: paging of 20) in this
process; the listing runs in a child process (its own interpreter, so the
sandbox's threads do not share its GIL), which times, interleaved:

- sequential: every ListAccounts page, then every account's ListAccountRoles
  pages, one call at a time, on the same botocore client (no retries);
- flows.organisation.list_assignments(concurrency=8): the same calls.

The target: the listing's median within 2x of the sequential median divided by
the concurrency. The sandbox answers each call after --latency seconds (the
network round trip a real portal costs; 0 measures only the CPU, which two
cores cannot divide by 8). A last row lists with every 10th call throttled
(TooManyRequestsException), against the unthrottled listing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(1, str(REPO))

from _timing import BenchError, Row, Target, Timing, machine, table  # noqa: E402

from keyrack_sh.sandbox import Sandbox  # noqa: E402
from keyrack_sh.sandbox.state import parse_organisation  # noqa: E402

# The child: its orders come on stdin (the token never goes on argv): the token first, then one
# listing to run per line ("sequential" or "concurrent"), each answered with {"seconds", "found"}.
_CHILD = r"""
import json, sys, time
from keyrack_sh import aws
from keyrack_sh.flows import portal
from keyrack_sh.flows.organisation import list_assignments
from keyrack_sh.profiles import SsoSession

setup = json.loads(sys.stdin.readline())
token = setup["token"]
session = SsoSession(name="bench", start_url=setup["start_url"], region=setup["region"])
sso = aws.listing_client(session.region)


def sequential():
    accounts = [a["accountId"] for page in portal.pages(lambda p: sso.list_accounts(**p), "accountList", "",
                                                        accessToken=token) for a in page]
    return sum(len(page) for account_id in accounts
               for page in portal.pages(lambda p: sso.list_account_roles(**p), "roleList", "",
                                        accessToken=token, accountId=account_id))


def concurrent():
    return len(list_assignments(session, token, concurrency=setup["concurrency"]))


for line in sys.stdin:
    fn = sequential if line.strip() == "sequential" else concurrent
    start = time.perf_counter()
    found = fn()
    print(json.dumps({"seconds": time.perf_counter() - start, "found": found}), flush=True)
"""


class Lister:
    """The child process that lists, one listing per ask."""

    def __init__(self, sb: Sandbox, concurrency: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYRACK_"))}
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD], env={**env, **sb.env()}, cwd=str(REPO),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        token = sb.issue_session("keyrack-bench")["accessToken"]
        self._send({"token": token, "concurrency": concurrency, "start_url": sb.start_url, "region": sb.region})

    def _send(self, value: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((value if isinstance(value, str) else json.dumps(value)) + "\n")
        self.proc.stdin.flush()

    def list(self, kind: str, expected: int) -> float:
        self._send(kind)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise BenchError(f"the listing child failed: {self.proc.communicate()[1].strip()[-400:]}")
        answer = json.loads(line)
        if answer["found"] != expected:
            raise BenchError(f"{kind} listing found {answer['found']} assignments, expected {expected}")
        return float(answer["seconds"])

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _listing_calls(sb: Sandbox) -> int:
    return sb.count("ListAccounts") + sb.count("ListAccountRoles")


def run(accounts: int, roles: int, latency: float, runs: int, concurrency: int,
        throttle_every: int) -> tuple[list[Row], list[str]]:
    expected = accounts * roles
    samples: dict[str, list[float]] = {"sequential": [], "concurrent": [], "throttled": []}
    with Sandbox() as sb:
        sb.use_organisation(accounts, roles)
        sb.configure(latency=latency)
        lister = Lister(sb, concurrency)
        try:
            lister.list("sequential", expected)  # warm-up: service model, connections
            lister.list("concurrent", expected)
            calls: dict[str, int] = {}
            for _ in range(runs):
                for kind in samples:
                    sb.configure(throttle_every=throttle_every if kind == "throttled" else 0)
                    before = _listing_calls(sb)
                    samples[kind].append(lister.list("concurrent" if kind == "throttled" else kind, expected))
                    calls[kind] = _listing_calls(sb) - before
            in_flight = sb.max_in_flight
        finally:
            lister.stop()
    seq = Timing("sequential", tuple(samples["sequential"]))
    conc = Timing(f"concurrency {concurrency}", tuple(samples["concurrent"]))
    divided = Timing(f"sequential / {concurrency}", tuple(x / concurrency for x in seq.samples))
    throttled = Timing(f"every {throttle_every}th call throttled", tuple(samples["throttled"]))
    org = f"{accounts}x{roles}"
    rows = [
        Row(f"list {org} ({calls['concurrent']} calls), concurrency {concurrency}", conc, divided, Target("<=", 2.0)),
        Row(f"list {org}, the same calls one at a time", seq, conc),
        Row(f"list {org}, every {throttle_every}th call throttled (429)", throttled, conc,
            note=f"{calls['throttled']} calls"),
    ]
    notes = [f"- the sandbox answered every call after {latency * 1000:g} ms (a network round trip); "
             f"{runs} runs of each, interleaved; most calls in flight at once: {in_flight} "
             f"(bound: {concurrency})"]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--org", default="500x4", help="ACCOUNTSxROLES the sandbox serves (default 500x4)")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds before the sandbox answers each call (default 0.02)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each listing (default 5)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--throttle-every", type=int, default=10, help="throttled row: every Nth call (default 10)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the bench works")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    accounts, roles = parse_organisation("40x2" if args.quick else args.org)
    runs = 1 if args.quick else args.runs
    try:
        rows, notes = run(accounts, roles, args.latency, runs, args.concurrency, args.throttle_every)
    except BenchError as exc:
        print(f"organisation_bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows], "notes": notes}, indent=2))
    else:
        print(f"organisation bench on {machine()}\n")
        print(table(rows))
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
