"""`python -m keyrack_sh.sandbox [--port N] [--sts-endpoint URL] [--org 500x4 ...]`: serve until ^C.

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
from keyrack_sh.sandbox.state import BEHAVIOURS, Lifetimes, SandboxConfig, organisation, parse_organisation


def _organisation(text: str) -> tuple[int, int]:
    try:
        return parse_organisation(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    parser.add_argument("--org", type=_organisation, metavar="ACCOUNTSxROLES",
                        help="give the user a large organisation, e.g. 500x4: awkward account names, "
                             "roles per account varying around ROLES (default: 2 accounts)")
    parser.add_argument("--page-size", type=int, default=SandboxConfig.page_size, metavar="N",
                        help="ListAccounts/ListAccountRoles page size (default: 20)")
    parser.add_argument("--throttle-every", type=int, default=0, metavar="N",
                        help="answer every Nth ListAccounts/ListAccountRoles call with "
                             "TooManyRequestsException (429) (default: never)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long before answering each call, as a network would (default: 0)")
    args = parser.parse_args(argv)
    if args.role_credentials_ttl <= 0:
        parser.error("--role-credentials-ttl must be positive")
    if not 1 <= args.page_size <= 100:
        parser.error("--page-size must be between 1 and 100")
    if args.throttle_every < 0 or args.latency < 0:
        parser.error("--throttle-every and --latency must not be negative")
    users = {args.user: organisation(*args.org)} if args.org else SandboxConfig().users

    sandbox = Sandbox(SandboxConfig(port=args.port, sts_endpoint=args.sts_endpoint, start_url=args.start_url,
                                    region=args.region, user=args.user, behaviour=args.behaviour, users=users,
                                    page_size=args.page_size, throttle_every=args.throttle_every,
                                    latency=args.latency,
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
