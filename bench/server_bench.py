"""How fast the credential server answers, against a credential_process hit in the same run.

    python bench/server_bench.py [--requests 2000] [--seconds 5] [--quick] [--json]

In keyrack demo's World (scratch HOME, the sandbox and moto STS on 127.0.0.1), on
a profile written by a real `keyrack set`, with `keyrack serve PROFILE` running:

- served request: one GET of the container credentials URL on a kept-alive
  connection (as SDKs pool it), median of N, vs the profile's credential_process
  line run as botocore runs it (a cache hit), interleaved. Targets: median <= 1 ms,
  and the server >= 10x cheaper (ratio <= 0.1x).
- throughput: 8 client processes, each on its own kept-alive connection (a lean
  socket client, so the CPUs go to the server), for S seconds: requests/s in all, and errors. Target: >= 2,000/s, no error.
- the serving process's RSS after the load (VmRSS).
"""
from __future__ import annotations

import argparse
import http.client
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _timing import BenchError, Row, Target, Timing, machine, run_once, table  # noqa: E402

from keyrack_sh import resources  # noqa: E402
from keyrack_sh.demo import PROFILE, World  # noqa: E402

CLIENTS = 8

# One client process: a kept-alive connection, GETs for `seconds`, then "<ok> <errors>".
_CLIENT = r"""
import socket, sys, time
port, path, token, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
# A lean client (a prebuilt request on a kept-alive socket), so the 2 CPUs go to the server under test.
request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\n\r\n").encode()
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
ok = bad = 0
sys.stdin.readline()  # start together
end = time.monotonic() + seconds
buf = b""
while time.monotonic() < end:
    sock.sendall(request)
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(rest) >= length:
                break
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
    body, buf = rest[:length], rest[length:]
    if head.startswith(b"HTTP/1.1 200") and b"AccessKeyId" in body: ok += 1
    else: bad += 1
print(ok, bad)
"""


class Serving:
    def __init__(self, world: World) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "keyrack_sh", "serve", PROFILE, "--format", "json"],
                                     env=world.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise BenchError(f"keyrack serve failed: {self.proc.stderr.read()[-300:]}")  # type: ignore[union-attr]
        info = json.loads(line)
        self.token = info["token"]
        url = info["urls"][PROFILE]
        self.port = int(url.split(":")[2].split("/")[0])
        self.path = "/" + url.split("/", 3)[3]
        self.headers = {"Authorization": self.token, "Host": f"127.0.0.1:{self.port}"}

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


def served_timing(s: Serving, n: int) -> Timing:
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    samples = []
    for i in range(n + 20):
        start = time.perf_counter()
        conn.request("GET", s.path, headers=s.headers)
        r = conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - start
        if r.status != 200 or b"AccessKeyId" not in body:
            raise BenchError(f"served request failed: {r.status}")
        if i >= 20:
            samples.append(elapsed)
    conn.close()
    return Timing("served request", tuple(samples))


def throughput(s: Serving, seconds: float) -> tuple[float, int]:
    clients = [subprocess.Popen([sys.executable, "-c", _CLIENT, str(s.port), s.path, s.token, str(seconds)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(CLIENTS)]
    time.sleep(1.0)  # let the clients start up before the clock runs
    for c in clients:
        c.stdin.write("go\n")  # type: ignore[union-attr]
        c.stdin.flush()  # type: ignore[union-attr]
    ok = bad = 0
    for c in clients:
        out, _ = c.communicate(timeout=seconds + 60)
        a, b = out.split()
        ok, bad = ok + int(a), bad + int(b)
    return ok / seconds, bad


def run(requests: int, seconds: float) -> tuple[list[Row], list[str]]:
    with World() as world:
        world.set_profile(PROFILE, "--auto-unlock", "always")
        process = shlex.split(resources.credential_process_command(PROFILE))
        run_once(process, world.env)  # the hit's cache is warm from here on
        s = Serving(world)
        try:
            served = served_timing(s, requests)
            hit = Timing("credential_process hit",
                         tuple(run_once(process, world.env) for _ in range(max(10, min(60, requests // 20)))))
            rate, errors = throughput(s, seconds)
            rss = s.rss_kib()
        finally:
            s.stop()
    rows = [Row("served request, kept-alive connection", served, hit, Target("<=", 0.1),
                note=f"{requests} requests; target median <= 1 ms: "
                     f"{'met' if served.median <= 0.001 else 'NOT met'}")]
    p90 = statistics.quantiles(served.samples, n=10)[-1] * 1000
    extra = [f"- served request p90: {p90:.3f} ms",
             f"- throughput, {CLIENTS} client processes for {seconds:g} s: {rate:,.0f} requests/s, {errors} errors "
             f"(target >= 2,000/s, no error: {'met' if rate >= 2000 and errors == 0 else 'NOT met'})",
             f"- `keyrack serve` RSS after the load: {rss / 1024:.1f} MiB"]
    return rows, extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="served requests timed (default 2000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length (default 5)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the bench works")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    try:
        rows, extra = run(100 if args.quick else args.requests, 1.0 if args.quick else args.seconds)
    except BenchError as exc:
        print(f"server_bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows], "notes": extra}, indent=2))
    else:
        print(f"server bench on {machine()}\n")
        print(table(rows))
        print()
        print("\n".join(extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
