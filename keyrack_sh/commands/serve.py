"""`keyrack serve [PROFILE ...]`: a credential server in the foreground, until ^C or relock."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading

from keyrack_sh.errors import UserError

# How often the foreground server looks for a relock of what it serves (one stat per session).
RELOCK_LOOK = 0.5


def _quote(value: str, fmt: str) -> str:
    if fmt == "fish":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return shlex.quote(value)


def render(server: object, names: list[str], fmt: str, region: str | None = None) -> str:
    """The variables for the first profile, the URLs of the others (as comments, or in the JSON)."""
    from keyrack_sh.server.lifetime import CredentialServer

    assert isinstance(server, CredentialServer)
    env = server.env(names[0])
    if region:
        env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    if fmt == "json":
        return json.dumps({"token": server.token, "urls": {n: server.url(n) for n in names}, "env": env})
    lines = []
    for name, value in env.items():
        lines.append(f"set -gx {name} {_quote(value, fmt)};" if fmt == "fish"
                     else f"export {name}={_quote(value, fmt)};")
    lines.append("set -e AWS_PROFILE;" if fmt == "fish" else "unset AWS_PROFILE;")
    for name in names[1:]:
        lines.append(f"# profile {name}: AWS_CONTAINER_CREDENTIALS_FULL_URI={server.url(name)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from keyrack_sh.server import lifetime
    from keyrack_sh.server.source import CredentialSource

    names = list(args.profiles) or ([os.environ["AWS_PROFILE"]] if os.environ.get("AWS_PROFILE") else [])
    if not names:
        raise UserError("no profile to serve", hint="keyrack serve PROFILE")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number", hint="keyrack serve --port 0")
    source = CredentialSource(names)
    for name in source.names:
        source.answer(name)  # sign in now where needed, and refuse to start for a profile that cannot work
    try:
        server = lifetime.CredentialServer(source, port=args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
                        hint="keyrack serve --port 0") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: stop.set())
    with server:
        print(render(server, source.names, args.format, source.profile(source.names[0]).region), flush=True)
        print(f"keyrack: serving {', '.join(source.names)} on 127.0.0.1:{server.port} until ^C or relock",
              file=sys.stderr, flush=True)
        try:
            while not stop.wait(RELOCK_LOOK):
                ended = source.relocked()
                if ended and ended >= source.sessions():
                    print(f"keyrack: sso-session {', '.join(sorted(ended))} relocked; stopped serving",
                          file=sys.stderr)
                    return 0
        except KeyboardInterrupt:
            pass
    print("keyrack: stopped serving", file=sys.stderr)
    return 0
