"""`keyrack status [PROFILE | --all]`: lock state and real time left, from local files only (no network).

No PROFILE: $AWS_PROFILE's, else all of keyrack's.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

from keyrack_sh import profiles, time_left
from keyrack_sh.commands import _profile
from keyrack_sh.commands.list import _table, left_of, readable, warn_broken


def describe(state: dict[str, Any], now: float) -> str:
    """`unlocked as alice, 7h52m left (until 17:40)` or `locked`: time left as README "Time left" defines it."""
    if state["locked"]:
        return "locked"
    end = state["session_end"]
    who = f" as {state['user']}" if state.get("user") else ""
    return (f"unlocked{who}, {time_left.render(time_left.seconds_left(end, now))} left "
            f"(until {time.strftime('%H:%M', time.localtime(end))})")


def run(args: argparse.Namespace) -> int:
    from keyrack_sh.vaults.identity_center import IdentityCenterVault

    one = None
    if args.profile is not None or (not args.all and _profile.from_env()):
        one = _profile.resolve(args.profile, "status")
    config = profiles.load()
    if one:
        chosen = [config.profile(one)]
    else:
        chosen, broken = readable(config)
        warn_broken(broken)
    vault = IdentityCenterVault()
    states: dict[str, dict[str, Any]] = {}
    now = time.time()
    rows = []
    for p in chosen:
        if p.session not in states:
            states[p.session] = vault.status(p.session).to_json()
        state = states[p.session]
        rows.append({"profile": p.name, "session": p.session, "account_id": p.account_id,
                     "role_name": p.role_name, "region": p.region, **left_of(state, now),
                     "access_expires": state["access_expires"], "session_end": state["session_end"],
                     "refreshable": state["refreshable"], "user": state["user"]})
    if args.json:
        print(json.dumps(rows[0] if one else rows, indent=2))
        return 0
    if not rows:
        print(f"no keyrack profiles in {config.path} (add one: keyrack set PROFILE ...)")
        return 0
    header = {"profile": "PROFILE", "session": "SSO-SESSION", "account_id": "ACCOUNT", "role_name": "ROLE",
              "region": "REGION", "status": "STATUS"}
    table = [header] + [{**{k: r[k] for k in header if k != "status"},
                         "status": describe(states[r["session"]], now)} for r in rows]
    print(_table(table, list(header)))
    return 0
