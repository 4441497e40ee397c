"""`python -m keyrack_sh.sandbox [--port N] [--sts-endpoint URL]`: serve until ^C.

Prints the `export` lines that point AWS SDKs at it, then serves.
"""
from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from keyrack_sh.sandbox.api import Sandbox
from keyrack_sh.sandbox.state import BEHAVIOURS, Lifetimes, SandboxConfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keyrack_sh.sandbox",
                                     description="A local AWS IAM Identity Center on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    parser.add_argument("--sts-endpoint", metavar="URL",
                        help="a moto STS server to mint role credentials with (default: answer STS itself)")
    parser.add_argument("--start-url", default=SandboxConfig.start_url)
    parser.add_argument("--region", default=SandboxConfig.region)
    parser.add_argument("--user", default=SandboxConfig.user)
    parser.add_argument("--behaviour", choices=BEHAVIOURS, default="approve",
                        help="what the user does in the browser (default: approve)")
    parser.add_argument("--role-credentials-ttl", type=float, default=Lifetimes.role_credentials, metavar="SECONDS",
                        help="lifetime of the role credentials it issues (default: 3600; a few seconds "
                             "to watch renewal)")
    args = parser.parse_args(argv)
    if args.role_credentials_ttl <= 0:
        parser.error("--role-credentials-ttl must be positive")

    sandbox = Sandbox(SandboxConfig(port=args.port, sts_endpoint=args.sts_endpoint, start_url=args.start_url,
                                    region=args.region, user=args.user, behaviour=args.behaviour,
                                    lifetimes=Lifetimes(role_credentials=args.role_credentials_ttl)))
    sandbox.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name, value in sandbox.env().items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"# start URL {sandbox.start_url}, SSO region {sandbox.region}, user {sandbox.user}; ^C to stop")
        sys.stdout.flush()
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
