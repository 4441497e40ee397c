"""`keyrack sync`: a profile for every account and role of an sso-session, kept in step.

Thin: parse, call keyrack_sh/sync (naming, plan, write, proof), print. The
plan is shown before anything is written; a terminal is asked (--yes skips);
without one, --yes is required to write; --dry-run writes nothing. --yes only
answers the question: a profile edited after sync is kept in every mode unless
--overwrite-edited is given.
`--adopt` is another mode: the config's own `aws configure sso` profiles
converted in place (commands/adopt.py), undone by `keyrack remove --adopted`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from keyrack_sh.commands import _ask
from keyrack_sh.errors import UserError
from keyrack_sh.sync.plan import SyncPlan
from keyrack_sh.sync.run import Outcome, SyncRequest, sync

SHOWN = 20  # names listed per kind of note; the JSON has them all


def _summary(plan: SyncPlan) -> list[str]:
    c = plan.counts()
    lines = [f"{plan.path}: {c['add']} to add, {c['change']} to change, {c['remove']} to remove, "
             f"{c['unchanged']} unchanged (sso-session {plan.session.name}"
             f"{', new' if plan.session_action == 'add' else ''})"]
    for title, entries in (("name suffixed", plan.suffixed()), ("edited after sync, kept (--overwrite-edited overwrites)",
                                                                plan.of("edited")),
                           ("not on the server any more, kept (--prune removes)",
                            [e for e in plan.of("stale") if e.note == "gone from the server"]),
                           ("renamed by the template, old name kept",
                            [e for e in plan.of("stale") if e.note != "gone from the server"])):
        for e in entries[:SHOWN]:
            lines.append(f"  {title}: {e.name} ({e.note or e.account_id})")
        if len(entries) > SHOWN:
            lines.append(f"  ... and {len(entries) - SHOWN} more {title} (--json lists them)")
    return lines


def _approver(args: argparse.Namespace) -> Callable[[SyncPlan], None]:
    def approve(plan: SyncPlan) -> None:
        if not args.json:
            print("\n".join(_summary(plan)), flush=True)
        if not plan.changed:
            return
        if not args.json and sys.stdout.isatty():
            sys.stdout.write(plan.diff())
            sys.stdout.flush()
        if args.yes:
            return
        c = plan.counts()
        what = f"sync would add {c['add']}, change {c['change']} and remove {c['remove']} profiles in {plan.path}"
        if args.json and not _ask.can_ask():
            print(json.dumps({**plan.to_json(), "ok": False, "written": False}, indent=2))
        _ask.confirm(what, "Write it?", without="not writing without --yes", declined="nothing written")
    return approve


def _request(args: argparse.Namespace) -> SyncRequest:
    return SyncRequest(start_url=args.start_url, sso_region=args.sso_region, session=args.sso_session,
                       template=args.template, prefix=args.prefix or "", region=args.region, prune=args.prune,
                       dry_run=args.dry_run, force=args.overwrite_edited, device_code=args.device_code,
                       no_browser=args.no_browser)


def _came_from(outcome: Outcome) -> list[str]:
    if not outcome.start_url_from:
        return []
    session = outcome.plan.session
    return [f"{outcome.start_url_from} redirects to the AWS access portal {session.start_url} "
            f"(SSO region {session.region}): keyrack signs in there"]


def _report(outcome: Outcome) -> list[str]:
    plan = outcome.plan
    if not plan.changed:
        lines = [f"{plan.path} unchanged: every profile is in step with the server"]
    else:
        c = plan.counts()
        lines = [f"{plan.path}: {c['add']} added, {c['change']} changed, {c['remove']} removed "
                 f"(the previous version is {plan.path}.keyrack.bak)"]
    ok = [c for c in outcome.verified if c.ok]
    if outcome.verified:
        lines.append(f"verified {len(ok)} of {len(outcome.verified)} accounts: boto3 through keyrack's "
                     f"credential_process, STS GetCallerIdentity")
    return lines


def _no_listing_flags(args: argparse.Namespace) -> None:
    """--adopt converts what the config has: the flags that shape a listing mean nothing to it."""
    given = [flag for key, flag in (("start_url", "--start-url"), ("sso_region", "--sso-region"),
                                    ("template", "--template"), ("prefix", "--prefix"), ("prune", "--prune"),
                                    ("overwrite_edited", "--overwrite-edited"))
             if getattr(args, key, None)]
    if given:
        raise UserError(f"sync --adopt converts the config's own SSO profiles; leave out {', '.join(given)}",
                        hint="keyrack sync --adopt --dry-run")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "adopt", False):
        from keyrack_sh.commands import adopt  # a mode of its own: the profiles the user already has

        _no_listing_flags(args)
        return adopt.run_sync(args)
    request = _request(args)
    if args.dry_run:
        outcome = sync(request)
        if args.json:
            print(json.dumps({**outcome.to_json(), "dry_run": True}, indent=2))
        else:
            print("\n".join([*_came_from(outcome), *_summary(outcome.plan)]))
            if outcome.plan.changed and sys.stdout.isatty():
                sys.stdout.write(outcome.plan.diff())
            print("dry run: nothing written")
        return 0
    from keyrack_sh.commands.set import _step_printer  # the roundtrip's steps, as set shows them

    outcome = sync(request, _approver(args), _step_printer(args))
    failed = outcome.failed
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print("\n".join([*_report(outcome), *_came_from(outcome)]))
    if not args.json:
        for check in failed[:SHOWN]:
            print(f"  verify failed: {check.profile} (account {check.account_id}): {check.error}")
    if failed:
        print(f"keyrack: {len(failed)} of {len(outcome.verified)} accounts failed their verify; the config is "
              f"written (hint: keyrack credential-process {failed[0].profile})", file=sys.stderr)
        return 1
    return 0
