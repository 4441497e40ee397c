"""`keyrack set`: write a profile under keyrack, then prove it works (the roundtrip).

Order matters: every value is validated before anything is read from the
network or written; the config is written (atomically, under its lock); then
the roundtrip runs, and any failure (or ^C) puts the config and the prompt
mapping file back to their exact bytes from before.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

from keyrack_sh import config_writer, paths, profiles, validate
from keyrack_sh.commands import _ask
from keyrack_sh.config_writer import Plan, SetRequest
from keyrack_sh.errors import KeyrackError, UserError

_FLAGS = {"start_url": "--start-url", "sso_region": "--sso-region", "account_id": "--account-id",
          "role_name": "--role-name"}


def _validate(args: argparse.Namespace) -> None:
    """Every given value, before any file or network is touched."""
    if args.profile is not None:
        validate.profile_name(args.profile)
    if args.start_url is not None:
        args.start_url = validate.start_url(args.start_url)
    if args.sso_region is not None:
        validate.region(args.sso_region, "SSO region")
    if args.region is not None:
        validate.region(args.region)
    if args.account_id is not None:
        validate.account_id(args.account_id)
    if args.role_name is not None:
        validate.role_name(args.role_name)
    if args.sso_session is not None:
        validate.session_name(args.sso_session)


def _settle_start_url(args: argparse.Namespace) -> None:
    """The start URL as IAM Identity Center knows it (a vanity one followed once) and its region."""
    if args.start_url is None or getattr(args, "start_url_from", None):
        return
    from keyrack_sh.flows import vanity

    args.start_url, args.sso_region, args.start_url_from = vanity.settle(args.start_url, args.sso_region)


def _fill_from_config(args: argparse.Namespace) -> None:
    """Values not given come from what the config already says (re-running set for one change)."""
    text = config_writer.read_config()
    if not text:
        return
    config = config_writer.load_text(text)
    session_name = args.sso_session
    if args.profile and config.is_managed(args.profile):
        raw = config.raw_profile(args.profile)
        args.account_id = args.account_id or raw.get(profiles.KEY_ACCOUNT)
        args.role_name = args.role_name or raw.get(profiles.KEY_ROLE)
        if not (args.start_url or args.sso_region):
            session_name = session_name or raw.get(profiles.KEY_SESSION)
    if session_name and session_name in config.session_names() and not (args.start_url or args.sso_region):
        try:
            session = config.session(session_name)
        except UserError:
            return
        args.start_url, args.sso_region = session.start_url, session.region


def _missing(args: argparse.Namespace) -> list[str]:
    missing = ["PROFILE"] if not args.profile else []
    return missing + [flag for key, flag in _FLAGS.items() if not getattr(args, key)]


def _approver(args: argparse.Namespace) -> Callable[[Plan], None]:
    def approve(plan: Plan) -> None:
        if not plan.needs_confirmation:
            return
        if plan.profile_action == "take over" and getattr(args, "adopt", False):
            what = (f"adopting profile {plan.profile.name!r} changes {plan.path} (its own lines stay in it as "
                    f"'#keyrack kept:' lines, for keyrack remove)")
        elif plan.profile_action == "take over":
            what = f"profile {plan.profile.name!r} exists in {plan.path} and keyrack does not manage it"
        else:
            what = f"this changes what {plan.path} says for {plan.profile.name!r}"
        if not args.json:
            sys.stdout.write(plan.diff())
            sys.stdout.flush()
        if args.yes:
            return
        _ask.confirm(what, "Apply the changes above?", without="not changing it without --yes",
                     declined="nothing changed")
    return approve


def _request(args: argparse.Namespace) -> SetRequest:
    return SetRequest(profile=args.profile, start_url=args.start_url, sso_region=args.sso_region,
                      account_id=args.account_id, role_name=args.role_name, region=args.region,
                      session=args.sso_session, auto_unlock=args.auto_unlock,
                      login="device" if args.device_code else None)


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _step_printer(args: argparse.Namespace) -> Callable[[Any], None]:
    colour = _colour()
    count = [0]

    def show(step: Any) -> None:
        count[0] += 1
        if args.json:
            return
        mark = "✓" if step.ok else "✗"
        if colour:
            mark = f"\033[32m{mark}\033[0m" if step.ok else f"\033[31m{mark}\033[0m"
        branch = "└─" if step.last else "├─"
        print(f"{branch} {mark} {count[0]} {step.name:<7} {step.detail}", flush=True)
    return show


def _save_prompt_file(profile: str) -> bytes | None:
    from keyrack_sh import safe_io

    return safe_io.read(paths.prompt_profile_file(profile), 4096)


def _restore_prompt_file(profile: str, before: bytes | None) -> None:
    from keyrack_sh import prompt_state

    session = before.decode("utf-8", "replace").strip() if before is not None else ""
    try:
        validate.session_name(session)
    except UserError:
        prompt_state.remove_profile(profile)  # nothing, or nothing keyrack wrote: the engine rewrites it
    else:
        prompt_state.write_profile(profile, session)


def _fill_from_adopted(args: argparse.Namespace) -> None:
    """`set --adopt PROFILE`: every value comes from the SSO profile `aws configure sso` made."""
    from keyrack_sh import adopt

    if not args.profile:
        raise UserError("set --adopt needs the PROFILE to adopt", hint="keyrack set --adopt PROFILE")
    given = [flag for key, flag in {**_FLAGS, "sso_session": "--sso-session"}.items() if getattr(args, key)]
    if given:
        raise UserError(f"set --adopt takes its values from profile {args.profile!r}; leave out {', '.join(given)}",
                        hint=f"keyrack set --adopt {args.profile}")
    path = paths.config_file()
    text = config_writer.read_config(path)
    if text is None:
        raise UserError(f"{path} does not exist; nothing to adopt", hint="aws configure sso")
    candidate = adopt.candidate(config_writer._check_parses(text, path), args.profile, path)
    config_writer._updater(text, path)  # what configupdater cannot parse is refused here, before any sign-in
    request = candidate.request
    args.start_url, args.sso_region = request.start_url, request.sso_region
    args.account_id, args.role_name, args.sso_session = request.account_id, request.role_name, request.session


def run(args: argparse.Namespace) -> int:
    _validate(args)
    if getattr(args, "adopt", False):
        _fill_from_adopted(args)
        _validate(args)
    _settle_start_url(args)  # before asking for a missing --sso-region: the host may name it
    signed_in_for = None
    if _missing(args):
        _fill_from_config(args)  # only then: parsing a big config costs tens of milliseconds
        _validate(args)  # what the file says is input too
    if _missing(args):
        if not _ask.can_ask():
            raise UserError(f"missing {', '.join(_missing(args))}",
                            hint="keyrack set PROFILE --start-url URL --sso-region REGION "
                                 "--account-id ID --role-name ROLE")
        from keyrack_sh.vaults import guided

        signed_in_for = guided.fill(args)  # its sign-in, if any, is the roundtrip's step 1
        _validate(args)
        _settle_start_url(args)

    from keyrack_sh import prompt_state, roundtrip
    from keyrack_sh.vaults.identity_center import IdentityCenterVault

    vault = IdentityCenterVault()
    prompt_before = _save_prompt_file(args.profile)
    plan = vault.set(_request(args), _approver(args))
    signed_in_before = getattr(args, "signed_in_before", None)
    if signed_in_before is None or signed_in_for is None:
        signed_in_before = paths.token_file(plan.session.name).exists()
    out: dict[str, Any] = {"ok": True, "profile": plan.profile.name, "session": plan.session.name,
                           "config": str(plan.path), "profile_action": plan.profile_action,
                           "session_action": plan.session_action, "changed": plan.changed,
                           "verified": False}
    if plan.backup is not None:
        out["backup"] = str(plan.backup)
    came_from = getattr(args, "start_url_from", None)
    if came_from:
        out["start_url_from"] = came_from
    try:
        prompt_state.write_profile(plan.profile.name, plan.session.name)
        if not args.json:
            print(f"{plan.path}: profile {plan.profile.name} {_said(plan.profile_action)}, "
                  f"sso-session {plan.session.name} {_said(plan.session_action)}", flush=True)
            if plan.backup is not None:
                print(f"the config as it was before the take-over is kept in {plan.backup}", flush=True)
            if came_from:
                print(f"{came_from} redirects to the AWS access portal {plan.session.start_url} "
                      f"(SSO region {plan.session.region}): keyrack signs in there", flush=True)
        if args.no_verify:
            # The roundtrip would have said so; without it, say it here.
            out["warnings"] = roundtrip.warnings_for(plan.profile.name)
            if not args.json:
                for warning in out["warnings"]:
                    print(f"keyrack: warning: {warning}", file=sys.stderr)
        else:
            _roundtrip(args, vault, plan, out, signed_in_for)
    except roundtrip.RoundtripFailure as failure:
        outcome = config_writer.restore(plan)
        _restore_prompt_file(plan.profile.name, prompt_before)
        _sign_out_new_session(plan, signed_in_before)
        raise _failed(plan, failure, outcome, bool(getattr(args, "adopt", False))) from None
    except BaseException:
        config_writer.restore(plan)
        _restore_prompt_file(plan.profile.name, prompt_before)
        _sign_out_new_session(plan, signed_in_before)
        raise
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.no_verify:
        print(f"not verified (--no-verify); prove it with: keyrack unlock {plan.profile.name}")
    else:
        if not out.get("roundtrip"):
            print(f"sso-session {plan.session.name} passed its roundtrip before, so it was not signed out "
                  f"(keyrack set {plan.profile.name} --roundtrip runs it again)")
        print(f"ready: AWS_PROFILE={plan.profile.name} aws sts get-caller-identity")
    return 0


def _sign_out_new_session(plan: Plan, signed_in_before: bool) -> None:
    """A failed set of a brand-new sso-session leaves no sign-in behind (its section is gone too).

    The client registration stays, so a corrected `set` asks for consent no second time.
    """
    if plan.session_action != "add" or signed_in_before:
        return
    from keyrack_sh import engine, prompt_state

    if paths.token_file(plan.session.name).exists():
        try:
            engine.relock(plan.session.name, region=plan.session.region)
        except (KeyrackError, OSError):
            pass  # the error that made set fail is the one to report
    prompt_state.remove_session(plan.session.name)


def _said(action: str) -> str:
    return {"add": "added", "update": "updated", "take over": "taken over", "unchanged": "unchanged",
            "reuse": "reused"}.get(action, action)


def _roundtrip(args: argparse.Namespace, vault: Any, plan: Plan, out: dict[str, Any],
               signed_in_for: str | None = None) -> None:
    from keyrack_sh import roundtrip

    from keyrack_sh import engine

    flow = engine.login_flow(plan.profile.login, plan.session.browser, device_code=args.device_code)
    try:
        result = roundtrip.run(vault, plan.profile, plan.session, flow=flow, no_browser=args.no_browser,
                               on_step=_step_printer(args), signed_in_for=signed_in_for,
                               force=bool(getattr(args, "roundtrip", False)) or plan.session_action == "add")
    except roundtrip.RoundtripFailure as failure:
        out.update(ok=False, failed_step=failure.step, error=failure.error.message, **failure.result.to_json())
        if args.json:
            print(json.dumps(out, indent=2))
        raise
    out.update(verified=True, **result.to_json())
    if not args.json:
        for warning in result.warnings:
            print(f"keyrack: warning: {warning}", file=sys.stderr)


def _restored(plan: Plan, outcome: str) -> str:
    """What restore() really did, in words."""
    if not plan.changed:
        return f"{plan.path} was not changed"
    if outcome == config_writer.MERGED:
        return (f"another writer changed {plan.path} meanwhile, so only keyrack's sections were put back "
                f"as they were and the other changes kept")
    if outcome == config_writer.GONE:
        return f"{plan.path} was deleted meanwhile, so nothing was put back"
    return f"{plan.path} is back as it was"


def _failed(plan: Plan, failure: Any, outcome: str = config_writer.RESTORED, adopting: bool = False) -> KeyrackError:
    err: KeyrackError = failure.error
    restored = _restored(plan, outcome)
    number = len(failure.result.steps)
    hint = err.hint
    if adopting:
        from keyrack_sh.adopt import fix_hint

        hint = fix_hint(err, plan.profile.name, plan.path)
    return type(err)(f"set {plan.profile.name} failed at step {number} ({failure.step}): {err.message}; {restored}",
                     hint=hint or shlex.join(["keyrack", *sys.argv[1:]]))

