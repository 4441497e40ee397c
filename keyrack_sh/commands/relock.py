"""`keyrack relock [PROFILE | --session NAME | --all]`: sign out at AWS, delete local secrets.

No target: the sso-session of $AWS_PROFILE."""
from __future__ import annotations

import argparse
import json
import sys

from keyrack_sh import cache, engine, profiles, validate
from keyrack_sh.commands import _profile
from keyrack_sh.errors import UserError


def _targets(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(session, region) pairs to relock."""
    config = profiles.load()
    if args.all:
        # Raw keys: one broken profile must not stop a sign-out of everything.
        names = list(dict.fromkeys(config.raw_profile(p)[profiles.KEY_SESSION] for p in config.profile_names()))
    elif args.session:
        name = validate.session_name(args.session)
        # A session no longer in the config may still have a token to end; any other
        # name is a typo, and relocking it would only create lock files.
        if name not in config.session_names() and cache.read_token(name) is None:
            known = ", ".join(config.session_names()) or "none"
            raise UserError(f"no sso-session {name!r} in {config.path} (known: {known[:200]})",
                            hint="keyrack list")
        names = [name]
    else:
        names = [config.profile(_profile.resolve(args.profile, "relock")).session]
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
        elif not r.logout_failed and r.logout_error == engine.ALREADY_LOCKED:
            print(f"sso-session {r.session} was already locked (nothing to sign out); "
                  f"removed {len(r.removed)} local file(s)")
            continue
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
