"""`keyrack remove`: take out exactly what `keyrack set` wrote for a profile.

The profile's section (a section keyrack took over, by `set --yes` or an
adoption, gets back the lines the take-over kept aside, byte for byte: its
sso_* keys again; `--adopted` does that for every such profile, the undo of
`keyrack sync --adopt`), its prompt mapping file and cached role credentials; the
sso-session too when keyrack created it and nothing else uses it. When no
profile uses the session any more (keyrack's, or an AWS CLI profile's
`sso_session = NAME`), the session is relocked, after the config was written,
so a refused or failed write never signs anyone out.
"""
from __future__ import annotations

import argparse
import json
import shlex

from keyrack_sh import cache, config_writer, engine, prompt_state, roundtrip, validate
from keyrack_sh.commands import _ask
from keyrack_sh.errors import UserError
from keyrack_sh.vaults.base import RelockResult


def run(args: argparse.Namespace) -> int:
    if getattr(args, "adopted", False):
        return _run_adopted(args)
    if args.profile is None:
        raise UserError("remove needs PROFILE (or --adopted for every profile keyrack took over)",
                        hint="keyrack remove PROFILE")
    validate.profile_name(args.profile)
    plan = config_writer.plan_remove(config_writer.read_config(), args.profile)
    validate.session_name(plan.session)  # a hand-edited name must not steer file removals
    _confirm(args, f"Remove profile {args.profile} from {plan.path}?", f"removing profile {args.profile!r}",
             f"keyrack remove {args.profile} --yes")
    out, lines = _remove(args.profile)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for line in lines:
        print(line)
    return 0


def _confirm(args: argparse.Namespace, question: str, what: str, retry: str) -> None:
    if args.yes:
        return
    if not _ask.can_ask():
        raise UserError(f"{what} needs confirmation", hint=retry)
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UserError("nothing removed", hint=retry)


def _run_adopted(args: argparse.Namespace) -> int:
    """`remove --adopted`: every profile keyrack took over gets its own lines back (the undo of an adoption)."""
    from keyrack_sh.commands import adopt

    if args.profile is not None:
        raise UserError("--adopted takes no PROFILE (it means every profile keyrack took over)",
                        hint=f"keyrack remove {args.profile}")
    session = getattr(args, "sso_session", None)
    if session is not None:
        validate.session_name(session)
    text = config_writer.read_config()
    names = adopt.adopted_profiles(text, session)
    for name in names:
        validate.profile_name(name)
        validate.session_name(config_writer.plan_remove(text, name).session)  # all checked before any write
    if not names:
        if args.json:
            print(json.dumps({"profiles": []}, indent=2))
        else:
            print(f"{config_writer.paths.config_file()}: no profile keyrack took over; nothing to give back")
        return 0
    retry = shlex.join(["keyrack", "remove", "--adopted", *(["--sso-session", session] if session else []), "--yes"])
    if not args.json:
        print(f"to give back: {', '.join(names)}", flush=True)
    _confirm(args, f"Give {len(names)} profile(s) back their own keys?", f"giving back {len(names)} profile(s)",
             retry)
    results = []
    for name in names:
        out, lines = _remove(name)
        results.append(out)
        if not args.json:
            for line in lines:
                print(line)
    if args.json:
        print(json.dumps({"profiles": results}, indent=2))
    return 0


def _remove(name: str) -> tuple[dict[str, object], list[str]]:
    """Remove one profile (under the config lock); relock its session when it was the last user."""
    plan = config_writer.apply_remove(name)
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
    prompt_state.remove_profile(name)
    cache.remove_role_creds(name)
    if plan.session_removed:
        cache.remove_client(plan.session)
        roundtrip.forget_proof(plan.session)
    out = {"profile": name, "session": plan.session, "session_removed": plan.session_removed,
           "relocked": relocked is not None, "logged_out": bool(relocked and relocked.logged_out),
           "given_back": plan.given_back}
    return out, _report(name, plan, relocked, session_missing)


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
