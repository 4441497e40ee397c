"""`keyrack relock [PROFILE | --session NAME | --all]`: sign out at AWS, delete local secrets."""
from __future__ import annotations

import argparse
import json
import sys

from keyrack_sh import engine, profiles, validate


def _targets(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(session, region) pairs to relock."""
    config = profiles.load()
    if args.all:
        # Raw keys: one broken profile must not stop a sign-out of everything.
        names = list(dict.fromkeys(config.raw_profile(p)[profiles.KEY_SESSION] for p in config.profile_names()))
    elif args.session:
        names = [validate.session_name(args.session)]
    else:
        validate.profile_name(args.profile)
        names = [config.profile(args.profile).session]
    out = []
    for name in names:
        region = config.session(name).region if name in config.session_names() else None
        out.append((name, region))
    return out


def run(args: argparse.Namespace) -> int:
    results = [engine.relock(name, region=region) for name, region in _targets(args)]
    # Exit 1 when a signed-in session could not be signed out at AWS: the local
    # state is gone, but the sign-in may still be alive in the browser.
    status = 1 if any(r.logout_failed for r in results) else 0
    if args.json:
        print(json.dumps([r.to_json() for r in results], sort_keys=True))
        return status
    if not results:
        print("no sso-sessions to relock")
    for r in results:
        if r.logged_out:
            how = "signed out at AWS"
        elif r.logout_error:
            how = f"server sign-out not done: {r.logout_error}"
        else:
            how = "server sign-out not done"
        print(f"relocked sso-session {r.session}: {how}; removed {len(r.removed)} local file(s)")
    for r in results:
        if r.logout_failed:
            print(f"keyrack: sso-session {r.session} is locked here, but the sign-out at AWS failed: "
                  "the browser may still be signed in to the AWS access portal", file=sys.stderr)
    return status
