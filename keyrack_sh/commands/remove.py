"""`keyrack remove`: take out exactly what `keyrack set` wrote for a profile.

The profile's section (a section keyrack took over keeps the user's own keys;
only keyrack's go), its prompt mapping file and cached role credentials; the
sso-session too when keyrack created it and nothing else uses it. When no
profile uses the session any more (keyrack's, or an AWS CLI profile's
`sso_session = NAME`), the session is relocked, after the config was written,
so a refused or failed write never signs anyone out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from keyrack_sh import cache, config_writer, engine, prompt_state, roundtrip, validate
from keyrack_sh.errors import UserError
from keyrack_sh.vaults.base import RelockResult


def run(args: argparse.Namespace) -> int:
    validate.profile_name(args.profile)
    plan = config_writer.plan_remove(config_writer.read_config(), args.profile)
    validate.session_name(plan.session)  # a hand-edited name must not steer file removals
    if not args.yes:
        if not sys.stdin.isatty() or os.environ.get("KEYRACK_NO_TTY"):
            raise UserError(f"removing profile {args.profile!r} needs confirmation",
                            hint=f"keyrack remove {args.profile} --yes")
        answer = input(f"Remove profile {args.profile} from {plan.path}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise UserError("nothing removed", hint=f"keyrack remove {args.profile} --yes")
    plan = config_writer.apply_remove(args.profile)
    validate.session_name(plan.session)  # planned again under the lock: check again
    relocked, session_missing = None, False
    if plan.last_of_session:
        from keyrack_sh.vaults.identity_center import IdentityCenterVault

        try:
            session = config_writer.load_text(plan.before, plan.path).session(plan.session)
        except UserError:
            session, session_missing = None, True  # no such sso-session section: nothing AWS could sign out
        if session is not None:
            relocked = IdentityCenterVault().relock(session)
    prompt_state.remove_profile(args.profile)
    cache.remove_role_creds(args.profile)
    if plan.session_removed:
        cache.remove_client(plan.session)
        roundtrip.forget_proof(plan.session)
    if args.json:
        print(json.dumps({"profile": args.profile, "session": plan.session,
                          "session_removed": plan.session_removed, "relocked": relocked is not None,
                          "logged_out": bool(relocked and relocked.logged_out)}, indent=2))
        return 0
    for line in _report(args.profile, plan, relocked, session_missing):
        print(line)
    return 0


def _report(profile: str, plan: config_writer.RemovePlan, relocked: RelockResult | None,
            session_missing: bool) -> list[str]:
    """What was done, one fact a line: each says what happened, never what did not."""
    if plan.profile_removed:
        lines = [f"{plan.path}: removed profile {profile}"]
    elif plan.given_back:
        lines = [f"{plan.path}: removed keyrack's keys from profile {profile}; its own keys are back as they were"]
    else:
        lines = [f"{plan.path}: removed keyrack's keys from profile {profile}; the section stays with your own keys"]
    if plan.session_removed:
        lines.append(f"{plan.path}: removed sso-session {plan.session} (no profile uses it any more)")
    elif session_missing:
        lines.append(f"{plan.path}: no sso-session {plan.session} section to remove or sign out")
    elif plan.last_of_session:
        lines.append(f"{plan.path}: kept sso-session {plan.session} (keyrack did not write it)")
    else:
        lines.append(f"sso-session {plan.session} stays as it was: other profiles use it")
    if relocked is not None:
        if relocked.logged_out:
            lines.append(f"sso-session {plan.session}: signed out at AWS, local tokens deleted")
        elif relocked.error == engine.ALREADY_LOCKED:
            lines.append(f"sso-session {plan.session}: was not signed in (nothing to sign out)")
        else:
            lines.append(f"sso-session {plan.session}: local tokens deleted; the sign-out at AWS was not done "
                         f"({relocked.error})")
    return lines
