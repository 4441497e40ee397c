"""`keyrack list`: the profiles keyrack manages, from the config file, with each session's time left
(local files only, the same numbers as `status` and the prompt: time_left)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from keyrack_sh import profiles, time_left
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
    from keyrack_sh.vaults.identity_center import IdentityCenterVault

    vault, states, now = IdentityCenterVault(), {}, time.time()
    rows = []
    for p in good:
        if p.session not in states:
            states[p.session] = vault.status(p.session).to_json()
        rows.append({"profile": p.name, "session": p.session, "account_id": p.account_id,
                     "role_name": p.role_name, "region": p.region, **left_of(states[p.session], now)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no keyrack profiles in {config.path} (add one: keyrack set PROFILE ...)")
        return 0
    header = {"profile": "PROFILE", "session": "SSO-SESSION", "account_id": "ACCOUNT", "role_name": "ROLE",
              "region": "REGION", "left": "LEFT"}
    shown = [{**r, "left": "locked" if r["state"] == "locked" else time_left.render(r["seconds_left"])}
             for r in rows]
    print(_table([header, *shown], list(header)))
    return 0


def left_of(state: dict[str, Any], now: float) -> dict[str, Any]:
    """The state and time-left fields every row of `list` and `status` carries."""
    locked = bool(state["locked"])
    return {"state": "locked" if locked else "unlocked",
            "seconds_left": 0 if locked else time_left.seconds_left(state["session_end"], now)}


def _table(rows: list[dict[str, str | None]], columns: list[str]) -> str:
    widths = {c: max(len(r[c] or "-") for r in rows) for c in columns}
    return "\n".join("  ".join((r[c] or "-").ljust(widths[c]) for c in columns).rstrip() for r in rows)
