"""`keyrack sync --adopt` and `keyrack remove --adopted`: many SSO profiles at once, both ways.

Adopting shows the plan first (which profiles, onto which sso-session), asks
on a terminal (--yes skips; without a terminal --yes is required; --dry-run
writes nothing), writes the config once, then runs the roundtrip once per
sso-session (through that session's first profile). A failed roundtrip or ^C
puts the config back. `set --adopt PROFILE` is the one-profile form
(commands/set.py). The undo is `keyrack remove`, per profile or --adopted for
every profile keyrack took over: each gets its own lines back, byte for byte.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from keyrack_sh import adopt, config_writer, paths, profiles, validate
from keyrack_sh.adopt import AdoptPlan
from keyrack_sh.commands import _ask
from keyrack_sh.errors import KeyrackError


def _said(action: str) -> str:
    return {"add": "new", "reuse": "existing", "update": "updated"}.get(action, action)


def plan_lines(plan: AdoptPlan) -> list[str]:
    """The plan a person reads before saying yes: one line per profile, then what is left alone."""
    lines = [f"{plan.path}: {len(plan.adopted)} SSO profile(s) to adopt in place"]
    for candidate, step in plan.adopted:
        lines.append(f"  adopt profile {candidate.profile} ({candidate.form} form) -> sso-session "
                     f"{step.session.name} ({_said(step.session_action)}), account {step.profile.account_id}, "
                     f"role {step.profile.role_name}")
    for skipped in plan.skipped:
        lines.append(f"  left alone: {skipped.reason}")
    return lines


def _plan_json(plan: AdoptPlan) -> dict[str, Any]:
    return {"config": str(plan.path), "changed": plan.changed,
            "profiles": [{"profile": c.profile, "form": c.form, "session": p.session.name,
                          "session_action": p.session_action, "account_id": p.profile.account_id,
                          "role_name": p.profile.role_name} for c, p in plan.adopted],
            "skipped": [{"profile": s.profile, "reason": s.reason} for s in plan.skipped]}


def _approver(args: argparse.Namespace) -> Any:
    def approve(plan: AdoptPlan) -> None:
        if not plan.changed:
            return
        if not args.json:
            sys.stdout.write(plan.diff())
            sys.stdout.flush()
        if args.yes:
            return
        what = f"adopting {len(plan.adopted)} profile(s) changes {plan.path}"
        _ask.confirm(what, "Apply the changes above?", without="not changing it without --yes",
                     declined="nothing changed", drop=("--dry-run",))
    return approve


def run_sync(args: argparse.Namespace) -> int:
    """`keyrack sync --adopt [--sso-session NAME] [--dry-run] [--yes] [--json]`."""
    session = getattr(args, "sso_session", None)
    if session is not None:
        validate.session_name(session)
    region = getattr(args, "region", None)
    if region is not None:
        validate.region(region)

    def make(text: str | None) -> AdoptPlan:
        return adopt.plan(text, None, session=session, region=region, path=paths.config_file())

    plan = make(config_writer.read_config())
    if not args.json:
        print("\n".join(plan_lines(plan)), flush=True)
    if not plan.adopted:
        if args.json:
            print(json.dumps({**_plan_json(plan), "ok": True, "dry_run": bool(args.dry_run)}, indent=2))
        elif not args.dry_run:
            print("nothing to adopt")
        return 0
    if args.dry_run:
        if args.json:
            print(json.dumps({**_plan_json(plan), "ok": True, "dry_run": True}, indent=2))
        else:
            sys.stdout.write(plan.diff())
            print("dry run: nothing written")
        return 0
    return _write_and_prove(args, make)


def _write_and_prove(args: argparse.Namespace, make: Any) -> int:
    from keyrack_sh import engine, prompt_state, roundtrip
    from keyrack_sh.vaults.identity_center import IdentityCenterVault

    plan = adopt.apply(make, _approver(args))
    out = {**_plan_json(plan), "ok": True, "sessions": {}}
    vault = IdentityCenterVault()
    whole = plan.as_one()
    current = [plan.adopted[0][0].profile]  # the profile being proven, for the hint of a failure
    # A session this adoption adds (legacy profiles) and that nobody had signed in to: a failure signs it out.
    new = {p.session.name: p for _, p in plan.adopted if p.session_action == "add"
           and not paths.token_file(p.session.name).exists()}
    try:
        for candidate, step in plan.adopted:
            prompt_state.write_profile(step.profile.name, step.session.name)
        if not args.json:
            print(f"{plan.path}: adopted {', '.join(c.profile for c, _ in plan.adopted)} "
                  f"(the lines keyrack moved aside stay in each section: keyrack remove gives them back)", flush=True)
        for name, members in plan.sessions().items():
            _, first = members[0]
            current[0] = first.profile.name
            result = roundtrip.run(vault, first.profile, first.session, flow=engine.login_flow(
                                       first.profile.login, first.session.browser,
                                       device_code=bool(getattr(args, "device_code", False))),
                                   no_browser=bool(getattr(args, "no_browser", False)),
                                   force=any(p.session_action == "add" for _, p in members))
            out["sessions"][name] = {"verified_with": first.profile.name, "arn": result.arn,
                                     "roundtrip": result.roundtrip}
            # The others of the session: their account and role checked, one ListAccountRoles per account.
            once = _RolesOnce(vault)
            for _, other in members[1:]:
                current[0] = other.profile.name
                try:
                    roundtrip.check_access(once, other.profile, other.session)
                except KeyrackError as exc:
                    raise roundtrip.RoundtripFailure(f"access of profile {other.profile.name}", exc,
                                                     roundtrip.Result()) from None
            if not args.json:
                print(f"sso-session {name}: proven through profile {first.profile.name} ({result.arn}); "
                      f"{len(members)} profile(s) on it, each one's account and role checked", flush=True)
    except roundtrip.RoundtripFailure as failure:
        _undo_write(plan, whole, new)
        err: KeyrackError = failure.error
        raise type(err)(f"adopt failed at {failure.step}: {err.message}; "
                        f"{plan.path} is back as it was", hint=adopt.fix_hint(err, current[0], plan.path)) from None
    except BaseException:
        _undo_write(plan, whole, new)
        raise
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("ready: the adopted profiles keep their names; undo with: keyrack remove --adopted")
    return 0


class _RolesOnce:
    """The vault's account listing, asked once per account (many profiles share an account)."""

    def __init__(self, vault: Any) -> None:
        self._vault = vault
        self._roles: dict[str, list[str] | None] = {}

    def roles(self, session: Any, account_id: str) -> list[str] | None:
        if account_id not in self._roles:
            self._roles[account_id] = self._vault.roles(session, account_id)
        return self._roles[account_id]

    def accounts(self, session: Any) -> list[dict[str, Any]]:
        return list(self._vault.accounts(session))


def _undo_write(plan: AdoptPlan, whole: config_writer.Plan, new: dict[str, config_writer.Plan]) -> None:
    from keyrack_sh import prompt_state
    from keyrack_sh.commands.set import _sign_out_new_session

    config_writer.restore(whole)
    for candidate, _ in plan.adopted:
        prompt_state.remove_profile(candidate.profile)
    for added in new.values():
        _sign_out_new_session(added, signed_in_before=False)  # its section is gone again: so is its sign-in


def adopted_profiles(text: str | None, session: str | None = None) -> list[str]:
    """Names of the profiles keyrack took over (their section carries the taken-over marker)."""
    updater = config_writer._updater(text or "", paths.config_file())
    names = []
    for section in updater.iter_sections():
        name = profiles.profile_of_section(section.name)
        if name is None or not config_writer._is_taken_over(section):
            continue
        if session is None or config_writer._value(section, "keyrack_sso_session") == session:
            names.append(name)
    return names
