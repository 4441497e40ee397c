"""`keyrack list`: the profiles keyrack manages, from the config file alone."""
from __future__ import annotations

import argparse
import json
import sys

from keyrack_sh import profiles
from keyrack_sh.errors import UserError


def readable(config: profiles.AwsConfig) -> tuple[list[profiles.Profile], dict[str, str]]:
    """keyrack's profiles, and (by name) why the hand-edited broken ones cannot be read.

    One broken profile must not hide the others from list and status.
    """
    good, broken = [], {}
    for name in config.profile_names():
        try:
            good.append(config.profile(name))
        except UserError as exc:
            broken[name] = exc.message
    return good, broken


def warn_broken(broken: dict[str, str]) -> None:
    for name, why in broken.items():
        print(f"keyrack: warning: {why} (hint: keyrack set {name} ...)", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    config = profiles.load()
    good, broken = readable(config)
    warn_broken(broken)
    rows = [{"profile": p.name, "session": p.session, "account_id": p.account_id, "role_name": p.role_name,
             "region": p.region} for p in good]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no keyrack profiles in {config.path} (add one: keyrack set PROFILE ...)")
        return 0
    header = {"profile": "PROFILE", "session": "SSO-SESSION", "account_id": "ACCOUNT", "role_name": "ROLE",
              "region": "REGION"}
    print(_table([header, *rows], list(header)))
    return 0


def _table(rows: list[dict[str, str | None]], columns: list[str]) -> str:
    widths = {c: max(len(r[c] or "-") for r in rows) for c in columns}
    return "\n".join("  ".join((r[c] or "-").ljust(widths[c]) for c in columns).rstrip() for r in rows)
