"""`keyrack export PROFILE [--format env|json|fish]`: credentials for a shell or a script."""
from __future__ import annotations

import argparse
import json
import shlex

from keyrack_sh import engine


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run(args: argparse.Namespace) -> int:
    creds, env = engine.profile_credentials(args.profile)
    if args.format == "json":
        print(json.dumps(creds, separators=(", ", ": ")))
        return 0
    for name, value in env.items():
        if args.format == "fish":
            print(f"set -e {name};" if value is None else f"set -gx {name} {_fish_quote(value)};")
        else:
            print(f"unset {name};" if value is None else f"export {name}={shlex.quote(value)};")
    return 0
